/**
 * Reads PyTorch zip checkpoints (`torch.save` since PyTorch 1.6) without Python.
 *
 * Layout (PyTorch `torch/serialization.py`, `_save` / `_load`): a ZIP whose entries share one prefix
 * folder (`archive` in recent PyTorch, the file stem such as `pytorch_model` in older ones) and hold
 * `data.pkl` (the pickled state dict, read by the restricted unpickler in `pickle.ts`), `data/<key>`
 * (one raw little-endian storage per key), and optionally `byteorder`. A tensor is a view
 * (offset, shape, strides in elements) into a storage, several tensors may share one storage, and a
 * view may be non-contiguous (e.g. a transposed weight): each tensor is materialised as its own
 * contiguous row-major bytes, read lazily so a large checkpoint is never held twice in memory.
 *
 * No Node built-ins: the archive is read through a {@link RandomAccess}.
 */
import { DTYPE_SIZE, type StDtype } from './safetensors.js';
import { PickleError, STORAGE_DTYPES, isStorageGlobal, isTensor, unpickle, type PickleValue, type TensorRef } from './pickle.js';
import { ZipError, ZipReader, type RandomAccess, type ZipEntry } from './zip.js';

/** One tensor of a checkpoint; `read()` produces its contiguous row-major bytes. */
export interface LazyTensor {
  readonly dtype: StDtype;
  readonly shape: readonly number[];
  /** Size in bytes of the contiguous result. */
  readonly byteLength: number;
  read(): Uint8Array;
}

/** Largest tensor materialised from a view that repeats storage elements (stride 0). */
const MAX_EXPANDED_BYTES = 64 << 20;
/** Largest `data.pkl` read (real state dicts: under a few MB). */
const MAX_PICKLE_BYTES = 256 << 20;

interface StorageInfo {
  readonly dtype: StDtype;
  readonly entry: ZipEntry;
  readonly numel: number;
}

/**
 * Opens a PyTorch zip checkpoint and lists its tensors in the pickle's order.
 * @param source random access to the file's bytes
 * @param file the file's name for error messages
 * @throws PickleError for a refused pickle, an unsupported format (legacy `torch.save`), or a bad layout
 */
export function readTorchCheckpoint(source: RandomAccess, file: string,
  inflateRaw?: (data: Uint8Array, size: number) => Uint8Array, crc?: (data: Uint8Array, crc?: number) => number): Map<string, LazyTensor> {
  const fail = (msg: string): never => { throw new PickleError(`${file}: ${msg}`); };
  const head = source.read(0, Math.min(source.size, 9));
  if (head.length === 9 && head[8] === 0x7b && head[6] === 0 && head[7] === 0) fail('this is already a safetensors file; nothing to convert.');
  if (head[0] === 0x80 && (head[1] ?? 0) <= 5) {
    fail('legacy (non-zip) PyTorch checkpoint format is unsupported; re-save it with a recent PyTorch: '
      + 'torch.save(torch.load(path), path, _use_new_zipfile_serialization=True).');
  }
  if (head[0] !== 0x50 || head[1] !== 0x4b) fail('not a PyTorch checkpoint (expected a zip archive starting with "PK").');
  let zip: ZipReader;
  try {
    zip = ZipReader.open(source, file, inflateRaw, crc);
  } catch (e) {
    if (e instanceof ZipError) fail(e.message.slice(file.length + 2));
    throw e;
  }
  const pkl = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkl.length !== 1) fail(`expected exactly one <prefix>/data.pkl entry, found ${pkl.length ? pkl.join(', ') : 'none'}.`);
  const prefix = pkl[0]!.slice(0, -'/data.pkl'.length);
  const order = zip.entries.get(`${prefix}/byteorder`);
  if (order && new TextDecoder().decode(zip.read(order)).trim() !== 'little') fail('big-endian checkpoints are unsupported.');

  const storages = new Map<string, StorageInfo>();
  const persistentLoad = (pid: PickleValue): PickleValue => {
    // ('storage', torch.<T>Storage, key, location, numel)
    if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage' || !isStorageGlobal(pid[1]) || typeof pid[2] !== 'string'
      || typeof pid[4] !== 'number' || !Number.isSafeInteger(pid[4]) || pid[4] < 0) {
      return fail('malformed persistent id (expected a storage tuple).');
    }
    const key = pid[2];
    const dtype = STORAGE_DTYPES[pid[1].qualname]!;
    const numel = pid[4];
    let info = storages.get(key);
    if (!info) {
      const entry = zip.entries.get(`${prefix}/data/${key}`);
      if (!entry) return fail(`storage "${key}" is referenced but ${prefix}/data/${key} is missing.`);
      if (entry.size < numel * DTYPE_SIZE[dtype]) fail(`storage "${key}" holds ${entry.size} bytes, less than ${numel} x ${dtype}.`);
      info = { dtype, entry, numel };
      storages.set(key, info);
    } else if (info.dtype !== dtype) {
      fail(`storage "${key}" is used as both ${info.dtype} and ${dtype}.`);
    }
    return { kind: 'opaque', value: info };
  };
  const pklEntry = zip.entries.get(pkl[0]!)!;
  // A state dict's pickle is kilobytes to a few megabytes (tensor data lives in data/*); a huge declared
  // size would only be memory taken before the first opcode is refused.
  if (pklEntry.size > MAX_PICKLE_BYTES) fail(`${pkl[0]} declares ${pklEntry.size} bytes; a state dict's pickle is at most ${MAX_PICKLE_BYTES}.`);
  const root = unpickle(zip.read(pklEntry), { file: `${file}:${pkl[0]}`, persistentLoad });
  if (!(root instanceof Map)) return fail('the pickle is not a state dict (expected a dict of tensors).');
  const out = new Map<string, LazyTensor>();
  for (const [name, value] of root) {
    if (typeof name !== 'string') fail(`state dict key ${describeKey(name)} is not a string.`);
    if (!isTensor(value)) fail(`state dict entry "${String(name)}" is not a tensor.`);
    out.set(name as string, lazyTensor(zip, value as TensorRef, `${file}: tensor "${String(name)}"`));
  }
  return out;
}

