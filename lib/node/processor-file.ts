/**
 * Node-only: read a `preprocessor_config.json` by path into a validated ProcessorConfig
 * (lib/image/processor.ts). Errors are ProcessorErrors naming the path.
 */
import fs from 'node:fs';
import { parseProcessorConfig, ProcessorError, type ProcessorConfig } from '../image/processor.js';

/** Reads and validates a preprocessor config file. */
export function readProcessorConfigFile(file: string): ProcessorConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new ProcessorError(`${file}: cannot read processor config (${code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message}).`);
  }
  return parseProcessorConfig(text, file);
}
