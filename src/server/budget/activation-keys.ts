import { type KeyObject, randomBytes, sign, verify } from 'node:crypto';
import { z } from 'zod';
import { ErrorCode, LicenseError } from '../errors';
import { canonicalJson } from '../license/canonical-json';

/**
 * Request and activation keys: compact, copy-pasteable strings.
 *
 *   request key     LRQ1.<base64url(canonical JSON of the request)>
 *   activation key  LAK1.<base64url(canonical JSON of the grant)>.<base64url(Ed25519 signature)>
 *
 * The request carries no secret: the nonce only ties the vendor's answer to one
 * pending request, so a key cannot be applied twice or to another request.
 */
export const REQUEST_PREFIX = 'LRQ1';
export const ACTIVATION_PREFIX = 'LAK1';
/** What the vendor grants when it does not choose (`--extension-ms`), capped by what the request says the license accepts. */
export const DEFAULT_EXTENSION_MS = 72 * 3_600_000;
export const DEFAULT_KEY_VALIDITY_MS = 7 * 24 * 3_600_000;

const requestSchema = z.strictObject({
  cluster_id: z.string().min(1).max(64),
  node_id: z.string().min(1).max(64),
  episode_id: z.string().min(1).max(64),
  seq: z.number().int().min(1),
  /**
   * The longest extension the node accepts: its license's failover.max_extension_ms. (Nodes
   * before license terms put their LICENSE_ACTIVATION_EXTENSION_MS here, which the vendor
   * capped the same way.) Informs the vendor; the node checks its own license, not this.
   */
  extension_ms: z.number().int().min(1),
  nonce: z.string().regex(/^[A-Za-z0-9_-]{16,64}$/),
  issued_at_ms: z.number().int().min(0),
  /** The head of the node's audit trail (`<seq>:<sha256 hex>`) when it asked: the vendor keeps it. Absent from older nodes. */
  audit_head: z
    .string()
    .regex(/^\d+:([0-9a-f]{64})?$/)
    .optional(),
});
export type ActivationRequest = z.infer<typeof requestSchema>;

const grantSchema = requestSchema.extend({
  /** The extension the vendor granted (it chooses; at most the request's extension_ms). */
  granted_ms: z.number().int().min(1),
  expires_at_ms: z.number().int().min(0),
});
export type ActivationGrant = z.infer<typeof grantSchema>;

const b64 = (s: string): string => Buffer.from(s).toString('base64url');
const unb64 = (s: string): string => Buffer.from(s, 'base64url').toString('utf8');

export function newNonce(): string {
  return randomBytes(18).toString('base64url');
}

export function encodeRequestKey(req: ActivationRequest): string {
  return `${REQUEST_PREFIX}.${b64(canonicalJson(requestSchema.parse(req)))}`;
}

function malformed(what: string, detail: string): LicenseError {
  return new LicenseError(ErrorCode.ACTIVATION_MALFORMED, `${what} is malformed: ${detail}; copy the whole key, on one line`);
}

function parseJsonPart<T>(part: string, schema: z.ZodType<T>, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(unb64(part));
  } catch {
    throw malformed(what, 'not base64url-encoded JSON');
  }
  const r = schema.safeParse(value);
  if (!r.success) throw malformed(what, `${r.error.issues[0]?.path.join('.') || 'content'}: ${r.error.issues[0]?.message ?? 'invalid'}`);
  return r.data;
}

export function decodeRequestKey(key: string): ActivationRequest {
  const parts = key.trim().split('.');
  if (parts.length !== 2 || parts[0] !== REQUEST_PREFIX || !parts[1]) throw malformed('request key', `expected ${REQUEST_PREFIX}.<data>`);
  return parseJsonPart(parts[1], requestSchema, 'request key');
}

export interface SignActivationOptions {
  /** The extension to grant; default DEFAULT_EXTENSION_MS, or less when the request says the license accepts less. */
  readonly extensionMs?: number;
  readonly validForMs?: number;
  readonly nowMs?: number;
}

/**
 * The vendor's side: turns a request key into a signed activation key. The vendor chooses
 * the extension; one above what the request says the node's license accepts is refused
 * here already, since the node would refuse the key (ACTIVATION_WRONG_TARGET).
 */
export function signActivation(requestKey: string, privateKey: KeyObject, opts: SignActivationOptions = {}): { key: string; grant: ActivationGrant } {
  const req = decodeRequestKey(requestKey);
  const now = opts.nowMs ?? Date.now();
  if (opts.extensionMs !== undefined && opts.extensionMs > req.extension_ms) {
    throw new LicenseError(
      ErrorCode.INVALID_ARGUMENT,
      `extension ${opts.extensionMs} ms is more than the ${req.extension_ms} ms this cluster's license accepts per activation key (failover.max_extension_ms, as the request key says); the node would refuse the key`,
    );
  }
  const grant: ActivationGrant = {
    ...req,
    granted_ms: opts.extensionMs ?? Math.min(req.extension_ms, DEFAULT_EXTENSION_MS),
    expires_at_ms: now + (opts.validForMs ?? DEFAULT_KEY_VALIDITY_MS),
  };
  const payload = canonicalJson(grant);
  const sig = sign(null, Buffer.from(payload), privateKey).toString('base64url');
  return { key: `${ACTIVATION_PREFIX}.${b64(payload)}.${sig}`, grant };
}

