import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { DEFAULT_EXTENSION_MS, DEFAULT_KEY_VALIDITY_MS } from '../budget/activation-keys';
import { ID_PATTERN } from '../config';
import { ErrorCode, LicenseError } from '../errors';

/**
 * The vendor activation service's policy: who may ask for activation keys (one bearer token
 * per customer), for which clusters, how many per failover episode, and what each key grants.
 * docs/VENDOR-SERVICE.md documents the file; deploy/vendor/policy.example.yaml is an example.
 *
 * ```yaml
 * customers:
 *   acme:
 *     token_sha256: "<sha256 hex of the token>"   # or token: "<plain>" (demos only)
 *     clusters: [prod-eu, prod-us]
 *     max_activations_per_episode: 3
 *     extension_ms: 259200000                     # optional, default 72 h
 *     rate_per_minute: 10                         # optional, default 10
 *     key_valid_for_ms: 604800000                 # optional, default 7 days
 * ```
 */
export interface CustomerPolicy {
  /** The customer's name in the policy (its key under `customers`); logged with every decision. */
  readonly name: string;
  /** Cluster ids this customer's token may activate; `'any'` only in demo mode. */
  readonly clusters: ReadonlySet<string> | 'any';
  /** Distinct activations (sequence numbers) granted per failover episode of one node. */
  readonly maxActivationsPerEpisode: number;
  /** What each key grants, capped per request by what the request key says the license accepts. */
  readonly extensionMs: number;
  /** Requests per minute for this token (a token bucket of this size refilled over a minute). */
  readonly ratePerMinute: number;
  /** How long the customer has to apply a key. */
  readonly keyValidForMs: number;
}

export interface VendorPolicy {
  /** 'demo': one token, any cluster (`--demo-token`); 'policy': a policy file. */
  readonly mode: 'policy' | 'demo';
  readonly customers: readonly CustomerPolicy[];
  /** Things that work but should not stay so (a plain `token:` in the file), one line each, for the operator. */
  readonly warnings: readonly string[];
  /**
   * The customer whose token this is, or undefined. Compares the token's SHA-256 with every
   * customer's in constant time and without stopping at a match, so neither timing nor the
   * answer tells an unknown token from one that belongs to someone else.
   */
  authenticate(token: string): CustomerPolicy | undefined;
}

export const DEMO_MAX_ACTIVATIONS_PER_EPISODE = 3;
export const DEFAULT_RATE_PER_MINUTE = 10;
/** Shorter tokens are guessable over a network, rate limit or not. */
export const MIN_TOKEN_LENGTH = 16;
const TOKEN_PATTERN = /^[\x21-\x7e]+$/;

/** SHA-256 hex of a token: what the policy file stores (`licensectl vendor token-hash`). */
export function tokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Why a token is unusable, or undefined when it is fine (printable ASCII without spaces, 16-512 characters). */
export function tokenProblem(token: string): string | undefined {
  if (token.length < MIN_TOKEN_LENGTH) return `must be at least ${MIN_TOKEN_LENGTH} characters (e.g. openssl rand -hex 32)`;
  if (token.length > 512) return 'must be at most 512 characters';
  if (!TOKEN_PATTERN.test(token)) return 'must be printable ASCII without spaces';
  return undefined;
}

const clusterId = z.string().regex(ID_PATTERN, { message: 'must be a cluster id: 1-64 of A-Za-z0-9._-, starting with a letter or digit' });
const ms = (what: string) =>
  z.number({ message: `must be a whole number of milliseconds (${what})` }).int({ message: `must be a whole number of milliseconds (${what})` });

