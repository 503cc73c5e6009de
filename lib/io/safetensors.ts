/**
 * Strict safetensors codec (https://github.com/huggingface/safetensors, format section of its README).
 *
 * Written for this project because the npm package named `safetensors` is a 0.0.1 browser-only toy.
 * A file is: u64 little-endian header length N, N bytes of JSON header, then the data section.
 * The header maps tensor names to `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to
 * the data section) plus an optional `__metadata__` string map. Nothing in the header is trusted:
 * lengths, dtypes, spans and overlaps are checked before any tensor is materialised.
 *
 * This module has no Node built-ins (it also runs in browsers); file access lives in
 * `lib/node/safetensors-file.ts`.
 */

/** A dtype code as it appears in a safetensors header. */
export type StDtype = 'F64' | 'F32' | 'F16' | 'BF16' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** Bytes per element of each supported dtype. */
export const DTYPE_SIZE: Readonly<Record<StDtype, number>> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
};

/** One tensor entry of a validated header. `begin`/`end` are absolute file offsets. */
export interface StEntry {
  readonly name: string;
  readonly dtype: StDtype;
  readonly shape: readonly number[];
  readonly begin: number;
  readonly end: number;
}

/** A validated safetensors header. */
export interface StHeader {
  /** Where the data section starts (8 + header length). */
  readonly dataStart: number;
  readonly entries: readonly StEntry[];
  readonly metadata: Readonly<Record<string, string>>;
}

/** A decoded tensor: floats are widened to float32, integers kept as int32 (checked) or uint8. */
export interface HostTensor {
  readonly dtype: 'float32' | 'int32' | 'uint8' | 'bool';
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array | Uint8Array;
  /** The dtype stored in the file, for messages (I64 for an int32 narrowed from it, ...). */
  readonly stored?: StDtype;
}

/** Thrown for every malformed safetensors input; the message names the file and the tensor. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

/** Header lengths beyond this are refused before allocation (the reference implementation uses 100 MB). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/**
 * Reads and checks the 8-byte length prefix. Returns the header length N.
 * @param prefix the first 8 bytes of the file (fewer means the file is truncated)
 */
export function readHeaderLength(prefix: Uint8Array, fileSize: number, file: string): number {
  if (fileSize < 8 || prefix.length < 8) {
    throw new SafetensorsError(`${file}: not a safetensors file: ${fileSize} bytes is shorter than the 8-byte header length prefix.`);
  }
  const view = new DataView(prefix.buffer, prefix.byteOffset, 8);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(fileSize - 8)) {
    throw new SafetensorsError(`${file}: header length ${n} is larger than the file (${fileSize} bytes): the file is truncated or not safetensors.`);
  }
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsError(`${file}: header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit.`);
  }
  if (n < 2n) throw new SafetensorsError(`${file}: header length ${n} is too small to hold a JSON object.`);
  return Number(n);
}

/** Parses and validates the JSON header against the file size. */
export function parseHeader(headerBytes: Uint8Array, fileSize: number, file: string): StHeader {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw new SafetensorsError(`${file}: the header is not valid UTF-8 JSON (${(e as Error).message}).`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new SafetensorsError(`${file}: the header must be a JSON object.`);
  }
  const dataStart = 8 + headerBytes.length;
  const dataSize = fileSize - dataStart;
  const entries: StEntry[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = checkMetadata(raw, file);
      continue;
    }
    entries.push(checkEntry(name, raw, dataStart, dataSize, file));
  }
  checkLayout(entries, dataStart, fileSize, file);
  return { dataStart, entries, metadata };
}

function checkMetadata(raw: unknown, file: string): Record<string, string> {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new SafetensorsError(`${file}: __metadata__ must be an object of strings.`);
  }
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') throw new SafetensorsError(`${file}: __metadata__.${k} must be a string, got ${typeof v}.`);
  }
  return raw as Record<string, string>;
}

