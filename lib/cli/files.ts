/**
 * Expands CLI image arguments: folders to their image files (sorted, recursive), anything else as given
 * (files, http(s) URLs, data URLs, base64: read later, each failure reported on its own). Symbolic links
 * are followed, as `os.walk`-style dataset scripts and shells do: linked files count, linked folders are
 * searched once each (a link cycle ends there), and a dangling link with an image extension is listed so
 * that its error is reported instead of the file silently missing.
 */
import fs from 'node:fs';
import path from 'node:path';
import { EXIT_USAGE, UserError } from './command.js';

const IMAGE_EXT = /\.(jpe?g|png|webp|gif|bmp|tiff?)$/i;

/**
 * Files and folders -> image list. A missing path is kept so that its error is reported per image; a
 * folder without images is noted on stderr (the others still run); none at all is an error.
 */
export function expandImageArgs(args: readonly string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    let st: fs.Stats | undefined;
    try { st = fs.statSync(a); } catch { /* reported when read */ }
    if (st?.isDirectory()) {
      const found = walk(a, new Set());
      if (!found.length) process.stderr.write(`note: ${a}: no .jpg, .jpeg, .png, .webp, .gif, .bmp, .tif or .tiff files in this folder.\n`);
      out.push(...found);
    } else out.push(a);
  }
  if (!out.length) throw new UserError(`no images in ${args.join(', ')}.`);
  return out;
}

/**
 * Checks an output file named by `--out` before any work: never one of the inputs, never a folder, and
 * an existing file only with `--force` (nothing the user has is replaced without asking).
 */
export function checkOutputFile(out: string, inputs: readonly string[], force: boolean): void {
  const real = (p: string): string => { try { return fs.realpathSync(p); } catch { return path.resolve(p); } };
  const target = real(out);
  if (inputs.some((i) => real(i) === target)) throw new UserError(`--out ${out} is one of the inputs; refusing to write over it.`);
  let st: fs.Stats;
  try { st = fs.statSync(out); } catch { return; }
  if (st.isDirectory()) throw new UserError(`--out ${out} is a directory; it names the output file.`);
  if (!force) throw new UserError(`--out ${out} already exists; pass --force to replace it.`);
}

/**
 * The images named by `--list <file>`: one per line (a path, URL, data URL or base64), blank lines and
 * lines starting with `#` skipped; `-` reads standard input. Relative paths are taken from the
 * current folder, as on the command line.
 */
export function readImageList(file: string): string[] {
  let text: string;
  try {
    text = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UserError(`--list ${file}: cannot read it (${code === 'ENOENT' ? 'no such file' : code ?? (e as Error).message}).`);
  }
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

/** Positional images plus those of `--list`; a usage error when there are none at all. */
export function imageArgs(positionals: readonly string[], list: string | undefined): string[] {
  const fromList = list === undefined ? [] : readImageList(list);
  if (!positionals.length && !fromList.length) {
    throw new UserError(list === undefined ? 'no images given. See --help.' : `--list ${list}: no images in it.`, EXIT_USAGE);
  }
  return expandImageArgs([...positionals, ...fromList]);
}

function walk(dir: string, seen: Set<string>): string[] {
  let real: string;
  try { real = fs.realpathSync(dir); } catch { return []; }
  if (seen.has(real)) return [];
  seen.add(real);
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name));
  } catch (e) {
    throw new UserError(`${dir}: cannot list this folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`);
  }
  return entries.flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return walk(p, seen);
    if (e.isSymbolicLink()) {
      let st: fs.Stats;
      try { st = fs.statSync(p); } catch { return IMAGE_EXT.test(e.name) ? [p] : []; }
      if (st.isDirectory()) return walk(p, seen);
      return st.isFile() && IMAGE_EXT.test(e.name) ? [p] : [];
    }
    return e.isFile() && IMAGE_EXT.test(e.name) ? [p] : [];
  });
}