const customerSchema = z
  .strictObject({
    token: z
      .string({ message: 'must be a string' })
      .superRefine((t, ctx) => {
        const p = tokenProblem(t);
        if (p) ctx.addIssue({ code: 'custom', message: p });
      })
      .optional(),
    token_sha256: z
      .string({ message: 'must be a string' })
      .regex(/^[0-9a-fA-F]{64}$/, { message: 'must be 64 hex digits (licensectl vendor token-hash)' })
      .optional(),
    clusters: z.array(clusterId, { message: 'must be a list of cluster ids' }).min(1, { message: 'must name at least one cluster' }),
    max_activations_per_episode: z
      .number({ message: 'must be a whole number of at least 1' })
      .int({ message: 'must be a whole number of at least 1' })
      .min(1, { message: 'must be a whole number of at least 1' }),
    extension_ms: ms('the extension each key grants').min(1, { message: 'must be at least 1 ms' }).default(DEFAULT_EXTENSION_MS),
    rate_per_minute: z
      .number({ message: 'must be a whole number of at least 1' })
      .int({ message: 'must be a whole number of at least 1' })
      .min(1, { message: 'must be a whole number of at least 1' })
      .default(DEFAULT_RATE_PER_MINUTE),
    key_valid_for_ms: ms('how long a key can be applied').min(60_000, { message: 'must be at least 60000 (a minute)' }).default(DEFAULT_KEY_VALIDITY_MS),
  })
  .superRefine((c, ctx) => {
    if ((c.token === undefined) === (c.token_sha256 === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'give exactly one of token_sha256 (recommended) or token' });
    }
  });

const policySchema = z.strictObject({
  customers: z.record(z.string().regex(ID_PATTERN, { message: 'customer names are 1-64 of A-Za-z0-9._-, starting with a letter or digit' }), customerSchema, {
    message: 'must be a mapping of customer name to its settings',
  }),
});

interface Entry {
  readonly customer: CustomerPolicy;
  readonly digest: Buffer;
}

function makePolicy(mode: VendorPolicy['mode'], entries: readonly Entry[], warnings: readonly string[] = []): VendorPolicy {
  return Object.freeze({
    mode,
    warnings: Object.freeze([...warnings]),
    customers: Object.freeze(entries.map((e) => e.customer)),
    authenticate(token: string): CustomerPolicy | undefined {
      const digest = createHash('sha256').update(token, 'utf8').digest();
      let found: CustomerPolicy | undefined;
      // No early exit: every comparison runs whatever matched.
      for (const e of entries) if (timingSafeEqual(digest, e.digest) && found === undefined) found = e.customer;
      return found;
    },
  });
}

function policyError(source: string, line: number | undefined, message: string): LicenseError {
  return new LicenseError(ErrorCode.CONFIG_INVALID, `${source}: ${line === undefined ? '' : `line ${line}: `}${message}`);
}

/**
 * Parses and validates a policy (YAML, or JSON which YAML includes). A bad file is refused
 * with one line naming the line and the key: `policy p.yaml: line 7: customers.acme.clusters: must name at least one cluster`.
 * `source` names the file in messages.
 */
