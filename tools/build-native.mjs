#!/usr/bin/env node
// Builds the optional native addon (native/*.cc -> build/Release/beit_native.node) with node-gyp.
//
// Run as the package's `install` script. It must never fail the installation: without a compiler,
// Python or Node headers the engine simply runs on the `wasm` backend, so any failure prints one
// line and exits 0. Set BEIT_SKIP_NATIVE=1 to skip the build, BEIT_NATIVE_VERBOSE=1 to see the
// compiler output.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const verbose = process.env.BEIT_NATIVE_VERBOSE === '1';

function say(msg) {
  process.stderr.write(`tfjs-beit: ${msg}\n`);
}

/** The node-gyp CLI: npm's own (npm_config_node_gyp), a local one, npm's bundled copy, or PATH. */
function nodeGypCommand() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return [process.execPath, fromNpm];
  const require = createRequire(import.meta.url);
  try {
    return [process.execPath, require.resolve('node-gyp/bin/node-gyp.js')];
  } catch { /* not a local dependency */ }
  const npmDir = path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm');
  const bundled = path.join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(bundled)) return [process.execPath, bundled];
  return ['node-gyp'];
}

/** Node's own headers next to the executable (offline builds); npm's nodedir setting wins. */
function nodedirArgs() {
  if (process.env.npm_config_nodedir) return [];
  const prefix = path.join(path.dirname(process.execPath), '..');
  return existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? [`--nodedir=${prefix}`] : [];
}

function main() {
  if (process.env.BEIT_SKIP_NATIVE === '1') {
    say('native addon skipped (BEIT_SKIP_NATIVE=1); the engine will use the wasm backend.');
    return;
  }
  if (!existsSync(path.join(root, 'binding.gyp'))) return;
  const [cmd, ...pre] = nodeGypCommand();
  const res = spawnSync(cmd, [...pre, 'rebuild', ...nodedirArgs()], {
    cwd: root,
    stdio: verbose ? 'inherit' : ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    timeout: 10 * 60 * 1000,
  });
  const built = existsSync(path.join(root, 'build', 'Release', 'beit_native.node'));
  if (res.status === 0 && built) {
    if (verbose) say('native addon built.');
    return;
  }
  const why = res.error
    ? res.error.message
    : (`${res.stderr ?? ''}`.split('\n').find((l) => /error/i.test(l)) ?? `node-gyp exited with ${res.status}`).trim();
  say(`native addon not built (${why.slice(0, 200)}); the engine will use the wasm backend. ` +
    'Set BEIT_NATIVE_VERBOSE=1 and run `npm rebuild tfjs-beit` for details.');
}

try {
  main();
} catch (e) {
  say(`native addon not built (${e instanceof Error ? e.message : String(e)}); the engine will use the wasm backend.`);
}
process.exit(0);