function checkEntry(name: string, raw: unknown, dataStart: number, dataSize: number, file: string): StEntry {
  const where = `${file}: tensor "${name}"`;
  if (raw === null || typeof raw !== 'object') throw new SafetensorsError(`${where}: entry must be an object.`);
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (typeof dtype !== 'string' || !Object.hasOwn(DTYPE_SIZE, dtype)) {
    throw new SafetensorsError(`${where}: unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPE_SIZE).join(', ')}).`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError(`${where}: shape ${JSON.stringify(shape)} must be an array of non-negative integers.`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError(`${where}: data_offsets ${JSON.stringify(offsets)} must be two non-negative integers.`);
  }
  const [b, e] = offsets as [number, number];
  if (e < b) throw new SafetensorsError(`${where}: data_offsets [${b}, ${e}] end before they begin.`);
  if (e > dataSize) {
    throw new SafetensorsError(`${where}: data_offsets [${b}, ${e}] lie outside the data section (${dataSize} bytes): the file is truncated or corrupt.`);
  }
  const count = (shape as number[]).reduce((a, d) => a * d, 1);
  const bytes = count * DTYPE_SIZE[dtype as StDtype];
  if (bytes !== e - b) {
    throw new SafetensorsError(`${where}: shape [${shape}] x ${dtype} needs ${bytes} bytes but data_offsets span ${e - b}.`);
  }
  return { name, dtype: dtype as StDtype, shape: shape as number[], begin: dataStart + b, end: dataStart + e };
}

/**
 * The tensors must tile the data section exactly, as the reference implementation requires: in offset
 * order each begins where the previous ended (no overlap, no gap) and the last ends at the end of the file.
 */
function checkLayout(entries: StEntry[], dataStart: number, fileSize: number, file: string): void {
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = dataStart;
  let prev: StEntry | undefined;
  for (const cur of sorted) {
    if (cur.begin < at) throw new SafetensorsError(`${file}: tensors "${prev!.name}" and "${cur.name}" overlap in the data section.`);
    if (cur.begin > at) {
      throw new SafetensorsError(`${file}: ${cur.begin - at} bytes of the data section before tensor "${cur.name}" belong to no tensor (the format allows no holes).`);
    }
    at = cur.end;
    prev = cur;
  }
  if (at !== fileSize) {
    throw new SafetensorsError(`${file}: ${fileSize - at} bytes after the last tensor's data belong to no tensor (trailing data; the file is corrupt).`);
  }
}

/**
 * Decodes one tensor's bytes (exactly `end - begin` of them). F64/F16/BF16 are converted to float32;
 * I64/I32/I16/I8 to int32 (I64 values outside the int32 range are an error); U8 and BOOL stay bytes.
 */
export function decodeTensor(entry: StEntry, bytes: Uint8Array, file: string): HostTensor {
  return { ...decodeData(entry, bytes, file), stored: entry.dtype };
}

function decodeData(entry: StEntry, bytes: Uint8Array, file: string): HostTensor {
  const n = entry.shape.reduce((a, d) => a * d, 1);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const shape = entry.shape;
  switch (entry.dtype) {
    case 'F32': {
      if (bytes.byteOffset % 4 === 0) return { dtype: 'float32', shape, data: new Float32Array(bytes.buffer, bytes.byteOffset, n) };
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(i * 4, true);
      return { dtype: 'float32', shape, data: out };
    }
    case 'F64': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(i * 8, true);
      return { dtype: 'float32', shape, data: out };
    }
    case 'F16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(i * 2, true));
      return { dtype: 'float32', shape, data: out };
    }
    case 'BF16': {
      const out = new Float32Array(n);
      const u32 = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) u32[i] = view.getUint16(i * 2, true) << 16;
      return { dtype: 'float32', shape, data: out };
    }
    case 'I64': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = view.getBigInt64(i * 8, true);
        if (v > 2147483647n || v < -2147483648n) {
          throw new SafetensorsError(`${file}: tensor "${entry.name}": int64 value ${v} at element ${i} does not fit in int32.`);
        }
        out[i] = Number(v);
      }
      return { dtype: 'int32', shape, data: out };
    }
    case 'I32': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt32(i * 4, true);
      return { dtype: 'int32', shape, data: out };
    }
    case 'I16': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true);
      return { dtype: 'int32', shape, data: out };
    }
    case 'I8': {
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) out[i] = view.getInt8(i);
      return { dtype: 'int32', shape, data: out };
    }
    case 'U8':
      return { dtype: 'uint8', shape, data: bytes.subarray(0, n) };
    case 'BOOL':
      return { dtype: 'bool', shape, data: bytes.subarray(0, n) };
  }
}

/** IEEE 754 half -> float32 value (exact). */
export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

/** A tensor to serialise: raw little-endian bytes with its dtype and shape. */
export interface StWriteTensor {
  readonly dtype: StDtype;
  readonly shape: readonly number[];
  readonly data: ArrayBufferView;
}

/**
 * Serialises tensors into one safetensors byte array (header padded with spaces to 8-byte alignment,
 * tensors in the given order). Sizes are checked against shapes.
 */
export function encodeSafetensors(tensors: ReadonlyMap<string, StWriteTensor> | Record<string, StWriteTensor>,
  metadata?: Record<string, string>): Uint8Array {
  const list: [string, StWriteTensor][] = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  // No prototype: a tensor named "__proto__" must become a key, not the object's prototype.
  const header: Record<string, unknown> = Object.create(null);
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of list) {
    const bytes = t.shape.reduce((a, d) => a * d, 1) * DTYPE_SIZE[t.dtype];
    if (bytes !== t.data.byteLength) {
      throw new SafetensorsError(`tensor "${name}": shape [${t.shape}] x ${t.dtype} needs ${bytes} bytes, data has ${t.data.byteLength}.`);
    }
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const [, t] of list) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}
