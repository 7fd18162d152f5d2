// Copies non-TypeScript files the build needs into dist/ (the Lua scripts, the web
// console's static files next to its compiled modules), marks the
// CLIs executable, and writes the two entry points that 0.1 documented
// (dist/cli/licensed.js, dist/cli/licensectl.js) as one-line forwards to their new
// home, so unit files and scripts written against them keep working.
import { chmodSync, cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';

// Replaced, not merged: the loader registers every .lua it finds, so a script renamed in src
// (its key count is in the name) must not linger in dist under its old name.
rmSync('dist/server/store/scripts', { recursive: true, force: true });
cpSync('src/server/store/scripts', 'dist/server/store/scripts', { recursive: true });
// The console's index.html, style.css and logo go beside the app.js that tsc wrote to dist/console-web.
mkdirSync('dist/console-web', { recursive: true });
cpSync('src/console-web/static', 'dist/console-web', { recursive: true });
const bins = ['server/cli/licensed', 'server/cli/licensectl', 'tools/cli/dev', 'tools/cli/drill', 'tools/cli/bench', 'tools/cli/loadgen'];
for (const bin of bins) {
  const file = `dist/${bin}.js`;
  if (existsSync(file)) chmodSync(file, 0o755);
}
mkdirSync('dist/cli', { recursive: true });
for (const name of ['licensed', 'licensectl']) {
  const file = `dist/cli/${name}.js`;
  writeFileSync(
    file,
    `#!/usr/bin/env node\n// Moved to dist/server/cli/${name}.js; kept so existing unit files and scripts still start it.\nrequire('../server/cli/${name}.js');\n`,
  );
  chmodSync(file, 0o755);
}
