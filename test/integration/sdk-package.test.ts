import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { type LocalRegistry, runtimeClosure, startLocalRegistry } from '../helpers/local-registry';
import { type StartedNode, startTestNode, testConfig } from '../helpers/node';
import { eventually, type RedisProcess, startRedis } from '../helpers/redis';

const ROOT = path.resolve(__dirname, '..', '..');
const SDK_DIR = path.join(ROOT, 'src', 'sdk');
/** What the server needs and an application that only wants seats must not install. */
const SERVER_ONLY = ['ioredis', 'winston', 'prom-client', 'zod', 'commander', 'yaml', 'grpc-health-check', '@license-cluster/server'];

/** Asynchronous on purpose: the registry and the node the child talks to run in this process. */
function run(cmd: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { cwd, encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`)) : resolve(stdout),
    );
  });
}

function npm(args: string[], cwd: string): Promise<string> {
  return run('npm', [...args, '--no-audit', '--no-fund', '--no-update-notifier'], cwd);
}

function bytesUnder(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += bytesUnder(p);
    else if (e.isFile()) total += statSync(p).size;
  }
  return total;
}

interface LsNode {
  readonly version?: string;
  readonly dependencies?: Record<string, LsNode>;
}

function names(tree: LsNode, out = new Set<string>()): Set<string> {
  for (const [name, child] of Object.entries(tree.dependencies ?? {})) {
    out.add(name);
    names(child, out);
  }
  return out;
}

describe('the SDK as its own npm package', () => {
  let work: string;
  let tarball: string;
  let registry: LocalRegistry;
  let app: string;
  let redis: RedisProcess;
  let node: StartedNode;

  before(async () => {
    work = mkdtempSync(path.join(tmpdir(), 'sdk-package-'));
    mkdirSync(path.join(work, 'pack'));
    // prepack builds the package's own dist/ (SDK + the contract it imports) and copies the protos.
    const packed = JSON.parse(await npm(['pack', '--json', '--pack-destination', path.join(work, 'pack')], SDK_DIR)) as {
      filename: string;
      size: number;
      unpackedSize: number;
      files: { path: string }[];
    }[];
    const info = packed[0];
    assert.ok(info, 'npm pack printed nothing');
    tarball = path.join(work, 'pack', info.filename);
    const files = info.files.map((f) => f.path);
    assert.ok(files.includes('dist/sdk/index.js') && files.includes('dist/sdk/index.d.ts'), 'the entry point and its types are packed');
    assert.ok(files.includes('proto/license/v1/seat.proto'), 'the protos are packed');
    assert.deepEqual(
      files.filter((f) => /^dist\/(server|tools)\//.test(f)),
      [],
      'no server or tools code in the SDK package',
    );
    mkdirSync(path.join(work, 'registry'));
    registry = await startLocalRegistry(ROOT, runtimeClosure(ROOT, 'src/sdk'), path.join(work, 'registry'));
    app = path.join(work, 'app');
    mkdirSync(app);
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'seat-app', version: '1.0.0', private: true }));
    // A fresh cache and a loopback registry that holds only the SDK's own dependency
    // closure: nothing comes from the internet, and anything else it asked for would fail.
    await npm(['install', '--registry', registry.url, '--cache', path.join(work, 'cache'), tarball], app);
    t0Size = info.size;
    unpacked = info.unpackedSize;
  });
  let t0Size = 0;
  let unpacked = 0;

  after(async () => {
    await node?.node.stop();
    await redis?.stop();
    await registry?.close();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('installs from its tarball with only grpc-js, proto-loader and theirs: no server dependency', async (t) => {
    const tree = JSON.parse(await npm(['ls', '--all', '--json'], app)) as LsNode;
    assert.deepEqual(Object.keys(tree.dependencies ?? {}), ['@license-cluster/sdk']);
    const all = names(tree);
    assert.ok(all.has('@grpc/grpc-js') && all.has('@grpc/proto-loader'));
    assert.deepEqual(
      SERVER_ONLY.filter((n) => all.has(n)),
      [],
      'server-only packages in the tree',
    );
    assert.deepEqual(registry.misses, [], 'the install asked for packages outside the SDK closure');
    const installed = bytesUnder(path.join(app, 'node_modules'));
    const sdkOnly = bytesUnder(path.join(app, 'node_modules', '@license-cluster', 'sdk'));
    t.diagnostic(
      `SDK tarball ${t0Size} B (unpacked ${unpacked} B); installed node_modules ${installed} B ` +
        `(${(installed / 1024 / 1024).toFixed(1)} MiB, the SDK itself ${sdkOnly} B) in ${all.size} packages`,
    );
  });

  it('type-checks in a TypeScript application', () => {
    writeFileSync(
      path.join(app, 'check.ts'),
      [
        "import { LicenseClient, SeatsExhaustedError, type Seat } from '@license-cluster/sdk';",
        "const c = new LicenseClient({ endpoints: ['127.0.0.1:7400'], clientId: 'x' });",
        "const p: Promise<Seat> = c.checkout('cad-pro', { count: 1 });",
        'void p.catch((e: unknown) => e instanceof SeatsExhaustedError);',
        '',
      ].join('\n'),
    );
    const tsc = require.resolve('typescript/bin/tsc');
    execFileSync(
      process.execPath,
      [
        tsc,
        '--noEmit',
        '--strict',
        '--module',
        'node16',
        '--moduleResolution',
        'node16',
        '--target',
        'ES2022',
        '--types',
        'node',
        '--typeRoots',
        path.join(ROOT, 'node_modules', '@types'),
        'check.ts',
      ],
      { cwd: app, stdio: 'inherit' },
    );
  });

  it('leases a seat from a real node when installed alone', async () => {
    redis = await startRedis();
    node = await startTestNode(testConfig(redis.url));
    await eventually(() => node.node.controller.machine.isServing() || undefined);
    writeFileSync(
      path.join(app, 'app.js'),
      `const { LicenseClient } = require('@license-cluster/sdk');
(async () => {
  const client = new LicenseClient({ endpoints: [process.argv[2]], clientId: 'packaged-app', retryTimeoutMs: 10000 });
  const seat = await client.checkout('cad-pro');
  const features = await client.features();
  await seat.release();
  await client.close();
  console.log(JSON.stringify({ feature: seat.feature, released: seat.released, inUse: features.find((f) => f.name === 'cad-pro').seatsInUse }));
})().catch((err) => { console.error(err); process.exit(1); });
`,
    );
    const out = await run(process.execPath, ['app.js', node.addr], app);
    assert.deepEqual(JSON.parse(out), { feature: 'cad-pro', released: true, inUse: 1 });
  });
});
