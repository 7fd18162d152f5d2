import { HealthImplementation } from 'grpc-health-check';
import type { Cluster, Redis } from 'ioredis';
import { type Clock, systemClock } from './clock';
import { NodeController } from './cluster/node-controller';
import { holdsLeaseIn, toProtoRole, toProtoState } from './cluster/states';
import { type Config, parseHostPort } from './config';
import { ErrorCode, errorMessage, LicenseError } from './errors';
import type { GetStatusResponse } from '../contract/generated/license/v1/GetStatusResponse';
import { BudgetKeeper } from './budget/budget-keeper';
import { createAdminService, toProtoBudget } from './grpc/admin-service';
import { BudgetStore } from './store/budget-store';
import { createClusterService } from './grpc/cluster-service';
import { createSeatHandlers } from './grpc/seat-handlers';
import { loadLicenseFile } from './license/license-file';
import { loadPublicKey } from './license/vendor-keys';
import { SeatService } from './seats/seat-service';
import { SeatStore } from './store/seat-store';
import { bindServer, createGrpcServer, FAST_RECONNECT_OPTIONS, shutdownServer } from './grpc/server';
import { channelCredentials, serverCredentials } from './grpc/tls';
import { PeerAuthenticator } from './cluster/peer-auth';
import { CallLimiter, type UnaryContext } from './grpc/unary';
import type { Logger } from './log';
import { createMetrics, type NodeMetrics } from './metrics/metrics';
import { createMetricsServer } from './metrics/metrics-server';
import { loadLicenseProto } from '../contract/proto';
import { StateFile } from './state-file';
import { clusterKeys } from './store/keys';
import { LeaseStore } from './store/lease-store';
import { createRedis } from './store/redis';
import { ScriptRunner } from './store/scripts';
import { VERSION } from './version';

export const SEAT_SERVICE_NAME = 'license.v1.SeatService';

export interface NodeDeps {
  readonly config: Config;
  readonly logger: Logger;
  readonly clock?: Clock;
  /** Supplied by tests that want to share or inspect the connection; otherwise made from config. */
  readonly redis?: Redis | Cluster;
}

export interface LicenseNode {
  readonly controller: NodeController;
  /** Binds the gRPC server, connects Redis, starts the loops. Resolves with the bound gRPC port. */
  start(): Promise<{ grpcPort: number; advertiseAddr: string; metricsPort?: number }>;
  readonly metrics: NodeMetrics;
  /** Planned handover then shutdown; safe to call twice. */
  stop(): Promise<void>;
  status(): Promise<GetStatusResponse>;
}

