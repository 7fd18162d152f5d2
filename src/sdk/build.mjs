// Builds the SDK package on its own: the SDK and the part of src/contract it imports
// (tsc follows the imports from index.ts, nothing else), plus a copy of the protos,
// which src/contract/proto.ts finds two levels above dist/contract.
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
rmSync(path.join(here, 'dist'), { recursive: true, force: true });
rmSync(path.join(here, 'proto'), { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', path.join(here, 'tsconfig.json')], { stdio: 'inherit' });
cpSync(path.join(here, '..', '..', 'proto'), path.join(here, 'proto'), { recursive: true });
