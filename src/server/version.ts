import { readFileSync } from 'node:fs';
import path from 'node:path';

/** package.json version, read once (src/server/ and dist/server/ are both two levels below the package root). */
export const VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
})();
