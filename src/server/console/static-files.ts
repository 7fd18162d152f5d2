import { readFile, realpath, stat } from 'node:fs/promises';
import type http from 'node:http';
import path from 'node:path';

/** The types the page is made of; a file of any other kind is not served. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** The Content-Type a file is served with; undefined for a kind the console does not serve. */
export function contentTypeOf(file: string): string | undefined {
  return CONTENT_TYPES[path.extname(file).toLowerCase()];
}

/**
 * The path segments of a request path (the raw one, before any dot-segment resolution), or
 * undefined when it could name something outside the assets directory: `..` or `.` segments,
 * raw or percent-encoded, dotfiles, backslashes, NUL, empty segments, or bad escapes.
 * `/` is index.html.
 */
export function assetSegments(rawPath: string): string[] | undefined {
  if (rawPath === '/') return ['index.html'];
  if (!rawPath.startsWith('/')) return undefined;
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\\') || decoded.includes('\0')) return undefined;
  const segments = decoded.slice(1).split('/');
  if (segments.some((s) => s === '' || s.startsWith('.'))) return undefined;
  return segments;
}

/**
 * Serves the console page's files from `assetsDir` (absolute). Only regular files inside it,
 * of a known type; everything else is a plain 404, whether it does not exist or is refused,
 * so a probe learns nothing about the disk. `headers` (the security headers) go on every answer.
 */
export function createStaticFiles(
  assetsDir: string,
): (req: http.IncomingMessage, res: http.ServerResponse, rawPath: string, headers: Record<string, string>) => Promise<void> {
  const root = path.resolve(assetsDir);
  return async (req, res, rawPath, headers) => {
    const notFound = (): void => {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end('not found\n');
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
      res.end('method not allowed\n');
      return;
    }
    const segments = assetSegments(rawPath);
    const type = segments === undefined ? undefined : contentTypeOf(segments[segments.length - 1] ?? '');
    if (segments === undefined || type === undefined) return notFound();
    let file: string;
    let size: number;
    let mtimeMs: number;
    try {
      // realpath on both sides: a symlink inside the directory must not lead out of it.
      const realRoot = await realpath(root);
      file = await realpath(path.join(root, ...segments));
      if (!file.startsWith(realRoot + path.sep)) return notFound();
      const st = await stat(file);
      if (!st.isFile()) return notFound();
      ({ size, mtimeMs } = st);
    } catch {
      return notFound();
    }
    const etag = `W/"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`;
    // no-cache: the browser keeps the file but asks each time, so a node upgrade shows at once.
    const common = { ...headers, etag, 'cache-control': 'no-cache' };
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, common);
      res.end();
      return;
    }
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch {
      return notFound();
    }
    res.writeHead(200, { ...common, 'content-type': type, 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}
