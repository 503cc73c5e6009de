/** The registry of CLI commands, in the order `beit --help` lists them. */
import type { Command } from '../command.js';
import { parity } from './parity.js';
import { benchCommand } from './bench.js';
import { classifyCommand } from './classify.js';
import { embedCommand } from './embed.js';
import { convertCommand } from './convert.js';
import { downloadCommand } from './download.js';
import { preprocessCommand } from './preprocess.js';
import { attentionCommand } from './attention.js';
import { cacheCommand } from './cache.js';

export const commands: readonly Command[] = [
  classifyCommand,
  embedCommand,
  attentionCommand,
  parity,
  benchCommand,
  convertCommand,
  downloadCommand,
  cacheCommand,
  preprocessCommand,];
