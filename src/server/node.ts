// Over 300 lines on purpose: the composition root; every part of a node is wired here, in the order it is used.
import type { KeyObject } from 'node:crypto';
import { HealthImplementation } from 'grpc-health-check';
import type { Cluster, Redis } from 'ioredis';
import { type Clock, systemClock } from './clock';
import { type ControllerSettings, NodeController } from './cluster/node-controller';
import type { PeerLinkSettings } from './cluster/peer-link';
import { holdsLeaseIn } from './cluster/states';
import { type Config, describeRedis, parseHostPort, type Role } from './config';
import { ErrorCode, errorMessage, LicenseError } from './errors';
import type { GetStatusResponse } from '../contract/generated/license/v1/GetStatusResponse';
import { BudgetKeeper } from './budget/budget-keeper';
import { createAdminService } from './grpc/admin-service';
import { createAdminOps } from './admin/admin-ops';
import { sendRequestKey } from './vendor/vendor-client';
import { CONSOLE_ASSETS_DIR } from './console/assets-dir';
import { createConsoleServer } from './console/console-server';
import { VERSION } from './version';
import { BudgetStore } from './store/budget-store';
import { createClusterService } from './grpc/cluster-service';
import { createSeatHandlers } from './grpc/seat-handlers';
import { readHostId } from './license/host-id';
import { bindLicense, type License, loadLicenseFile } from './license/license-file';
import { LicenseSerialGuard, withLicenseSerialCheck } from './license/serial-guard';
import { loadPublicKey } from './license/vendor-keys';
import { SeatService } from './seats/seat-service';
import { createPolicyWatch, type PolicyWatch } from './policy/policy-watch';
import { checkAgainstLicense, EMPTY_SEAT_POLICY, policyDigest, type SeatPolicy } from './policy/seat-policy';
import { SeatStore } from './store/seat-store';
import { bindServer, createGrpcServer, FAST_RECONNECT_OPTIONS, shutdownServer } from './grpc/server';
import { channelCredentials, serverCredentials } from './grpc/tls';
import { PeerAuthenticator } from './cluster/peer-auth';
import { addReflection } from './grpc/reflection';
import { statusReader } from './grpc/status';
import { CallLimiter, type UnaryContext } from './grpc/unary';
import type { Logger } from './log';
import { createNodeMetrics, type NodeMetrics, registerCollectors } from './metrics/metrics';
import { createMetricsServer } from './metrics/metrics-server';
import { loadLicenseProto } from '../contract/proto';
import { StateFile } from './state-file';
import { clusterKeys } from './store/keys';
import { LeaseStore } from './store/lease-store';
import { SentinelFailoverWatch } from './store/failover-watch';
import { createRedis, redisTlsOptions, superviseConnection } from './store/redis';
import { ReplicaAck } from './store/replica-ack';
import { ScriptRunner } from './store/scripts';

/** How often the lease holder drops usage events past LICENSE_USAGE_RETENTION. */
const USAGE_TRIM_EVERY_MS = 60_000;

export const SEAT_SERVICE_NAME = 'license.v1.SeatService';

export interface NodeDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Supplied by tests that want to share or inspect the connection; otherwise made from config. */
  readonly redis?: Redis | Cluster;
  /** This machine's host id, for licenses that bind servers to machines (default: readHostId, from the machine id). */
  readonly hostId?: () => string;
}

export interface LicenseNode {
  readonly controller: NodeController;
  /** The verified license file the node runs with. */
  readonly license: License;
  /** This node's role, as the license gives it. */
  readonly role: Role;
  /** Binds the gRPC server, connects Redis, starts the loops. Resolves with the bound gRPC port. */
  start(): Promise<{ grpcPort: number; advertiseAddr: string; metricsPort?: number; consolePort?: number; consoleUrl?: string }>;
  readonly metrics: NodeMetrics;
  /** The seat policy file's watch (LICENSE_POLICY_FILE); undefined without one. `reload()` on SIGHUP. */
  readonly policy: PolicyWatch | undefined;
  /** Planned handover then shutdown; safe to call twice. */
  stop(): Promise<void>;
  status(): Promise<GetStatusResponse>;
}

/** The settings a part reads, picked from the Config (keys that are unset stay absent). */
function pick<K extends keyof Config>(config: Config, ...keys: K[]): Pick<Config, K> {
  const out: Partial<Pick<Config, K>> = {};
  for (const k of keys) if (config[k] !== undefined) out[k] = config[k];
  return out as Pick<Config, K>;
}

