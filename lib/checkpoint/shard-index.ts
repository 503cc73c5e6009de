/**
 * The index of a sharded checkpoint (`model.safetensors.index.json`, `{"weight_map": {tensor: shard}}`):
 * which tensors each shard file holds. One parser for the Node folder reader and the browser loader,
 * so both refuse the same malformed indexes with the same messages.
 */
import { WeightsError } from './weights.js';

/**
 * Shard file name → names of the tensors it holds. Shards must be plain file names next to the index
 * (no path separator, not hidden, no control characters). `where` names the index in errors.
 */
export function shardsOfIndex(indexText: string, where: string): Map<string, Set<string>> {
  let map: unknown;
  try {
    map = (JSON.parse(indexText) as { weight_map?: unknown } | null)?.weight_map;
  } catch (e) {
    throw new WeightsError(`${where}: not valid JSON (${(e as Error).message}).`);
  }
  if (!map || typeof map !== 'object' || Array.isArray(map)) throw new WeightsError(`${where}: no "weight_map" object.`);
  const byShard = new Map<string, Set<string>>();
  for (const [name, shard] of Object.entries(map as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard === '' || /[/\\\x00-\x1f\x7f]/.test(shard) || shard.startsWith('.')) {
      throw new WeightsError(`${where}: tensor "${name}" maps to an invalid shard name ${JSON.stringify(shard)}.`);
    }
    let names = byShard.get(shard);
    if (!names) byShard.set(shard, (names = new Set()));
    names.add(name);
  }
  // Otherwise the load fails later listing every tensor of the model as missing.
  if (!byShard.size) throw new WeightsError(`${where}: "weight_map" is empty; it must map each tensor name to its shard file.`);
  return byShard;
}
