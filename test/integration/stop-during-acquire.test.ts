import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Redis } from 'ioredis';
import type { Config } from '../../src/server/config';
import { createLogger } from '../../src/server/log';
import { createNode, type LicenseNode } from '../../src/server/node';
import { clusterKeys } from '../../src/server/store/keys';
import { createRedis } from '../../src/server/store/redis';
import { captureLog, testConfig } from '../helpers/node';
import { connect, type RedisProcess, startRedis } from '../helpers/redis';

/** One-way latency of the hop to Redis: long enough to stop a node while its acquire is on the wire. */
const DELAY_MS = 250;

interface LatencyProxy {
  readonly url: string;
  /** Resolves as soon as a chunk on its way to Redis satisfies `match` (it reaches Redis DELAY_MS later). */
  onTheWire(match: (chunk: string) => boolean): Promise<void>;
  close(): Promise<void>;
}

/**
 * A TCP hop to Redis whose bytes arrive DELAY_MS late, as over a slow link: what a node has
 * sent reaches Redis even if the node hangs up meanwhile (the bytes were on the wire), and
 * the hang-up arrives after them. Answers come back at once.
 */
async function startLatencyProxy(targetPort: number): Promise<LatencyProxy> {
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const watchers = new Set<{ match: (chunk: string) => boolean; resolve: () => void }>();
  const later = (fn: () => void): void => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, DELAY_MS);
    timers.add(t);
  };
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => s.destroy());
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (d: Buffer) => {
      later(() => upstream.write(d));
      for (const w of watchers) {
        if (!w.match(d.toString('latin1'))) continue;
        watchers.delete(w);
        w.resolve();
      }
    });
    client.on('close', () => later(() => upstream.end()));
    upstream.on('data', (d) => client.write(d));
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `redis://127.0.0.1:${port}`,
    onTheWire: (match) => new Promise<void>((resolve) => watchers.add({ match, resolve })),
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

type ScriptFn = (...args: unknown[]) => Promise<unknown>;

/** How often the node called one of its Lua scripts. */
interface ScriptProbe {
  readonly calls: number;
}

/**
 * A node as createNode makes it, on its own Redis connection through the proxy, with probes
 * on its Lua scripts (ioredis defineCommand methods, looked up by name at every call).
 */
function probedNode(config: Config) {
  const redis = createRedis(config.redis, { commandTimeoutMs: Math.max(250, config.heartbeatIntervalMs), connectionName: `licensed:${config.nodeId}` });
  const log = captureLog();
  const logger = createLogger({ level: config.logLevel, context: { node: config.nodeId, cluster: config.clusterId }, stream: log.stream });
  const node: LicenseNode = createNode({ config, logger, redis });
  const fns = redis as unknown as Record<string, ScriptFn>;
  const probe = (script: string): ScriptProbe => {
    const original = fns[script];
    assert.ok(original, `script ${script} is defined on the connection`);
    let calls = 0;
    // ioredis copies the method onto its auto-pipeline, which calls it again: count the node's calls only.
    fns[script] = function (this: unknown, ...args: unknown[]) {
      if (this === redis) calls++;
      return original.apply(this, args);
    };
    return {
      get calls() {
        return calls;
      },
    };
  };
  return { node, log, probe };
}

/**
 * SIGTERM (node.stop) while the lease loop's acquire is in flight: the acquire lands after
 * the node decided to stop. The node must wait for it and release what it took, so the peer
 * can take over at once instead of a whole lease TTL later. Real redis-server, real node.
 */
describe('stop during an acquire in flight', () => {
  let redis: RedisProcess;
  let admin: Redis;
  let proxy: LatencyProxy;
  const nodes: LicenseNode[] = [];

  before(async () => {
    redis = await startRedis();
    admin = connect(redis);
    proxy = await startLatencyProxy(redis.port);
  });

  after(async () => {
    await Promise.all(nodes.map((n) => n.stop()));
    await proxy.close();
    admin.disconnect();
    await redis.stop();
  });

  /** A lone node (the other one is down): it acquires at its first lease step. A long TTL: a key left behind would stay for 30 s. */
  const configFor = (role: 'primary' | 'redundant'): Config =>
    testConfig(proxy.url, {
      LICENSE_NODE_ID: role === 'primary' ? 'node-a' : 'node-b',
      LICENSE_LEASE_TTL_MS: '30000',
      LICENSE_HEARTBEAT_INTERVAL_MS: '1000',
      LICENSE_LOG_LEVEL: 'info',
      ...(role === 'redundant' ? { LICENSE_REDUNDANT_STARTUP_GRACE_MS: '1' } : {}),
    });

  /** Every byte the node sent has reached Redis by now (the proxy delivers in order, DELAY_MS late). */
  const drained = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 4 * DELAY_MS));

  for (const role of ['primary', 'redundant'] as const) {
    it(`${role}: the lease the acquire took is released by the time stop returns`, async () => {
      const config = configFor(role);
      const keys = clusterKeys(config.clusterId);
      const p = probedNode(config);
      const acquire = p.probe('acquireLease');
      // The first chunk naming the leader key after the node called the acquire script is that call.
      const onTheWire = proxy.onTheWire((chunk) => acquire.calls > 0 && chunk.includes(keys.leader));
      nodes.push(p.node);
      await p.node.start();
      await onTheWire; // sent, DELAY_MS from Redis
      await p.node.stop();
      assert.equal(await admin.get(keys.epoch), '1', 'the acquire landed (epoch 1 handed out) before stop returned');
      assert.equal(await admin.get(keys.leader), null, 'and the key it took is gone: the peer can take over now, not in 30 s');
      await drained();
      assert.equal(await admin.get(keys.leader), null, 'nothing the node sent takes it later');
      assert.equal(p.node.controller.machine.state, 'STOPPING');
      assert.ok(
        p.log.lines().some((l) => l['message'] === 'lease acquired but not served; released' && l['releasedEpoch'] === 1),
        'the release is logged with its epoch',
      );
      assert.ok(!p.log.lines().some((l) => l['to'] === 'ACTIVE' || l['to'] === 'FAILOVER_ACTIVE'), 'it never served');
    });
  }

  it('a stop while the acquire step is still reading the budget sends no acquire at all', async () => {
    const config = configFor('primary');
    const keys = clusterKeys(config.clusterId);
    const p = probedNode(config);
    // The license serial check runs in the refresh right before the acquire (withLicenseSerialCheck).
    const serialCheck = p.probe('licenseSerial');
    const acquire = p.probe('acquireLease');
    nodes.push(p.node);
    const onTheWire = proxy.onTheWire((chunk) => serialCheck.calls > 0 && chunk.includes(keys.licenseSerial));
    await p.node.start();
    await onTheWire;
    await p.node.stop();
    await drained();
    assert.equal(acquire.calls, 0, 'the step ended before its acquire');
    assert.equal(await admin.get(keys.epoch), null, 'no epoch handed out');
    assert.equal(await admin.get(keys.leader), null);
  });
});
