import path from 'node:path';

/**
 * The console page's built files (dist/console-web, compiled from src/console-web by
 * `npm run build`). This file sits at src/server/console (tsx) or dist/server/console
 * (the build): both are three levels below the package root, so the path resolves to the
 * package's dist/console-web either way. A checkout that was never built serves 404s for
 * the page (the API still works).
 */
export const CONSOLE_ASSETS_DIR = path.resolve(__dirname, '..', '..', '..', 'dist', 'console-web');
