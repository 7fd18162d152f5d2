import type http from 'node:http';
import { status as GrpcStatus } from '@grpc/grpc-js';
import { ErrorCode, LicenseError } from '../errors';
import { statusName, statusOf } from '../grpc/to-status';
import type { Logger } from '../log';

/** docs/CONSOLE.md, "Security headers": the page loads only its own files and runs no inline script or style. */
export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * One year, without includeSubDomains: the console often sits on an internal host name whose
 * sibling hosts may not speak HTTPS.
 */
export const HSTS = 'max-age=31536000';

/** The largest request body the API reads (docs/CONSOLE.md: 413 beyond). */
export const MAX_BODY_BYTES = 64 * 1024;

/** The headers every answer carries, static or API, success or refusal. */
export function securityHeaders(https: boolean): Record<string, string> {
  return {
    'content-security-policy': CONTENT_SECURITY_POLICY,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    ...(https ? { 'strict-transport-security': HSTS } : {}),
  };
}

/**
 * A refusal whose HTTP status is not the one its code maps to (405, 413), or that carries
 * extra headers (Allow, Retry-After, a cookie that clears an expired session).
 */
export class HttpRefusal extends LicenseError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly httpStatus?: number,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(code, message);
  }
}

const HTTP_OF_GRPC: Partial<Record<GrpcStatus, number>> = {
  [GrpcStatus.OK]: 200,
  [GrpcStatus.CANCELLED]: 499,
  [GrpcStatus.INVALID_ARGUMENT]: 400,
  [GrpcStatus.DEADLINE_EXCEEDED]: 504,
  [GrpcStatus.NOT_FOUND]: 404,
  [GrpcStatus.ALREADY_EXISTS]: 409,
  [GrpcStatus.PERMISSION_DENIED]: 403,
  [GrpcStatus.RESOURCE_EXHAUSTED]: 429,
  [GrpcStatus.FAILED_PRECONDITION]: 400,
  [GrpcStatus.ABORTED]: 409,
  [GrpcStatus.OUT_OF_RANGE]: 400,
  [GrpcStatus.UNIMPLEMENTED]: 501,
  [GrpcStatus.UNAVAILABLE]: 503,
  [GrpcStatus.UNAUTHENTICATED]: 401,
};

/** The HTTP status of a gRPC status (docs/CONSOLE.md, "Errors"; the rest as Google's API guidelines map them). */
export function httpStatusOf(code: GrpcStatus): number {
  return HTTP_OF_GRPC[code] ?? 500;
}

export interface ErrorAnswer {
  readonly status: number;
  readonly code: ErrorCode;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: { error: { code: ErrorCode; grpc_code: string; message: string } };
}

/**
 * The answer to a thrown value, the HTTP twin of grpc/to-status.ts: a LicenseError keeps its
 * code and sentence; anything else is a bug, answered INTERNAL with a generic message while
 * its stack goes to the log.
 */
export function errorAnswer(err: unknown, logger: Logger, what: string): ErrorAnswer {
  if (err instanceof LicenseError) {
    const grpc = statusOf(err);
    const refusal = err instanceof HttpRefusal ? err : undefined;
    return {
      status: refusal?.httpStatus ?? httpStatusOf(grpc),
      code: err.code,
      headers: refusal?.headers ?? {},
      body: { error: { code: err.code, grpc_code: statusName(grpc), message: err.message } },
    };
  }
  logger.error('unexpected error in console api call', { call: what, err: err instanceof Error ? err.stack : String(err) });
  return {
    status: 500,
    code: ErrorCode.INTERNAL,
    headers: {},
    body: { error: { code: ErrorCode.INTERNAL, grpc_code: statusName(GrpcStatus.INTERNAL), message: 'internal error in the license server; see its log' } },
  };
}

/** A proto-loader Long (`{low, high, unsigned}` with toNumber), should an answer carry one. */
function isLong(value: unknown): value is { toNumber(): number } {
  return typeof value === 'object' && value !== null && 'low' in value && 'high' in value && typeof (value as { toNumber?: unknown }).toNumber === 'function';
}

/** JSON in the proto's field names; 64-bit integers as JSON numbers (docs/CONSOLE.md). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (typeof v === 'bigint') return Number(v);
    if (isLong(v)) return v.toNumber();
    return v;
  });
}

export function sendJson(res: http.ServerResponse, status: number, value: unknown, headers: Readonly<Record<string, string>> = {}): void {
  const body = toJson(value);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function tooLarge(): HttpRefusal {
  // The rest of the body is not read: the connection closes after this answer.
  return new HttpRefusal(ErrorCode.INVALID_ARGUMENT, `request body larger than ${MAX_BODY_BYTES} bytes (64 KiB)`, 413, { connection: 'close' });
}

/**
 * Reads a JSON object body of at most `MAX_BODY_BYTES`. An empty body is `{}` (a POST whose
 * request has no fields); anything else must parse as a JSON object.
 */
export async function readJsonBody(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > MAX_BODY_BYTES) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of req) {
      const buf = chunk as Buffer;
      size += buf.length;
      if (size > MAX_BODY_BYTES) throw tooLarge();
      chunks.push(buf);
    }
  } catch (err) {
    if (err instanceof LicenseError) throw err;
    // The client went away mid-body: its problem, not a server bug for the error log.
    throw new LicenseError(ErrorCode.INVALID_ARGUMENT, `request body not received in full: ${(err as Error).message}`);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new LicenseError(ErrorCode.INVALID_ARGUMENT, `request body is not JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    const got = Array.isArray(parsed) ? 'an array' : parsed === null ? 'null' : `a ${typeof parsed}`;
    throw new LicenseError(ErrorCode.INVALID_ARGUMENT, `request body must be a JSON object, got ${got}`);
  }
  return parsed as Record<string, unknown>;
}
