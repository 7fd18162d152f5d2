/**
 * Everything the bench started, stopped in reverse order exactly once: on success,
 * on error and on Ctrl-C alike, so no redis-server or node outlives a run.
 */
/** One stop step; synchronous steps (rmSync, disconnect) need no async wrapper. */
interface Step {
  readonly name: string;
  readonly stop: () => Promise<void> | void;
}

export class Cleanup {
  private readonly steps: Step[] = [];
  private running: Promise<void> | undefined;

  constructor(private readonly log: (line: string) => void = () => {}) {}

  /** Registers a stop step; the returned function runs it early (and removes it). */
  add(name: string, stop: () => Promise<void> | void): () => Promise<void> {
    const step: Step = { name, stop };
    this.steps.push(step);
    return async () => {
      const i = this.steps.indexOf(step);
      if (i < 0) return;
      this.steps.splice(i, 1);
      await this.runStep(step);
    };
  }

  /** Idempotent: a second call (signal during a normal shutdown) waits for the first. */
  run(): Promise<void> {
    this.running ??= (async () => {
      while (this.steps.length > 0) await this.runStep(this.steps.pop() as Step);
    })();
    return this.running;
  }

  private async runStep(step: Step): Promise<void> {
    try {
      await step.stop();
    } catch (err) {
      this.log(`cleanup: stopping ${step.name} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
