import { Redis, type RedisOptions } from 'ioredis';
import type { HostPort } from '../config';
import type { Logger } from '../log';

/** What the replica acknowledgement asks of a watch: is a master failover under way, and has one begun since? */
export interface FailoverSignal {
  /** Goes up by one each time a failover of the master begins. */
  generation(): number;
  /** True from the start of a failover until the sentinels announce the new master (or give up). */
  inProgress(): boolean;
}

/** Longest a failover counts as in progress without a word from the sentinels (a lost +switch-master). */
const MAX_FAILOVER_MS = 30_000;

/**
 * Listens to every Sentinel for the failovers of one master, so that a write a replica
 * acknowledged during the switch is not taken as safe.
 *
 * Why WAIT alone is not enough: during a failover the sentinels promote one replica while
 * the other replicas still follow the old master until they are reconfigured. A write on
 * the old master in that window is acknowledged by such a replica and then thrown away
 * when it is re-pointed at the new master (measured: 105 of 2,183 seats granted during a
 * SENTINEL FAILOVER). `+try-failover` is published before any replica is promoted, and
 * `+switch-master` once the replicas follow the new one; a write confirmed in between, or
 * by a WAIT that overlapped its start, is refused (REPLICAS_UNAVAILABLE), and the client
 * retries on the new master.
 */
export class SentinelFailoverWatch implements FailoverSignal {
  readonly #subscribers: Redis[] = [];
  readonly #switchListeners: ((master: HostPort) => void)[] = [];
  #generation = 0;
  #since: number | undefined;

  constructor(
    private readonly sentinels: readonly HostPort[],
    private readonly masterName: string,
    private readonly logger: Logger,
    private readonly options: Pick<RedisOptions, 'tls'> = {},
  ) {}

  generation(): number {
    return this.#generation;
  }

  inProgress(): boolean {
    if (this.#since !== undefined && Date.now() - this.#since > MAX_FAILOVER_MS) {
      this.logger.warn('no word from the sentinels on the Redis failover for 30 s; writes are confirmed again', { master: this.masterName });
      this.#since = undefined;
    }
    return this.#since !== undefined;
  }

  /**
   * Called with the new master's address on every `+switch-master` for this master (once
   * per sentinel that announces it, so possibly several times per switch).
   */
  onSwitch(listener: (master: HostPort) => void): void {
    this.#switchListeners.push(listener);
  }

  /** Connects to every sentinel (each reconnects by itself); never throws. */
  start(): void {
    for (const s of this.sentinels) {
      const sub = new Redis({
        host: s.host,
        port: s.port,
        lazyConnect: true,
        enableOfflineQueue: true,
        maxRetriesPerRequest: null,
        retryStrategy: (times: number) => Math.min(100 * times, 1_000),
        connectionName: 'licensed:failover-watch',
        ...this.options,
      });
      sub.on('error', () => {
        // Reconnects by itself; the other sentinels still report.
      });
      sub.on('message', (channel: string, message: string) => this.#onEvent(channel, message));
      void sub
        .subscribe('+try-failover', '+switch-master', '-failover-abort-not-elected', '-failover-abort-no-good-slave', '+failover-end-for-timeout')
        .catch(() => {
          // Subscribed again on reconnect by ioredis.
        });
      this.#subscribers.push(sub);
    }
  }

  stop(): void {
    for (const s of this.#subscribers) s.disconnect();
    this.#subscribers.length = 0;
  }

  #onEvent(channel: string, message: string): void {
    // "+try-failover master <name> <ip> <port>", "+switch-master <name> <old ip> <old port> <new ip> <new port>"
    const words = message.split(' ');
    const name = channel === '+switch-master' ? words[0] : words[1];
    if (name !== this.masterName) return;
    if (channel === '+try-failover') {
      if (this.#since === undefined)
        this.logger.warn('Redis master failover begun: writes are not confirmed until the new master is known', { master: this.masterName });
      this.#generation++;
      this.#since = Date.now();
      return;
    }
    if (this.#since !== undefined) this.logger.info('Redis master failover over; writes are confirmed again', { master: this.masterName, event: channel });
    this.#since = undefined;
    if (channel === '+switch-master') {
      const host = words[3];
      const port = Number(words[4]);
      if (host !== undefined && Number.isInteger(port)) for (const l of this.#switchListeners) l({ host, port });
    }
  }
}
