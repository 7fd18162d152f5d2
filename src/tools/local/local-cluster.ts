import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type AdminClient, createAdminClient } from '../../server/admin/admin-client';
import type { Role } from '../../server/config';
import type { UnsignedLicense } from '../../server/license/license-file';
import { type DevLicenseFiles, type DevLicenseTerms, writeDevLicense } from './dev-license';
import { NodeProcess } from './node-process';
import { freePort, waitForPort } from './ports';
import { type RedisProcess, startRedis } from './redis-process';

export interface LocalClusterOptions {
  readonly clusterId?: string;
  /** Use this Redis instead of starting one. */
  readonly redisUrl?: string;
  /** Keep Redis data on disk (AOF) so a Redis restart keeps it. */
  readonly redisAppendOnly?: boolean;
  /** Working directory for state dirs and logs (default: a new temporary one). */
  readonly dir?: string;
  readonly leaseTtlMs?: number;
  readonly heartbeatIntervalMs?: number;
  readonly handbackAfterMs?: number;
  readonly redundantStartupGraceMs?: number;
  /** Extra LICENSE_* values for both nodes. */
  readonly env?: Readonly<Record<string, string>>;
  /** Extra LICENSE_* values per role. */
  readonly roleEnv?: Partial<Record<Role, Readonly<Record<string, string>>>>;
  readonly echo?: (name: string, line: string) => void;
  /** Do not start the nodes (the caller starts them, e.g. in a chosen order). */
  readonly startNodes?: boolean;
  readonly logFiles?: boolean;
  /** gRPC ports of the nodes (default: free ones), for callers that wire proxies first. */
  readonly ports?: Readonly<Record<Role, number>>;
  /** Web console ports of the nodes (default: free ones). */
  readonly consolePorts?: Readonly<Record<Role, number>>;
  /** Features of the license signed for this cluster (default: DEV_FEATURES). */
  readonly features?: UnsignedLicense['features'];
  /**
   * Failover terms signed into the cluster's license (a short budget for drills and
   * tests); default: none, so the license defaults apply. They are license terms, never
   * settings: a node started with LICENSE_FAILOVER_BUDGET_MS and the like refuses to start.
   */
  readonly failover?: UnsignedLicense['failover'];
  /** Serial of the license (default 1). */
  readonly serial?: number;
}

