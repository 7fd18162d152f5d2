import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { createSeatProbe } from '../helpers/seat-probe';
import { rawSeatClient } from '../helpers/seat-client';
import { createAdminClient } from '../../src/server/admin/admin-client';
import { type StartedNode, startTestPair, TEST_TOKEN } from '../helpers/node';
import { eventually, type RedisProcess, startRedis } from '../helpers/redis';

/** The metric names of the contract (docs/ARCHITECTURE.md, "Contract"); outside dashboards and alerts use them. */
export const CONTRACT_METRICS = [
  'license_node_state',
  'license_leader_epoch',
  'license_is_active',
  'license_failovers_total',
  'license_peer_last_heartbeat_timestamp_seconds',
  'license_failover_budget_remaining_seconds',
  'license_failover_blocked',
  'license_activations_total',
  'license_seats_licensed',
  'license_seats_in_use',
  'license_checkouts_total',
  'license_grpc_request_duration_seconds',
];

describe('metrics and health endpoints (in-process node)', () => {
  let redis: RedisProcess;
  let primary: StartedNode;
  let standby: StartedNode;
  let urls: { primary: string; standby: string };

  before(async () => {
    redis = await startRedis();
    ({ primary, redundant: standby } = await startTestPair(redis.url, { env: { LICENSE_METRICS_ADDR: '127.0.0.1:0' } }));
    urls = { primary: `http://127.0.0.1:${primary.metricsPort}`, standby: `http://127.0.0.1:${standby.metricsPort}` };
    await eventually(() => primary.node.controller.machine.isServing() || undefined);
  });
  after(async () => {
    await standby.node.stop();
    await primary.node.stop();
    await redis.stop();
  });

  it('/healthz is 200 on both nodes; /readyz is 200 only on the active one', async () => {
    assert.equal((await fetch(`${urls.primary}/healthz`)).status, 200);
    assert.equal((await fetch(`${urls.standby}/healthz`)).status, 200);
    const ready = await fetch(`${urls.primary}/readyz`);
    assert.equal(ready.status, 200);
    assert.match(await ready.text(), /^ready: ACTIVE/);
    const notReady = await fetch(`${urls.standby}/readyz`);
    assert.equal(notReady.status, 503);
    assert.match(await notReady.text(), /^not ready: (STANDBY|STARTING)/);
    assert.equal((await fetch(`${urls.primary}/nope`)).status, 404);
  });

  it('/metrics exports every contract metric with the node state, seats and checkout results', async () => {
    const probe = await createSeatProbe(primary.addr);
    await probe.checkout('cad-pro', 2);
    await assert.rejects(probe.checkout('cad-pro', 4));
    const text = await (await fetch(`${urls.primary}/metrics`)).text();
    for (const name of CONTRACT_METRICS) assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), `missing ${name}`);
    assert.match(text, /^license_node_state\{state="ACTIVE"\} 1$/m);
    assert.match(text, /^license_node_state\{state="STANDBY"\} 0$/m);
    assert.match(text, /^license_is_active 1$/m);
    assert.match(text, /^license_seats_licensed\{feature="cad-pro"\} 5$/m);
    assert.match(text, /^license_seats_in_use\{feature="cad-pro"\} 2$/m);
    assert.match(text, /^license_checkouts_total\{feature="cad-pro",result="granted"\} 1$/m);
    assert.match(text, /^license_checkouts_total\{feature="cad-pro",result="exhausted"\} 1$/m);
    assert.match(text, /^license_grpc_request_duration_seconds_count\{method="Checkout",code="OK"\} 1$/m);
    assert.match(text, /^license_grpc_request_duration_seconds_count\{method="Checkout",code="RESOURCE_EXHAUSTED"\} 1$/m);
    assert.match(text, /^license_failover_budget_remaining_seconds 259200$/m);
    assert.match(text, /^process_cpu_seconds_total /m, 'default process metrics');
    // The standby learns the leader's epoch from a heartbeat or a refused acquire; wait for it, not for luck.
    await eventually(() => standby.node.controller.machine.leaseHolder?.epoch || undefined, 10_000, 'the standby knows the leader');
    const standbyText = await (await fetch(`${urls.standby}/metrics`)).text();
    assert.match(standbyText, /^license_is_active 0$/m);
    assert.match(standbyText, /^license_leader_epoch [1-9]/m);
    await probe.close();
  });

  it('license_queue_length counts the checkouts waiting for a seat, on both nodes, and drops to 0 once they are granted', async () => {
    const seats = rawSeatClient(primary.addr, 60_000);
    const sessions: string[] = [];
    const open = async (who: string): Promise<string> => {
      const sid = (await seats.open({ client_id: `metrics-${who}`, user: who, hostname: 'h', pid: 1 })).session_id;
      sessions.push(sid);
      return sid;
    };
    try {
      const holder = await open('holder');
      const { seats_total: total, seats_in_use: inUse } =
        (await seats.features({})).features.find((f) => f.name === 'cad-pro') ?? assert.fail('feature cad-pro');
      const held = await seats.checkout({ session_id: holder, feature: 'cad-pro', count: total - inUse, request_id: 'fill' });
      const waiters = ['w1', 'w2'].map(async (who) => {
        const c = seats.checkoutWaiting({ session_id: await open(who), feature: 'cad-pro', count: 1, request_id: `q-${who}`, wait_ms: 30_000 });
        await c.position;
        return c;
      });
      const queued = await Promise.all(waiters);
      // /metrics renders at most once a second (coalescedRender): wait for a fresh one.
      const scrape = (url: string, want: RegExp[]) =>
        eventually(
          async () => {
            const t = await (await fetch(`${url}/metrics`)).text();
            return want.every((w) => w.test(t)) ? t : undefined;
          },
          10_000,
          `${url}/metrics shows ${want.join(' ')}`,
        );
      const text = await scrape(urls.primary, [
        /^license_queue_length\{feature="cad-pro"\} 2$/m,
        new RegExp(`^license_seats_in_use\\{feature="cad-pro"\\} ${total}$`, 'm'),
      ]);
      assert.match(text, /^# TYPE license_queue_length gauge$/m);
      assert.match(text, /^license_queue_length\{feature="solver"\} 0$/m, 'every licensed feature, 0 without a queue');
      await scrape(urls.standby, [/^license_queue_length\{feature="cad-pro"\} 2$/m]);

      assert.equal((await seats.release({ session_id: holder, lease_id: held.lease_id })).released, true);
      await Promise.all(queued.map((c) => c.result));
      await scrape(urls.primary, [/^license_queue_length\{feature="cad-pro"\} 0$/m]);
    } finally {
      for (const sid of sessions) await seats.closeSession({ session_id: sid }).catch(() => undefined);
      seats.close();
    }
  });

  it('the exposition passes promtool check metrics', { skip: spawnSync('promtool', ['--version']).status !== 0 && 'promtool not installed' }, async () => {
    const text = await (await fetch(`${urls.primary}/metrics`)).text();
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  });

  it('a failover shows: license_failovers_total and license_is_active on the redundant, the epoch moves on both', async () => {
    const before = await (await fetch(`${urls.standby}/metrics`)).text();
    assert.match(before, /^license_failovers_total 0$/m);
    await createAdminClient(primary.addr, TEST_TOKEN).stepDown();
    await eventually(
      async () => {
        const t = await (await fetch(`${urls.standby}/metrics`)).text();
        return /^license_failovers_total 1$/m.test(t) && /^license_is_active 1$/m.test(t) && /^license_node_state\{state="FAILOVER_ACTIVE"\} 1$/m.test(t)
          ? t
          : undefined;
      },
      15_000,
      'failover in the metrics',
    );
    const p = await (await fetch(`${urls.primary}/metrics`)).text();
    assert.match(p, /^license_is_active 0$/m);
    assert.match(p, /^license_failover_budget_remaining_seconds /m);
  });
});
