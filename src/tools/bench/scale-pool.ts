import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { exited, firstMessage, forkCompiled, stopChild } from './child';
import { isScaleWorkerToParent, type ScaleCommand, type ScaleResults, type ScaleWorkerToParent } from './scale-protocol';

export const SCALE_WORKER_JS = path.join(__dirname, 'scale-worker.js');

type Result<C extends ScaleCommand> = ScaleResults[C['cmd']];

interface Pending {
  resolve(v: ScaleResults[keyof ScaleResults]): void;
  reject(err: Error): void;
}

class Handle {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private exitReason: string | undefined;

  constructor(
    readonly index: number,
    readonly child: ChildProcess,
  ) {
    child.on('message', (m: unknown) => {
      if (!isScaleWorkerToParent(m) || m.type !== 'reply') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`scale worker ${index}: ${m.error}`));
    });
    child.once('exit', (code, signal) => {
      this.exitReason = `scale worker ${index} exited (${signal ?? `code ${code}`})`;
      for (const p of this.pending.values()) p.reject(new Error(this.exitReason));
      this.pending.clear();
    });
  }

  request<C extends ScaleCommand>(command: C): Promise<Result<C>> {
    if (this.exitReason !== undefined || exited(this.child)) return Promise.reject(new Error(this.exitReason ?? `scale worker ${this.index} is gone`));
    const id = this.nextId++;
    return new Promise<Result<C>>((resolve, reject) => {
      // The worker answers command `cmd` with ScaleResults[cmd] (scale-worker.ts handle()).
      this.pending.set(id, { resolve: resolve as (v: ScaleResults[keyof ScaleResults]) => void, reject });
      this.child.send({ id, command });
    });
  }
}

/** The scale bench's worker processes (./scale-worker.ts), each with its own grpc-js client to `addr`. */
export class ScalePool {
  private constructor(private readonly workers: readonly Handle[]) {}

  static async start(count: number, addr: string): Promise<ScalePool> {
    const workers: Handle[] = [];
    const pool = new ScalePool(workers);
    try {
      for (let i = 0; i < count; i++) workers.push(new Handle(i, forkCompiled(SCALE_WORKER_JS)));
      await Promise.all(
        workers.map((w) => firstMessage(w.child, (m): m is ScaleWorkerToParent => isScaleWorkerToParent(m) && m.type === 'ready', `scale worker ${w.index}`)),
      );
      await pool.all((i) => ({ cmd: 'connect', addr, workerId: i }));
    } catch (err) {
      await pool.stop();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.workers.length;
  }

  /** Sends each worker its own command (made from its index) and waits for every reply. */
  all<C extends ScaleCommand>(make: (index: number) => C): Promise<Result<C>[]> {
    return Promise.all(this.workers.map((w) => w.request(make(w.index))));
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.workers.map(async (w) => {
        if (w.child.connected) w.child.disconnect();
        await stopChild(w.child, 2_000);
      }),
    );
  }
}
