/**
 * Everything the bench started, stopped in reverse order exactly once: on success,
 * on error and on Ctrl-C alike, so no redis-server or node outlives a run.
 */
export class Cleanup {
  private readonly steps: { name: string; stop: () => Promise<void> }[] = [];
  private running: Promise<void> | undefined;

  constructor(private readonly log: (line: string) => void = () => {}) {}

  /** Registers a stop step; the returned function runs it early (and removes it). */
  add(name: string, stop: () => Promise<void>): () => Promise<void> {
    const step = { name, stop };
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
      while (this.steps.length > 0) await this.runStep(this.steps.pop() as { name: string; stop: () => Promise<void> });
    })();
    return this.running;
  }

  private async runStep(step: { name: string; stop: () => Promise<void> }): Promise<void> {
    try {
      await step.stop();
    } catch (err) {
      this.log(`cleanup: stopping ${step.name} failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}
