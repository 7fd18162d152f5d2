import type { Redis } from 'ioredis';
import { type Fence, formatOwner } from './fence';
import type { ClusterKeys } from './keys';
import type { RedisClient, ScriptRunner } from './scripts';

/** The failover budget as stored (and mirrored on the redundant's disk). */
export interface BudgetState {
  readonly episodeId: string;
  readonly grantedMs: number;
  readonly consumedMs: number;
  readonly activations: number;
  readonly blocked: boolean;
}

export interface BudgetMirror extends BudgetState {
  /** Last episode the primary ended, as seen by this node ("" none). */
  readonly endedEpisodeId: string;
}

export interface TickResult extends BudgetState {
  readonly opened: boolean;
  readonly restored: boolean;
}

function toState(r: unknown[]): BudgetState {
  return {
    episodeId: typeof r[0] === 'string' ? r[0] : '',
    grantedMs: Number(r[1]),
    consumedMs: Number(r[2]),
    activations: Number(r[3]),
    blocked: Number(r[4]) === 1,
  };
}

/** Typed wrappers over the budget and activation scripts. */
export class BudgetStore {
  constructor(
    private readonly scripts: ScriptRunner,
    private readonly keys: ClusterKeys,
    private readonly budgetMs: number,
    /**
     * With replicas (Sentinel), wait up to this long for one replica to acknowledge each
     * budget write, so a master failover loses at most the charge in flight (and the
     * redundant's disk mirror restores even that). 0: do not wait.
     */
    private readonly replicaAckTimeoutMs = 0,
  ) {}

  /** WAIT for one replica; an answer of 0 (none acked in time) is tolerated, not an error. */
  private async replicate(): Promise<void> {
    if (this.replicaAckTimeoutMs <= 0) return;
    await (this.redis as Redis).wait(1, this.replicaAckTimeoutMs);
  }

  private get redis(): RedisClient {
    return this.scripts.redis;
  }

  /** The budget as Redis has it now (read-only, any node); a cluster that never failed over reads full. */
  async read(): Promise<BudgetState & { lastEndedEpisodeId: string }> {
    const h = await (this.redis as Redis).hgetall(this.keys.budget);
    return {
      episodeId: h['episode_id'] ?? '',
      grantedMs: h['granted_ms'] !== undefined && h['episode_id'] ? Number(h['granted_ms']) : this.budgetMs,
      consumedMs: h['episode_id'] ? Number(h['consumed_ms'] ?? 0) : 0,
      activations: h['episode_id'] ? Number(h['activations'] ?? 0) : 0,
      blocked: h['episode_id'] ? h['blocked'] === '1' : false,
      lastEndedEpisodeId: h['last_ended_episode'] ?? '',
    };
  }

  async tick(fence: Fence, a: { nowMs: number; elapsedMs: number; newEpisodeId: string; mirror: BudgetState }): Promise<TickResult> {
    const r = (await this.scripts.run(
      'budgetTick',
      [this.keys.leader, this.keys.budget],
      [
        formatOwner(fence),
        a.nowMs,
        Math.max(0, Math.round(a.elapsedMs)),
        a.newEpisodeId,
        this.budgetMs,
        a.mirror.episodeId,
        a.mirror.consumedMs,
        a.mirror.grantedMs,
        a.mirror.activations,
      ],
    )) as unknown[];
    await this.replicate();
    return { ...toState(r), opened: Number(r[5]) === 1, restored: Number(r[6]) === 1 };
  }

  /** Ends the open episode (primary, after the reset period). Returns its id, "" when none was open. */
  async reset(fence: Fence, nowMs: number): Promise<string> {
    return String(
      await this.scripts.run('budgetReset', [this.keys.leader, this.keys.budget, this.keys.activationPending], [formatOwner(fence), nowMs, this.budgetMs]),
    );
  }

  async request(fence: Fence, nonce: string): Promise<{ episodeId: string; seq: number }> {
    const r = (await this.scripts.run('activationRequest', [this.keys.leader, this.keys.budget, this.keys.activationPending], [formatOwner(fence), nonce])) as [
      string,
      number,
    ];
    return { episodeId: String(r[0]), seq: Number(r[1]) };
  }

  async activate(fence: Fence, a: { episodeId: string; seq: number; nonce: string; extensionMs: number; nowMs: number }): Promise<BudgetState> {
    const r = (await this.scripts.run(
      'activate',
      [this.keys.leader, this.keys.budget, this.keys.activationPending, this.keys.activationUsed],
      [formatOwner(fence), a.episodeId, a.seq, a.nonce, a.extensionMs, a.nowMs],
    )) as unknown[];
    await this.replicate();
    return toState(r);
  }
}
