import { createHash, type KeyObject, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ID_PATTERN } from '../config';
import { ErrorCode, LicenseError } from '../errors';
import { canonicalJson } from './canonical-json';

/** Feature names (contract): `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`. */
export const FEATURE_PATTERN = ID_PATTERN;
export const MAX_SEATS = 1_000_000;

const expiresSchema = z.string().refine((s) => /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2}))?$/.test(s) && !Number.isNaN(Date.parse(s)), {
  message: 'must be an ISO 8601 date (2027-12-31) or date-time with zone (2027-12-31T23:59:59Z)',
});

const featureSchema = z.strictObject({
  name: z.string().regex(FEATURE_PATTERN, { message: 'must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' }),
  seats: z.number().int({ message: 'must be a whole number' }).min(1).max(MAX_SEATS),
  expires_at: expiresSchema.optional(),
});

/** What the vendor writes: `licensectl vendor sign-license --in UNSIGNED.json`. */
export const unsignedLicenseSchema = z
  .strictObject({
    licensee: z.string().min(1).max(256),
    cluster_id: z.string().regex(ID_PATTERN, { message: 'must be 1-64 of A-Za-z0-9._- starting with a letter or digit' }),
    features: z.array(featureSchema).min(1, { message: 'must list at least one feature' }),
    issued_at: z.string().optional(),
  })
  .superRefine((v, ctx) => {
    const seen = new Set<string>();
    v.features.forEach((f, i) => {
      if (seen.has(f.name)) ctx.addIssue({ code: 'custom', path: ['features', i, 'name'], message: `duplicate feature "${f.name}"` });
      seen.add(f.name);
    });
  });

export type UnsignedLicense = z.infer<typeof unsignedLicenseSchema>;
export type SignedLicense = UnsignedLicense & { signature: string };

export interface Feature {
  readonly name: string;
  readonly seats: number;
  /** Wall-clock ms after which no new seat is granted; undefined = never expires. */
  readonly expiresAtMs?: number;
}

/** A verified license, as a node uses it. */
export interface License {
  readonly licensee: string;
  readonly clusterId: string;
  readonly features: ReadonlyMap<string, Feature>;
  /** sha256 of the signed file's canonical form; both nodes must show the same one. */
  readonly digest: string;
}

function firstIssue(err: z.ZodError): string {
  const i = err.issues[0];
  if (!i) return 'invalid';
  const where = i.path.length ? i.path.join('.') : '(top level)';
  return `${where}: ${i.message}`;
}

/** Checks an unsigned license; throws an Error naming the field. */
export function parseUnsignedLicense(value: unknown): UnsignedLicense {
  const r = unsignedLicenseSchema.safeParse(value);
  if (!r.success) throw new Error(firstIssue(r.error));
  return r.data;
}

/** Signs (Ed25519) the canonical JSON of the license fields. */
export function signLicense(unsigned: UnsignedLicense, privateKey: KeyObject, now: Date = new Date()): SignedLicense {
  const payload: UnsignedLicense = { ...parseUnsignedLicense(unsigned), issued_at: unsigned.issued_at ?? now.toISOString() };
  const signature = sign(null, Buffer.from(canonicalJson(payload)), privateKey).toString('base64');
  return { ...payload, signature };
}

/**
 * Reads and verifies a signed license file against the trusted vendor public key
 * (never a key found in the file). Throws LICENSE_INVALID naming the file and the reason.
 */
export function loadLicenseFile(file: string, vendorPublicKey: KeyObject, clusterId: string): License {
  const fail = (reason: string): never => {
    throw new LicenseError(ErrorCode.LICENSE_INVALID, `license file ${file}: ${reason}`);
  };
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    fail(`cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    fail('not valid JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) fail('must be a JSON object');
  const { signature, ...payload } = parsed as Record<string, unknown>;
  if (typeof signature !== 'string' || signature === '') {
    fail('not signed (no "signature"); sign it with: licensectl vendor sign-license');
  }
  const ok = verify(null, Buffer.from(canonicalJson(payload)), vendorPublicKey, Buffer.from(signature as string, 'base64'));
  if (!ok)
    fail('signature does not verify with the vendor public key (LICENSE_VENDOR_PUBLIC_KEY): the file was changed after signing or is from another vendor');
  const r = unsignedLicenseSchema.safeParse(payload);
  if (!r.success) fail(`signed but malformed: ${firstIssue(r.error)}`);
  const lic = r.data as UnsignedLicense;
  if (lic.cluster_id !== clusterId) fail(`issued for cluster "${lic.cluster_id}", this node is in cluster "${clusterId}" (LICENSE_CLUSTER_ID)`);
  const features = new Map<string, Feature>();
  for (const f of lic.features) {
    features.set(f.name, { name: f.name, seats: f.seats, ...(f.expires_at ? { expiresAtMs: Date.parse(f.expires_at) } : {}) });
  }
  return {
    licensee: lic.licensee,
    clusterId: lic.cluster_id,
    features,
    digest: createHash('sha256').update(canonicalJson(parsed)).digest('hex'),
  };
}
