import { type FSWatcher, readFileSync, statSync, watch } from 'node:fs';
import path from 'node:path';
import { ErrorCode, errorMessage, LicenseError } from '../errors';
import type { Logger } from '../log';
import { EMPTY_SEAT_POLICY, parseSeatPolicy, policyDigest, type SeatPolicy } from './seat-policy';

/** A policy is a page of rules; anything this big is a mistake (a log file given by accident). */
export const MAX_POLICY_BYTES = 1024 * 1024;
export const DEFAULT_DEBOUNCE_MS = 200;
export const DEFAULT_POLL_MS = 3_000;

export interface PolicyWatchOptions {
  /** LICENSE_POLICY_FILE. */
  readonly file: string;
  readonly logger: Logger;
  /**
   * Called after start() whenever a reload yields a policy with a different digest (not for
   * the policy start() loads: read `current` and `digest` after start()). A rejected promise
   * or a throw is logged; the new policy stays current either way.
   */
  readonly onChange: (policy: SeatPolicy, digest: string) => void | Promise<void>;
  /** Non-fatal problems to log as warnings with each policy loaded, e.g. `(p) => checkAgainstLicense(p, seatsByFeature)`. */
  readonly check?: (policy: SeatPolicy) => readonly string[];
  /** Quiet time after the last change event before the file is read (editors write in several steps). */
  readonly debounceMs?: number;
  /** How often the file's mtime, size and inode are compared, for changes fs.watch does not report. */
  readonly pollMs?: number;
  /** false: poll only (for file systems whose change events do not arrive, such as some network mounts). */
  readonly fsWatch?: boolean;
}

/** What a reload did. `refused`: the file is bad; `current` is still the last good policy. */
export type PolicyReload =
  { readonly status: 'changed' | 'unchanged'; readonly digest: string } | { readonly status: 'refused'; readonly digest: string; readonly error: string };

export interface PolicyWatch {
  /**
   * Loads the file and starts watching it. Throws the CONFIG_INVALID LicenseError when the file
   * is bad (one line naming the file and line: the node refuses to start). A file that does not
   * exist is the empty policy, and is loaded when it appears.
   */
  start(): void;
  /** Reads the file now (call it on SIGHUP). A bad file is logged as an error and the last good policy stays. */
  reload(reason: string): PolicyReload;
  /** Stops watching and polling. */
  stop(): void;
  /** The policy in force: the last good one. */
  readonly current: SeatPolicy;
  /** policyDigest(current). */
  readonly digest: string;
  /** Why the file on disk is not in force, while it is bad; undefined when the file is what is loaded. */
  readonly lastError: string | undefined;
}

/** Reads and parses a policy file; undefined when it does not exist. Throws CONFIG_INVALID naming the file. */
export function readSeatPolicyFile(file: string): SeatPolicy | undefined {
  let text: string;
  try {
    const size = statSync(file).size;
    if (size > MAX_POLICY_BYTES) {
      throw new LicenseError(ErrorCode.CONFIG_INVALID, `policy ${file}: is ${size} bytes; a policy file may have at most ${MAX_POLICY_BYTES}`);
    }
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof LicenseError) throw err;
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new LicenseError(ErrorCode.CONFIG_INVALID, `policy ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? errorMessage(err)})`);
  }
  return parseSeatPolicy(text, file);
}

/** What the poll compares: a rename-replace changes the inode, an edit the mtime or size. */
function fileSignature(file: string): string {
  try {
    const s = statSync(file);
    return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
  } catch (err) {
    return `missing:${(err as NodeJS.ErrnoException).code ?? ''}`;
  }
}

/**
 * Keeps a node's seat policy current with LICENSE_POLICY_FILE: re-read when the file changes
 * (fs.watch on its directory, since editors and config management replace files by rename,
 * plus a poll of its mtime as a fallback) and on reload() (SIGHUP). A bad edit is refused
 * with an error naming the line, and the last good policy stays in force.
 */
