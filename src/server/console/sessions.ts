import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../clock';

/** Sessions kept at once; signing in past this forgets the oldest (each costs ~200 bytes). */
export const MAX_CONSOLE_SESSIONS = 1_000;

export interface ConsoleSession {
  /** The token every cookie-authenticated POST/DELETE must repeat in X-CSRF-Token. */
  readonly csrf: string;
  /** Wall-clock end, for the page (`expires_at_ms`). */
  readonly expiresAtMs: number;
  /** Monotonic end, which is what expiry is decided on: stepping the wall clock neither extends nor ends a session. */
  readonly expiresAtMono: number;
}

export interface SessionStore {
  /** A new session with a fresh random id and CSRF token. */
  create(): { id: string; session: ConsoleSession };
  /** The live session of this id; undefined when unknown or expired (an expired one is forgotten). */
  get(id: string): ConsoleSession | undefined;
  delete(id: string): void;
  readonly size: number;
}

/** 32 random bytes, base64url: session ids and CSRF tokens. */
export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Compares two secrets in constant time (for equal lengths; the length itself is not secret). */
export function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * The console's sign-ins, in this node's memory (a restart signs everyone out). Every
 * session lives `ttlMs` from sign-in, so the Map's insertion order is also expiry order:
 * expired sessions are purged from its front, and the oldest is the one evicted at the bound.
 */
export function createSessionStore(opts: { ttlMs: number; clock: Clock; maxSessions?: number }): SessionStore {
  const sessions = new Map<string, ConsoleSession>();
  const max = opts.maxSessions ?? MAX_CONSOLE_SESSIONS;

  const purgeExpired = (): void => {
    const now = opts.clock.monotonic();
    for (const [id, s] of sessions) {
      if (s.expiresAtMono > now) break;
      sessions.delete(id);
    }
  };

  return {
    create() {
      purgeExpired();
      while (sessions.size >= max) {
        const oldest = sessions.keys().next();
        if (oldest.done === true) break;
        sessions.delete(oldest.value);
      }
      const id = randomToken();
      const session: ConsoleSession = {
        csrf: randomToken(),
        expiresAtMs: opts.clock.now() + opts.ttlMs,
        expiresAtMono: opts.clock.monotonic() + opts.ttlMs,
      };
      sessions.set(id, session);
      return { id, session };
    },
    get(id) {
      purgeExpired();
      return sessions.get(id);
    },
    delete(id) {
      sessions.delete(id);
    },
    get size() {
      return sessions.size;
    },
  };
}
