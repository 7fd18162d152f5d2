import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { HostPort } from '../config';
import type { Logger } from '../log';
import type { LeaseObservation, LeaseStore } from '../store/lease-store';

/** What one TCP connect to the peer's port found. */
export type ProbeResult = 'refused' | 'open' | 'no-answer';

/** Connects to host:port once: `refused` only for ECONNREFUSED (nothing listens there, the host answered). */
export function probePort(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (r: ProbeResult): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => done('no-answer'), timeoutMs);
    socket.once('connect', () => done('open'));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'ECONNREFUSED' ? 'refused' : 'no-answer'));
  });
}

export interface PeerDeathWatchDeps {
  readonly host: string;
  readonly port: number;
  /** How long one probe waits for an answer; past it the peer may be paused or cut off, not dead. */
  readonly probeTimeoutMs: number;
  readonly probe?: (host: string, port: number, timeoutMs: number) => Promise<ProbeResult>;
  /**
   * After the first refusal: note what must not change before the second (the lease and
   * its renewal count) and say how long to wait for the second probe. False: nothing to
   * take over, stop here.
   */
  firstRefusal(): Promise<number | false>;
  /** After the second refusal. */
  confirmed(): void;
}

/** Waits before the re-probes of a port found open (see #run). */
const OPEN_RETRY_MS = [20, 50, 100];

/**
 * Tells a dead peer process from a slow or unreachable one. When the peer's port refuses
 * connections (ECONNREFUSED: its host is up and nothing listens) on two probes apart, the
 * process is gone: a crash, an OOM kill, a deploy mistake. A paused process
 * (SIGSTOP), a partition or a lost host does not refuse, it stays silent, and then the
 * lease TTL decides as before.
 *
 * suspect() starts one round (ignored while one runs); the controller calls it when the
 * gRPC connection to the peer drops or a heartbeat fails, so a crash is seen within a
 * round trip instead of at the next heartbeat.
 */
export class PeerDeathWatch {
  #round: Promise<void> | undefined;

  constructor(private readonly deps: PeerDeathWatchDeps) {}

  /** Starts a round unless one runs; resolves when the running round is over. */
  suspect(): Promise<void> {
    this.#round ??= this.#run().finally(() => {
      this.#round = undefined;
    });
    return this.#round;
  }

  /** The round in flight, for tests and stop(). */
  settled(): Promise<void> {
    return this.#round ?? Promise.resolve();
  }

  async #run(): Promise<void> {
    const { host, port, probeTimeoutMs } = this.deps;
    const probe = this.deps.probe ?? probePort;
    // A dying process's connections close a moment before its listening socket: a probe
    // sent the instant the connection drops still finds the port open. A few more, soon
    // after, tell a death from a connection that merely dropped.
    let first = await probe(host, port, probeTimeoutMs);
    for (const wait of OPEN_RETRY_MS) {
      if (first !== 'open') break;
      await new Promise((r) => setTimeout(r, wait));
      first = await probe(host, port, probeTimeoutMs);
    }
    if (first !== 'refused') return;
    const gapMs = await this.deps.firstRefusal().catch(() => false as const);
    if (gapMs === false) return;
    await new Promise((r) => setTimeout(r, gapMs));
    if ((await probe(host, port, probeTimeoutMs)) !== 'refused') return;
    this.deps.confirmed();
  }
}

/** Shortest gap between the two refused probes. */
const MIN_GAP_MS = 100;
/** The second probe and the acquire after it, as promised to clients (expectedWithinMs). */
const TAKEOVER_WORK_MS = 30;
/** Added to the holder's next renewal before its absence counts: a live holder renews a little late under load. */
const RENEWAL_SLACK_MS = 150;

export interface EarlyTakeoverDeps {
  /** The peer's gRPC address (LICENSE_PEER_ADDR). */
  readonly peer: HostPort;
  /** The channel of the peer client: a dropped connection starts a round at once. */
  readonly channel?: Pick<grpc.Channel, 'getConnectivityState' | 'watchConnectivityState'>;
  readonly lease: Pick<LeaseStore, 'observe'>;
  readonly logger: Logger;
  readonly probeTimeoutMs: number;
  /** The lease TTL and how often a holder renews (both nodes run the same settings). */
  readonly leaseTtlMs: number;
  readonly renewEveryMs: number;
  /** The peer's node id when this node could take the lease from it now (running, not holding it, has heard the peer); else undefined. */
  eligible(): string | undefined;
  /** Both probes refused and the lease is still the peer's, unrenewed since the first: take it with this observation. */
  takeOver(seen: LeaseObservation): void;
  readonly probe?: PeerDeathWatchDeps['probe'];
}

