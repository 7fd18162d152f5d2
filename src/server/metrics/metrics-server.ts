import http from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Registry } from 'prom-client';
import { parseHostPort } from '../config';
import type { Logger } from '../log';

export interface Readiness {
  /** Alive: the process runs its loops (false once it is stopping). */
  alive(): boolean;
  /** Ready: this node is the active one and serves seats. */
  ready(): { ready: boolean; state: string };
}

/**
 * How long one rendering of /metrics answers further scrapes. Prometheus scrapes every
 * 15 s or so; a scraper (or several) hammering the endpoint would otherwise make the
 * node render the exposition, ~2.5 ms of its one thread, for every request: at 100
 * requests/s a quarter of the thread that grants seats (measured by `npm run bench -- scrape`).
 */
export const RENDER_REUSE_MS = 1_000;

/**
 * One rendering in flight at a time, and its result reused for `reuseMs` after it
 * finished: scrapes that arrive meanwhile share it. A failed rendering is not reused.
 */
export function coalescedRender(render: () => Promise<string>, reuseMs: number, now: () => number = () => performance.now()): () => Promise<string> {
  let inFlight: Promise<string> | undefined;
  let last: { body: string; at: number } | undefined;
  return () => {
    if (last && now() - last.at < reuseMs) return Promise.resolve(last.body);
    inFlight ??= render().then(
      (body) => {
        last = { body, at: now() };
        inFlight = undefined;
        return body;
      },
      (err: unknown) => {
        inFlight = undefined;
        throw err;
      },
    );
    return inFlight;
  };
}

export interface MetricsServer {
  start(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * HTTP for SREs and orchestrators on LICENSE_METRICS_ADDR: `/metrics` (Prometheus),
 * `/healthz` (alive: restart me if this fails) and `/readyz` (active and serving:
 * send clients here). A standby is alive but not ready, which is the point.
 */
export function createMetricsServer(addr: string, registry: Registry, readiness: Readiness, logger: Logger): MetricsServer {
  const render = coalescedRender(() => registry.metrics(), RENDER_REUSE_MS);
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const send = (code: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    if (url === '/metrics') {
      render().then(
        (body) => send(200, body, registry.contentType),
        (err: unknown) => {
          logger.error('metrics collection failed', { err: String(err) });
          send(500, 'metrics collection failed\n');
        },
      );
      return;
    }
    if (url === '/healthz') return readiness.alive() ? send(200, 'ok\n') : send(503, 'stopping\n');
    if (url === '/readyz') {
      const r = readiness.ready();
      return send(r.ready ? 200 : 503, `${r.ready ? 'ready' : 'not ready'}: ${r.state}\n`);
    }
    return send(404, 'not found: try /metrics, /healthz, /readyz\n');
  });
  return {
    start: () =>
      new Promise((resolve, reject) => {
        const { host, port } = parseHostPort(addr);
        server.once('error', (err) => reject(new Error(`cannot listen on ${addr} (LICENSE_METRICS_ADDR): ${err.message}`)));
        server.listen(port, host, () => {
          const a = server.address();
          resolve(typeof a === 'object' && a ? a.port : port);
        });
      }),
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
