// Rewrites the configuration table in README.md (between the config-table markers) from
// the key declarations in src/server/config-spec.ts, so the table is never edited by hand.
// test/unit/config-docs.test.ts fails when README.md and the spec disagree.
// Usage: npm run docs:config            rewrite README.md
//        npm run docs:config -- --check exit 1 if README.md is out of date, write nothing
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { spliceConfigTable } from '../src/server/config-spec';

const readmePath = path.join(__dirname, '..', 'README.md');
const check = process.argv.includes('--check');
const before = readFileSync(readmePath, 'utf8');
const after = spliceConfigTable(before);

if (after === before) {
  console.log('README.md configuration table is up to date');
} else if (check) {
  console.error('README.md configuration table is out of date: run npm run docs:config');
  process.exitCode = 1;
} else {
  writeFileSync(readmePath, after);
  console.log('README.md configuration table rewritten');
}