export interface LocalCluster {
  readonly clusterId: string;
  readonly dir: string;
  readonly redis: RedisProcess | undefined;
  readonly redisUrl: string;
  readonly token: string;
  readonly primary: NodeProcess;
  readonly redundant: NodeProcess;
  readonly addr: Readonly<Record<Role, string>>;
  readonly metricsAddr: Readonly<Record<Role, string>>;
  /** The web console of each node (LICENSE_CONSOLE_ADDR), as a URL. */
  readonly consoleUrl: Readonly<Record<Role, string>>;
  /** The throwaway vendor key pair and signed license this cluster runs with. */
  readonly license: DevLicenseFiles;
  node(role: Role): NodeProcess;
  /** An admin client for a node (closed by stop()). */
  admin(role: Role): AdminClient;
  /** The environment a node of this cluster runs with. */
  envOf(role: Role): Record<string, string>;
  /** Waits until the node's gRPC port accepts connections. */
  waitListening(role: Role, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Redis + primary + redundant on loopback, as real processes: the engine of
 * `npm run dev`, the drill runner and the process drills in test/drills.
 */
export async function startLocalCluster(opts: LocalClusterOptions = {}): Promise<LocalCluster> {
  const clusterId = opts.clusterId ?? `local-${randomBytes(3).toString('hex')}`;
  const dir = opts.dir ?? mkdtempSync(path.join(tmpdir(), 'licensed-cluster-'));
  mkdirSync(dir, { recursive: true });
  const redis = opts.redisUrl === undefined ? await startRedis({ appendOnly: opts.redisAppendOnly ?? false }) : undefined;
  const redisUrl = opts.redisUrl ?? (redis as RedisProcess).url;
  const token = randomBytes(16).toString('hex');
  // Signed heartbeats, as every cluster must run: a node with a peer refuses to start
  // without LICENSE_CLUSTER_SECRET or LICENSE_TLS_CA (unless LICENSE_INSECURE_PEERS=true,
  // which a caller can pass in `env` together with LICENSE_CLUSTER_SECRET: '').
  const clusterSecret = randomBytes(24).toString('hex');
  // The license names both servers with the node ids below (DEV_SERVERS: node-a, node-b).
  const terms: DevLicenseTerms = {
    ...(opts.features ? { features: opts.features } : {}),
    ...(opts.failover ? { failover: opts.failover } : {}),
    ...(opts.serial === undefined ? {} : { serial: opts.serial }),
  };
  const license = writeDevLicense(dir, clusterId, terms);
  const ports = opts.ports ?? { primary: await freePort(), redundant: await freePort() };
  const metrics = { primary: await freePort(), redundant: await freePort() };
  const addr = { primary: `127.0.0.1:${ports.primary}`, redundant: `127.0.0.1:${ports.redundant}` };
  const metricsAddr = { primary: `127.0.0.1:${metrics.primary}`, redundant: `127.0.0.1:${metrics.redundant}` };
  const consolePorts = opts.consolePorts ?? { primary: await freePort(), redundant: await freePort() };
  const consoleUrl = { primary: `http://127.0.0.1:${consolePorts.primary}`, redundant: `http://127.0.0.1:${consolePorts.redundant}` };
  const other = (r: Role): Role => (r === 'primary' ? 'redundant' : 'primary');

  const envOf = (role: Role): Record<string, string> => ({
    LICENSE_CLUSTER_ID: clusterId,
    LICENSE_NODE_ID: role === 'primary' ? 'node-a' : 'node-b',
    LICENSE_REDIS_URL: redisUrl,
    LICENSE_GRPC_ADDR: addr[role],
    LICENSE_PEER_ADDR: addr[other(role)],
    LICENSE_METRICS_ADDR: metricsAddr[role],
    LICENSE_CONSOLE_ADDR: `127.0.0.1:${consolePorts[role]}`,
    LICENSE_STATE_DIR: path.join(dir, `state-${role}`),
    LICENSE_ADMIN_TOKEN: token,
    LICENSE_CLUSTER_SECRET: clusterSecret,
    LICENSE_FILE: license.licenseFile,
    LICENSE_VENDOR_PUBLIC_KEY: license.publicKeyFile,
    LICENSE_LEASE_TTL_MS: String(opts.leaseTtlMs ?? 5_000),
    LICENSE_HEARTBEAT_INTERVAL_MS: String(opts.heartbeatIntervalMs ?? 1_000),
    LICENSE_HANDBACK_AFTER_MS: String(opts.handbackAfterMs ?? 10_000),
    ...(opts.redundantStartupGraceMs === undefined ? {} : { LICENSE_REDUNDANT_STARTUP_GRACE_MS: String(opts.redundantStartupGraceMs) }),
    ...opts.env,
    ...opts.roleEnv?.[role],
  });

  const mk = (role: Role): NodeProcess =>
    new NodeProcess({
      name: role,
      env: envOf(role),
      ...(opts.logFiles ? { logFile: path.join(dir, `${role}.log`) } : {}),
      ...(opts.echo ? { onLine: (l: string) => opts.echo?.(role, l) } : {}),
    });
  const nodes = { primary: mk('primary'), redundant: mk('redundant') };
  const admins: AdminClient[] = [];

  const cluster: LocalCluster = {
    clusterId,
    dir,
    redis,
    redisUrl,
    token,
    primary: nodes.primary,
    redundant: nodes.redundant,
    addr,
    metricsAddr,
    consoleUrl,
    license,
    node: (role) => nodes[role],
    admin(role) {
      const c = createAdminClient(addr[role], token, { timeoutMs: 3_000 });
      admins.push(c);
      return c;
    },
    envOf,
    waitListening: (role, timeoutMs = 15_000) => waitForPort(ports[role], '127.0.0.1', timeoutMs),
    async stop() {
      for (const a of admins) a.close();
      await Promise.all([nodes.primary.kill(), nodes.redundant.kill()]);
      nodes.primary.closeLog();
      nodes.redundant.closeLog();
      await redis?.stop();
    },
  };
  if (opts.startNodes ?? true) {
    try {
      nodes.primary.start();
      nodes.redundant.start();
      await Promise.all([cluster.waitListening('primary'), cluster.waitListening('redundant')]);
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }
  return cluster;
}
