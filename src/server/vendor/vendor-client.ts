import http from 'node:http';
import https from 'node:https';
import { ErrorCode, errorMessage, LicenseError } from '../errors';

/**
 * The customer's side of the vendor activation service (src/server/vendor/vendor-service.ts):
 * posts a request key, returns the activation key. Used by `licensectl activation request --send`
 * and by a node with LICENSE_VENDOR_ACTIVATION_URL.
 *
 * node:http(s) rather than fetch: one code path for the system roots and a custom CA, a cap on
 * the answer's size, and errors with a code (ECONNREFUSED) to show the operator. Redirects are
 * not followed: the token goes only where the operator pointed it.
 */

export const DEFAULT_VENDOR_TIMEOUT_MS = 10_000;
/** An activation key answer is well under 2 KiB; anything this large is not one. */
const MAX_ANSWER_BYTES = 64 * 1024;
const MANUAL = 'retry, or send the request key by e-mail (licensectl activation request)';

export interface SendRequestKeyOptions {
  /** The endpoint (`http://vendor:7490/v1/activations`); a URL with no path, or `/`, gets `/v1/activations`. */
  readonly url: string;
  /** This customer's token (LICENSE_VENDOR_ACTIVATION_TOKEN); never part of an error message. */
  readonly token: string;
  readonly requestKey: string;
  /** Whole-exchange deadline; default 10 s. */
  readonly timeoutMs?: number;
  /** CA certificate(s) (PEM) to verify an https:// service with, instead of the system roots. */
  readonly ca?: Buffer;
}

export interface SentRequestKey {
  readonly activationKey: string;
  readonly grantedMs: number;
  readonly expiresAtMs: number;
}

/** The endpoint to post to, from what the operator gave. Throws INVALID_ARGUMENT for anything but http(s). */
export function activationEndpoint(url: string): URL {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new LicenseError(ErrorCode.INVALID_ARGUMENT, `vendor activation URL "${url}" is not a URL; give e.g. https://vendor.example.com/v1/activations`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new LicenseError(ErrorCode.INVALID_ARGUMENT, `vendor activation URL must be http:// or https://, got ${u.protocol}`);
  }
  if (u.pathname === '' || u.pathname === '/') u.pathname = '/v1/activations';
  return u;
}

/** The URL as errors show it: without credentials, query or fragment. */
function shown(u: URL): string {
  return `${u.protocol}//${u.host}${u.pathname}`;
}

/** Remote text bound for a terminal: one line, no control characters, bounded. */
function sanitize(s: string): string {
  // eslint-disable-next-line no-control-regex -- removing control characters is the point
  const one = s.replace(/[\x00-\x1f\x7f]+/g, ' ').trim();
  return one.length > 500 ? `${one.slice(0, 500)}...` : one;
}

function unavailable(u: URL, what: string): LicenseError {
  return new LicenseError(ErrorCode.VENDOR_UNAVAILABLE, `vendor activation service at ${shown(u)} ${what}; ${MANUAL}`);
}

interface RawAnswer {
  readonly status: number;
  readonly body: string;
}

function post(u: URL, token: string, payload: string, timeoutMs: number, ca: Buffer | undefined): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const headers = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(payload)),
      accept: 'application/json',
      authorization: `Bearer ${token}`,
    };
    const options = { method: 'POST', headers, ...(ca && u.protocol === 'https:' ? { ca } : {}) };
    // The first outcome wins; destroying the request afterwards only frees the socket.
    const fail = (err: LicenseError): void => {
      reject(err);
      req.destroy();
    };
    const networkError = (err: Error): void => {
      const code = (err as NodeJS.ErrnoException).code;
      // The code (ECONNREFUSED, ENOTFOUND, CERT_HAS_EXPIRED...) is what an operator can search for.
      fail(unavailable(u, `could not be reached (${code ?? sanitize(errorMessage(err))})`));
    };
    const req = (u.protocol === 'https:' ? https : http).request(u, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_ANSWER_BYTES) return fail(unavailable(u, `answered more than ${MAX_ANSWER_BYTES} bytes, not an activation key`));
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', networkError);
    });
    const timer = setTimeout(() => fail(unavailable(u, `did not answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('close', () => clearTimeout(timer));
    req.on('error', networkError);
    req.end(payload);
  });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * Posts a request key to the vendor activation service and returns the activation key it
 * signed. A refusal (4xx with the service's error body) is VENDOR_REFUSED with the service's
 * message; no answer, a timeout (default 10 s), a 5xx, or anything that is not the service's
 * JSON is VENDOR_UNAVAILABLE, naming the manual flow.
 */
export async function sendRequestKey(opts: SendRequestKeyOptions): Promise<SentRequestKey> {
  const u = activationEndpoint(opts.url);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_VENDOR_TIMEOUT_MS;
  const answer = await post(u, opts.token, JSON.stringify({ request_key: opts.requestKey.trim() }), timeoutMs, opts.ca);
  const body = parseJson(answer.body);
  if (answer.status >= 400 && answer.status < 500) {
    const message = refusalMessage(body);
    if (message === undefined) throw unavailable(u, `answered HTTP ${answer.status} without an activation service's error; check the URL`);
    throw new LicenseError(ErrorCode.VENDOR_REFUSED, `vendor activation service refused the request: ${sanitize(message)}`);
  }
  if (answer.status !== 200) throw unavailable(u, `answered HTTP ${answer.status}`);
  const granted = readGrant(body);
  if (!granted) throw unavailable(u, 'answered something that is not an activation key');
  return granted;
}

function refusalMessage(body: unknown): string | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const error: unknown = (body as Record<string, unknown>)['error'];
  if (error === null || typeof error !== 'object') return undefined;
  const message: unknown = (error as Record<string, unknown>)['message'];
  return typeof message === 'string' ? message : undefined;
}

function readGrant(body: unknown): SentRequestKey | undefined {
  if (body === null || typeof body !== 'object') return undefined;
  const b = body as Record<string, unknown>;
  const key = b['activation_key'];
  const grantedMs = b['granted_ms'];
  const expiresAtMs = b['expires_at_ms'];
  if (typeof key !== 'string' || !/^LAK1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(key)) return undefined;
  if (typeof grantedMs !== 'number' || typeof expiresAtMs !== 'number') return undefined;
  return { activationKey: key, grantedMs, expiresAtMs };
}
