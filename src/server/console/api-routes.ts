import type { AdminOps } from '../admin/admin-ops';
import { ErrorCode, LicenseError } from '../errors';

/** ListLeases' page_size bound (proto: "0 = the server's default (500), capped at 5000"). */
export const MAX_PAGE_SIZE = 5_000;
const MAX_INT32 = 2 ** 31 - 1;

export type ApiMethod = 'GET' | 'POST' | 'DELETE';

/** What a route is given: the query (GET) or the JSON body (POST), still unchecked. */
export interface ApiInput {
  readonly query: URLSearchParams;
  readonly body: Record<string, unknown>;
}

export interface OpsRoute {
  readonly method: ApiMethod;
  readonly path: string;
  /** The AdminService RPC, for logs. */
  readonly rpc: string;
  run(ops: AdminOps, input: ApiInput): Promise<unknown>;
}

function invalid(field: string, problem: string): LicenseError {
  return new LicenseError(ErrorCode.INVALID_ARGUMENT, `${field}: ${problem}`, { field });
}

/** Refuses query parameters the route does not take, and repeated ones; returns each given one. */
export function checkQuery(query: URLSearchParams, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, value] of query) {
    if (!allowed.includes(name)) {
      throw invalid(name, allowed.length === 0 ? 'this route takes no query parameters' : `unknown query parameter; this route takes ${allowed.join(', ')}`);
    }
    if (out.has(name)) throw invalid(name, 'given more than once');
    out.set(name, value);
  }
  return out;
}

/** An integer query parameter in [min, max]; `fallback` when absent or empty. */
export function intParam(params: Map<string, string>, name: string, min: number, max: number, fallback: number): number {
  const raw = params.get(name);
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw invalid(name, `must be an integer from ${min} to ${max}, got "${raw}"`);
  return Number(raw);
}

/** Refuses body fields the route does not take (a misspelt field would otherwise be silently ignored). */
export function checkFields(body: Record<string, unknown>, allowed: readonly string[]): void {
  for (const name of Object.keys(body)) {
    if (!allowed.includes(name)) {
      throw invalid(
        name,
        allowed.length === 0 ? 'unknown field; this request takes an empty object {}' : `unknown field; this request takes ${allowed.join(', ')}`,
      );
    }
  }
}

/** A required string field of the body. */
export function stringField(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (value === undefined) throw invalid(name, 'required (a string)');
  if (typeof value !== 'string') throw invalid(name, `must be a string, got ${value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value}`);
  return value;
}

/** A route whose body is `{}` and whose RPC takes no request. */
function emptyPost(path: string, rpc: string, call: (ops: AdminOps) => Promise<unknown>): OpsRoute {
  return {
    method: 'POST',
    path,
    rpc,
    run: (ops, { body }) => {
      checkFields(body, []);
      return call(ops);
    },
  };
}

/** A route whose body is `{"activation_key"}`. */
function keyPost(path: string, rpc: string, call: (ops: AdminOps, activationKey: string) => Promise<unknown>): OpsRoute {
  return {
    method: 'POST',
    path,
    rpc,
    run: (ops, { body }) => {
      checkFields(body, ['activation_key']);
      return call(ops, stringField(body, 'activation_key'));
    },
  };
}

/** docs/CONSOLE.md's route table, the AdminService rows: each calls its AdminOps method and answers its result. */
export const OPS_ROUTES: readonly OpsRoute[] = [
  {
    method: 'GET',
    path: '/api/v1/status',
    rpc: 'GetStatus',
    run: (ops, { query }) => {
      checkQuery(query, []);
      return ops.getStatus();
    },
  },
  {
    method: 'GET',
    path: '/api/v1/leases',
    rpc: 'ListLeases',
    run: (ops, { query }) => {
      const q = checkQuery(query, ['feature', 'user', 'hostname', 'page_size', 'page_token']);
      return ops.listLeases({
        feature: q.get('feature') ?? '',
        user: q.get('user') ?? '',
        hostname: q.get('hostname') ?? '',
        page_size: intParam(q, 'page_size', 0, MAX_PAGE_SIZE, 0),
        page_token: q.get('page_token') ?? '',
      });
    },
  },
  {
    method: 'POST',
    path: '/api/v1/leases/release',
    rpc: 'ReleaseLease',
    run: (ops, { body }) => {
      checkFields(body, ['lease_id']);
      return ops.releaseLease({ lease_id: stringField(body, 'lease_id') });
    },
  },
  {
    method: 'GET',
    path: '/api/v1/audit',
    rpc: 'GetAudit',
    run: (ops, { query }) => {
      const q = checkQuery(query, ['limit']);
      return ops.getAudit({ limit: intParam(q, 'limit', 0, MAX_INT32, 0) });
    },
  },
  emptyPost('/api/v1/activation/request', 'RequestActivationKey', (ops) => ops.requestActivationKey()),
  keyPost('/api/v1/activation/check', 'CheckActivationKey', (ops, key) => ops.checkActivationKey({ activation_key: key })),
  keyPost('/api/v1/activation/apply', 'Activate', (ops, key) => ops.activate({ activation_key: key })),
  emptyPost('/api/v1/activation/send', 'SendActivationRequest', (ops) => ops.sendActivationRequest()),
  emptyPost('/api/v1/step-down', 'StepDown', (ops) => ops.stepDown()),
];