export function parsePolicy(text: string, source = 'policy'): VendorPolicy {
  const lines = new LineCounter();
  // uniqueKeys (the default) makes a key given twice an error, with its line.
  const doc = parseDocument(text, { lineCounter: lines });
  const yamlError = doc.errors[0];
  if (yamlError) {
    const first = yamlError.message.split('\n')[0] ?? yamlError.code;
    throw policyError(source, yamlError.linePos?.[0].line, `not valid YAML: ${first.replace(/ at line \d+, column \d+:?$/, '')}`);
  }
  const startLine = (node: unknown): number | undefined => {
    const range = node !== null && typeof node === 'object' && 'range' in node ? (node as { range?: readonly number[] | null }).range : undefined;
    return range?.[0] === undefined ? undefined : lines.linePos(range[0]).line;
  };
  /** The line of the deepest key (or list item) of `path` the file has: a missing key is reported where its parent is. */
  const lineOf = (path: readonly PropertyKey[]): number | undefined => {
    let node: unknown = doc.contents;
    let line = startLine(node);
    for (const seg of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg));
        if (!pair) break;
        line = startLine(pair.key) ?? line;
        node = pair.value;
      } else if (isSeq(node) && typeof seg === 'number') {
        const item: unknown = node.items[seg];
        if (item === undefined) break;
        line = startLine(item) ?? line;
        node = item;
      } else break;
    }
    return line;
  };
  if (doc.contents === null) throw policyError(source, undefined, 'is empty: it must hold a `customers:` mapping');
  if (!isMap(doc.contents)) throw policyError(source, lineOf([]), 'must be a mapping with a `customers:` key');
  const r = policySchema.safeParse(doc.toJS());
  if (!r.success) {
    const issue = r.error.issues[0];
    if (!issue) throw policyError(source, undefined, 'invalid');
    if (issue.code === 'unrecognized_keys') {
      const key = issue.keys[0] ?? '';
      const path = [...issue.path, key];
      const allowed =
        issue.path.length === 0 ? 'customers' : 'token_sha256, token, clusters, max_activations_per_episode, extension_ms, rate_per_minute, key_valid_for_ms';
      throw policyError(source, lineOf(path), `${path.join('.')}: unknown key (allowed: ${allowed})`);
    }
    if (issue.code === 'invalid_key') {
      throw policyError(
        source,
        lineOf(issue.path),
        `${issue.path.map(String).join('.')}: customer names are 1-64 of A-Za-z0-9._-, starting with a letter or digit`,
      );
    }
    const where = issue.path.length > 0 ? `${issue.path.map(String).join('.')}: ` : '';
    throw policyError(source, lineOf(issue.path), `${where}${issue.message}`);
  }
  const entries: Entry[] = [];
  const warnings: string[] = [];
  const seen = new Map<string, string>();
  for (const [name, c] of Object.entries(r.data.customers)) {
    if (c.token !== undefined) {
      warnings.push(
        `${source}: customers.${name}: a plain token in the file; store token_sha256 instead (licensectl vendor token-hash), so the file gives nobody the token`,
      );
    }
    const hex = (c.token_sha256 ?? tokenSha256(c.token ?? '')).toLowerCase();
    const other = seen.get(hex);
    // One token, two customers: the service could not tell whose clusters and counts apply.
    if (other !== undefined) {
      throw policyError(source, lineOf(['customers', name]), `customers.${name}: has the same token as customers.${other}; give each customer its own token`);
    }
    seen.set(hex, name);
    entries.push({
      digest: Buffer.from(hex, 'hex'),
      customer: Object.freeze({
        name,
        clusters: new Set(c.clusters),
        maxActivationsPerEpisode: c.max_activations_per_episode,
        extensionMs: c.extension_ms,
        ratePerMinute: c.rate_per_minute,
        keyValidForMs: c.key_valid_for_ms,
      }),
    });
  }
  if (entries.length === 0) throw policyError(source, lineOf(['customers']), 'customers: names no customer; the service would refuse every request');
  return makePolicy('policy', entries, warnings);
}

/** Reads and parses `--policy FILE`; messages name the file. */
export function loadPolicyFile(file: string): VendorPolicy {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new LicenseError(ErrorCode.CONFIG_INVALID, `policy ${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parsePolicy(text, `policy ${file}`);
}

/**
 * Demo mode (`--demo-token`): one customer, `demo`, whose token may activate any cluster,
 * three activations per episode. For trying the flow; a real vendor runs with a policy file.
 */
export function demoPolicy(token: string): VendorPolicy {
  const problem = tokenProblem(token);
  if (problem) throw new LicenseError(ErrorCode.CONFIG_INVALID, `--demo-token: ${problem}`);
  return makePolicy('demo', [
    {
      digest: createHash('sha256').update(token, 'utf8').digest(),
      customer: Object.freeze({
        name: 'demo',
        clusters: 'any',
        maxActivationsPerEpisode: DEMO_MAX_ACTIVATIONS_PER_EPISODE,
        extensionMs: DEFAULT_EXTENSION_MS,
        ratePerMinute: DEFAULT_RATE_PER_MINUTE,
        keyValidForMs: DEFAULT_KEY_VALIDITY_MS,
      }),
    },
  ]);
}

/** True when the policy lets this customer activate the cluster. */
export function mayActivate(customer: CustomerPolicy, clusterId: string): boolean {
  return customer.clusters === 'any' || customer.clusters.has(clusterId);
}
