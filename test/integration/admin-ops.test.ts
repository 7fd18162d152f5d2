import assert from 'node:assert/strict';
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { type AdminClient, createAdminClient } from '../../src/server/admin/admin-client';
import { decodeRequestKey, encodeRequestKey, signActivation } from '../../src/server/budget/activation-keys';
import { BudgetKeeper } from '../../src/server/budget/budget-keeper';
import { ManualClock } from '../../src/server/clock';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import { generateVendorKeys } from '../../src/server/license/vendor-keys';
import { createSilentLogger } from '../../src/server/log';
import { StateFile } from '../../src/server/state-file';
import { BudgetStore } from '../../src/server/store/budget-store';
import type { Fence } from '../../src/server/store/fence';
import { clusterKeys } from '../../src/server/store/keys';
import { LeaseStore } from '../../src/server/store/lease-store';
import { type StartedNode, startTestPair, TEST_TOKEN } from '../helpers/node';
import { eventually, type RedisProcess, startRedis, uniqueClusterId, useScriptFixture } from '../helpers/redis';
import { type RawSeatClient, rawSeatClient } from '../helpers/seat-client';

const HOUR = 3_600_000;

/** The AdminService calls the web console added: force-release, lease filters, checking a key before applying it. */
describe('AdminService: ReleaseLease and ListLeases filters on a node pair', () => {
  let redis: RedisProcess;
  let primary: StartedNode;
  let redundant: StartedNode;
  let admin: AdminClient;
  let standbyAdmin: AdminClient;
  let seats: RawSeatClient;

  before(async () => {
    redis = await startRedis();
    ({ primary, redundant } = await startTestPair(redis.url));
    admin = createAdminClient(primary.addr, TEST_TOKEN);
    standbyAdmin = createAdminClient(redundant.addr, TEST_TOKEN);
    seats = rawSeatClient(primary.addr);
    await eventually(async () => ((await admin.getStatus()).state === 'NODE_STATE_ACTIVE' ? true : undefined));
  });
  after(async () => {
    admin.close();
    standbyAdmin.close();
    seats.close();
    await primary.node.stop();
    await redundant.node.stop();
    await redis.stop();
  });

  const open = (user: string, hostname: string) => seats.open({ client_id: `<img src=x onerror=alert(1)>`, user, hostname, pid: 7 });

  it('filters leases by user and host; frees one by id; a late retry of its checkout is refused; a second release says so', async () => {
    const alice = await open('alice', 'ws-1');
    const bob = await open('bob', 'ws-2');
    const a = await seats.checkout({ session_id: alice.session_id, feature: 'cad-pro', count: 1, request_id: 'r-1' });
    await seats.checkout({ session_id: bob.session_id, feature: 'cad-pro', count: 2, request_id: '' });

    const byUser = await admin.listLeases('', { user: 'alice' });
    assert.deepEqual(
      byUser.leases.map((l) => [l.lease_id, l.user, l.client_id]),
      [[a.lease_id, 'alice', '<img src=x onerror=alert(1)>']],
    );
    assert.deepEqual(
      (await admin.listLeases('', { hostname: 'ws-2' })).leases.map((l) => l.user),
      ['bob'],
    );
    assert.equal((await admin.listLeases('', { user: 'alice', hostname: 'ws-2' })).leases.length, 0);

    const used = async () => (await seats.features({})).features.find((f) => f.name === 'cad-pro')?.seats_in_use;
    assert.equal(await used(), 3);
    const r = await admin.releaseLease(a.lease_id);
    assert.equal(r.released, true);
    assert.equal(r.lease?.lease_id, a.lease_id);
    assert.equal(r.lease?.user, 'alice');
    assert.equal(r.lease?.count, 1);
    assert.equal(await used(), 2);
    // The session stays open and no longer lists the lease.
    assert.deepEqual((await seats.heartbeat({ session_id: alice.session_id })).lease_ids, []);
    // The client's late retry of the same checkout is not granted a second time.
    await assert.rejects(seats.checkout({ session_id: alice.session_id, feature: 'cad-pro', count: 1, request_id: 'r-1' }), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
      return true;
    });
    assert.deepEqual(await admin.releaseLease(a.lease_id), { released: false, lease: null });
  });

  it('refuses a malformed lease id, and a node without the lease refuses to free one', async () => {
    await assert.rejects(admin.releaseLease('not a lease id!'), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.INVALID_ARGUMENT);
      assert.match(err.details, /lease_id/);
      return true;
    });
    await assert.rejects(standbyAdmin.releaseLease('abcdefabcdefabcdef'), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.UNAVAILABLE);
      return true;
    });
  });

  it('SendActivationRequest without LICENSE_VENDOR_ACTIVATION_URL says to use the manual flow', async () => {
    await assert.rejects(standbyAdmin.sendActivationRequest(), (err: grpc.ServiceError) => {
      assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
      assert.match(err.details, /LICENSE_VENDOR_ACTIVATION_URL/);
      return true;
    });
  });
});

