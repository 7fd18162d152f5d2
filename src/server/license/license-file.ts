import { createHash, type KeyObject, sign, verify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ID_PATTERN, type Role } from '../config';
import { ErrorCode, errorMessage, LicenseError } from '../errors';
import { canonicalJson } from './canonical-json';
import { HOST_ID_PATTERN } from './host-id';

/** Feature names (contract): `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`. */
export const FEATURE_PATTERN = ID_PATTERN;
export const MAX_SEATS = 1_000_000;

const HOUR = 3_600_000;
/** The failover terms a license without a `failover` object (or field) grants. */
export const DEFAULT_FAILOVER: FailoverTerms = Object.freeze({ budgetMs: 72 * HOUR, resetAfterMs: HOUR, maxExtensionMs: 72 * HOUR });

const expiresSchema = z.string().refine((s) => /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2}))?$/.test(s) && !Number.isNaN(Date.parse(s)), {
  message: 'must be an ISO 8601 date (2027-12-31) or date-time with zone (2027-12-31T23:59:59Z)',
});

const featureSchema = z.strictObject({
  name: z.string().regex(FEATURE_PATTERN, { message: 'must match ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' }),
  seats: z.number().int({ message: 'must be a whole number' }).min(1).max(MAX_SEATS),
  expires_at: expiresSchema.optional(),
});

const idMessage = { message: 'must be 1-64 of A-Za-z0-9._- starting with a letter or digit' };

/** One licensed server: the node id it runs with (LICENSE_NODE_ID), its role, and optionally the machine it is bound to. */
const serverSchema = z.strictObject({
  node_id: z.string().regex(ID_PATTERN, idMessage),
  role: z.enum(['primary', 'redundant'], { message: 'must be "primary" or "redundant"' }),
  host_id: z.string().regex(HOST_ID_PATTERN, { message: 'must be a host id as `licensectl hostid` prints it (lch1- and 32 hex digits)' }).optional(),
});

/** zod 4's int() also keeps the value within Number.MAX_SAFE_INTEGER. */
const termMs = z.number({ message: 'must be a whole number of milliseconds' }).int({ message: 'must be a whole number of milliseconds' }).positive();

/** The failover terms; each field optional, DEFAULT_FAILOVER fills the rest. */
const failoverSchema = z.strictObject({
  budget_ms: termMs.optional(),
  reset_after_ms: termMs.optional(),
  max_extension_ms: termMs.optional(),
});

/** What the vendor writes: `licensectl vendor sign-license --in UNSIGNED.json`. */
export const unsignedLicenseSchema = z
  .strictObject({
    licensee: z.string().min(1).max(256),
    cluster_id: z.string().regex(ID_PATTERN, idMessage),
    /** Grows with every license the vendor issues for the cluster; a node never goes back to a lower one. */
    serial: z.number({ message: 'must be a whole number of at least 1' }).int({ message: 'must be a whole number of at least 1' }).min(1),
    servers: z.array(serverSchema).min(1, { message: 'must list the primary (and the redundant, if there is one)' }),
    failover: failoverSchema.optional(),
    features: z.array(featureSchema).min(1, { message: 'must list at least one feature' }),
    issued_at: z.string().optional(),
  })
  .superRefine((v, ctx) => {
    const seen = new Set<string>();
    v.features.forEach((f, i) => {
      if (seen.has(f.name)) ctx.addIssue({ code: 'custom', path: ['features', i, 'name'], message: `duplicate feature "${f.name}"` });
      seen.add(f.name);
    });
    const ids = new Set<string>();
    v.servers.forEach((s, i) => {
      if (ids.has(s.node_id)) ctx.addIssue({ code: 'custom', path: ['servers', i, 'node_id'], message: `duplicate node id "${s.node_id}"` });
      ids.add(s.node_id);
    });
    const primaries = v.servers.filter((s) => s.role === 'primary').length;
    const redundants = v.servers.filter((s) => s.role === 'redundant').length;
    if (primaries !== 1) ctx.addIssue({ code: 'custom', path: ['servers'], message: `must name exactly one primary, found ${primaries}` });
    if (redundants > 1) ctx.addIssue({ code: 'custom', path: ['servers'], message: `must name at most one redundant, found ${redundants}` });
  });

export type UnsignedLicense = z.infer<typeof unsignedLicenseSchema>;
export type SignedLicense = UnsignedLicense & { signature: string };

export interface Feature {
  readonly name: string;
  readonly seats: number;
  /** Wall-clock ms after which no new seat is granted; undefined = never expires. */
  readonly expiresAtMs?: number;
}