/**
 * The node's side, first half: shape and signature (checked against the trusted vendor
 * key only). Target, expiry and the pending nonce are checked by the caller and, atomically,
 * by the activation script.
 */
export function verifyActivationKey(key: string, vendorPublicKey: KeyObject): ActivationGrant {
  const parts = key.trim().split('.');
  if (parts.length !== 3 || parts[0] !== ACTIVATION_PREFIX || !parts[1] || !parts[2]) {
    throw malformed('activation key', `expected ${ACTIVATION_PREFIX}.<data>.<signature>`);
  }
  let payload: string;
  try {
    payload = unb64(parts[1]);
  } catch {
    throw malformed('activation key', 'not base64url');
  }
  const sig = Buffer.from(parts[2], 'base64url');
  // Signature before content: a tampered key gets "bad signature", not a hint about which field changed.
  if (sig.length !== 64 || !verify(null, Buffer.from(payload), vendorPublicKey, sig)) {
    // A key whose data does not even parse is malformed, whatever its signature.
    parseJsonPart(parts[1], grantSchema, 'activation key');
    throw new LicenseError(
      ErrorCode.ACTIVATION_BAD_SIGNATURE,
      'activation key signature does not verify with the vendor public key (LICENSE_VENDOR_PUBLIC_KEY): it was changed or made by someone else; ask the vendor for a new key',
    );
  }
  return parseJsonPart(parts[1], grantSchema, 'activation key');
}

/** Whom an applied key must name to count: this cluster's redundant, in one episode, within the license's cap. */
export interface AppliedKeyTarget {
  readonly clusterId: string;
  readonly nodeId: string;
  readonly episodeId: string;
  readonly maxExtensionMs: number;
}

/** The applied keys of an episode, re-verified: what they add, the ones that count, and the ones that do not. */
export interface CountedKeys {
  readonly extensionMs: number;
  /** Valid, one per sequence number and nonce, by sequence number. */
  readonly valid: readonly { readonly nonce: string; readonly key: string; readonly seq: number; readonly extensionMs: number }[];
  readonly refused: readonly { readonly key: string; readonly reason: string }[];
}

/**
 * Re-verifies stored activation keys (Redis, the disk mirror): every key is checked as if it
 * were applied again (vendor signature, cluster, node, episode, extension within the license's
 * cap), and at most one key counts per sequence number and per nonce (the activation script
 * accepts one per sequence, so a second is a vendor key that was never applied here; of two,
 * the smaller counts). Expiry is not checked: a key applied in time stays applied, and when it
 * was applied cannot be proven later.
 */
export function countAppliedKeys(keys: Iterable<string>, target: AppliedKeyTarget, vendorPublicKey: KeyObject): CountedKeys {
  const refused: { key: string; reason: string }[] = [];
  const candidates: { nonce: string; key: string; seq: number; extensionMs: number }[] = [];
  for (const key of new Set(keys)) {
    let g: ActivationGrant;
    try {
      g = verifyActivationKey(key, vendorPublicKey);
    } catch (err) {
      refused.push({ key, reason: err instanceof Error ? err.message : String(err) });
      continue;
    }
    const reason =
      g.cluster_id !== target.clusterId || g.node_id !== target.nodeId
        ? `for node ${g.node_id} of cluster ${g.cluster_id}, not node ${target.nodeId} of cluster ${target.clusterId}`
        : g.episode_id !== target.episodeId
          ? `for failover episode ${g.episode_id}, not ${target.episodeId}`
          : g.granted_ms > target.maxExtensionMs
            ? `extends by ${g.granted_ms} ms, more than failover.max_extension_ms = ${target.maxExtensionMs}`
            : undefined;
    if (reason) refused.push({ key, reason });
    else candidates.push({ nonce: g.nonce, key, seq: g.seq, extensionMs: g.granted_ms });
  }
  candidates.sort((a, b) => a.seq - b.seq || a.extensionMs - b.extensionMs || (a.key < b.key ? -1 : 1));
  const seqs = new Set<number>();
  const nonces = new Set<string>();
  const valid: CountedKeys['valid'][number][] = [];
  for (const c of candidates) {
    if (seqs.has(c.seq) || nonces.has(c.nonce)) {
      refused.push({ key: c.key, reason: `a second key for activation #${c.seq} (or its nonce): one was applied, the other never was` });
      continue;
    }
    seqs.add(c.seq);
    nonces.add(c.nonce);
    valid.push(c);
  }
  return { extensionMs: valid.reduce((sum, c) => sum + c.extensionMs, 0), valid, refused };
}
