/**
 * Safetensors files on disk (Node). Each tensor is read once, straight into its own buffer with a
 * positioned read, so a 350 MB checkpoint is never held twice in memory. Writing is atomic: a
 * temporary file in the destination folder is renamed over the target only when complete.
 */
import fs from 'node:fs';
import { notRegularFile } from './regular-file.js';
import path from 'node:path';
import {
  decodeTensor, encodeSafetensors, parseHeader, readHeaderLength, SafetensorsError,
  type HostTensor, type StDtype, type StEntry, type StHeader, type StWriteTensor,
} from '../io/safetensors.js';

/** Reads and validates only the header of a safetensors file. */
export function readSafetensorsHeader(file: string): StHeader {
  const fd = openOrThrow(file);
  try {
    return headerOf(fd, file);
  } finally {
    fs.closeSync(fd);
  }
}

function openOrThrow(file: string): number {
  let fd: number;
  const odd = notRegularFile(file);
  if (odd) throw new SafetensorsError(`${file}: cannot open (${odd}).`);
  try {
    fd = fs.openSync(file, 'r');
  } catch (e) {
    throw new SafetensorsError(`${file}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}).`);
  }
  // Opening a directory succeeds on Linux; reading it would fail with a bare EISDIR naming no file.
  if (fs.fstatSync(fd).isDirectory()) {
    fs.closeSync(fd);
    throw new SafetensorsError(`${file}: cannot open (is a directory).`);
  }
  return fd;
}

function headerOf(fd: number, file: string): StHeader {
  const size = fs.fstatSync(fd).size;
  const prefix = new Uint8Array(8);
  const got = fs.readSync(fd, prefix, 0, 8, 0);
  const n = readHeaderLength(prefix.subarray(0, got), size, file);
  const header = new Uint8Array(n);
  fs.readSync(fd, header, 0, n, 8);
  return parseHeader(header, size, file);
}

/** Options of {@link readSafetensorsFile}. */
export interface ReadOptions {
  /** Read only the tensors whose name it accepts. */
  readonly filter?: (name: string) => boolean;
  /**
   * Defer reading: each tensor's `data` is read from the file (and decoded) when it is accessed, and
   * not kept. Model loading uses this so that a checkpoint's bytes are never all held on the host
   * while the device copies are made (peak memory stays near one copy of the weights).
   */
  readonly lazy?: boolean;
}

const HOST_DTYPE: Record<StDtype, HostTensor['dtype']> = {
  F64: 'float32', F32: 'float32', F16: 'float32', BF16: 'float32',
  I64: 'int32', I32: 'int32', I16: 'int32', I8: 'int32', U8: 'uint8', BOOL: 'bool',
};

function readEntry(fd: number, entry: StEntry, file: string): HostTensor {
  const len = entry.end - entry.begin;
  // 8-byte aligned destination so F32 data can be viewed in place.
  const bytes = new Uint8Array(new ArrayBuffer(Math.ceil(len / 8) * 8), 0, len);
  let done = 0;
  while (done < len) {
    const r = fs.readSync(fd, bytes, done, len - done, entry.begin + done);
    if (r === 0) throw new SafetensorsError(`${file}: tensor "${entry.name}": unexpected end of file.`);
    done += r;
  }
  return decodeTensor(entry, bytes, file);
}

/**
 * Reads the tensors of a safetensors file (all, or those accepted by `options.filter`), each with one
 * positioned read straight into its own buffer.
 * @returns tensors in header order and the file's `__metadata__`
 */
export function readSafetensorsFile(file: string, options: ReadOptions | ((name: string) => boolean) = {}):
  { tensors: Map<string, HostTensor>; metadata: Readonly<Record<string, string>> } {
  const opts: ReadOptions = typeof options === 'function' ? { filter: options } : options;
  const fd = openOrThrow(file);
  try {
    const header = headerOf(fd, file);
    const tensors = new Map<string, HostTensor>();
    for (const entry of header.entries) {
      if (opts.filter && !opts.filter(entry.name)) continue;
      if (!opts.lazy) {
        tensors.set(entry.name, readEntry(fd, entry, file));
        continue;
      }
      tensors.set(entry.name, {
        dtype: HOST_DTYPE[entry.dtype],
        stored: entry.dtype,
        shape: entry.shape,
        get data() {
          const lfd = openOrThrow(file);
          try {
            return readEntry(lfd, entry, file).data;
          } finally {
            fs.closeSync(lfd);
          }
        },
      });
    }
    return { tensors, metadata: header.metadata };
  } finally {
    fs.closeSync(fd);
  }
}

/** Writes a safetensors file atomically (temporary file + rename). Never leaves a partial target. */
export function writeSafetensorsFile(file: string, tensors: ReadonlyMap<string, StWriteTensor> | Record<string, StWriteTensor>,
  metadata?: Record<string, string>): void {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

/**
 * Writes bytes to `file` through a temporary sibling and a rename, creating the folder if needed.
 * A failure names `file` (not the temporary name) and keeps the errno `code`.
 */
export function writeFileAtomic(file: string, bytes: Uint8Array): void {
  const dir = path.dirname(path.resolve(file));
  const tmp = tempSibling(file);
  try {
    fs.mkdirSync(dir, { recursive: true });
    sweepStaleTemps(file);
    fs.writeFileSync(tmp, bytes);
    fs.renameSync(tmp, file);
  } catch (e) {
    try { fs.rmSync(tmp, { force: true }); } catch { /* the folder itself is the problem */ }
    const code = (e as NodeJS.ErrnoException).code;
    throw Object.assign(new Error(`${file}: cannot write (${code ?? (e as Error).message}).`), { code });
  }
}

/** The temporary sibling a write of `file` goes through: `.<name>.<pid>.<time>.tmp`. */
export function tempSibling(file: string): string {
  return path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
}

/**
 * Removes the temporary siblings of `file` left by processes that no longer run (killed mid-write:
 * a signal ends a synchronous write before any handler could clean up). Others' live writes are kept.
 */
export function sweepStaleTemps(file: string): void {
  const dir = path.dirname(path.resolve(file));
  const prefix = `.${path.basename(file)}.`;
  let names: string[];
  try { names = fs.readdirSync(dir); } catch { return; }
  for (const n of names) {
    const m = n.startsWith(prefix) ? /^(\d+)\.\d+\.tmp$/.exec(n.slice(prefix.length)) : null;
    if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    try { fs.rmSync(path.join(dir, n), { force: true }); } catch { /* not ours to remove after all */ }
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
