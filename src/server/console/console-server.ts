import { existsSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { hostname } from 'node:os';
import path from 'node:path';
import { TLSSocket } from 'node:tls';
import type { AdminOps } from '../admin/admin-ops';
import type { Clock } from '../clock';
import type { TlsConfig } from '../config';
import { ErrorCode, LicenseError, errorMessage } from '../errors';
import type { Logger } from '../log';
import { createAttemptLimiter } from './attempt-limiter';
import { checkFields, checkQuery, OPS_ROUTES, type ApiMethod } from './api-routes';
import { errorAnswer, HttpRefusal, readJsonBody, securityHeaders, sendJson } from './http-io';
import { createSessionStore, sameSecret } from './sessions';
import { createStaticFiles } from './static-files';

/** The session cookie's name (docs/CONSOLE.md). */
export const SESSION_COOKIE = 'license_console';

/**
 * The session cookie of one node's console: `license_console_<cluster>_<node>`. Browsers keep
 * cookies per host, not per port, so the two consoles of a pair published on one host
 * (localhost:7480 and localhost:7481) would overwrite each other's session under one name.
 */
export function sessionCookieName(clusterId: string, nodeId: string): string {
  return `${SESSION_COOKIE}_${clusterId}_${nodeId}`.replace(/[^A-Za-z0-9._-]/g, '_');
}
/** Sign-in attempts allowed per client address per minute (docs/CONSOLE.md); 429 past them. */
export const SIGN_IN_ATTEMPTS_PER_MINUTE = 10;
/** How often the certificate files are re-read, so rotating them needs no restart (as the gRPC listeners do). */
const TLS_RELOAD_MS = 60_000;

/** The same sentence grpc/admin-auth.ts answers a wrong admin token with. */
export const WRONG_TOKEN_MESSAGE = 'admin token rejected: use the LICENSE_ADMIN_TOKEN this node was started with';
const NO_CREDENTIALS_MESSAGE = 'console API call without credentials: sign in (POST /api/v1/session) or send "Authorization: Bearer <LICENSE_ADMIN_TOKEN>"';
const EXPIRED_MESSAGE = 'console session expired: sign in again';
const CSRF_MESSAGE = 'missing or wrong CSRF token; reload the console';

const SESSION_PATH = '/api/v1/session';
const SETTINGS_PATH = '/api/v1/console';

/** What `GET /api/v1/console` answers, for the page's header and activation dialogs. */
export interface ConsoleSettings {
  readonly nodeId: string;
  readonly clusterId: string;
  /** LICENSE_VENDOR_CONTACT, or "". */
  readonly vendorContact: string;
  /** True when the node has LICENSE_VENDOR_ACTIVATION_URL ("Send automatically"). */
  readonly sendAvailable: boolean;
  readonly version: string;
}

export interface ConsoleServerOptions {
  readonly host: string;
  /** 0: any free port (tests). */
  readonly port: number;
  /** HTTPS when set; with caFile the console asks for a client certificate, and a verified one may sign in without the token. */
  readonly tls?: TlsConfig;
  readonly adminToken: string;
  readonly ops: AdminOps;
  readonly settings: ConsoleSettings;
  /** LICENSE_CONSOLE_SESSION_MS: how long a sign-in lasts. */
  readonly sessionTtlMs: number;
  /** Absolute path of the page's built files (index.html, *.js, *.css, *.svg). */
  readonly assetsDir: string;
  readonly logger: Logger;
  readonly clock: Clock;
}

export interface RunningConsole {
  /** Where the console answers, e.g. `https://host:7480` (this host's name for a wildcard address). */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface ConsoleServer {
  start(): Promise<RunningConsole>;
  /** Stops listening and drops open connections; signs everyone out (sessions live in memory). */
  close(): Promise<void>;
}

/** Who made an API call, for the log line. */
type Via = 'none' | 'token' | 'session' | 'client-cert';

interface Answer {
  readonly value: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

function readPem(file: string, key: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new LicenseError(ErrorCode.CONFIG_INVALID, `${key}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`);
  }
}

/** Certificate, key and CA, read now (a missing file names its key); re-read for rotation. */
function secureContextOptions(tls: TlsConfig): { cert: Buffer; key: Buffer; ca?: Buffer } {
  return {
    cert: readPem(tls.certFile, 'LICENSE_TLS_CERT'),
    key: readPem(tls.keyFile, 'LICENSE_TLS_KEY'),
    ...(tls.caFile === undefined ? {} : { ca: readPem(tls.caFile, 'LICENSE_TLS_CA') }),
  };
}

function httpsOptions(tls: TlsConfig): https.ServerOptions {
  return {
    ...secureContextOptions(tls),
    // Asked for, not demanded: a browser without one still gets the page and signs in with the token.
    ...(tls.caFile === undefined ? {} : { requestCert: true, rejectUnauthorized: false }),
    minVersion: 'TLSv1.2',
  };
}

/** The methods a known API path answers; empty for an unknown path. */
function methodsOf(apiPath: string): ApiMethod[] {
  if (apiPath === SESSION_PATH) return ['GET', 'POST', 'DELETE'];
  if (apiPath === SETTINGS_PATH) return ['GET'];
  return OPS_ROUTES.filter((r) => r.path === apiPath).map((r) => r.method);
}

function cookieSessionId(req: http.IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      const value = part.slice(eq + 1).trim();
      if (value !== '') return value;
    }
  }
  return undefined;
}

