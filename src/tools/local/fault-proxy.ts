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
  /**
   * A partition that leaves some Redis clients on this side of it: every connection is cut
   * (`mode`) except those whose Redis client name is in `keep` (or passes it), which pass
   * untouched, new ones included. The name is read from the first bytes a client sends
   * (`CLIENT SETNAME` or `HELLO ... SETNAME`: ioredis sends its `connectionName` so, a
   * sentinel names its links `sentinel-<id>-cmd`); a new connection's bytes are held until
   * its name is known, and it is cut when it gives none within SNIFF_MS (a replica's link).
   */
  cutExcept(keep: readonly string[] | ((clientName: string) => boolean), mode?: CutMode): void;
  restore(): void;
  /**
   * Delays every byte by `ms` in each direction from now on (0: none), as a slow or distant
   * link does; order is kept. Independent of cuts.
   */
  setLatency(ms: number): void;
  readonly isCut: boolean;
  /** Redis client names of the connections open now (undefined: none seen), for tests to check who is connected. */
  clientNames(): (string | undefined)[];
  close(): Promise<void>;
}

/** How long a new connection may take to name itself while a cutExcept() is in force. */
const SNIFF_MS = 500;
/** The client name must come within this many first bytes. */
const SNIFF_BYTES = 1_024;
/** `SETNAME <name>` as RESP (`$7\r\nSETNAME\r\n$15\r\nlicensed:node-a\r\n`) or inline. */
const SETNAME = /setname\r\n\$\d+\r\n([^\r\n]*)\r\n|setname[ \t]+([^\s]+)\s/i;

interface Conn {
  readonly client: net.Socket;
  readonly upstream: net.Socket;
  /** Bytes seen so far while looking for the client name (latin1). */
  sniff: string;
  /** Name found, or given up looking (SNIFF_BYTES, SNIFF_MS). */
  named: boolean;
  name: string | undefined;
  /** Client bytes waiting for the verdict on a connection that has not named itself yet. */
  held: Buffer[];
  timer: NodeJS.Timeout | undefined;
}

/**
 * A TCP proxy in front of Redis or a peer, so drills and tests can cut a link for
 * real: every byte goes through here, and cut() stops them.
 */
export async function startFaultProxy(targetHost: string, targetPort: number, listenPort = 0): Promise<FaultProxy> {
  const conns = new Set<Conn>();
  let mode: CutMode | undefined;
  /** Set by cutExcept(): which client names stay connected while cut. */
  let keep: ((clientName: string) => boolean) | undefined;
  let latencyMs = 0;
  /** Writes now, or after the latency (timers of one delay fire in the order they were set). */
  const send = (to: net.Socket, d: Buffer): void => {
    if (latencyMs <= 0) to.write(d);
    else setTimeout(() => to.destroyed || to.write(d), latencyMs).unref();
  };

  const passes = (c: Conn): boolean => mode === undefined || (keep !== undefined && c.name !== undefined && keep(c.name));
  /** A cutExcept() waits for this connection's name before deciding. */
  const undecided = (c: Conn): boolean => keep !== undefined && !c.named;
  const drop = (c: Conn): void => {
    if (c.timer) clearTimeout(c.timer);
    conns.delete(c);
    c.client.destroy();
    c.upstream.destroy();
  };
  /**
   * One side closed. Through a blackhole the close is lost like every other packet: the
   * other side keeps its connection, as across a real partition (a Redis master keeps its
   * replicas' links, lagging, when they are re-pointed elsewhere), until restore() resets it.
   */
  const closed = (c: Conn, side: net.Socket): void => {
    if (mode === 'blackhole' && !passes(c) && !undecided(c) && conns.has(c)) side.destroy();
    else drop(c);
  };
  const reset = (c: Conn): void => {
    if (c.timer) clearTimeout(c.timer);
    conns.delete(c);
    c.client.resetAndDestroy();
    c.upstream.destroy();
  };
  /** Applies the current cut to one connection: flush what it held, or cut it. */
  const settle = (c: Conn): void => {
    if (passes(c)) {
      for (const b of c.held) c.upstream.write(b);
      c.held = [];
    } else if (!undecided(c)) {
      c.held = [];
      if (mode === 'reset') reset(c);
    }
  };
  const named = (c: Conn, name: string | undefined): void => {
    if (c.named) return;
    c.named = true;
    c.name = name;
    if (c.timer) clearTimeout(c.timer);
    c.timer = undefined;
    c.sniff = '';
    settle(c);
  };

  const server = net.createServer((client) => {
    if (mode === 'reset' && keep === undefined) {
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(targetPort, targetHost);
    const c: Conn = { client, upstream, sniff: '', named: false, name: undefined, held: [], timer: undefined };
    c.timer = setTimeout(() => named(c, undefined), SNIFF_MS);
    c.timer.unref();
    conns.add(c);
    client.on('error', () => closed(c, client)).on('close', () => closed(c, client));
    upstream.on('error', () => closed(c, upstream)).on('close', () => closed(c, upstream));
    client.on('data', (d: Buffer) => {
      // Held while a cutExcept() waits for the name: the verdict flushes or drops it.
      const held = undecided(c);
      if (held) c.held.push(d);
      if (!c.named) {
        c.sniff += d.toString('latin1');
        const m = SETNAME.exec(c.sniff);
        if (m) named(c, m[1] ?? m[2]);
        else if (c.sniff.length >= SNIFF_BYTES) named(c, undefined);
      }
      if (!held && passes(c)) send(upstream, d);
    });
    upstream.on('data', (d: Buffer) => {
      if (passes(c)) send(client, d);
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
      keep = undefined;
      for (const c of [...conns]) settle(c);
    },
    cutExcept(names: readonly string[] | ((clientName: string) => boolean), m: CutMode = 'reset') {
      mode = m;
      if (typeof names === 'function') {
        keep = names;
      } else {
        const set = new Set(names);
        keep = (n) => set.has(n);
      }
      for (const c of [...conns]) settle(c);
    },
    restore() {
      // Blackholed connections carry half-sent data: reset them so both sides start clean.
      for (const c of [...conns]) if (!passes(c) && !undecided(c)) reset(c);
      mode = undefined;
      keep = undefined;
      for (const c of [...conns]) settle(c);
    },
    setLatency(ms: number) {
      if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`latency must be a number of milliseconds >= 0, got ${ms}`);
      latencyMs = ms;
    },
    clientNames: () => [...conns].map((c) => c.name),
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of [...conns]) drop(c);
        server.close(() => resolve());
      }),
  };
}