/**
 * Early takeover (the fast path of a failover): when the lease holder's process is dead,
 * the other node takes the lease before its TTL runs out. Evidence, all of it required:
 * the peer's port refused two probes (PeerDeathWatch); the lease was the peer's at the
 * first refusal; the second probe waits until the holder's next renewal is overdue (its
 * last one is read off the lease's remaining TTL: a holder renews every renewEveryMs,
 * each renewal setting the TTL back to full), plus RENEWAL_SLACK_MS; and at takeover the
 * lease is still exactly the one seen, with the same renewal count (checked inside the
 * acquire script). So a holder that is alive and renewing is never taken over, even when
 * its port refuses (a wrong LICENSE_PEER_ADDR, a firewall REJECT rule). If the evidence still misleads
 * (a port refusing while the process lives on), fencing makes it harmless: the old
 * holder's next renewal and every write it tries are refused (STALE_EPOCH) and it steps
 * down. Timeouts (a paused process, a partition, a lost host) are not evidence: the TTL
 * decides, as before.
 */
export class EarlyTakeover {
  readonly #watch: PeerDeathWatch;
  #seen: LeaseObservation | undefined;
  /** performance.now() of the second probe while a round waits for it. */
  #secondProbeAt: number | undefined;
  #running = false;

  constructor(private readonly deps: EarlyTakeoverDeps) {
    this.#watch = new PeerDeathWatch({
      host: deps.peer.host,
      port: deps.peer.port,
      probeTimeoutMs: deps.probeTimeoutMs,
      probe: async (host, port, timeoutMs) => {
        const r = await (deps.probe ?? probePort)(host, port, timeoutMs);
        deps.logger.debug('probed the peer port', { peer: `${host}:${port}`, result: r });
        return r;
      },
      firstRefusal: () => this.#observe(),
      confirmed: () => {
        const seen = this.#seen;
        this.#seen = undefined;
        this.#secondProbeAt = undefined;
        if (!this.#running || !seen || this.deps.eligible() !== seen.nodeId) return;
        this.deps.logger.warn("the peer's port refuses connections and its lease is not being renewed: taking the lease over before its TTL", {
          peer: `${deps.peer.host}:${deps.peer.port}`,
          holder: seen.owner,
          leaseLeftMs: seen.pttlMs,
        });
        this.deps.takeOver(seen);
      },
    });
  }

  start(): void {
    this.#running = true;
    const channel = this.deps.channel;
    if (!channel) return;
    // A crashed peer's kernel closes the connection at once: the channel leaves READY
    // long before the next heartbeat would fail.
    const watch = (last: grpc.connectivityState): void => {
      if (!this.#running) return;
      try {
        channel.watchConnectivityState(last, Date.now() + 60_000, (err) => {
          if (!this.#running) return;
          const now = channel.getConnectivityState(false);
          if (!err && last === grpc.connectivityState.READY && now !== grpc.connectivityState.READY) this.suspect('connection dropped');
          watch(now);
        });
      } catch {
        // The channel was closed (the node is stopping).
      }
    };
    watch(channel.getConnectivityState(false));
  }

  stop(): void {
    this.#running = false;
  }

  /** A heartbeat to the peer failed or its connection dropped: probe it. */
  suspect(why = 'heartbeat failed'): void {
    this.deps.logger.debug('peer suspected', { why, eligible: this.deps.eligible() ?? '' });
    if (this.#running && this.deps.eligible() !== undefined)
      void this.#watch.suspect().then(() => {
        // Round over (confirmed or not): nothing to promise clients any more.
        this.#secondProbeAt = undefined;
      });
  }

  /**
   * While a round waits to confirm the peer's death: roughly when this node will have
   * taken over (the second probe plus an acquire), in ms from now; otherwise undefined.
   * Refusals carry it (`license-retry-after-ms`), so clients come back right then rather
   * than after a backoff, or chase the dead node's address.
   */
  expectedWithinMs(): number | undefined {
    if (this.#secondProbeAt === undefined) return undefined;
    return Math.max(0, Math.ceil(this.#secondProbeAt - performance.now())) + TAKEOVER_WORK_MS;
  }

  /** The probing round in flight, if any (tests). */
  settled(): Promise<void> {
    return this.#watch.settled();
  }

  async #observe(): Promise<number | false> {
    const peerId = this.deps.eligible();
    if (!this.#running || peerId === undefined) return false;
    const seen = await this.deps.lease.observe();
    if (!seen || seen.nodeId !== peerId || seen.pttlMs <= 0) return false;
    this.#seen = seen;
    // The holder renewed (TTL - pttl) ago and renews again renewEveryMs after that.
    const sinceRenewal = Math.max(0, this.deps.leaseTtlMs - seen.pttlMs);
    const gap = Math.max(MIN_GAP_MS, this.deps.renewEveryMs - sinceRenewal + RENEWAL_SLACK_MS);
    this.#secondProbeAt = performance.now() + gap;
    return gap;
  }
}
