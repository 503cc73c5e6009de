/**
 * Node-only: read a `preprocessor_config.json` by path into a validated ProcessorConfig
 * (lib/image/processor.ts). Errors are ProcessorErrors naming the path.
 */
import fs from 'node:fs';
import { notRegularFile } from './regular-file.js';
import { parseProcessorConfig, ProcessorError, type ProcessorConfig } from '../image/processor.js';

/** Reads a preprocessor config file's text; a ProcessorError naming the file when it cannot be read. */
export function readProcessorText(file: string): string {
  const odd = notRegularFile(file);
  if (odd) throw new ProcessorError(`${file}: cannot read processor config (${odd}).`);
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ProcessorError(`${file}: cannot read processor config (${code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message}).`);
  }
}

/**
 * Reads and validates a preprocessor config file.
 * @param family the model family, for a config naming no processor class (see parseProcessorConfig)
 */
export function readProcessorConfigFile(file: string, family?: 'beit' | 'vit'): ProcessorConfig {
  return parseProcessorConfig(readProcessorText(file), file, family);
}
