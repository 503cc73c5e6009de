/**
 * What every model-running command does first: load the model (warnings and notices as `note:` lines
 * on stderr) and print which backend runs, and, when the native addon was expected but is missing,
 * why (said once per process).
 */
import { nativeUnavailableReason } from '../node/native-backend.js';
import { loadModel, type NodeModel } from '../node/load.js';

let told = false;

/** Writes `backend: <name>` (plus the native addon's absence when it applies) to stderr. */
export function announceBackend(backend: string, requested?: string): void {
  const why = nativeUnavailableReason();
  const note = why && !told && !requested && !process.env.BEIT_BACKEND ? ` (native backend unavailable: ${why})` : '';
  if (note) told = true;
  process.stderr.write(`backend: ${backend}${note}\n`);
}

/** Loads `model` (folder or hub id) on `backend` for a CLI command and announces the backend. */
export async function loadModelForCli(model: string, backend: string | undefined): Promise<NodeModel> {
  const m = await loadModel(model, { backend, onWarning: (w) => process.stderr.write(`note: ${w}\n`) });
  announceBackend(m.backend, backend);
  return m;
}
