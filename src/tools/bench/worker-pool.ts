import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { exited, firstMessage, forkCompiled, stopChild } from './child';
import { type CommandResults, isWorkerToParent, type WorkerCommand, type WorkerToParent } from './protocol';

export const WORKER_JS = path.join(__dirname, 'worker.js');

type Result<C extends WorkerCommand> = CommandResults[C['cmd']];

interface Pending {
  resolve(v: CommandResults[keyof CommandResults]): void;
  reject(err: Error): void;
}

class WorkerHandle {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private exitReason: string | undefined;

  constructor(
    readonly index: number,
    readonly child: ChildProcess,
  ) {
    child.on('message', (m: unknown) => {
      if (!isWorkerToParent(m) || m.type !== 'reply') return;
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new Error(`worker ${index}: ${m.error}`));
    });
    child.once('exit', (code, signal) => {
      this.exitReason = `worker ${index} exited (${signal ?? `code ${code}`})`;
      for (const p of this.pending.values()) p.reject(new Error(this.exitReason));
      this.pending.clear();
    });
  }

  request<C extends WorkerCommand>(command: C): Promise<Result<C>> {
    if (this.exitReason !== undefined || exited(this.child)) return Promise.reject(new Error(this.exitReason ?? `worker ${this.index} is gone`));
    const id = this.nextId++;
    return new Promise<Result<C>>((resolve, reject) => {
      // The worker answers command `cmd` with CommandResults[cmd] (see worker.ts handle()).
      this.pending.set(id, { resolve: resolve as (v: CommandResults[keyof CommandResults]) => void, reject });
      this.child.send({ id, command });
    });
  }
}

/**
 * Load-generating child processes (./worker.ts), each with its own grpc-js client
 * connected to `addr`: the load client never shares an event loop with the server
 * or with the parent that gathers the results.
 */
export class WorkerPool {
  private constructor(private readonly workers: readonly WorkerHandle[]) {}

  static async start(count: number, addr: string, caPem?: string): Promise<WorkerPool> {
    const workers: WorkerHandle[] = [];
    const pool = new WorkerPool(workers);
    try {
      for (let i = 0; i < count; i++) workers.push(new WorkerHandle(i, forkCompiled(WORKER_JS)));
      await Promise.all(workers.map((w) => firstMessage(w.child, (m): m is WorkerToParent => isWorkerToParent(m) && m.type === 'ready', `worker ${w.index}`)));
      await pool.all((i) => ({ cmd: 'connect', addr, workerId: i, ...(caPem === undefined ? {} : { caPem }) }));
    } catch (err) {
      await pool.stop();
      throw err;
    }
    return pool;
  }

  get size(): number {
    return this.workers.length;
  }

  get pids(): number[] {
    return this.workers.map((w) => w.child.pid ?? 0);
  }

  /** Sends each worker its own command (made from its index) and waits for every reply. */
  all<C extends WorkerCommand>(make: (index: number) => C): Promise<Result<C>[]> {
    return this.first(this.workers.length, make);
  }

  /** Like all(), on the first `n` workers only. */
  first<C extends WorkerCommand>(n: number, make: (index: number) => C): Promise<Result<C>[]> {
    return Promise.all(this.workers.slice(0, n).map((w) => w.request(make(w.index))));
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
