// Runs the test suites with node:test + tsx. Node 20 does not expand globs itself and
// silently passes with no files, so this lists the files and fails when it finds none.
// Usage: node scripts/run-tests.mjs [unit|integration|drills|fuzz ...]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';

const suites = process.argv.length > 2 ? process.argv.slice(2) : ['unit', 'integration', 'drills', 'fuzz'];
const files = [];
for (const suite of suites) {
  const dir = path.join('test', suite);
  if (!existsSync(dir)) {
    console.error(`no test suite ${dir}`);
    process.exit(2);
  }
  for (const f of readdirSync(dir).sort()) if (f.endsWith('.test.ts')) files.push(path.join(dir, f));
}
if (files.length === 0) {
  console.error(`no test files found in ${suites.join(', ')}`);
  process.exit(2);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-timeout=300000', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
