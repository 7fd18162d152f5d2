import { type ChildProcess, fork } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Forks a compiled module of dist/bench with an IPC channel; its output goes to ours. */
export function forkCompiled(modulePath: string, env: Readonly<Record<string, string>> = {}): ChildProcess {
  if (!existsSync(modulePath)) throw new Error(`${modulePath} not found: run the bench through \`npm run bench\` (it builds first)`);
  return fork(modulePath, [], {
    // No inherited --inspect or loaders: the children run plain compiled JS.
    execArgv: [],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

export function exited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopChild(child: ChildProcess, graceMs = 3_000): Promise<void> {
  if (exited(child)) return;
  const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(t);
}

/** Resolves with the first IPC message `accept` takes, rejects on exit or timeout. */
export function firstMessage<T>(child: ChildProcess, accept: (m: unknown) => m is T, what: string, timeoutMs = 15_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    const onMessage = (m: unknown): void => {
      if (!accept(m)) return;
      cleanup();
      resolve(m);
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
      cleanup();
      reject(new Error(`${what} exited (${signal ?? `code ${code}`}) before it was ready`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`${what} not ready within ${timeoutMs} ms`));
    }, timeoutMs);
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}
