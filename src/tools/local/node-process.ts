import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';

/** The built node entry point; drills and the dev cluster always run what `npm run build` made. */
export const LICENSED_JS = path.resolve(__dirname, '..', '..', '..', 'dist', 'server', 'cli', 'licensed.js');

/** One parsed JSON log line of a node. */
export type LogLine = Record<string, unknown> & { message?: string; level?: string; state?: string };

/** Wall-clock ms at which the node wrote a log line (its winston timestamp). */
export function logTime(l: LogLine): number {
  return Date.parse(String(l['timestamp']));
}

export interface NodeProcessOptions {
  readonly name: string;
  readonly env: Readonly<Record<string, string>>;
  /** Append raw output here too (dev cluster, drill artefacts). */
  readonly logFile?: string;
  /** Echo each line (dev cluster). */
  readonly onLine?: (line: string) => void;
}

/**
 * A real `licensed serve` process, started with `node dist/server/cli/licensed.js` (not npx
 * or npm, whose shells do not forward SIGTERM). Keeps its parsed log lines so drills
 * can wait for and time what the node reports.
 */
export class NodeProcess {
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  private child: ChildProcess | undefined;
  private exitPromise: Promise<{ code: number | null; signal: NodeJS.Signals | null }> | undefined;
  private waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  private log: WriteStream | undefined;

  constructor(readonly opts: NodeProcessOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  start(): this {
    if (this.running) throw new Error(`${this.opts.name} is already running`);
    this.log ??= this.opts.logFile ? createWriteStream(this.opts.logFile, { flags: 'a' }) : undefined;
    const child = spawn(process.execPath, [LICENSED_JS, 'serve'], {
      env: { PATH: process.env['PATH'] ?? '', ...this.opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.exitPromise = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    createInterface({ input: child.stdout }).on('line', (raw) => this.onStdout(raw));
    createInterface({ input: child.stderr }).on('line', (raw) => {
      this.stderr.push(raw);
      this.log?.write(`${raw}\n`);
      this.opts.onLine?.(raw);
    });
    return this;
  }

  private onStdout(raw: string): void {
    this.log?.write(`${raw}\n`);
    this.opts.onLine?.(raw);
    let line: LogLine;
    try {
      line = JSON.parse(raw) as LogLine;
    } catch {
      line = { message: raw };
    }
    this.lines.push(line);
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(line)) return true;
      w.resolve(line);
      return false;
    });
  }

  /** Resolves with the first log line (already seen or future) matching `pred`. */
  waitForLog(pred: (l: LogLine) => boolean, timeoutMs = 30_000, what = 'log line'): Promise<LogLine> {
    const seen = this.lines.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`${this.opts.name}: no ${what} within ${timeoutMs} ms; last lines:\n${this.tail()}`));
      }, timeoutMs);
      const done = (l: LogLine): void => {
        clearTimeout(t);
        resolve(l);
      };
      this.waiters.push({ pred, resolve: done });
    });
  }

  /** Waits for a `state X -> <to>` line logged after `afterIndex` (default: any). */
  waitForState(to: string, timeoutMs = 30_000, afterIndex = 0): Promise<LogLine> {
    return this.waitForLog((l) => l['to'] === to && this.lines.indexOf(l) >= afterIndex, timeoutMs, `transition to ${to}`);
  }

  signal(sig: NodeJS.Signals): void {
    if (this.running) this.child?.kill(sig);
  }

  async waitExit(timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.exitPromise) return { code: null, signal: null };
    return Promise.race([
      this.exitPromise,
      new Promise<never>((_r, reject) => setTimeout(() => reject(new Error(`${this.opts.name} did not exit within ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
  }

  /** SIGKILL (also un-stops a SIGSTOPped process) and wait. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.child?.kill('SIGKILL');
    await this.exitPromise;
  }

  tail(n = 15): string {
    return [...this.lines.slice(-n).map((l) => JSON.stringify(l)), ...this.stderr.slice(-5)].join('\n');
  }

  closeLog(): void {
    this.log?.end();
    this.log = undefined;
  }
}
