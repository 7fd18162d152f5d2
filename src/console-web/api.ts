import type { SessionInfo } from './types.js';

/** A refusal from the console API: the server's own code and sentence (docs/CONSOLE.md, "Errors"). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export type Query = Readonly<Record<string, string | number | undefined>>;

export interface Api {
  get<T>(path: string, query?: Query): Promise<T>;
  post<T>(path: string, body?: unknown): Promise<T>;
  del<T>(path: string): Promise<T>;
  /** Remembers the session's CSRF token (memory only: never storage, never the DOM). */
  setSession(s: SessionInfo | undefined): void;
}

/**
 * The JSON API under /api/v1/, with the session cookie and the CSRF header on every change.
 * A 401 outside the session routes means the session ended: `onUnauthenticated` gets the
 * server's message and the call still rejects.
 */
export function createApi(onUnauthenticated: (message: string) => void): Api {
  let csrf = '';

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers,
        credentials: 'same-origin',
        cache: 'no-store',
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch {
      throw new ApiError(0, 'NETWORK', 'cannot reach the license server: check that the node is running and reachable, then retry');
    }
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : {};
    } catch {
      json = undefined;
    }
    if (res.ok) {
      if (json === undefined) throw new ApiError(res.status, 'INTERNAL', `the server answered ${path} with something that is not JSON`);
      return json as T;
    }
    const err = errorOf(json);
    const e = new ApiError(res.status, err?.code ?? `HTTP_${res.status}`, err?.message || `${method} ${path}: HTTP ${res.status} ${res.statusText}`);
    if (res.status === 401 && !path.startsWith('/api/v1/session')) {
      csrf = '';
      onUnauthenticated(e.message);
    }
    throw e;
  }

  return {
    get: <T>(path: string, query?: Query) => call<T>('GET', path + queryString(query)),
    post: <T>(path: string, body: unknown = {}) => call<T>('POST', path, body),
    del: <T>(path: string) => call<T>('DELETE', path),
    setSession(s) {
      csrf = s?.csrf_token ?? '';
    },
  };
}

function errorOf(json: unknown): { code?: string; message?: string } | undefined {
  if (typeof json !== 'object' || json === null || !('error' in json)) return undefined;
  const e = json.error;
  if (typeof e !== 'object' || e === null) return undefined;
  const { code, message } = e as { code?: unknown; message?: unknown };
  return { ...(typeof code === 'string' ? { code } : {}), ...(typeof message === 'string' ? { message } : {}) };
}

function queryString(q: Query | undefined): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') p.set(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

/** A message for any thrown value, the server's sentence when there is one. */
export function messageOf(err: unknown): string {
  if (err instanceof ApiError) return err.code && !err.code.startsWith('HTTP_') && err.code !== 'NETWORK' ? `${err.message} (${err.code})` : err.message;
  return err instanceof Error ? err.message : String(err);
}
