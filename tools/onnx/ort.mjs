// Loads onnxruntime-node from a package folder given on the command line (--ort) or in ORT_NODE_PATH.
// It is not a dependency of tfjs-beit: its postinstall script downloads from api.nuget.org, but the CPU
// binaries are inside the npm package, so `npm install --ignore-scripts` in a scratch folder is enough.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

export const ORT_INSTALL_HINT = `onnxruntime-node is not a dependency of tfjs-beit. Install it in a scratch folder, without its
install script (which downloads from api.nuget.org; the CPU binaries are already in the npm package):

  mkdir -p /tmp/ort && cd /tmp/ort && npm install --ignore-scripts onnxruntime-node@1.30.0

then pass --ort /tmp/ort/node_modules/onnxruntime-node (or set ORT_NODE_PATH to that folder).`;

/** Returns the loaded onnxruntime-node module, or undefined (with a reason) when `dir` is missing or unusable. */
export function loadOrt(dir) {
  if (!dir) return { reason: 'no --ort <dir> and no ORT_NODE_PATH' };
  const abs = path.resolve(dir);
  const pkgFile = path.join(abs, 'package.json');
  if (!fs.existsSync(pkgFile)) return { reason: `${abs}: no package.json (expected the onnxruntime-node package folder)` };
  const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8'));
  if (pkg.name !== 'onnxruntime-node') return { reason: `${abs}: package ${pkg.name}, expected onnxruntime-node` };
  try {
    const ort = createRequire(pkgFile)(abs);
    return { ort, version: pkg.version, dir: abs };
  } catch (e) {
    return { reason: `${abs}: loading failed: ${e.message}` };
  }
}
