import type { Role } from '../config';
import { formatOwner, parseOwner } from './fence';
import type { ClusterKeys } from './keys';
import type { ScriptRunner } from './scripts';

export interface LeaseHolderInfo {
  readonly nodeId: string;
  readonly epoch: number;
  /** Advertised gRPC address of the holder, "" when unknown. */
  readonly addr: string;
}

export type AcquireResult =
  { readonly acquired: true; readonly epoch: number } | { readonly acquired: false; readonly holder: LeaseHolderInfo; readonly pttlMs: number };

export type RenewResult = { readonly renewed: true } | { readonly renewed: false; readonly holder: LeaseHolderInfo | undefined };

/** Typed wrappers over the leader-lease scripts. */
export class LeaseStore {
  constructor(
    private readonly scripts: ScriptRunner,
    private readonly keys: ClusterKeys,
    private readonly ttlMs: number,
  ) {}

  async acquire(args: { nodeId: string; knownEpoch: number; addr: string; role: Role; nowMs: number }): Promise<AcquireResult> {
    const reply = (await this.scripts.run(
      'acquireLease',
      [this.keys.leader, this.keys.epoch, this.keys.leaderInfo],
      [args.nodeId, this.ttlMs, args.knownEpoch, args.addr, args.role, args.nowMs],
    )) as [number, number | string, number?, string?];
    if (reply[0] === 1) return { acquired: true, epoch: Number(reply[1]) };
    const owner = parseOwner(String(reply[1]));
    return {
      acquired: false,
      holder: { nodeId: owner?.nodeId ?? String(reply[1]), epoch: owner?.epoch ?? 0, addr: reply[3] ?? '' },
      pttlMs: Number(reply[2] ?? -1),
    };
  }

  async renew(nodeId: string, epoch: number): Promise<RenewResult> {
    const reply = (await this.scripts.run('renewLease', [this.keys.leader], [formatOwner({ nodeId, epoch }), this.ttlMs])) as [number, string?];
    if (reply[0] === 1) return { renewed: true };
    const owner = reply[1] ? parseOwner(reply[1]) : undefined;
    return { renewed: false, holder: owner ? { ...owner, addr: '' } : undefined };
  }

  /** Compare-and-delete. True when the key was ours and is now gone. */
  async release(nodeId: string, epoch: number): Promise<boolean> {
    return (await this.scripts.run('releaseLease', [this.keys.leader], [formatOwner({ nodeId, epoch })])) === 1;
  }
}