/** A short description of a non-string key (never String(): a deeply nested tuple overflows the stack). */
function describeKey(v: PickleValue): string {
  if (typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (v === null) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (Array.isArray(v)) return `(a tuple of ${v.length})`;
  if (v instanceof Map) return '(a dict)';
  if (v instanceof Uint8Array) return `(${v.length} bytes)`;
  return typeof v === 'string' ? JSON.stringify(v) : `(a ${v.kind})`;
}

function lazyTensor(zip: ZipReader, t: TensorRef, where: string): LazyTensor {
  const fail = (msg: string): never => { throw new PickleError(`${where}: ${msg}`); };
  const opaque = t.storage;
  if (typeof opaque !== 'object' || opaque === null || !('kind' in opaque) || opaque.kind !== 'opaque') return fail('its storage is not a persistent storage.');
  const s = (opaque as { value: StorageInfo }).value;
  const size = DTYPE_SIZE[s.dtype];
  const numel = t.shape.reduce((a, d) => a * d, 1);
  if (!Number.isSafeInteger(numel * size)) fail(`shape [${t.shape}] is too large.`);
  // Highest element index the view touches; it must lie inside the storage.
  let last = t.offset;
  for (let i = 0; i < t.shape.length; i++) last += (t.shape[i]! - 1) * t.stride[i]!;
  if (numel > 0 && last >= s.numel) fail(`view (offset ${t.offset}, shape [${t.shape}], stride [${t.stride}]) reaches element ${last} of a ${s.numel}-element storage.`);
  // A view with more elements than its storage repeats elements (stride 0, an expanded tensor); its
  // materialised size is not bounded by the file size, so cap it.
  if (numel > s.numel && numel * size > MAX_EXPANDED_BYTES) fail(`expanded view of shape [${t.shape}] would need ${numel * size} bytes from a ${s.numel}-element storage.`);
  return {
    dtype: s.dtype,
    shape: t.shape,
    byteLength: numel * size,
    read(): Uint8Array {
      if (numel === 0) return new Uint8Array(0);
      const span = zip.readRange(s.entry, t.offset * size, (last - t.offset + 1) * size);
      if (isContiguous(t.shape, t.stride)) return span.slice(0, numel * size);
      return gather(span, t.shape, t.stride, size);
    },
  };
}

/** True when `stride` is the row-major stride of `shape` (size-1 dimensions may have any stride). */
export function isContiguous(shape: readonly number[], stride: readonly number[]): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) return false;
    expect *= shape[i]!;
  }
  return true;
}

/** Copies a strided view (starting at element 0 of `src`) into contiguous row-major order. */
function gather(src: Uint8Array, shape: readonly number[], stride: readonly number[], size: number): Uint8Array {
  const numel = shape.reduce((a, d) => a * d, 1);
  const out = new Uint8Array(numel * size);
  const idx = new Array<number>(shape.length).fill(0);
  let srcEl = 0;
  for (let o = 0; o < numel; o++) {
    out.set(src.subarray(srcEl * size, srcEl * size + size), o * size);
    // Odometer increment over the dimensions, last fastest.
    for (let d = shape.length - 1; d >= 0; d--) {
      idx[d]!++;
      srcEl += stride[d]!;
      if (idx[d]! < shape[d]!) break;
      srcEl -= stride[d]! * shape[d]!;
      idx[d] = 0;
    }
  }
  return out;
}
