/**
 * The one line every model-running command prints on stderr: which backend runs, and, when the
 * native addon was expected but is missing, why (said once per process).
 */
import { nativeUnavailableReason } from '../node/native-backend.js';

let told = false;

/** Writes `backend: <name>` (plus the native addon's absence when it applies) to stderr. */
export function announceBackend(backend: string, requested?: string): void {
  const why = nativeUnavailableReason();
  const note = why && !told && !requested && !process.env.BEIT_BACKEND ? ` (native backend unavailable: ${why})` : '';
  if (note) told = true;
  process.stderr.write(`backend: ${backend}${note}\n`);
}
