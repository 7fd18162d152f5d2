import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

interface LockEntry {
  readonly version?: string;
  readonly dependencies?: Record<string, string>;
  readonly optionalDependencies?: Record<string, string>;
}

/**
 * Every installed package a workspace needs at run time, read from package-lock.json:
 * its dependencies, theirs, and so on, resolved the way Node resolves them (nested
 * node_modules first, then up). Keys are lockfile paths ("node_modules/long").
 */
export function runtimeClosure(repoRoot: string, workspace: string): Map<string, { name: string; version: string }> {
  const lock = JSON.parse(readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const pkgs = lock.packages;
  const resolve = (from: string, name: string): string | undefined => {
    let dir = from;
    for (;;) {
      const key = `${dir ? `${dir}/` : ''}node_modules/${name}`;
      if (pkgs[key]) return key;
      if (!dir) return undefined;
      const i = dir.lastIndexOf('/node_modules/');
      dir = i < 0 ? '' : dir.slice(0, i);
    }
  };
  const out = new Map<string, { name: string; version: string }>();
  const walk = (key: string): void => {
    const e = pkgs[key];
    if (!e) throw new Error(`package-lock.json has no entry ${key}`);
    for (const name of Object.keys({ ...e.dependencies, ...e.optionalDependencies })) {
      const dep = resolve(key, name);
      if (dep === undefined) {
        if (e.optionalDependencies?.[name] !== undefined) continue;
        throw new Error(`${key} needs ${name}, which package-lock.json does not hold`);
      }
      if (out.has(dep)) continue;
      out.set(dep, { name, version: pkgs[dep]?.version ?? '0.0.0' });
      walk(dep);
    }
  };
  walk(workspace);
  return out;
}

export interface LocalRegistry {
  readonly url: string;
  /** Package names a client asked for that the registry does not hold. */
  readonly misses: readonly string[];
  close(): Promise<void>;
}

/**
 * A registry on loopback that serves exactly the given installed packages (packed with
 * `npm pack --ignore-scripts`) and answers 404 for everything else, so an install
 * against it proves what a package pulls in, without the internet.
 */
export async function startLocalRegistry(repoRoot: string, packages: Map<string, { name: string; version: string }>, workDir: string): Promise<LocalRegistry> {
  const dirs = [...packages.keys()].map((k) => path.join(repoRoot, k));
  execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', workDir, ...dirs], {
    cwd: workDir,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const tarballs = new Map(
    readdirSync(workDir)
      .filter((f) => f.endsWith('.tgz'))
      .map((f) => [f, readFileSync(path.join(workDir, f))]),
  );
  const byName = new Map<string, { version: string; manifest: Record<string, unknown>; file: string }[]>();
  for (const [key, { name, version }] of packages) {
    const file = `${name.replace(/^@/, '').replace('/', '-')}-${version}.tgz`;
    if (!tarballs.has(file)) throw new Error(`npm pack made no ${file}`);
    const manifest = JSON.parse(readFileSync(path.join(repoRoot, key, 'package.json'), 'utf8')) as Record<string, unknown>;
    const list = byName.get(name) ?? [];
    list.push({ version, manifest, file });
    byName.set(name, list);
  }
  const misses: string[] = [];
  let base = '';
  const server: Server = createServer((req, res) => {
    const url = decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/');
    const tar = /^\/-\/tarballs\/(.+)$/.exec(url);
    if (tar?.[1] !== undefined && tarballs.has(tar[1])) {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      res.end(tarballs.get(tar[1]));
      return;
    }
    const name = url.slice(1);
    const versions = byName.get(name);
    if (!versions) {
      misses.push(name);
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end('{"error":"not found"}');
      return;
    }
    const doc = {
      name,
      'dist-tags': { latest: versions[versions.length - 1]?.version },
      versions: Object.fromEntries(
        versions.map((v) => {
          const data = tarballs.get(v.file) as Buffer;
          return [
            v.version,
            {
              ...v.manifest,
              name,
              version: v.version,
              dist: {
                tarball: `${base}/-/tarballs/${v.file}`,
                shasum: createHash('sha1').update(data).digest('hex'),
                integrity: `sha512-${createHash('sha512').update(data).digest('base64')}`,
              },
            },
          ];
        }),
      ),
    };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(doc));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: base,
    misses,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
