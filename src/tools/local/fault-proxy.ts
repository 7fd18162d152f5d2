import net from 'node:net';

export type CutMode =
  /** Connections are reset and new ones refused at once (a crashed host, a firewall REJECT). */
  | 'reset'
  /** Connections stay open but nothing passes (a partition, a firewall DROP): callers time out. */
  | 'blackhole';

export interface FaultProxy {
  readonly port: number;
  readonly addr: string;
  cut(mode?: CutMode): void;
  restore(): void;
  readonly isCut: boolean;
  close(): Promise<void>;
}

/**
 * A TCP proxy in front of Redis or a peer, so drills and tests can cut a link for
 * real: every byte goes through here, and cut() stops them.
 */
export async function startFaultProxy(targetHost: string, targetPort: number, listenPort = 0): Promise<FaultProxy> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  let mode: CutMode | undefined;
  const server = net.createServer((client) => {
    if (mode === 'reset') {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const drop = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.on('data', (d) => {
      if (mode === undefined) upstream.write(d);
    });
    upstream.on('data', (d) => {
      if (mode === undefined) client.write(d);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : listenPort;
  return {
    port,
    addr: `127.0.0.1:${port}`,
    get isCut() {
      return mode !== undefined;
    },
    cut(m: CutMode = 'reset') {
      mode = m;
      if (m === 'reset') {
        for (const [c, u] of pairs) {
          c.resetAndDestroy();
          u.destroy();
        }
        pairs.clear();
      }
    },
    restore() {
      // Blackholed connections carry half-sent data: reset them so both sides start clean.
      if (mode === 'blackhole') {
        for (const [c, u] of pairs) {
          c.resetAndDestroy();
          u.destroy();
        }
        pairs.clear();
      }
      mode = undefined;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const [c, u] of pairs) {
          c.destroy();
          u.destroy();
        }
        pairs.clear();
        server.close(() => resolve());
      }),
  };
}
