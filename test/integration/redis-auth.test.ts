import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { type RedisProcess, startRedis } from '../../src/tools/local/redis-process';
import { freePort } from '../../src/tools/local/ports';
import { type StartedNode, startTestNode, testConfig } from '../helpers/node';
import { eventually } from '../helpers/redis';
import { createTestPki } from '../helpers/tls';

/** Redis with a password / ACL user, and Redis over TLS (rediss://) with a private CA. */
describe('Redis authentication and TLS', () => {
  const servers: RedisProcess[] = [];
  const nodes: StartedNode[] = [];
  after(async () => {
    for (const n of nodes) await n.node.stop();
    for (const s of servers) await s.stop();
  });

  it('an ACL user with a password in the URL works; a wrong password never serves and is never logged', async () => {
    const redis = await startRedis({ extraArgs: ['--user', 'default', 'off', '--user', 'licensed', 'on', '>s3cret-pass', '~*', '&*', '+@all'] });
    servers.push(redis);
    const ok = await startTestNode(testConfig(`redis://licensed:s3cret-pass@127.0.0.1:${redis.port}`));
    nodes.push(ok);
    await eventually(() => ok.node.controller.machine.isServing() || undefined, 15_000, 'serving with the ACL user');

    const lines: string[] = [];
    const bad = await startTestNode(testConfig(`redis://licensed:wrong-pass-xyz@127.0.0.1:${redis.port}`, { LICENSE_LOG_LEVEL: 'debug' }));
    nodes.push(bad);
    bad.logger.on('data', (l: unknown) => lines.push(JSON.stringify(l)));
    await new Promise((r) => setTimeout(r, 2_000));
    assert.equal(bad.node.controller.machine.isServing(), false);
    assert.equal(bad.node.controller.machine.storeOk(), false);
    assert.ok(
      lines.some((l) => /redis call failed/.test(l)),
      `the failure was logged (${lines.length} lines captured)`,
    );
    assert.ok(!lines.some((l) => l.includes('wrong-pass-xyz')), 'the Redis password appeared in a log line');
  });

  it('rediss:// with LICENSE_REDIS_TLS_CA', async () => {
    const pki = createTestPki('redis');
    const server = pki.issue('redis-server');
    const port = await freePort();
    const redis = await startRedis({
      port,
      extraArgs: [
        '--port',
        '0',
        '--tls-port',
        String(port),
        '--tls-cert-file',
        server.certFile,
        '--tls-key-file',
        server.keyFile,
        '--tls-ca-cert-file',
        pki.caFile,
        '--tls-auth-clients',
        'no',
      ],
    });
    servers.push(redis);
    const node = await startTestNode(testConfig(`rediss://127.0.0.1:${port}`, { LICENSE_REDIS_TLS_CA: pki.caFile }));
    nodes.push(node);
    await eventually(() => node.node.controller.machine.isServing() || undefined, 15_000, 'serving over rediss://');
  });
});