/** The composition root of one license server node: wires config, Redis, gRPC and the role machine. */
export function createNode(deps: NodeDeps): LicenseNode {
  const { config, logger } = deps;
  const clock = deps.clock ?? systemClock;
  // Refuse to start on a missing, unsigned, tampered or foreign license (message names the file).
  let vendorKey;
  try {
    vendorKey = loadPublicKey(config.vendorPublicKeyFile, 'LICENSE_VENDOR_PUBLIC_KEY');
  } catch (err) {
    throw new LicenseError(ErrorCode.LICENSE_INVALID, errorMessage(err));
  }
  const license = loadLicenseFile(config.licenseFile, vendorKey, config.clusterId);
  const redis =
    deps.redis ??
    createRedis(config.redis, { commandTimeoutMs: Math.max(250, config.heartbeatIntervalMs), connectionName: `licensed:${config.nodeId}` });
  redis.on('error', () => {
    // Connection errors surface through failed calls (logged once by the lease loop); without
    // this listener ioredis would print every reconnect attempt as an unhandled error.
  });
  const scripts = new ScriptRunner(redis);
  const keys = clusterKeys(config.clusterId);
  const lease = new LeaseStore(scripts, keys, config.leaseTtlMs);
  const stateFile = new StateFile(config.stateDir, config.nodeId);
  const proto = loadLicenseProto();
  let advertiseAddr = config.advertiseAddr;

  const peerClient =
    config.peerAddr === undefined
      ? undefined
      : new proto.ClusterService(
          config.peerAddr,
          channelCredentials(config.tls && { ...(config.tls.caFile ? { caFile: config.tls.caFile } : {}), certFile: config.tls.certFile, keyFile: config.tls.keyFile }),
          FAST_RECONNECT_OPTIONS,
        );
  const serverCreds = serverCredentials(config.tls);

  const licenseDigest = license.digest;
  const budget = new BudgetKeeper({
    config,
    clock,
    logger,
    // Sentinel means replicas: budget writes wait (briefly) for one to acknowledge.
    store: new BudgetStore(scripts, keys, config.failoverBudgetMs, config.redis.sentinels ? Math.floor(config.heartbeatIntervalMs / 2) : 0),
    stateFile,
    vendorPublicKey: vendorKey,
    // Bound late: the keeper only calls this from the lease loop, after the controller exists.
    setBlocked: (blocked) => controller.machine.setBudgetBlocked(blocked),
    onActivation: (result) => metrics.activations.inc({ result }),
  });
  const controller = new NodeController({
    config,
    clock,
    logger,
    lease,
    stateFile,
    licenseDigest,
    advertiseAddr: () => advertiseAddr,
    hooks: budget,
    ...(config.clusterSecret ? { peerAuth: new PeerAuthenticator(config.clusterSecret) } : {}),
    observer: {
      peerRtt: (seconds) => metrics.peerRtt.observe(seconds),
      storeError: () => metrics.redisErrors.inc(),
    },
    ...(peerClient ? { peerClient } : {}),
  });
  if (budget.startsBlocked()) controller.machine.setBudgetBlocked(true);
  controller.onStateChange((t) => {
    if (holdsLeaseIn(t.to) && !holdsLeaseIn(t.from)) metrics.leaseAcquisitions.inc();
    // A redundant that takes over with the budget already spent enters FAILOVER_BLOCKED directly: still a failover.
    if ((t.to === 'FAILOVER_ACTIVE' || t.to === 'FAILOVER_BLOCKED') && !holdsLeaseIn(t.from)) metrics.failovers.inc();
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

  async function status(): Promise<GetStatusResponse> {
    const s = controller.snapshot();
    return {
      cluster_id: config.clusterId,
      node_id: config.nodeId,
      role: toProtoRole(config.role),
      state: toProtoState(s.state),
      epoch: s.epoch,
      leader_node_id: s.leaderNodeId,
      budget: toProtoBudget(await budget.refresh().then(
        () => budget.state,
        () => budget.state, // Redis away: the last known budget (store_ok says so)
      )),
      features: await seats.usage().then(
        (list) => list.map((f) => ({ name: f.name, seats_total: f.seatsTotal, seats_in_use: f.seatsInUse, expires_at_ms: f.expiresAtMs })),
        // Status must answer even while Redis is away (store_ok says so): show seats licensed, in use unknown (0).
        () => [...license.features.values()].map((f) => ({ name: f.name, seats_total: f.seats, seats_in_use: 0, expires_at_ms: f.expiresAtMs ?? 0 })),
      ),
      leader_addr: s.leaderAddr,
      advertise_addr: advertiseAddr,
      license_digest: licenseDigest,
      store_ok: s.storeOk,
      highest_epoch: s.highestEpoch,
      lease_valid_for_ms: s.leaseValidForMs,
      version: VERSION,
      ...(s.peer
        ? {
            peer: {
              node_id: s.peer.nodeId,
              addr: s.peer.addr,
              role: s.peer.role ? toProtoRole(s.peer.role) : 'ROLE_UNSPECIFIED',
              state: s.peer.state ? toProtoState(s.peer.state) : 'NODE_STATE_UNSPECIFIED',
              epoch: s.peer.epoch,
              last_heartbeat_ms: s.peer.lastHeartbeatMs,
              reachable: s.peer.reachable,
              error: s.peer.error,
              license_digest: s.peer.licenseDigest,
              clock_skew_ms: s.peer.clockSkewMs,
            },
          }
        : {}),
    };
  }

  const seats = new SeatService({
    store: new SeatStore(scripts, keys, config.sessionTtlMs, config.limits),
    license,
    cluster: controller,
    clock,
    logger,
    sessionTtlMs: config.sessionTtlMs,
    blockedKeepsSessions: config.blockedKeepsSessions,
    onCheckout: (feature, result) => metrics.observeCheckout(feature, result),
    onLimit: (limit) => metrics.limitRejections.inc({ limit }),
  });

  const metrics = createMetrics({
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
    seatsInUse: async () => (await seats.usage()).map((f) => ({ name: f.name, inUse: f.seatsInUse })),
  });
  const metricsServer =
    config.metricsAddr === undefined
      ? undefined
      : createMetricsServer(
          config.metricsAddr,
          metrics.registry,
          {
            alive: () => controller.machine.state !== 'STOPPING',
            ready: () => ({ ready: controller.machine.isServing(), state: controller.machine.state }),
          },
          logger,
        );
  // Expired sessions are also freed lazily inside every checkout; the sweep keeps
  // ListFeatures and memory honest when nobody checks out.
  const sweepEveryMs = Math.max(250, Math.min(Math.floor(config.sessionTtlMs / 4), 5_000));
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

  const rpc: UnaryContext = {
    logger,
    observe: (method, code, seconds) => metrics.rpcDuration.observe({ method, code }, seconds),
    limiter: new CallLimiter(config.limits.maxConcurrentCalls, () => metrics.limitRejections.inc({ limit: 'concurrent_calls' })),
  };
  const server = createGrpcServer(config.limits.maxMessageBytes);
  // Peer heartbeats bypass the call limiter: an overloaded seat API must not cut the nodes off from each other.
  server.addService(proto.ClusterService.service, createClusterService({ logger, observe: rpc.observe }, controller, config.tls));
  server.addService(proto.SeatService.service, createSeatHandlers(rpc, seats, config.sessionTtlMs));
  server.addService(proto.AdminService.service, createAdminService(rpc, { adminToken: config.adminToken, controller, status, seats, budget, ...(config.tls ? { tls: config.tls } : {}) }));
  health.addToServer(server);

  let stopping: Promise<void> | undefined;

  return {
    controller,
    metrics,
    status,
    async start() {
      const grpcPort = await bindServer(server, config.grpcAddr, serverCreds);
      if (config.peerAddr !== undefined && !config.clusterSecret && !config.tls?.caFile) {
        logger.warn('peer heartbeats are not authenticated: set LICENSE_CLUSTER_SECRET (or LICENSE_TLS_CA for mutual TLS) so no other process can pose as a cluster node');
      }
      const metricsPort = await metricsServer?.start();
      const adv = parseHostPort(advertiseAddr);
      if (adv.port === 0) advertiseAddr = `${adv.host.includes(':') ? `[${adv.host}]` : adv.host}:${grpcPort}`;
      try {
        await redis.connect();
      } catch (err) {
        // Not fatal: the node stays STARTING and the lease loop keeps trying.
        logger.error('cannot reach redis at start; retrying', { err: errorMessage(err) });
      }
      controller.start();
      sweep();
      logger.info('license node listening', {
        grpcAddr: config.grpcAddr,
        grpcPort,
        advertiseAddr,
        metricsAddr: config.metricsAddr,
        metricsPort,
        role: config.role,
        peerAddr: config.peerAddr,
        licensee: license.licensee,
        features: [...license.features.values()].map((f) => `${f.name}:${f.seats}`).join(','),
        licenseDigest: license.digest.slice(0, 16),
      });
      return { grpcPort, advertiseAddr, ...(metricsPort === undefined ? {} : { metricsPort }) };
    },
    stop() {
      stopping ??= (async () => {
        const wasActive = holdsLeaseIn(controller.machine.state);
        if (sweepTimer) clearTimeout(sweepTimer);
        sweepTimer = undefined;
        await controller.stop();
        health.setStatus(SEAT_SERVICE_NAME, 'NOT_SERVING');
        await shutdownServer(server, 1_500);
        await metricsServer?.stop();
        peerClient?.close();
        redis.disconnect();
        logger.info('license node stopped', { handedOver: wasActive });
      })();
      return stopping;
    },
  };
}