/** `host[:port]` as a URL of this scheme spells it (lower case, default port dropped); undefined when it does not parse. */
function canonicalHost(scheme: string, host: string): string | undefined {
  try {
    return new URL(`${scheme}//${host}`).host;
  } catch {
    return undefined;
  }
}

/**
 * The License Server Control Panel on LICENSE_CONSOLE_ADDR: the page's static files and the
 * JSON API under /api/v1/ (docs/CONSOLE.md), which checks who is calling and then calls
 * `ops`, the same object the gRPC AdminService calls.
 */
export function createConsoleServer(opts: ConsoleServerOptions): ConsoleServer {
  const isHttps = opts.tls !== undefined;
  const scheme = isHttps ? 'https:' : 'http:';
  const { logger } = opts;
  const sessions = createSessionStore({ ttlMs: opts.sessionTtlMs, clock: opts.clock });
  const signIns = createAttemptLimiter({ max: SIGN_IN_ATTEMPTS_PER_MINUTE, windowMs: 60_000, clock: opts.clock });
  const serveStatic = createStaticFiles(opts.assetsDir);
  if (!existsSync(path.join(opts.assetsDir, 'index.html'))) {
    logger.warn('console page files missing: the JSON API works, the page does not (build them: npm run build)', { assetsDir: opts.assetsDir });
  }

  const cookieName = sessionCookieName(opts.settings.clusterId, opts.settings.nodeId);
  const cookie = (value: string, extra: string): string => `${cookieName}=${value}; HttpOnly; SameSite=Strict; Path=/${extra}${isHttps ? '; Secure' : ''}`;
  const clearCookie = cookie('', '; Max-Age=0');

  const clientCertVerified = (req: http.IncomingMessage): boolean => opts.tls?.caFile !== undefined && req.socket instanceof TLSSocket && req.socket.authorized;

  /** Defence in depth next to SameSite and CSRF tokens: a browser's state-changing request must come from this console's own origin. */
  const checkSameOrigin = (req: http.IncomingMessage): void => {
    const origin = req.headers.origin;
    if (origin === undefined) return;
    let originHost: string | undefined;
    try {
      const u = new URL(origin);
      if (u.protocol === scheme) originHost = u.host;
    } catch {
      // "null" or garbage: refused below.
    }
    const host = req.headers.host;
    if (originHost === undefined || host === undefined || originHost !== canonicalHost(scheme, host)) {
      throw new LicenseError(ErrorCode.PERMISSION_DENIED, `cross-origin request refused: Origin ${origin} is not this console (${host ?? 'no Host header'})`);
    }
  };

  const expired = (): HttpRefusal => new HttpRefusal(ErrorCode.UNAUTHENTICATED, EXPIRED_MESSAGE, undefined, { 'set-cookie': clearCookie });

  /** Bearer token (no CSRF) or session cookie (CSRF token on POST/DELETE); throws the refusal. */
  const authenticate = (req: http.IncomingMessage, stateChanging: boolean): Via => {
    const authorization = req.headers.authorization;
    if (authorization !== undefined && authorization.trim() !== '') {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
      if (!m || !sameSecret(m[1] ?? '', opts.adminToken)) throw new LicenseError(ErrorCode.PERMISSION_DENIED, WRONG_TOKEN_MESSAGE);
      return 'token';
    }
    const id = cookieSessionId(req, cookieName);
    if (id === undefined) throw new LicenseError(ErrorCode.UNAUTHENTICATED, NO_CREDENTIALS_MESSAGE);
    const session = sessions.get(id);
    if (!session) throw expired();
    if (stateChanging) {
      const given = req.headers['x-csrf-token'];
      if (typeof given !== 'string' || !sameSecret(given, session.csrf)) throw new LicenseError(ErrorCode.PERMISSION_DENIED, CSRF_MESSAGE);
    }
    return 'session';
  };

  const signIn = async (req: http.IncomingMessage, remote: string, setVia: (v: Via) => void): Promise<Answer> => {
    const verdict = signIns.attempt(remote);
    if (!verdict.allowed) {
      const seconds = Math.max(1, Math.ceil(verdict.retryAfterMs / 1000));
      throw new HttpRefusal(
        ErrorCode.LIMIT_EXCEEDED,
        `too many console sign-in attempts from ${remote} (at most ${SIGN_IN_ATTEMPTS_PER_MINUTE} a minute): try again in ${seconds} s`,
        undefined,
        { 'retry-after': String(seconds) },
      );
    }
    const body = await readJsonBody(req);
    checkFields(body, ['token']);
    const token = body['token'];
    if (token !== undefined) {
      if (typeof token !== 'string')
        throw new LicenseError(ErrorCode.INVALID_ARGUMENT, `token: must be a string, got ${token === null ? 'null' : typeof token}`, { field: 'token' });
      if (!sameSecret(token, opts.adminToken)) throw new LicenseError(ErrorCode.PERMISSION_DENIED, WRONG_TOKEN_MESSAGE);
      setVia('token');
    } else if (clientCertVerified(req)) {
      setVia('client-cert');
    } else {
      const orCert = opts.tls?.caFile === undefined ? '' : ', or present a client certificate signed by LICENSE_TLS_CA';
      throw new LicenseError(ErrorCode.UNAUTHENTICATED, `sign-in needs the admin token: {"token": "<LICENSE_ADMIN_TOKEN>"}${orCert}`);
    }
    const previous = cookieSessionId(req, cookieName);
    if (previous !== undefined) sessions.delete(previous);
    const { id, session } = sessions.create();
    return { value: { csrf_token: session.csrf, expires_at_ms: session.expiresAtMs }, headers: { 'set-cookie': cookie(id, '') } };
  };

  const dispatch = async (
    req: http.IncomingMessage,
    method: string,
    apiPath: string,
    query: URLSearchParams,
    remote: string,
    setVia: (v: Via) => void,
  ): Promise<Answer> => {
    const stateChanging = method === 'POST' || method === 'DELETE';
    if (stateChanging) checkSameOrigin(req);
    if (method !== 'GET') checkQuery(query, []);
    if (apiPath === SESSION_PATH && method === 'POST') return signIn(req, remote, setVia);
    if (apiPath === SESSION_PATH && method === 'GET') {
      checkQuery(query, []);
      const id = cookieSessionId(req, cookieName);
      if (id === undefined) throw new LicenseError(ErrorCode.UNAUTHENTICATED, 'no console session: sign in (POST /api/v1/session)');
      const session = sessions.get(id);
      if (!session) throw expired();
      setVia('session');
      return { value: { csrf_token: session.csrf, expires_at_ms: session.expiresAtMs } };
    }
    setVia(authenticate(req, stateChanging));
    if (apiPath === SESSION_PATH) {
      const id = cookieSessionId(req, cookieName);
      if (id !== undefined) sessions.delete(id);
      return { value: {}, headers: { 'set-cookie': clearCookie } };
    }
    if (apiPath === SETTINGS_PATH) {
      checkQuery(query, []);
      const s = opts.settings;
      return { value: { node_id: s.nodeId, cluster_id: s.clusterId, vendor_contact: s.vendorContact, send_available: s.sendAvailable, version: s.version } };
    }
    const route = OPS_ROUTES.find((r) => r.path === apiPath && r.method === method);
    if (!route) throw new Error(`console route table has no ${method} ${apiPath}`);
    // Read only after authentication: a stranger's body is never parsed.
    const body = method === 'POST' ? await readJsonBody(req) : {};
    return { value: await route.run(opts.ops, { query, body }) };
  };

  const serveApi = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    apiPath: string,
    query: URLSearchParams,
    headers: Record<string, string>,
  ): Promise<void> => {
    const method = req.method ?? 'GET';
    const remote = req.socket.remoteAddress ?? 'unknown';
    const apiHeaders = { ...headers, 'cache-control': 'no-store' };
    let via: Via = 'none';
    let status = 200;
    let outcome = 'OK';
    try {
      const allowed = methodsOf(apiPath);
      if (allowed.length === 0) throw new HttpRefusal(ErrorCode.NOT_FOUND, `no console API route ${apiPath}: see docs/CONSOLE.md for the routes`);
      if (!(allowed as string[]).includes(method)) {
        throw new HttpRefusal(ErrorCode.INVALID_ARGUMENT, `${method} is not allowed on ${apiPath}: use ${allowed.join(', ')}`, 405, {
          allow: allowed.join(', '),
        });
      }
      const answer = await dispatch(req, method, apiPath, query, remote, (v) => (via = v));
      sendJson(res, 200, answer.value, { ...apiHeaders, ...answer.headers });
    } catch (err) {
      const a = errorAnswer(err, logger, `${method} ${apiPath}`);
      status = a.status;
      outcome = a.code;
      // A refusal before the body was read: close rather than read and discard the rest.
      const close: Record<string, string> = req.complete ? {} : { connection: 'close' };
      sendJson(res, a.status, a.body, { ...apiHeaders, ...close, ...a.headers });
    }
    if (method === 'POST' || method === 'DELETE') {
      const line = { method, path: apiPath, status, outcome, remote, via };
      if (apiPath === SESSION_PATH && method === 'POST' && outcome !== 'OK') logger.warn('console sign-in refused', line);
      else logger.info('console api call', line);
    }
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const headers = securityHeaders(isHttps);
    const rawUrl = req.url ?? '/';
    const q = rawUrl.indexOf('?');
    const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q);
    if (rawPath === '/api' || rawPath.startsWith('/api/')) {
      return serveApi(req, res, rawPath, new URLSearchParams(q === -1 ? '' : rawUrl.slice(q + 1)), headers);
    }
    return serveStatic(req, res, rawPath, headers);
  };

  const listener = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    handle(req, res).catch((err: unknown) => {
      logger.error('console request failed', { url: req.url, err: err instanceof Error ? err.stack : String(err) });
      if (!res.headersSent) res.writeHead(500, { ...securityHeaders(isHttps), 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end();
    });
  };

  const server: http.Server | https.Server = opts.tls ? https.createServer(httpsOptions(opts.tls), listener) : http.createServer(listener);
  // A slow or stalled client is dropped instead of holding a socket for the default 5 minutes.
  server.headersTimeout = 20_000;
  server.requestTimeout = 30_000;

  let reload: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    if (reload) clearInterval(reload);
    closing ??= new Promise((resolve) => {
      if (!server.listening) return resolve();
      server.closeAllConnections();
      server.close(() => resolve());
    });
    return closing;
  };

  return {
    close,
    start: () =>
      new Promise((resolve, reject) => {
        const addr = `${opts.host}:${opts.port}`;
        server.once('error', (err) => reject(new Error(`cannot listen on ${addr} (LICENSE_CONSOLE_ADDR): ${err.message}`)));
        server.listen(opts.port, opts.host, () => {
          const a = server.address();
          const port = typeof a === 'object' && a ? a.port : opts.port;
          const wildcard = opts.host === '' || opts.host === '0.0.0.0' || opts.host === '::';
          const shown = wildcard ? hostname() : opts.host;
          const url = `${isHttps ? 'https' : 'http'}://${shown.includes(':') ? `[${shown}]` : shown}:${port}`;
          const tls = opts.tls;
          if (tls && server instanceof https.Server) {
            reload = setInterval(() => {
              try {
                server.setSecureContext(secureContextOptions(tls));
              } catch (err) {
                logger.warn('console keeps its old certificate: reloading the TLS files failed', { err: errorMessage(err) });
              }
            }, TLS_RELOAD_MS);
            reload.unref();
          }
          resolve({ url, port, close });
        });
      }),
  };
}

/** `createConsoleServer(opts).start()`. */
export function startConsoleServer(opts: ConsoleServerOptions): Promise<RunningConsole> {
  return createConsoleServer(opts).start();
}
