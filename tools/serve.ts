/**
 * `npm run demo`: a small static server (node:http, 127.0.0.1 only) for the demo page and the
 * browser tests. Routes map URL prefixes to fixed folders; nothing outside them is reachable:
 * - `/` and `/demo/*`      -> demo/ (the page)
 * - `/dist/browser/*`      -> dist/browser/ (the bundle, the demo script, the wasm files)
 * - `/models/<name>/*`     -> spec/fixtures/<name>/ or weights/<name>/ (local checkpoints, offline)
 * - `/images/*`            -> spec/fixtures/images/, then examples/
 * - `/images-extra/*`      -> spec/fixtures/images-extra/ (more encodings, for the browser decode spec)
 * - `/images-meta/*`       -> spec/fixtures/images-meta/ (where Pillow finds the EXIF orientation)
 * - `/images-tiff/*`       -> spec/fixtures/images-tiff/ (TIFF layouts and compressions)
 * `PORT` (default 8080, 0 = any free port) chooses the port.
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(fileURLToPath(new URL('../../', import.meta.url)));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json', '.wasm': 'application/wasm', '.png': 'image/png', '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg', '.webp': 'image/webp', '.gif': 'image/gif', '.bmp': 'image/bmp', '.tif': 'image/tiff', '.tiff': 'image/tiff', '.safetensors': 'application/octet-stream', '.map': 'application/json',
};

/** URL prefix -> folders searched in order. */
const ROUTES: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['/dist/browser/', ['dist/browser']],
  ['/models/', ['spec/fixtures', 'weights']],
  ['/images/', ['spec/fixtures/images', 'examples']],
  ['/images-extra/', ['spec/fixtures/images-extra']],
  ['/images-meta/', ['spec/fixtures/images-meta']],
  ['/images-tiff/', ['spec/fixtures/images-tiff']],
  ['/demo/', ['demo']],
  ['/', ['demo']],
];

/** Maps a request path to a file inside one of the route's folders, or undefined. */
export function resolvePath(urlPath: string, root = ROOT): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0')) return undefined;
  if (decoded === '/') decoded = '/index.html';
  for (const [prefix, dirs] of ROUTES) {
    if (!decoded.startsWith(prefix)) continue;
    const rest = decoded.slice(prefix.length);
    for (const dir of dirs) {
      const base = path.join(root, dir);
      const file = path.resolve(base, '.' + path.posix.normalize('/' + rest));
      if (!file.startsWith(base + path.sep)) continue;
      if (fs.existsSync(file) && fs.statSync(file).isFile()) return file;
    }
    return undefined;
  }
  return undefined;
}

/** A running server and its URL. */
export interface StaticServer {
  readonly url: string;
  readonly server: http.Server;
  close(): Promise<void>;
}

/** Starts the server on 127.0.0.1 (`port` 0 picks a free one). */
export function startServer(port = 8080, root = ROOT): Promise<StaticServer> {
  const server = http.createServer((req, res) => {
    const urlPath = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const file = req.method === 'GET' || req.method === 'HEAD' ? resolvePath(urlPath, root) : undefined;
    if (!file) {
      res.writeHead(req.method === 'GET' || req.method === 'HEAD' ? 404 : 405, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    const size = fs.statSync(file).size;
    res.writeHead(200, {
      'content-type': TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': String(size),
      'cache-control': 'no-cache',
    });
    if (req.method === 'HEAD') res.end();
    else fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const addr = server.address() as { port: number };
      resolve({
        url: `http://127.0.0.1:${addr.port}/`,
        server,
        close: () => new Promise<void>((done) => { server.closeAllConnections(); server.close(() => done()); }),
      });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const port = Number(process.env.PORT ?? 8080);
  startServer(port).then((s) => {
    process.stdout.write(`demo: ${s.url}  (local checkpoints: ${s.url}models/d2v-tiny/ ; Ctrl+C to stop)\n`);
  }, (e: Error) => {
    process.stderr.write(`demo server: ${e.message}\n`);
    process.exit(1);
  });
}