/** A server the license names. */
export interface LicensedServer {
  readonly nodeId: string;
  readonly role: Role;
  /** The machine it must run on (`licensectl hostid`); undefined: any machine. */
  readonly hostId?: string;
}

/** The failover budget's terms, as the vendor signed them (defaults filled in). */
export interface FailoverTerms {
  /** What a new failover episode grants the redundant. */
  readonly budgetMs: number;
  /** How long the primary must hold the lease before the episode ends and the budget is full again. */
  readonly resetAfterMs: number;
  /** The most one activation key may extend the budget by. */
  readonly maxExtensionMs: number;
}

/** A verified license, as a node uses it. */
export interface License {
  readonly licensee: string;
  readonly clusterId: string;
  readonly serial: number;
  readonly servers: readonly LicensedServer[];
  readonly failover: FailoverTerms;
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
  if (!r.success) {
    // A license signed before servers and serial existed verifies but cannot be used: say what to ask for.
    const older =
      !('serial' in payload) || !('servers' in payload) ? ' (a license from before servers and serial were license terms: ask the vendor for a new one)' : '';
    fail(`signed but malformed: ${firstIssue(r.error)}${older}`);
  }
  const lic = r.data as UnsignedLicense;
  if (lic.cluster_id !== clusterId) fail(`issued for cluster "${lic.cluster_id}", this node is in cluster "${clusterId}" (LICENSE_CLUSTER_ID)`);
  const features = new Map<string, Feature>();
  for (const f of lic.features) {
    features.set(f.name, { name: f.name, seats: f.seats, ...(f.expires_at ? { expiresAtMs: Date.parse(f.expires_at) } : {}) });
  }
  return {
    licensee: lic.licensee,
    clusterId: lic.cluster_id,
    serial: lic.serial,
    servers: lic.servers.map((s) => ({ nodeId: s.node_id, role: s.role, ...(s.host_id === undefined ? {} : { hostId: s.host_id }) })),
    failover: {
      budgetMs: lic.failover?.budget_ms ?? DEFAULT_FAILOVER.budgetMs,
      resetAfterMs: lic.failover?.reset_after_ms ?? DEFAULT_FAILOVER.resetAfterMs,
      maxExtensionMs: lic.failover?.max_extension_ms ?? DEFAULT_FAILOVER.maxExtensionMs,
    },
    features,
    digest: createHash('sha256').update(canonicalJson(parsed)).digest('hex'),
  };
}

/** What a node brings to bindLicense(): its configured id and role, and how to learn its machine's host id. */
export interface NodeIdentity {
  /** LICENSE_NODE_ID. */
  readonly nodeId: string;
  /** LICENSE_ROLE, when set: it must agree with the license. */
  readonly role?: Role | undefined;
  /** This machine's host id (readHostId); asked only when the license binds the server to a host. */
  readonly hostId: () => string;
}

/**
 * The server this node is in the license: its role comes from there, never from
 * configuration, so no setting can turn the redundant into a second primary (which would
 * never be charged). Refuses (one line) a node id the license does not list, a LICENSE_ROLE
 * that contradicts it, and a machine other than the one the server is bound to.
 */
export function bindLicense(license: License, file: string, node: NodeIdentity): LicensedServer {
  const server = license.servers.find((s) => s.nodeId === node.nodeId);
  if (!server) {
    const listed = license.servers.map((s) => `${s.nodeId} (${s.role})`).join(', ');
    throw new LicenseError(
      ErrorCode.CONFIG_INVALID,
      `LICENSE_NODE_ID: "${node.nodeId}" is not a server of license file ${file}, which lists ${listed}; set LICENSE_NODE_ID to one of them, or ask the vendor for a license that lists this node`,
    );
  }
  if (node.role !== undefined && node.role !== server.role) {
    throw new LicenseError(
      ErrorCode.CONFIG_INVALID,
      `LICENSE_ROLE: "${node.role}" contradicts license file ${file}, which makes ${server.nodeId} the ${server.role}; the role comes from the license: remove LICENSE_ROLE (or set it to ${server.role})`,
    );
  }
  if (server.hostId !== undefined) {
    let here: string;
    try {
      here = node.hostId();
    } catch (err) {
      throw new LicenseError(
        ErrorCode.LICENSE_INVALID,
        `license file ${file}: server ${server.nodeId} is bound to host id ${server.hostId}, but ${errorMessage(err)}`,
      );
    }
    if (here !== server.hostId) {
      throw new LicenseError(
        ErrorCode.LICENSE_INVALID,
        `license file ${file}: server ${server.nodeId} is bound to host id ${server.hostId}, this machine is ${here} (licensectl hostid): run ${server.nodeId} on the machine it is licensed for, or ask the vendor to bind this one`,
      );
    }
  }
  return server;
}
