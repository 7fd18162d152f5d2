import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Cluster, Redis } from 'ioredis';
import { ErrorCode, LicenseError } from '../errors';
import { fromReplicaRefusal, type ReplicaAck } from './replica-ack';

/** A Redis connection of either kind; every script is single-slot, so both work. */
export type RedisClient = Redis | Cluster;

/** Shipped next to this file in dist/ by scripts/copy-assets.mjs. */
const SCRIPTS_DIR = path.join(__dirname, 'scripts');

export interface LoadedScript {
  readonly name: string;
  readonly numberOfKeys: number;
  readonly lua: string;
  /** Marked `--@readonly` in its file: writes nothing, so there is nothing for replicas to acknowledge. */
  readonly readOnly: boolean;
}

const READ_ONLY_MARK = /^--@readonly\s*$/m;

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
      return { name: m[1], numberOfKeys: Number(m[2]), lua, readOnly: READ_ONLY_MARK.test(lua) };
    });
}

type ScriptFn = (...args: (string | number)[]) => Promise<unknown>;

/**
 * Registers every script with ioredis `defineCommand` (EVALSHA with a NOSCRIPT
 * fallback, pipelining-friendly) and runs them by name. Callers use the typed
 * wrappers in this folder, never this class directly.
 *
 * With a ReplicaAck, a write script's answer is handed back only once enough replicas
 * hold it (LICENSE_REDIS_MIN_REPLICAS): every caller (seat calls, lease renewals, budget
 * charges, activations) then only ever acts on, or tells a client about, state that
 * survives a master failover. A script that refused wrote nothing and waits for nothing.
 */
export class ScriptRunner {
  /** Script name -> read-only. */
  private readonly known = new Map<string, boolean>();

  constructor(
    readonly redis: RedisClient,
    scripts: LoadedScript[] = loadScripts(),
    private readonly ack?: ReplicaAck,
  ) {
    for (const s of scripts) {
      redis.defineCommand(s.name, { numberOfKeys: s.numberOfKeys, lua: s.lua });
      this.known.set(s.name, s.readOnly);
    }
  }

  async run(name: string, keys: readonly string[], args: readonly (string | number)[]): Promise<unknown> {
    const readOnly = this.known.get(name);
    if (readOnly === undefined) throw new Error(`unknown script ${name}`);
    const fn = (this.redis as unknown as Record<string, ScriptFn>)[name] as ScriptFn;
    let reply: unknown;
    try {
      reply = await fn.call(this.redis, ...keys, ...args);
    } catch (err) {
      throw fromScriptError(err);
    }
    if (!readOnly && this.ack) await this.ack.confirm();
    return reply;
  }
}

/**
 * Scripts refuse with `redis.error_reply('<CODE> <message>')`; this turns that into a
 * LicenseError. A master's NOREPLICAS refusal (min-replicas-to-write) becomes
 * REPLICAS_UNAVAILABLE.
 */
export function fromScriptError(err: unknown): unknown {
  const replica = fromReplicaRefusal(err);
  if (replica !== err) return replica;
  const message = err instanceof Error ? err.message : String(err);
  const m = /^([A-Z_]+)(?: (.*))?$/.exec(message);
  if (m && m[1] !== undefined && m[1] in ErrorCode) {
    return new LicenseError(m[1] as ErrorCode, m[2] ?? m[1]);
  }
  return err;
}
