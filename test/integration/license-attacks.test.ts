import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createAdminClient } from '../../src/server/admin/admin-client';
import { ErrorCode } from '../../src/server/errors';
import { createSilentLogger } from '../../src/server/log';
import { createNode } from '../../src/server/node';
import { newClusterSecret, type StartedNode, startRefusal, startTestNode, startTestPair, TEST_TOKEN, type TestPair, testConfig } from '../helpers/node';
import { eventually, type RedisProcess, startRedis } from '../helpers/redis';

/**
 * The review's three ways a customer could stretch the failover budget by configuration
 * alone. Each must be refused at start with one line, and the terms must come from the
 * vendor-signed license instead.
 */
describe('a hostile configuration cannot stretch the failover budget', () => {
  let redis: RedisProcess;
  const nodes: StartedNode[] = [];
  const closers: (() => void)[] = [];

  before(async () => {
    redis = await startRedis();
  });
  after(async () => {
    for (const c of closers) c();
    for (const n of nodes) await n.node.stop();
    await redis.stop();
  });

  async function pair(opts: Parameters<typeof startTestPair>[1]): Promise<TestPair> {
    const p = await startTestPair(redis.url, opts);
    nodes.push(p.redundant, p.primary);
    await eventually(() => p.primary.node.controller.machine.isServing() || undefined, 10_000, 'primary active');
    await eventually(() => (p.redundant.node.controller.snapshot().peer?.reachable ? true : undefined), 10_000, 'peers');
    return p;
  }

  function admin(n: StartedNode) {
    const a = createAdminClient(n.addr, TEST_TOKEN);
    closers.push(() => a.close());
    return a;
  }

  it('LICENSE_FAILOVER_BUDGET_MS=9007199254740991 on the redundant: refused, the budget is a license term (failover.budget_ms)', () => {
    const msg = startRefusal(
      () => testConfig(redis.url, { LICENSE_NODE_ID: 'node-b', LICENSE_ROLE: 'redundant', LICENSE_FAILOVER_BUDGET_MS: '9007199254740991' }),
      ErrorCode.CONFIG_INVALID,
    );
    assert.match(msg, /^LICENSE_FAILOVER_BUDGET_MS: .*license term.*failover\.budget_ms/);
  });

  it('LICENSE_BUDGET_RESET_AFTER_MS=1 on the primary: refused, the reset period is a license term (failover.reset_after_ms)', () => {
    const msg = startRefusal(() => testConfig(redis.url, { LICENSE_BUDGET_RESET_AFTER_MS: '1' }), ErrorCode.CONFIG_INVALID);
    assert.match(msg, /^LICENSE_BUDGET_RESET_AFTER_MS: .*license term.*failover\.reset_after_ms/);
  });

  it('LICENSE_ACTIVATION_EXTENSION_MS: refused, the vendor chooses the extension up to failover.max_extension_ms', () => {
    const msg = startRefusal(() => testConfig(redis.url, { LICENSE_ACTIVATION_EXTENSION_MS: '9007199254740991' }), ErrorCode.CONFIG_INVALID);
    assert.match(msg, /^LICENSE_ACTIVATION_EXTENSION_MS: .*failover\.max_extension_ms/);
  });

  it('LICENSE_ROLE=primary on both nodes: the node the license names redundant refuses to start', async () => {
    const secret = newClusterSecret();
    const primary = await startTestNode(testConfig(redis.url, { LICENSE_CLUSTER_SECRET: secret }));
    nodes.push(primary);
    await eventually(() => primary.node.controller.machine.isServing() || undefined, 10_000, 'primary active');
    const second = testConfig(redis.url, {
      LICENSE_CLUSTER_ID: primary.config.clusterId,
      LICENSE_NODE_ID: 'node-b',
      LICENSE_ROLE: 'primary',
      LICENSE_PEER_ADDR: primary.addr,
      LICENSE_CLUSTER_SECRET: secret,
      LICENSE_FILE: primary.config.licenseFile,
      LICENSE_VENDOR_PUBLIC_KEY: primary.config.vendorPublicKeyFile,
    });
    const msg = startRefusal(() => createNode({ config: second, logger: createSilentLogger() }), ErrorCode.CONFIG_INVALID);
    assert.match(msg, /^LICENSE_ROLE: .*node-b.*redundant/);
  });

  it("the budget is the license's: the redundant (its role from the license, no LICENSE_ROLE) is granted failover.budget_ms, charged, and blocks", async () => {
    const p = await pair({ env: { LICENSE_HANDBACK_AFTER_MS: '600000' }, license: { failover: { budget_ms: 1_500 } } });
    assert.equal(p.redundant.config.role, undefined, 'no LICENSE_ROLE set');
    assert.equal(p.redundant.node.role, 'redundant');
    assert.equal((await admin(p.redundant).getStatus()).budget?.granted_ms, 1_500);
    await admin(p.primary).stepDown();
    await eventually(() => (p.redundant.node.controller.machine.state === 'FAILOVER_BLOCKED' ? true : undefined), 15_000, 'blocked');
    const b = (await admin(p.redundant).getStatus()).budget;
    assert.equal(b?.granted_ms, 1_500);
    assert.equal(b?.consumed_ms, 1_500);
    assert.equal(b?.blocked, true);
  });

  it("the reset period is the license's: after a short failover and handback the episode stays open until failover.reset_after_ms", async () => {
    const RESET = 3_000;
    const p = await pair({ env: { LICENSE_HANDBACK_AFTER_MS: '300' }, license: { failover: { budget_ms: 600_000, reset_after_ms: RESET } } });
    await admin(p.primary).stepDown();
    await eventually(() => (p.redundant.node.controller.machine.state === 'FAILOVER_ACTIVE' ? true : undefined), 10_000, 'failover');
    const episode = await eventually(async () => (await admin(p.redundant).getStatus()).budget?.episode_id || undefined, 10_000, 'episode opened');
    await eventually(() => (p.primary.node.controller.machine.state === 'ACTIVE' ? true : undefined), 20_000, 'handback');
    const backAt = Date.now();
    await new Promise((r) => setTimeout(r, RESET / 2));
    assert.equal((await admin(p.primary).getStatus()).budget?.episode_id, episode, 'not refilled after a short hold');
    await eventually(async () => ((await admin(p.primary).getStatus()).budget?.episode_id === '' ? true : undefined), 15_000, 'episode ended');
    assert.ok(Date.now() - backAt >= RESET - 400, `ended ${Date.now() - backAt} ms after the handback, reset period ${RESET} ms`);
  });
});
