import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { loadConfig, type Config } from '../../src/server/config';
import { type DevLicenseFiles, type DevLicenseTerms, writeDevLicense } from '../../src/tools/local/dev-license';
import { createLogger, type Logger } from '../../src/server/log';
import { type ErrorCode, LicenseError } from '../../src/server/errors';
import { createNode, type LicenseNode } from '../../src/server/node';
import { uniqueClusterId } from './redis';

export const TEST_TOKEN = 'test-admin-token-0123456789';

/** A fresh LICENSE_CLUSTER_SECRET: nodes with a peer need one (or LICENSE_TLS_CA, or LICENSE_INSECURE_PEERS=true). */
export function newClusterSecret(): string {
  return randomBytes(24).toString('hex');
}

/** The keys that decide how peer heartbeats are authenticated; a caller that sets one chooses for the pair. */
const PEER_AUTH_KEYS = ['LICENSE_CLUSTER_SECRET', 'LICENSE_TLS_CA', 'LICENSE_INSECURE_PEERS'] as const;

/**
 * The terms of the license a test node gets, signed with a throwaway test vendor key:
 * features, servers (default node-a primary, node-b redundant), serial (default 1) and the
 * failover terms (default: none, the license defaults). A short test budget goes here: the
 * failover terms are license terms, and a node started with LICENSE_FAILOVER_BUDGET_MS,
 * LICENSE_BUDGET_RESET_AFTER_MS or LICENSE_ACTIVATION_EXTENSION_MS refuses to start.
 */
export type TestLicense = DevLicenseTerms;

/**
 * Config for an in-process node on a free port, with short test timings: node-a (the
 * primary of the default license) unless `over` says otherwise. Without LICENSE_FILE in
 * `over` a license is signed for it with `license`'s terms.
 */
export function testConfig(redisUrl: string, over: Record<string, string> = {}, license: TestLicense = {}): Config {
  const clusterId = over['LICENSE_CLUSTER_ID'] ?? uniqueClusterId();
  const dir = mkdtempSync(path.join(tmpdir(), 'licensed-test-'));
  const lic = over['LICENSE_FILE'] ? undefined : writeDevLicense(dir, clusterId, license);
  return loadConfig({
    LICENSE_CLUSTER_ID: clusterId,
    ...(lic ? { LICENSE_FILE: lic.licenseFile, LICENSE_VENDOR_PUBLIC_KEY: lic.publicKeyFile } : {}),
    LICENSE_NODE_ID: 'node-a',
    LICENSE_REDIS_URL: redisUrl,
    LICENSE_GRPC_ADDR: '127.0.0.1:0',
    LICENSE_METRICS_ADDR: 'off',
    LICENSE_CONSOLE_ADDR: 'off',
    LICENSE_STATE_DIR: path.join(dir, 'state'),
    LICENSE_ADMIN_TOKEN: TEST_TOKEN,
    LICENSE_LEASE_TTL_MS: '1500',
    LICENSE_HEARTBEAT_INTERVAL_MS: '300',
    LICENSE_LOG_LEVEL: 'error',
    ...over,
  });
}

export interface StartedNode {
  readonly node: LicenseNode;
  readonly addr: string;
  readonly config: Config;
  readonly logger: Logger;
  readonly metricsPort: number | undefined;
  /** The web console's URL when LICENSE_CONSOLE_ADDR is on (test configs turn it off). */
  readonly consoleUrl: string | undefined;
}

/**
 * `logStream` captures the node's JSON log lines (set LICENSE_LOG_LEVEL to see more than
 * errors); `hostId` stands in for this machine's host id (licenses bound to machines).
 */
export async function startTestNode(config: Config, opts: { logStream?: NodeJS.WritableStream; hostId?: () => string } = {}): Promise<StartedNode> {
  const logger = createLogger({
    level: config.logLevel,
    context: { node: config.nodeId, cluster: config.clusterId },
    ...(opts.logStream ? { stream: opts.logStream } : {}),
  });
  const node = createNode({ config, logger, ...(opts.hostId ? { hostId: opts.hostId } : {}) });
  const { grpcPort, metricsPort, consoleUrl } = await node.start();
  return { node, addr: `127.0.0.1:${grpcPort}`, config, logger, metricsPort, consoleUrl };
}

/** A stream for startTestNode's logStream and the JSON lines written to it so far. */
export function captureLog(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return {
    stream,
    lines: () =>
      text
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

/** The throwaway vendor files next to a test node's license (testConfig signs it there), to sign more licenses with. */
export function vendorFilesOf(config: Config): DevLicenseFiles {
  return {
    licenseFile: config.licenseFile,
    publicKeyFile: config.vendorPublicKeyFile,
    privateKeyFile: path.join(path.dirname(config.licenseFile), 'vendor-private.pem'),
  };
}

export function bearer(token: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token}`);
  return md;
}

export interface TestPair {
  readonly primary: StartedNode;
  readonly redundant: StartedNode;
}

/**
 * A primary (node-a) and a redundant (node-b) in process, sharing one cluster id and one
 * license (signed with `license`'s terms; the license gives each its role); the redundant
 * heartbeats the primary. `env` applies to both, `roleEnv` to one. Both nodes sign their
 * heartbeats with a generated LICENSE_CLUSTER_SECRET unless `env` or `roleEnv` sets
 * LICENSE_CLUSTER_SECRET, LICENSE_TLS_CA or LICENSE_INSECURE_PEERS: then peer
 * authentication is the caller's choice.
 */
export async function startTestPair(
  redisUrl: string,
  opts: {
    env?: Record<string, string>;
    roleEnv?: Partial<Record<'primary' | 'redundant', Record<string, string>>>;
    license?: TestLicense;
  } = {},
): Promise<TestPair> {
  const callerChoosesAuth = [opts.env, opts.roleEnv?.primary, opts.roleEnv?.redundant].some((e) => e !== undefined && PEER_AUTH_KEYS.some((k) => k in e));
  const auth: Record<string, string> = callerChoosesAuth ? {} : { LICENSE_CLUSTER_SECRET: newClusterSecret() };
  const pc = testConfig(redisUrl, { ...auth, ...opts.env, ...opts.roleEnv?.primary }, opts.license);
  const primary = await startTestNode(pc);
  const redundant = await startTestNode(
    testConfig(redisUrl, {
      LICENSE_CLUSTER_ID: pc.clusterId,
      LICENSE_NODE_ID: 'node-b',
      LICENSE_PEER_ADDR: primary.addr,
      LICENSE_FILE: pc.licenseFile,
      LICENSE_VENDOR_PUBLIC_KEY: pc.vendorPublicKeyFile,
      ...auth,
      ...opts.env,
      ...opts.roleEnv?.redundant,
    }),
  );
  return { primary, redundant };
}

/** The one-line refusal createNode (or loadConfig, inside testConfig) gives; fails when the node would start. */
export function startRefusal(make: () => unknown, code: ErrorCode): string {
  try {
    make();
  } catch (err) {
    assert.ok(err instanceof LicenseError, String(err));
    assert.equal(err.code, code, err.message);
    assert.ok(!err.message.includes('\n'), 'one line');
    return err.message;
  }
  assert.fail('the node was allowed to start');
}
