/**
 * What every model-running command does first: load the model (warnings and notices as `note:` lines
 * on stderr) and print which backend runs, and, when the native addon was expected but is missing,
 * why (said once per process).
 */
import { takeNativeFallbackNotice } from '../node/native-backend.js';
import { loadModel, type NodeModel } from '../node/load.js';

/** Writes `backend: <name>` (plus the native addon's absence, unless already said) to stderr. */
export function announceBackend(backend: string, requested?: string): void {
  const why = !requested && !process.env.BEIT_BACKEND ? takeNativeFallbackNotice() : undefined;
  process.stderr.write(`backend: ${backend}${why ? ` (native backend unavailable: ${why})` : ''}\n`);
}

/** Loads `model` (folder or hub id) on `backend` for a CLI command and announces the backend. */
export async function loadModelForCli(model: string, backend: string | undefined, quiet = false): Promise<NodeModel> {
  const m = await loadModel(model, { backend, onWarning: (w) => process.stderr.write(`note: ${w}\n`), hub: { quiet } });
  announceBackend(m.backend, backend);
  return m;
}
