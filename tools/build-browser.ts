/**
 * `npm run build:browser`: bundles the browser entry (lib/browser/index.ts) with esbuild for
 * `--platform=browser` into dist/browser/tfjs-beit.js (ESM, minified), bundles the demo page's script
 * against it, and copies the wasm files the bundle fetches at run time next to it (tfjs's wasm
 * backend, @jsquash's JPEG decoder). Building for the browser platform is also the check that the
 * entry pulls in no Node built-in: esbuild cannot resolve `node:*` there, and the metafile is checked
 * for lib/node and lib/cli sources. A second, unwritten build with TensorFlow.js external measures
 * the engine's own size (dist/browser/size.json).
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build, type BuildOptions, type Plugin } from 'esbuild';

/** Repository root (this file runs from dist/tools/). */
export const ROOT = path.resolve(fileURLToPath(new URL('../../', import.meta.url)));
/** Where the bundle and its wasm files go. */
export const OUT_DIR = path.join(ROOT, 'dist', 'browser');

/** Sizes of the browser entry without TensorFlow.js, in bytes. */
export interface BundleSize {
  readonly minified: number;
  readonly gzip: number;
  /** The full bundle (with TensorFlow.js core and the four backends), minified. */
  readonly withTfjs: number;
}

const common: BuildOptions = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
};

/** The demo imports the library's source; in the bundle it is the sibling tfjs-beit.js instead. */
const libraryAsSibling: Plugin = {
  name: 'library-as-sibling',
  setup(b) {
    b.onResolve({ filter: /lib\/browser\/index\.js$/ }, () => ({ path: './tfjs-beit.js', external: true }));
  },
};

function checkNoNodeSources(meta: { inputs: Record<string, unknown> }): void {
  const bad = Object.keys(meta.inputs).filter((f) => /(^|\/)lib\/(node|cli)\//.test(f) || f.startsWith('node:'));
  if (bad.length) throw new Error(`the browser bundle pulls in Node-only sources: ${bad.join(', ')}`);
}

const WASM_FILES = [
  '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm',
  '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm',
  '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm',
  '@jsquash/jpeg/codec/dec/mozjpeg_dec.wasm',
  '@jsquash/webp/codec/dec/webp_dec.wasm',
];

/** Builds dist/browser/ (bundle, demo script, wasm files, size.json) and returns the measured size. */
export async function buildBrowser(): Promise<BundleSize> {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  const entry = path.join(ROOT, 'lib', 'browser', 'index.ts');
  const full = await build({ ...common, entryPoints: [entry], outfile: path.join(OUT_DIR, 'tfjs-beit.js'), metafile: true });
  checkNoNodeSources(full.metafile);
  await build({ ...common, inject: [], entryPoints: [path.join(ROOT, 'demo', 'main.ts')], outfile: path.join(OUT_DIR, 'demo.js'), plugins: [libraryAsSibling] });
  for (const f of WASM_FILES) fs.copyFileSync(path.join(ROOT, 'node_modules', f), path.join(OUT_DIR, path.basename(f)));
  const own = await build({ ...common, entryPoints: [entry], write: false, outfile: 'own.js', external: ['@tensorflow/*'] });
  const code = own.outputFiles[0]!.contents;
  const size: BundleSize = {
    minified: code.length,
    gzip: gzipSync(code).length,
    withTfjs: fs.statSync(path.join(OUT_DIR, 'tfjs-beit.js')).size,
  };
  fs.writeFileSync(path.join(OUT_DIR, 'size.json'), JSON.stringify(size, null, 2) + '\n');
  return size;
}

const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildBrowser().then((s) => {
    process.stdout.write(`dist/browser/tfjs-beit.js: ${kb(s.withTfjs)} minified with TensorFlow.js; `
      + `${kb(s.minified)} minified (${kb(s.gzip)} gzip) without it\n`);
  }, (e: Error) => {
    process.stderr.write(`build:browser failed: ${e.message}\n`);
    process.exit(1);
  });
}
