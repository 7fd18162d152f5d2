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
