import type { Role } from '../config';
import { ErrorCode, LicenseError } from '../errors';
import { formatOwner, isEpoch, parseEpoch, parseOwner } from './fence';
import type { ClusterKeys } from './keys';
import type { ScriptRunner } from './scripts';

export interface LeaseHolderInfo {
  readonly nodeId: string;
  readonly epoch: number;
  /** Advertised gRPC address of the holder, "" when unknown. */
  readonly addr: string;
}

export type AcquireResult =
  | {
      readonly acquired: true;
      readonly epoch: number;
      /** It replaced a lease still held by a peer seen dead (early takeover), not a free one. */
      readonly takenOver: boolean;
    }
  | {
      readonly acquired: false;
      readonly holder: LeaseHolderInfo;
      readonly pttlMs: number;
      /** Set when the lease was not taken because a newer license (this serial) is in use; holder is then empty. */
      readonly newerLicenseSerial?: number;
    };

/** The lease as seen at one moment, for an early takeover: who holds it and how often it has been renewed. */
export interface LeaseObservation {
  /** `<node>:<epoch>` */
  readonly owner: string;
  readonly nodeId: string;
  readonly renewals: string;
  /** Remaining ms of the lease when seen. */
  readonly pttlMs: number;
}

export type RenewResult = { readonly renewed: true } | { readonly renewed: false; readonly holder: LeaseHolderInfo | undefined };

/** Typed wrappers over the leader-lease scripts (and the cluster's license serial, which gates the lease). */
export class LeaseStore {
  constructor(
    private readonly scripts: ScriptRunner,
    private readonly keys: ClusterKeys,
    private readonly ttlMs: number,
    /** The serial of this node's license: recorded with every acquire, which refuses when a newer one is in use. */
    private readonly licenseSerial: number,
  ) {}

  /**
   * Takes the lease if it is free, or, with `takeover`, if it is still held exactly as
   * observed then and has not been renewed since (acquireLease-4.lua: early takeover).
   */
  async acquire(args: {
    nodeId: string;
    knownEpoch: number;
    addr: string;
    role: Role;
    nowMs: number;
    takeover?: Pick<LeaseObservation, 'owner' | 'renewals'>;
  }): Promise<AcquireResult> {
    // The script refuses it too; checking here keeps a bad value from ever being rendered for Redis.
    if (!isEpoch(args.knownEpoch)) {
      throw new LicenseError(
        ErrorCode.EPOCH_OUT_OF_RANGE,
        `the highest epoch this node has seen, ${String(args.knownEpoch)}, is not a whole number below 2^48`,
      );
    }
    let reply: [number, number | string, number?, string?];
    try {
      reply = (await this.scripts.run(
        'acquireLease',
        [this.keys.leader, this.keys.epoch, this.keys.leaderInfo, this.keys.licenseSerial],
        [
          args.nodeId,
          this.ttlMs,
          args.knownEpoch,
          args.addr,
          args.role,
          args.nowMs,
          this.licenseSerial,
          args.takeover?.owner ?? '',
          args.takeover?.renewals ?? '',
        ],
      )) as [number, number | string, number?, string?];
    } catch (err) {
      // Taken on the master but not on enough replicas: never served, so give it back now
      // rather than leave the peer waiting a TTL for a lease nobody uses.
      if (err instanceof LicenseError && err.code === ErrorCode.REPLICAS_UNAVAILABLE) await this.giveBackUnconfirmed(args.nodeId);
      throw err;
    }
    if (reply[0] === 2) {
      // The lease looks free to the caller (nobody named), and stays untaken: the license serial guard says why.
      return { acquired: false, holder: { nodeId: '', epoch: 0, addr: '' }, pttlMs: -1, newerLicenseSerial: Number(reply[1]) };
    }
    if (reply[0] === 1) {
      const epoch = Number(reply[1]);
      if (!isEpoch(epoch)) throw new LicenseError(ErrorCode.EPOCH_OUT_OF_RANGE, `the acquire script answered epoch ${String(reply[1])}`);
      return { acquired: true, epoch, takenOver: reply[2] === 1 };
    }
    const owner = parseOwner(String(reply[1]));
    return {
      acquired: false,
      holder: { nodeId: owner?.nodeId ?? String(reply[1]), epoch: owner?.epoch ?? 0, addr: reply[3] ?? '' },
      pttlMs: Number(reply[2] ?? -1),
    };
  }

  async renew(nodeId: string, epoch: number): Promise<RenewResult> {
    const reply = (await this.scripts.run('renewLease', [this.keys.leader, this.keys.leaderInfo], [formatOwner({ nodeId, epoch }), this.ttlMs])) as [
      number,
      string?,
    ];
    if (reply[0] === 1) return { renewed: true };
    const owner = reply[1] ? parseOwner(reply[1]) : undefined;
    return { renewed: false, holder: owner ? { ...owner, addr: '' } : undefined };
  }

  /**
   * Who holds the lease now and its renewal count, read in one go; undefined when nobody
   * holds it or the info hash names another owner (then there is nothing to take over).
   */
  async observe(): Promise<LeaseObservation | undefined> {
    const replies = await this.scripts.redis.multi().get(this.keys.leader).pttl(this.keys.leader).hmget(this.keys.leaderInfo, 'owner', 'renewals').exec();
    const [leader, pttl, info] = (replies ?? []).map(([err, v]) => {
      if (err) throw err;
      return v;
    }) as [string | null, number, [string | null, string | null]];
    if (!leader || info[0] !== leader) return undefined;
    const owner = parseOwner(leader);
    if (!owner) return undefined;
    return { owner: leader, nodeId: owner.nodeId, renewals: info[1] ?? '0', pttlMs: Number(pttl) };
  }

  /**
   * The highest epoch Redis knows of: the epoch counter, or the leader key's epoch if that
   * is higher (a counter lost on its own); 0 when neither holds one. A value that is not an
   * epoch (an older version's `1e+15`) is ignored here; the acquire script refuses it.
   * Read-only, any node: a node that has not seen the cluster's epochs yet (new state
   * dir) learns them here, so it can tell a legitimate peer from a lying one.
   */
  async readEpoch(): Promise<number> {
    const [counter, leader] = await this.scripts.redis.mget(this.keys.epoch, this.keys.leader);
    const fromCounter = counter ? (parseEpoch(counter) ?? 0) : 0;
    const fromLeader = leader ? (parseOwner(leader)?.epoch ?? 0) : 0;
    return Math.max(fromCounter, fromLeader);
  }

  /**
   * Records this node's license serial (raising the cluster's, never lowering it) and
   * returns the highest serial in use in the cluster: higher than ours means this node's
   * license was replaced by a newer one. Any node, holding the lease or not.
   */
  async recordLicenseSerial(): Promise<number> {
    return Number(await this.scripts.run('licenseSerial', [this.keys.licenseSerial], [this.licenseSerial]));
  }

  private async giveBackUnconfirmed(nodeId: string): Promise<void> {
    try {
      const owner = parseOwner((await this.scripts.redis.get(this.keys.leader)) ?? '');
      if (owner?.nodeId === nodeId) await this.release(nodeId, owner.epoch);
    } catch {
      // The same replicas are missing; the key expires by itself.
    }
  }

  /** Compare-and-delete. True when the key was ours and is now gone. */
  async release(nodeId: string, epoch: number): Promise<boolean> {
    return (await this.scripts.run('releaseLease', [this.keys.leader], [formatOwner({ nodeId, epoch })])) === 1;
  }
}
