// Generates the TypeScript types of the protos into src/contract/generated
// (`npm run gen:proto`), or with --check regenerates them into a scratch folder and
// fails when anything differs from what is checked in (run by `npm run lint`), so the
// types can never drift from proto/.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import path from 'node:path';

const OUT = 'src/contract/generated';
const PROTOS = ['license/v1/admin.proto', 'license/v1/cluster.proto', 'license/v1/common.proto', 'license/v1/seat.proto'];
// Keep in step with PROTO_LOADER_OPTIONS in src/contract/proto.ts.
const OPTIONS = ['--longs=Number', '--enums=String', '--defaults', '--oneofs', '--keepCase', '--grpcLib=@grpc/grpc-js', '--includeDirs=proto'];

const bin = createRequire(import.meta.url).resolve('@grpc/proto-loader/build/bin/proto-loader-gen-types.js');
const generate = (outDir) => execFileSync(process.execPath, [bin, ...OPTIONS, `--outDir=${outDir}`, ...PROTOS], { stdio: ['ignore', 'ignore', 'inherit'] });

const files = (dir, base = dir) =>
  readdirSync(dir).flatMap((f) => {
    const p = path.join(dir, f);
    return statSync(p).isDirectory() ? files(p, base) : [path.relative(base, p)];
  });

if (!process.argv.includes('--check')) {
  generate(OUT);
} else {
  const scratch = mkdtempSync(path.join(tmpdir(), 'gen-proto-'));
  try {
    generate(scratch);
    const want = files(scratch).sort();
    const have = files(OUT).sort();
    const problems = [
      ...want.filter((f) => !have.includes(f)).map((f) => `missing ${f}`),
      ...have.filter((f) => !want.includes(f)).map((f) => `stale ${f}`),
      ...want
        .filter((f) => have.includes(f) && readFileSync(path.join(scratch, f), 'utf8') !== readFileSync(path.join(OUT, f), 'utf8'))
        .map((f) => `differs ${f}`),
    ];
    if (problems.length > 0) {
      console.error(`${OUT} is out of date with proto/ (run npm run gen:proto):\n  ${problems.join('\n  ')}`);
      process.exit(1);
    }
    console.log(`${OUT}: ${have.length} files match proto/`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
