import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { ErrorCode, LicenseError } from '../../src/server/errors';
import { countInSync, ReplicaAck } from '../../src/server/store/replica-ack';
import { eventually, type RedisProcess, startRedis } from '../helpers/redis';

/** What confirm() threw, or undefined when it confirmed. */
async function outcome(ack: ReplicaAck): Promise<string | undefined> {
  try {
    await ack.confirm();
    return undefined;
  } catch (err) {
    assert.ok(err instanceof LicenseError, `a LicenseError, not ${String(err)}`);
    assert.equal(err.code, ErrorCode.REPLICAS_UNAVAILABLE);
    return err.message;
  }
}

describe('countInSync reads the replicas a master names in INFO replication', () => {
  it('counts online replicas heard from within 2 s; syncing, silent or missing ones are not counted', () => {
    const info = [
      '# Replication',
      'role:master',
      'connected_slaves:4',
      'slave0:ip=10.0.0.2,port=6379,state=online,offset=123,lag=0',
      'slave1:ip=10.0.0.3,port=6379,state=online,offset=120,lag=2',
      'slave2:ip=10.0.0.4,port=6379,state=online,offset=90,lag=3',
      'slave3:ip=10.0.0.5,port=6379,state=wait_bgsave,offset=0,lag=0',
      'master_repl_offset:123',
    ].join('\r\n');
    assert.equal(countInSync(info), 2);
    assert.equal(countInSync('# Replication\r\nrole:master\r\nconnected_slaves:0\r\n'), 0);
  });
});

/**
 * Real master and two replicas. LICENSE_REDIS_MIN_REPLICAS=1, yet a write is confirmed
 * only once both replicas hold it while both are in sync: the sentinels may promote
 * either, and the one promoted must not lack a write a client was told about.
 */
describe('ReplicaAck waits for every replica in sync with the master, never fewer than the minimum', () => {
  let master: RedisProcess;
  const replicas: RedisProcess[] = [];
  let redis: Redis;

  const inSync = async (port: number): Promise<number> => {
    const c = new Redis({ port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    try {
      return countInSync(await c.info('replication'));
    } finally {
      c.disconnect();
    }
  };

  before(async () => {
    master = await startRedis();
    for (let i = 0; i < 2; i++) replicas.push(await startRedis({ extraArgs: ['--replicaof', '127.0.0.1', String(master.port)] }));
    await eventually(async () => ((await inSync(master.port)) === 2 ? true : undefined), 30_000, 'both replicas in sync');
    redis = new Redis({ port: master.port, host: '127.0.0.1', maxRetriesPerRequest: 0, commandTimeout: 2_000 });
  });
  after(async () => {
    redis.disconnect();
    for (const r of replicas) {
      if (r.child.signalCode === null && r.child.exitCode === null) r.child.kill('SIGCONT');
      await r.kill();
    }
    await master.kill();
  });

  it('both in sync: two acknowledgements required and given', async () => {
    const ack = new ReplicaAck(redis, { minReplicas: 1, timeoutMs: 500, slotKey: 'k' });
    await redis.set('k1', 'v');
    assert.equal(await outcome(ack), undefined);
    assert.deepEqual(ack.state(), { required: 2, lastAcked: 2, ok: true });
  });

  it('a frozen replica (SIGSTOP): writes are refused while the master still counts it in sync, then confirmed by the other alone; thawed, it is required again', async () => {
    const ack = new ReplicaAck(redis, { minReplicas: 1, timeoutMs: 200, slotKey: 'k' });
    const frozen = replicas[1];
    assert.ok(frozen);
    frozen.child.kill('SIGSTOP');
    try {
      await redis.set('k2', 'v');
      const refused = await outcome(ack);
      assert.match(refused ?? 'confirmed', /only 1 of the 2 replica\(s\) required/);
      assert.equal(ack.state().ok, false);
      // The master stops counting it once it has not reported for over 2 s; then one acknowledgement does.
      await eventually(
        async () => ((await redis.set('k3', 'v'), await outcome(ack)) === undefined ? true : undefined),
        30_000,
        'confirmed without the frozen replica',
      );
      assert.equal(ack.state().required, 1);
      assert.equal(ack.state().ok, true);
    } finally {
      frozen.child.kill('SIGCONT');
    }
    await eventually(
      async () => ((await redis.set('k4', 'v'), await outcome(ack), ack.state().required === 2) ? true : undefined),
      30_000,
      'required again once in sync',
    );
    assert.equal(await outcome(ack), undefined);
  });

  it('a replica killed: confirmed by the one left once the master has dropped it; never below LICENSE_REDIS_MIN_REPLICAS', async () => {
    const ack = new ReplicaAck(redis, { minReplicas: 1, timeoutMs: 200, slotKey: 'k' });
    await redis.set('k5', 'v');
    assert.equal(await outcome(ack), undefined);
    const gone = replicas[0];
    assert.ok(gone);
    await gone.kill();
    await eventually(async () => ((await inSync(master.port)) === 1 ? true : undefined), 30_000, 'the master lost the replica');
    await eventually(async () => ((await redis.set('k6', 'v'), await outcome(ack)) === undefined ? true : undefined), 30_000, 'confirmed by the one left');
    assert.equal(ack.state().required, 1);
    // Two required by the setting, one replica left: nothing is confirmed.
    const strict = new ReplicaAck(redis, { minReplicas: 2, timeoutMs: 200, slotKey: 'k' });
    await redis.set('k7', 'v');
    assert.match((await outcome(strict)) ?? 'confirmed', /only 1 of the 2 replica\(s\) required/);
  });
});
