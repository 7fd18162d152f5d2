import type { BudgetVerdict } from '../budget/budget-keeper';
import type { LeaseHooks } from '../cluster/node-controller';
import { ErrorCode, errorMessage, LicenseError } from '../errors';
import type { Logger } from '../log';
import type { StateFile } from '../state-file';
import type { Fence } from '../store/fence';
import type { LeaseStore } from '../store/lease-store';

export interface LicenseSerialGuardDeps {
  /** The serial of this node's license file. */
  readonly serial: number;
  readonly licenseFile: string;
  readonly clusterId: string;
  readonly stateFile: StateFile;
  readonly logger: Logger;
}

/**
 * License serials only go up. The vendor gives every license of a cluster a higher serial
 * than the last, so that an older license (say, one with more seats or a longer budget)
 * cannot be swapped back in. The highest serial is kept in three places: the state dir of
 * each node (this class), Redis (`{lic:<c>}:license_serial`, raised by every node at every
 * lease step and by every acquire, which refuses a lower one atomically) and each peer
 * heartbeat (`license_serial`).
 *
 * At start a license older than what the state dir remembers is refused (exit 2). Found
 * later (Redis, or the peer), this node's license has been superseded: the node stops
 * serving for the rest of its life (the role machine refuses the lease and a held one is
 * handed over), logs an error naming both serials, and GetStatus shows it.
 */
export class LicenseSerialGuard {
  private refusal: string | undefined;
  private readonly listeners: ((reason: string) => void)[] = [];

  constructor(private readonly deps: LicenseSerialGuardDeps) {
    const seen = deps.stateFile.value.licenseSerial ?? 0;
    if (deps.serial < seen) {
      throw new LicenseError(
        ErrorCode.LICENSE_INVALID,
        `license file ${deps.licenseFile}: serial ${deps.serial} is older than serial ${seen}, which this node has run with or seen in cluster "${deps.clusterId}" (state file ${deps.stateFile.path}); a license is never replaced by an older one: install the newest license file from the vendor`,
      );
    }
    this.remember(deps.serial);
  }

  get serial(): number {
    return this.deps.serial;
  }

  /** Why this node does not serve with its license, or undefined while it is the newest known. */
  get problem(): string | undefined {
    return this.refusal;
  }

  /** Called once, when this node's license is found superseded. */
  onSuperseded(listener: (reason: string) => void): void {
    this.listeners.push(listener);
  }

  /**
   * A serial in use in this cluster, from `source`. Higher than ours supersedes this node's
   * license. `durable` values (from Redis, where only a node that loaded that license writes
   * it) are remembered in the state dir, so a restart with the older license is refused; a
   * peer's claim only stops this node until it restarts (the peer records its own serial in
   * Redis at its next lease step, which makes it durable).
   */
  observe(serial: number, source: string, durable: boolean): void {
    if (!(serial > this.deps.serial)) return;
    if (durable) this.remember(serial);
    if (this.refusal !== undefined) return;
    const { licenseFile, clusterId } = this.deps;
    this.refusal = `license superseded: license file ${licenseFile} has serial ${this.deps.serial}, but serial ${serial} is in use in cluster "${clusterId}" (${source}); this node does not take or keep the lease: install the newest license file and restart it`;
    this.deps.logger.error(this.refusal, { ownSerial: this.deps.serial, newerSerial: serial, source });
    for (const l of this.listeners) l(this.refusal);
  }

  private remember(serial: number): void {
    const { stateFile, logger } = this.deps;
    if (serial <= (stateFile.value.licenseSerial ?? 0)) return;
    try {
      stateFile.update({ licenseSerial: serial });
    } catch (err) {
      logger.error('cannot write the license serial to the state file', { path: stateFile.path, err: errorMessage(err) });
    }
  }
}

/**
 * The lease hooks with the license serial check riding along: at every lease step the
 * node records its serial in Redis and learns the cluster's highest (refresh while not
 * holding the lease, after each renewal while holding it). The check never changes what
 * the wrapped hooks report: a failed serial call is logged and tried again at the next
 * step, so it can neither fail a budget charge nor be mistaken for one.
 */
export function withLicenseSerialCheck(
  hooks: LeaseHooks,
  guard: LicenseSerialGuard,
  lease: Pick<LeaseStore, 'recordLicenseSerial'>,
  logger: Logger,
): LeaseHooks {
  let failing = false;
  const check = async (): Promise<void> => {
    try {
      guard.observe(await lease.recordLicenseSerial(), 'redis', true);
      failing = false;
    } catch (err) {
      if (!failing) logger.warn('could not check the license serial in redis; trying again at the next lease step', { err: errorMessage(err) });
      failing = true;
    }
  };
  return {
    holdOnlyWhileHooksSucceed: hooks.holdOnlyWhileHooksSucceed,
    async refresh(): Promise<BudgetVerdict | undefined> {
      await check();
      return hooks.refresh();
    },
    afterAcquire(fence: Fence, attemptMono: number): Promise<BudgetVerdict | undefined> {
      // Superseded while the acquire was in flight: the role machine will not serve this
      // lease, so it opens no failover episode and is charged nothing.
      if (guard.problem !== undefined) return Promise.resolve(undefined);
      return hooks.afterAcquire(fence, attemptMono);
    },
    async afterRenew(fence: Fence): Promise<BudgetVerdict | undefined> {
      const verdict = await hooks.afterRenew(fence);
      await check();
      return verdict;
    },
    beforeRelease: (fence: Fence) => hooks.beforeRelease(fence),
    onLeaseLost: () => hooks.onLeaseLost(),
  };
}
