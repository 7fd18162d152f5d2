import { readFileSync } from 'node:fs';
import net from 'node:net';

/** Where Linux hands out ports of its own (bind to port 0, outgoing connections); read once. */
function ephemeralRange(): { low: number; high: number } {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low !== undefined && high !== undefined && Number.isInteger(low) && Number.isInteger(high) && low > 1024) return { low, high };
  } catch {
    // Not Linux: the usual range.
  }
  return { low: 32768, high: 60999 };
}

const EPHEMERAL = ephemeralRange();
/** Below the ephemeral range, above the ports of common services (Redis 6379, Prometheus 9090). */
const POOL_LOW = 10_000;

/**
 * A loopback port that was free a moment ago, for a server that must keep its port across
 * a restart (drills restart a killed node on the same address).
 *
 * Chosen at random below the kernel's ephemeral range, never by binding port 0: a port
 * from that range can be taken by any outgoing connection on the machine (a client's own
 * end of a TCP connection) while its server is down, and the restart then fails with
 * EADDRINUSE (seen in CI). Below the range only another call of this function can take
 * it, and a bind check skips ports in use.
 */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const high = Math.max(POOL_LOW + 1_000, EPHEMERAL.low - 1);
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = POOL_LOW + Math.floor(Math.random() * (high - POOL_LOW));
    if (await canBind(port, host)) return port;
  }
  throw new Error(`no free port found between ${POOL_LOW} and ${high} on ${host} after 50 tries`);
}

/** `preferred` when it is free (a documented port, such as the console's 7480), else any free one. */
export async function preferredPort(preferred: number, host = '127.0.0.1'): Promise<number> {
  return (await canBind(preferred, host)) ? preferred : freePort(host);
}

function canBind(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

/** Resolves once a TCP connect to host:port succeeds, or rejects after timeoutMs. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