export function createPolicyWatch(opts: PolicyWatchOptions): PolicyWatch {
  const { file, logger } = opts;
  const debounceMs = opts.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  const pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
  const base = path.basename(file);
  let current: SeatPolicy = EMPTY_SEAT_POLICY;
  let digest = policyDigest(EMPTY_SEAT_POLICY);
  let lastError: string | undefined;
  let signature = '';
  let watcher: FSWatcher | undefined;
  let debounce: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  let running = false;

  const warnChecks = (policy: SeatPolicy): void => {
    for (const w of opts.check?.(policy) ?? []) logger.warn('seat policy: check the policy', { file, warning: w });
  };

  const read = (): { policy: SeatPolicy; absent: boolean } => {
    signature = fileSignature(file);
    const policy = readSeatPolicyFile(file);
    return { policy: policy ?? EMPTY_SEAT_POLICY, absent: policy === undefined };
  };

  /** `quiet`: a file event, not a person asking; say nothing about a file that did not change. */
  const load = (reason: string, quiet: boolean): PolicyReload => {
    let next: { policy: SeatPolicy; absent: boolean };
    try {
      next = read();
    } catch (err) {
      const error = errorMessage(err);
      const again = error === lastError;
      lastError = error;
      // The same bad file seen again (a second event for one save) is not news.
      if (!(quiet && again)) logger.error('seat policy file refused; keeping the last good policy', { file, reason, err: error, digest });
      return { status: 'refused', digest, error };
    }
    const nextDigest = policyDigest(next.policy);
    const wasBad = lastError !== undefined;
    lastError = undefined;
    if (nextDigest === digest) {
      const level = quiet && !wasBad ? 'debug' : 'info';
      logger.log(level, wasBad ? 'seat policy file is valid again; the policy is unchanged' : 'seat policy unchanged', { file, reason, digest });
      return { status: 'unchanged', digest };
    }
    const previous = digest;
    current = next.policy;
    digest = nextDigest;
    if (next.absent) logger.warn('seat policy file is gone: no seat policy now', { file, reason, digest, previous });
    else logger.info('seat policy loaded', { file, reason, digest, previous, features: current.features.size, groups: current.groups.size });
    warnChecks(current);
    try {
      const r = opts.onChange(current, digest);
      if (r instanceof Promise)
        r.catch((err: unknown) => logger.error('seat policy: applying the new policy failed', { file, digest, err: errorMessage(err) }));
    } catch (err) {
      logger.error('seat policy: applying the new policy failed', { file, digest, err: errorMessage(err) });
    }
    return { status: 'changed', digest };
  };

  const schedule = (why: string): void => {
    if (!running) return;
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(() => {
      debounce = undefined;
      if (running) load(why, true);
    }, debounceMs);
    debounce.unref();
  };

  const startWatcher = (): void => {
    try {
      // The directory, not the file: a watch on the file follows the old inode after a rename-replace.
      watcher = watch(path.dirname(file), { persistent: false }, (_event, name) => {
        // null: the platform did not say which file. `..data`: Kubernetes swaps a ConfigMap volume's files by renaming this link.
        if (name === null || name === base || name.startsWith('..')) schedule('file changed');
      });
      watcher.on('error', (err) => {
        logger.warn('seat policy: watching the directory failed; polling only', { file, err: errorMessage(err) });
        watcher?.close();
        watcher = undefined;
      });
    } catch (err) {
      logger.warn('seat policy: cannot watch the directory; polling only', { file, err: errorMessage(err) });
    }
  };

  return {
    start(): void {
      if (running) return;
      const first = read();
      current = first.policy;
      digest = policyDigest(current);
      lastError = undefined;
      if (first.absent) logger.warn('seat policy file does not exist: no seat policy until it is created', { file, digest });
      else logger.info('seat policy loaded', { file, reason: 'start', digest, features: current.features.size, groups: current.groups.size });
      warnChecks(current);
      running = true;
      if (opts.fsWatch !== false) startWatcher();
      poll = setInterval(() => {
        if (fileSignature(file) !== signature) schedule('file changed (poll)');
      }, pollMs);
      poll.unref();
    },
    reload(reason: string): PolicyReload {
      return load(reason, false);
    },
    stop(): void {
      running = false;
      watcher?.close();
      watcher = undefined;
      if (debounce) clearTimeout(debounce);
      debounce = undefined;
      if (poll) clearInterval(poll);
      poll = undefined;
    },
    get current(): SeatPolicy {
      return current;
    },
    get digest(): string {
      return digest;
    },
    get lastError(): string | undefined {
      return lastError;
    },
  };
}

/**
 * Makes SIGHUP reload the policy (the Unix convention for "re-read your configuration").
 * Installing any SIGHUP listener also stops SIGHUP from killing the process, which is Node's
 * default. Returns the function that removes the listener.
 */
export function reloadOnSighup(watch: Pick<PolicyWatch, 'reload'>, proc: Pick<NodeJS.Process, 'on' | 'off'> = process): () => void {
  const onHup = (): void => {
    watch.reload('SIGHUP');
  };
  proc.on('SIGHUP', onHup);
  return () => {
    proc.off('SIGHUP', onHup);
  };
}
