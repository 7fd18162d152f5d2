import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from './ports';

export const REDIS_INSTALL_HINT =
  'redis-server not found on PATH: install it (Debian/Ubuntu: sudo apt-get install -y redis-server; macOS: brew install redis) or set LICENSE_REDIS_URL';

export function redisServerAvailable(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0;
}

export interface RedisProcess {
  readonly port: number;
  readonly url: string;
  readonly dir: string;
  readonly child: ChildProcess;
  /** SIGTERM (Redis saves if persistence is on), wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL, wait for exit; data not on disk is lost. */
  kill(): Promise<void>;
}

export interface StartRedisOptions {
  port?: number;
  /** Keep an append-only file in `dir`, so a restart keeps the data (as the compose stack does). */
  appendOnly?: boolean;
  /** Reuse a data directory (restart drills). Default: a new temporary one, removed on stop. */
  dir?: string;
  /** More redis-server arguments (ACL users, TLS); later ones override earlier ones. */
  extraArgs?: readonly string[];
}

/**
 * Starts a real redis-server on a free loopback port (never 6379) for tests, drills
 * and `npm run dev`. Fails with a one-line install hint when redis-server is missing.
 */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisProcess> {
  if (!redisServerAvailable()) throw new Error(REDIS_INSTALL_HINT);
  const port = opts.port ?? (await freePort());
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(path.join(tmpdir(), 'licensed-redis-'));
  mkdirSync(dir, { recursive: true });
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--daemonize', 'no', '--loglevel', 'warning'];
  args.push('--appendonly', opts.appendOnly ? 'yes' : 'no');
  if (opts.appendOnly) args.push('--appendfsync', 'always');
  args.push(...(opts.extraArgs ?? []));
  const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await Promise.race([
      waitForPort(port),
      exited.then(() => {
        throw new Error(`redis-server exited at start: ${stderr.trim()}`);
      }),
    ]);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const finish = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    await exited;
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    dir,
    child,
    stop: () => finish('SIGTERM'),
    kill: () => finish('SIGKILL'),
  };
}
