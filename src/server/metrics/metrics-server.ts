import http from 'node:http';
import type { Registry } from 'prom-client';
import { parseHostPort } from '../config';
import type { Logger } from '../log';

export interface Readiness {
  /** Alive: the process runs its loops (false once it is stopping). */
  alive(): boolean;
  /** Ready: this node is the active one and serves seats. */
  ready(): { ready: boolean; state: string };
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
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    const send = (code: number, body: string, type = 'text/plain; charset=utf-8'): void => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'method not allowed\n');
    if (url === '/metrics') {
      registry.metrics().then(
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