/** BudgetKeeper.check (AdminService.CheckActivationKey) against a real Redis, on a blocked redundant. */
describe('checking an activation key before applying it', () => {
  const fx = useScriptFixture();
  const vendor = generateVendorKeys();
  const BUDGET = 3 * HOUR;
  const TTL = 10 * 60_000;

  async function blocked() {
    const clusterId = uniqueClusterId();
    const keys = clusterKeys(clusterId);
    const clock = new ManualClock(Date.UTC(2026, 10, 30));
    const keeper = new BudgetKeeper({
      settings: { role: 'redundant', clusterId, nodeId: 'node-b', leaseTtlMs: TTL, budgetMs: BUDGET, resetAfterMs: HOUR, maxExtensionMs: BUDGET },
      clock,
      logger: createSilentLogger(),
      store: new BudgetStore(fx.scripts, keys, BUDGET),
      stateFile: new StateFile(mkdtempSync(path.join(tmpdir(), 'check-')), 'node-b'),
      vendorPublicKey: createPublicKey(vendor.publicKeyPem),
    });
    const lease = new LeaseStore(fx.scripts, keys, TTL, 1);
    const r = await lease.acquire({ nodeId: 'node-b', knownEpoch: 0, addr: 'x:1', role: 'redundant', nowMs: clock.now() });
    assert.ok(r.acquired);
    const fence: Fence = { nodeId: 'node-b', epoch: r.epoch };
    await keeper.afterAcquire(fence, clock.monotonic());
    for (let t = 0; t < BUDGET + TTL; t += TTL) {
      clock.advance(TTL);
      await keeper.afterRenew(fence);
    }
    assert.equal(keeper.state.blocked, true);
    return { clusterId, keeper, fence };
  }

  const refusedWith = (code: ErrorCode) => (err: unknown) => {
    assert.ok(err instanceof LicenseError, String(err));
    assert.equal(err.code, code, err.message);
    return true;
  };

  it('answers what the key grants and the budget after, applies nothing, and the key still applies afterwards', async () => {
    const { clusterId, keeper, fence } = await blocked();
    const { key } = signActivation(await keeper.requestKey(fence), createPrivateKey(vendor.privateKeyPem), { extensionMs: HOUR });
    const before = keeper.state;
    const { grant, budgetAfter } = await keeper.check(fence, key);
    assert.equal(grant.cluster_id, clusterId);
    assert.equal(grant.node_id, 'node-b');
    assert.equal(grant.episode_id, before.episodeId);
    assert.equal(grant.seq, 1);
    assert.equal(grant.granted_ms, HOUR);
    assert.equal(budgetAfter.grantedMs, before.grantedMs + HOUR);
    assert.equal(budgetAfter.blocked, false);
    assert.equal(budgetAfter.activations, 1);
    // Nothing applied: still blocked, the same key checks again and then applies.
    assert.deepEqual(keeper.state, before);
    await keeper.check(fence, key);
    const applied = await keeper.activate(fence, key);
    assert.equal(applied.budget.blocked, false);
    assert.equal(applied.budget.grantedMs, budgetAfter.grantedMs);
    // Applied once: checking it now gives the refusal applying would.
    await assert.rejects(keeper.check(fence, key), refusedWith(ErrorCode.ACTIVATION_USED));
  });

  it('gives the refusals applying would: tampered, another vendor, another node, expired, malformed', async () => {
    const { keeper, fence } = await blocked();
    const request = await keeper.requestKey(fence);
    const { key } = signActivation(request, createPrivateKey(vendor.privateKeyPem), { extensionMs: HOUR });
    const [prefix, data, sig] = key.split('.') as [string, string, string];
    const payload = JSON.parse(Buffer.from(data, 'base64url').toString()) as Record<string, unknown>;
    const tampered = `${prefix}.${Buffer.from(JSON.stringify({ ...payload, granted_ms: 2 * HOUR })).toString('base64url')}.${sig}`;
    await assert.rejects(keeper.check(fence, tampered), refusedWith(ErrorCode.ACTIVATION_BAD_SIGNATURE));
    const otherVendor = signActivation(request, createPrivateKey(generateVendorKeys().privateKeyPem), { extensionMs: HOUR });
    await assert.rejects(keeper.check(fence, otherVendor.key), refusedWith(ErrorCode.ACTIVATION_BAD_SIGNATURE));
    const forNodeC = signActivation(encodeRequestKey({ ...decodeRequestKey(request), node_id: 'node-c' }), createPrivateKey(vendor.privateKeyPem), {
      extensionMs: HOUR,
    });
    await assert.rejects(keeper.check(fence, forNodeC.key), refusedWith(ErrorCode.ACTIVATION_WRONG_TARGET));
    const expired = signActivation(request, createPrivateKey(vendor.privateKeyPem), { extensionMs: HOUR, nowMs: 0, validForMs: 1 });
    await assert.rejects(keeper.check(fence, expired.key), refusedWith(ErrorCode.ACTIVATION_EXPIRED));
    await assert.rejects(keeper.check(fence, 'LAK1.nonsense'), refusedWith(ErrorCode.ACTIVATION_MALFORMED));
    assert.equal(keeper.state.blocked, true);
  });
});
