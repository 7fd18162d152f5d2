// Copies non-TypeScript files the build needs into dist/ (the Lua scripts) and marks the CLIs executable.
import { chmodSync, cpSync, existsSync } from 'node:fs';

cpSync('src/store/scripts', 'dist/store/scripts', { recursive: true });
for (const bin of ['dist/cli/licensed.js', 'dist/cli/licensectl.js', 'dist/cli/dev.js', 'dist/cli/drill.js', 'dist/cli/bench.js', 'dist/cli/loadgen.js']) {
  if (existsSync(bin)) chmodSync(bin, 0o755);
}