/**
 * The composition root of one license server node: wires config, Redis, gRPC and the role
 * machine. In dependency order, so every name is defined before it is used: metrics
 * instruments, Redis and the stores, the budget keeper, the controller (which alone drives
 * the role machine, budget verdicts included), the seat service, then what reads them all
 * (scrape-time gauges, status, health, the servers).
 */
export function createNode(deps: NodeDeps): LicenseNode {
  const { config, logger } = deps;
  const clock = deps.clock ?? systemClock;
  // Refuse to start on a missing, unsigned, tampered or foreign license (message names the file).
  let vendorKey: KeyObject;
  try {
    vendorKey = loadPublicKey(config.vendorPublicKeyFile, 'LICENSE_VENDOR_PUBLIC_KEY');
  } catch (err) {
    throw new LicenseError(ErrorCode.LICENSE_INVALID, errorMessage(err));
  }
  const license = loadLicenseFile(config.licenseFile, vendorKey, config.clusterId);
  const licenseDigest = license.digest;
  // The license names the servers: this node's role (and machine) come from it, not from configuration.
  const { role } = bindLicense(license, config.licenseFile, { nodeId: config.nodeId, role: config.role, hostId: deps.hostId ?? readHostId });
  const stateFile = new StateFile(config.stateDir, config.nodeId);
  // Refuses (exit 2) a license older than one this node has run with or seen.
  const serialGuard = new LicenseSerialGuard({
    serial: license.serial,
    licenseFile: config.licenseFile,
    clusterId: config.clusterId,
    stateFile,
    logger,
  });

  // The site's seat policy: a bad file refuses the start (one line naming the line); a bad edit
  // later is refused and the last good policy stays (policy-watch.ts).
  const licensedSeats = new Map([...license.features.values()].map((f) => [f.name, f.seats]));
  const policyWatch: PolicyWatch | undefined =
    config.policyFile === undefined
      ? undefined
      : createPolicyWatch({
          file: config.policyFile,
          logger,
          check: (p) => checkAgainstLicense(p, licensedSeats),
          // Waiters a reservation held back may fit the new rules: the lease holder serves the queues now.
          onChange: (): Promise<void> | undefined => (controller.machine.isServing() ? seats.serveAllQueues() : undefined),
        });
  policyWatch?.start();
  const noPolicyDigest = policyDigest(EMPTY_SEAT_POLICY);
  const currentPolicyDigest = (): string => policyWatch?.digest ?? noPolicyDigest;

  // Counters and histograms first: every part below may count from the start.
  const metrics = createNodeMetrics();

  const redisCommandTimeoutMs = Math.max(250, config.heartbeatIntervalMs);
  const redis = deps.redis ?? createRedis(config.redis, { commandTimeoutMs: redisCommandTimeoutMs, connectionName: `licensed:${config.nodeId}` });
  redis.on('error', () => {
    // Connection errors surface through failed calls (logged once by the lease loop); without
    // this listener ioredis would print every reconnect attempt as an unhandled error.
  });
  const keys = clusterKeys(config.clusterId);
  // Half the command timeout: a WAIT that runs out still answers before ioredis gives up on it.
  // On Sentinel always: besides refusing to confirm writes during a switch, it tells the
  // connection supervisor (superviseConnection) where the new master is.
  const failoverWatch =
    config.redis.sentinels && config.redis.masterName && !deps.redis
      ? new SentinelFailoverWatch(config.redis.sentinels, config.redis.masterName, logger, redisTlsOptions(config.redis))
      : undefined;
  const replicaAck = new ReplicaAck(
    redis,
    { minReplicas: config.redis.minReplicas, timeoutMs: Math.floor(redisCommandTimeoutMs / 2), slotKey: keys.leader },
    failoverWatch,
  );
  const scripts = new ScriptRunner(redis, undefined, replicaAck);
  const lease = new LeaseStore(scripts, keys, config.leaseTtlMs, license.serial);
  const budgetStore = new BudgetStore(scripts, keys, license.failover.budgetMs);
  const seatStore = new SeatStore(scripts, keys, config.sessionTtlMs, config.limits);

  const proto = loadLicenseProto();
  let advertiseAddr = config.advertiseAddr;
  /** This node's console URL, final once the console is bound ('' when off); heartbeats tell the peer. */
  let consoleUrl = '';
  const peerClient =
    config.peerAddr === undefined
      ? undefined
      : new proto.ClusterService(
          config.peerAddr,
          channelCredentials(
            config.tls && { ...(config.tls.caFile ? { caFile: config.tls.caFile } : {}), certFile: config.tls.certFile, keyFile: config.tls.keyFile },
          ),
          FAST_RECONNECT_OPTIONS,
        );
  const serverCreds = serverCredentials(config.tls);

  const budget = new BudgetKeeper({
    // The failover terms are the vendor's, from the signed license; no setting reaches them.
    settings: {
      ...pick(config, 'clusterId', 'nodeId', 'leaseTtlMs'),
      role,
      budgetMs: license.failover.budgetMs,
      resetAfterMs: license.failover.resetAfterMs,
      maxExtensionMs: license.failover.maxExtensionMs,
      // Applied activation keys name the redundant: the primary checks them against it to show the grant.
      redundantNodeId: license.servers.find((s) => s.role === 'redundant')?.nodeId ?? config.nodeId,
    },
    clock,
    logger,
    store: budgetStore,
    stateFile,
    vendorPublicKey: vendorKey,
    onActivation: (result) => metrics.activations.inc({ result }),
  });
  // The controller hands its settings to the peer link as they are: licenseSerial rides along
  // to go out in every heartbeat (PeerLinkSettings.licenseSerial).
  const controllerSettings: ControllerSettings & PeerLinkSettings = {
    ...pick(
      config,
      'nodeId',
      'clusterId',
      'peerAddr',
      'leaseTtlMs',
      'leaseSafetyMarginMs',
      'heartbeatIntervalMs',
      'handbackAfterMs',
      'redundantStartupGraceMs',
    ),
    role,
    licenseSerial: license.serial,
  };
  const controller = new NodeController({
    settings: controllerSettings,
    clock,
    logger,
    lease,
    stateFile,
    licenseDigest,
    advertiseAddr: () => advertiseAddr,
    consoleUrl: () => consoleUrl,
    policyDigest: currentPolicyDigest,
    // The budget rides on the lease loop; its hooks return verdicts that the controller applies.
    // The license serial check rides along with it (and never changes what it reports).
    hooks: withLicenseSerialCheck(budget, serialGuard, lease, logger),
    ...(config.clusterSecret ? { peerAuth: new PeerAuthenticator(config.clusterSecret) } : {}),
    observer: {
      peerRtt: (seconds) => metrics.peerRtt.observe(seconds),
      storeError: () => metrics.redisErrors.inc(),
      earlyTakeover: () => metrics.earlyTakeovers.inc(),
    },
    ...(peerClient ? { peerClient } : {}),
  });
  // A redundant restarted while blocked comes back blocked, before it ever reaches Redis.
  if (budget.startsBlocked()) controller.applyBudget({ blocked: true });
  // A newer license in use (Redis, or the peer's heartbeats): never take the lease again.
  controller.onPeerHeard((view) => serialGuard.observe(view.licenseSerial, `heartbeat of peer ${view.nodeId}`, false));
  serialGuard.onSuperseded((reason) => controller.retire(reason));
  controller.onStateChange((t) => {
    if (holdsLeaseIn(t.to) && !holdsLeaseIn(t.from)) metrics.leaseAcquisitions.inc();
    // A redundant that takes over with the budget already spent enters FAILOVER_BLOCKED directly: still a failover.
    if ((t.to === 'FAILOVER_ACTIVE' || t.to === 'FAILOVER_BLOCKED') && !holdsLeaseIn(t.from)) metrics.failovers.inc();
  });

  const seats = new SeatService({
    store: seatStore,
    license,
    cluster: controller,
    clock,
    logger,
    settings: pick(config, 'blockedKeepsSessions'),
    policy: (): SeatPolicy => policyWatch?.current ?? EMPTY_SEAT_POLICY,
    onCheckout: (feature, result) => metrics.observeCheckout(feature, result),
    onLimit: (limit) => metrics.limitRejections.inc({ limit }),
  });
  // Checkouts queued here wait only while this node grants seats; otherwise their callers retry
  // at the node that does (same request id: same place in the queue, which lives in Redis).
  controller.onStateChange(() => {
    if (!controller.machine.isServing()) seats.abandonWaiters();
  });

  // Every source exists now: the gauges read at scrape time.
  registerCollectors(metrics.registry, {
    state: () => controller.machine.state,
    leaderEpoch: () => controller.machine.leaseHolder?.epoch ?? 0,
    isLeaseHolder: () => holdsLeaseIn(controller.machine.state),
    peer: () => {
      const p = controller.snapshot().peer;
      return p && { lastHeartbeatMs: p.lastHeartbeatMs, reachable: p.reachable, clockSkewMs: p.clockSkewMs };
    },
    budget: () => {
      const b = budget.state;
      return { remainingMs: Math.max(0, b.grantedMs - b.consumedMs), consumedMs: b.consumedMs, grantedMs: b.grantedMs, blocked: b.blocked };
    },
    licensedSeats: () => [...license.features.values()].map((f) => ({ name: f.name, total: f.seats })),
    seatUsage: async () => (await seats.usage()).map((f) => ({ name: f.name, inUse: f.seatsInUse, queueLength: f.queueLength })),
    redisReplicas: () => replicaAck.state(),
  });

  const health = new HealthImplementation({
    '': 'SERVING',
    [SEAT_SERVICE_NAME]: 'NOT_SERVING',
    'license.v1.AdminService': 'SERVING',
    'license.v1.ClusterService': 'SERVING',
  });
  controller.onStateChange(() => {
    health.setStatus(SEAT_SERVICE_NAME, controller.machine.isServing() ? 'SERVING' : 'NOT_SERVING');
  });

  const status = statusReader({
    cluster: controller,
    budget,
    seats,
    license,
    info: () => ({
      ...pick(config, 'clusterId', 'nodeId'),
      role,
      advertiseAddr,
      licenseDigest,
      licenseSerial: license.serial,
      licenseError: serialGuard.problem ?? '',
      peerLicenseSerial: controller.machine.peer?.licenseSerial ?? 0,
      consoleUrl,
      redisTopology: describeRedis(config.redis),
      policyDigest: currentPolicyDigest(),
      policyError: policyWatch?.lastError ?? '',
    }),
  });
  const vendorActivation = config.vendorActivation;
  const ops = createAdminOps({
    controller,
    status,
    seats,
    budget,
    ...(vendorActivation
      ? {
          vendor: {
            url: vendorActivation.url,
            send: (requestKey: string) => sendRequestKey({ url: vendorActivation.url, token: vendorActivation.token, requestKey }),
          },
        }
      : {}),
  });

  const metricsServer =
    config.metricsAddr === undefined
      ? undefined
      : createMetricsServer(
          config.metricsAddr,
          metrics.registry,
          {
            alive: () => controller.machine.state !== 'STOPPING',
            ready: () => ({
              ready: controller.machine.isServing() && replicaAck.state().ok,
              state: replicaAck.state().ok ? controller.machine.state : `${controller.machine.state}, Redis replicas missing (LICENSE_REDIS_MIN_REPLICAS)`,
            }),
          },
          logger,
        );
  // The sweep reaps expired sessions in bounded batches (SeatService.sweep). Seat counts
  // (ListFeatures, /metrics, status) are counters that include an expired session's seats
  // until it is reaped, so it runs every second, or every TTL/3 when that is shorter.
  const sweepEveryMs = Math.max(100, Math.min(Math.floor(config.sessionTtlMs / 3), 1_000));
  let sweepTimer: NodeJS.Timeout | undefined;
  const sweep = (): void => {
    sweepTimer = setTimeout(() => {
      seats
        .sweep()
        .catch((err: unknown) => logger.warn('session sweep failed', { err: errorMessage(err) }))
        .finally(() => {
          if (sweepTimer) sweep();
        });
    }, sweepEveryMs);
  };

  // Usage events older than LICENSE_USAGE_RETENTION go, about once a minute: each run drops
  // about a minute's worth, and the appends never wait for it.
  let usageTrimTimer: NodeJS.Timeout | undefined;
  const trimUsage = (): void => {
    usageTrimTimer = setTimeout(() => {
      seats
        .trimUsage(config.usageRetentionMs)
        .then((n) => {
          if (n > 0) logger.info('usage events past the retention dropped', { events: n, retentionMs: config.usageRetentionMs });
        })
        .catch((err: unknown) => logger.warn('usage retention trim failed', { err: errorMessage(err) }))
        .finally(() => {
          if (usageTrimTimer) trimUsage();
        });
    }, USAGE_TRIM_EVERY_MS);
  };

  const rpc: UnaryContext = {
    logger,
    observe: (method, code, seconds) => metrics.rpcDuration.observe({ method, code }, seconds),
    limiter: new CallLimiter(config.limits.maxConcurrentCalls, () => metrics.limitRejections.inc({ limit: 'concurrent_calls' })),
  };
  const server = createGrpcServer(config.limits.maxMessageBytes);
  // Peer heartbeats bypass the call limiter: an overloaded seat API must not cut the nodes off from each other.
  server.addService(
    proto.ClusterService.service,
    createClusterService({ logger, observe: rpc.observe }, controller, {
      tls: config.tls,
      accepting: config.clusterSecret !== undefined || config.tls?.caFile !== undefined || config.insecurePeers,
    }),
  );
  server.addService(proto.SeatService.service, createSeatHandlers(rpc, seats, config.sessionTtlMs));
  server.addService(proto.AdminService.service, createAdminService(rpc, { adminToken: config.adminToken, ops, ...(config.tls ? { tls: config.tls } : {}) }));
  const consoleServer =
    config.console === undefined
      ? undefined
      : createConsoleServer({
          ...parseHostPort(config.console.addr),
          ...(config.tls ? { tls: config.tls } : {}),
          adminToken: config.adminToken,
          ops,
          settings: {
            ...pick(config, 'nodeId', 'clusterId', 'vendorContact'),
            sendAvailable: config.vendorActivation !== undefined,
            version: VERSION,
          },
          sessionTtlMs: config.console.sessionTtlMs,
          assetsDir: CONSOLE_ASSETS_DIR,
          logger,
          clock,
        });
  health.addToServer(server);
  addReflection(server);

  let stopping: Promise<void> | undefined;
  /** Set by start(): ends the connection supervision before stop() disconnects on purpose. */
  let stopSupervising: (() => void) | undefined;

  return {
    controller,
    license,
    role,
    metrics,
    policy: policyWatch,
    status,
    async start() {
      const grpcPort = await bindServer(server, config.grpcAddr, serverCreds);
      // Without a secret or CA only LICENSE_INSECURE_PEERS=true lets heartbeats in (loadConfig refuses a peer address
      // without one, and the ClusterService refuses them): this is that explicit choice, repeated every start.
      if (config.insecurePeers && !config.clusterSecret && !config.tls?.caFile) {
        logger.warn(
          'peer heartbeats are not authenticated (LICENSE_INSECURE_PEERS=true): any process that reaches this node can pose as a cluster node; set LICENSE_CLUSTER_SECRET on both nodes (or LICENSE_TLS_CA for mutual TLS) and remove LICENSE_INSECURE_PEERS',
        );
      }
      const metricsPort = await metricsServer?.start();
      const adv = parseHostPort(advertiseAddr);
      if (adv.port === 0) advertiseAddr = `${adv.host.includes(':') ? `[${adv.host}]` : adv.host}:${grpcPort}`;
      // Bound before the first heartbeat, which tells the peer where this console is.
      const consoleAt = await consoleServer?.start();
      if (consoleAt)
        consoleUrl =
          config.console?.url ?? `${config.tls ? 'https' : 'http'}://${parseHostPort(advertiseAddr).host.replace(/^(.*:.*)$/, '[$1]')}:${consoleAt.port}`;
      try {
        await redis.connect();
      } catch (err) {
        // Not fatal: the node stays STARTING and the lease loop keeps trying.
        logger.error('cannot reach redis at start; retrying', { err: errorMessage(err) });
      }
      failoverWatch?.start();
      stopSupervising = superviseConnection(redis, logger, failoverWatch);
      controller.start();
      sweep();
      trimUsage();
      logger.info('license node listening', {
        grpcAddr: config.grpcAddr,
        grpcPort,
        advertiseAddr,
        metricsAddr: config.metricsAddr,
        metricsPort,
        consoleUrl: consoleUrl || undefined,
        role,
        peerAddr: config.peerAddr,
        licensee: license.licensee,
        licenseSerial: license.serial,
        features: [...license.features.values()].map((f) => `${f.name}:${f.seats}`).join(','),
        licenseDigest: license.digest.slice(0, 16),
      });
      return {
        grpcPort,
        advertiseAddr,
        ...(metricsPort === undefined ? {} : { metricsPort }),
        ...(consoleAt === undefined ? {} : { consolePort: consoleAt.port, consoleUrl }),
      };
    },
    stop() {
      stopping ??= (async () => {
        const wasActive = holdsLeaseIn(controller.machine.state);
        if (sweepTimer) clearTimeout(sweepTimer);
        sweepTimer = undefined;
        if (usageTrimTimer) clearTimeout(usageTrimTimer);
        usageTrimTimer = undefined;
        policyWatch?.stop();
        await controller.stop();
        health.setStatus(SEAT_SERVICE_NAME, 'NOT_SERVING');
        await shutdownServer(server, 1_500);
        await metricsServer?.stop();
        await consoleServer?.close();
        peerClient?.close();
        failoverWatch?.stop();
        stopSupervising?.();
        redis.disconnect();
        logger.info('license node stopped', { handedOver: wasActive });
      })();
      return stopping;
    },
  };
}
