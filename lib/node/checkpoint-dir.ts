/**
 * A checkpoint folder on disk: `config.json` plus `model.safetensors`, or sharded safetensors
 * (`model.safetensors.index.json` + shards). A folder with only `pytorch_model.bin` is refused with
 * the command that converts it.
 */
import fs from 'node:fs';
import { notRegularFile } from './regular-file.js';
import path from 'node:path';
import type { HostTensor } from '../io/safetensors.js';
import { ConfigError } from '../checkpoint/config.js';
import { shardsOfIndex } from '../checkpoint/shard-index.js';
import { WeightsError } from '../checkpoint/weights.js';
import { readSafetensorsFile } from './safetensors-file.js';

/** The raw content of a checkpoint folder. */
export interface CheckpointFiles {
  readonly configText: string;
  readonly configFile: string;
  readonly tensors: Map<string, HostTensor>;
  /** The weight file, or the index file of a sharded checkpoint. */
  readonly weightsFile: string;
}

/** Reads `config.json` and the headers of the weight files; tensor data is read when first used (lazily). */
export function readCheckpointDir(dir: string): CheckpointFiles {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new ConfigError(`${dir}: not a checkpoint folder (it should hold config.json and model.safetensors).`);
  }
  const configFile = path.join(dir, 'config.json');
  if (!fs.existsSync(configFile)) throw new ConfigError(`${dir}: no config.json in the checkpoint folder.`);
  let configText: string;
  const odd = notRegularFile(configFile);
  if (odd) throw new ConfigError(`${configFile}: cannot read (${odd}).`);
  try {
    configText = fs.readFileSync(configFile, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ConfigError(`${configFile}: cannot read (${code === 'EISDIR' ? 'is a directory' : code ?? (e as Error).message}).`);
  }
  const single = path.join(dir, 'model.safetensors');
  if (fs.existsSync(single)) return { configText, configFile, tensors: readSafetensorsFile(single, { lazy: true }).tensors, weightsFile: single };
  const index = path.join(dir, 'model.safetensors.index.json');
  if (fs.existsSync(index)) return { configText, configFile, tensors: readSharded(index), weightsFile: index };
  const bin = ['pytorch_model.bin', 'pytorch_model.bin.index.json'].find((f) => fs.existsSync(path.join(dir, f)));
  if (bin) {
    throw new WeightsError(`${dir}: has ${bin} but no safetensors weights; convert it first: npx beit convert ${dir} <new-folder>`);
  }
  throw new WeightsError(`${dir}: no model.safetensors or model.safetensors.index.json in the checkpoint folder.`);
}

/** Reads a sharded checkpoint through its index (`{"weight_map": {name: shard}}`). */
export function readSharded(indexFile: string): Map<string, HostTensor> {
  let text: string;
  const odd = notRegularFile(indexFile);
  if (odd) throw new WeightsError(`${indexFile}: cannot read (${odd}).`);
  try {
    text = fs.readFileSync(indexFile, 'utf8');
  } catch (e) {
    throw new WeightsError(`${indexFile}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`);
  }
  const byShard = shardsOfIndex(text, indexFile);
  const dir = path.dirname(indexFile);
  const tensors = new Map<string, HostTensor>();
  for (const [shard, names] of byShard) {
    const file = path.join(dir, shard);
    if (!fs.existsSync(file)) throw new WeightsError(`${indexFile}: shard ${shard} is missing.`);
    const got = readSafetensorsFile(file, { filter: (n) => names.has(n), lazy: true }).tensors;
    const absent = [...names].filter((n) => !got.has(n));
    if (absent.length) throw new WeightsError(`${file}: lacks tensors the index assigns to it: ${absent.slice(0, 5).join(', ')}${absent.length > 5 ? ', ...' : ''}.`);
    for (const [n, t] of got) tensors.set(n, t);
  }
  return tensors;
}
