/** Expands CLI image arguments: files as given, folders to their image files (sorted, recursive). */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from './command.js';

const IMAGE_EXT = /\.(jpe?g|png|webp|gif|bmp)$/i;

/** Files and folders -> image file list. A missing path is kept so that its error is reported per file. */
export function expandImageArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    let st: fs.Stats | undefined;
    try { st = fs.statSync(a); } catch { /* reported when read */ }
    if (st?.isDirectory()) {
      const found = walk(a);
      if (!found.length) throw new UserError(`${a}: no .jpg, .jpeg, .png, .webp, .gif or .bmp files in this folder.`);
      out.push(...found);
    } else out.push(a);
  }
  return out;
}

function walk(dir: string): string[] {
  const entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
  return entries.flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return walk(p);
    return e.isFile() && IMAGE_EXT.test(e.name) ? [p] : [];
  });
}
