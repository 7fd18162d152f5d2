import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Cluster, Redis } from 'ioredis';
import { ErrorCode, LicenseError } from '../errors';

/** A Redis connection of either kind; every script is single-slot, so both work. */
export type RedisClient = Redis | Cluster;

/** Shipped next to this file in dist/ by scripts/copy-assets.mjs. */
const SCRIPTS_DIR = path.join(__dirname, 'scripts');

export interface LoadedScript {
  readonly name: string;
  readonly numberOfKeys: number;
  readonly lua: string;
}

/** Reads `scripts/<name>-<numKeys>.lua`, expanding `--@include <file>` lines from scripts/includes. */
export function loadScripts(dir: string = SCRIPTS_DIR): LoadedScript[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.lua'))
    .map((file) => {
      const m = /^([A-Za-z]+)-(\d+)\.lua$/.exec(file);
      if (!m || m[1] === undefined || m[2] === undefined) throw new Error(`bad script file name ${file}: want camelName-<numKeys>.lua`);
      const lua = readFileSync(path.join(dir, file), 'utf8').replace(/^--@include (\w+)\s*$/gm, (_line, inc: string) =>
        readFileSync(path.join(dir, 'includes', `${inc}.lua`), 'utf8'),
      );
      return { name: m[1], numberOfKeys: Number(m[2]), lua };
    });
}

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

/**
 * Registers every script with ioredis `defineCommand` (EVALSHA with a NOSCRIPT
 * fallback, pipelining-friendly) and runs them by name. Callers use the typed
 * wrappers in this folder, never this class directly.
 */
export class ScriptRunner {
  private readonly known = new Set<string>();

  constructor(
    readonly redis: RedisClient,
    scripts: LoadedScript[] = loadScripts(),
  ) {
    for (const s of scripts) {
      redis.defineCommand(s.name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
      this.known.add(s.name);
    }
  }

  async run(name: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    if (!this.known.has(name)) throw new Error(`unknown script ${name}`);
    const fn = (this.redis as unknown as Record<string, ScriptFn>)[name] as ScriptFn;
    try {
      return await fn.call(this.redis, ...keys, ...args);
    } catch (err) {
      throw fromScriptError(err);
    }
  }
}

/** Scripts refuse with `redis.error_reply('<CODE> <message>')`; this turns that into a LicenseError. */
export function fromScriptError(err: unknown): unknown {
  const message = err instanceof Error ? err.message : String(err);
  const m = /^([A-Z_]+)(?: (.*))?$/.exec(message);
  if (m && m[1] !== undefined && m[1] in ErrorCode) {
    return new LicenseError(m[1] as ErrorCode, m[2] ?? m[1]);
  }
  return err;
}
