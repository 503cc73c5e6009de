/**
 * A minimal ZIP reader for PyTorch checkpoints (format: PKWARE APPNOTE.TXT sections 4.3 and 4.5.3).
 *
 * Written for this project rather than taken from npm because a checkpoint needs random access:
 * `torch.save` writes every storage as a STORED (uncompressed) entry, so a tensor's bytes can be read
 * straight from their file offset through a {@link RandomAccess} (in Node, positioned `fd` reads)
 * without inflating or buffering the whole archive; the common npm readers either load the whole
 * file or stream it. Only the central directory is parsed (zip64 included, for files over 4 GiB);
 * entries compressed with DEFLATE are read only when the caller supplies an `inflateRaw` function.
 * Every size and offset is checked against the file size before anything is allocated.
 *
 * No Node built-ins: this also runs in browsers.
 */

/** Random access to the bytes of a file. `read` returns exactly `length` bytes or throws. */
export interface RandomAccess {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
}

/** Thrown for malformed or unsupported archives; the message names the file. */
export class ZipError extends Error {
  override name = 'ZipError';
}

/** One central-directory entry. */
export interface ZipEntry {
  readonly name: string;
  /** 0 = stored, 8 = deflate. */
  readonly method: number;
  readonly compressedSize: number;
  readonly size: number;
  readonly crc32: number;
  readonly localHeaderOffset: number;
}

/** An opened archive: its entries by name, and readers for their bytes. */
export class ZipReader {
  private readonly dataOffsets = new Map<string, number>();
  /** Stored entries whose CRC-32 has been checked (ranges of them are read without a second check). */
  private readonly verified = new Set<string>();
  /**
   * Inflated entries kept for range reads, most recent last, at most {@link INFLATED_CACHE_BYTES} in all:
   * many views of one compressed storage must not inflate it once per view.
   */
  private readonly inflated = new Map<string, Uint8Array>();
  private inflatedBytes = 0;

  private constructor(readonly source: RandomAccess, readonly file: string, readonly entries: ReadonlyMap<string, ZipEntry>,
    private readonly inflateRaw?: (data: Uint8Array, size: number) => Uint8Array,
    private readonly crc: (data: Uint8Array, crc?: number) => number = crc32) {}

  /**
   * Parses the central directory of `source`.
   * @param inflateRaw optional raw-DEFLATE decoder (e.g. Node's `zlib.inflateRawSync`) for compressed entries
   * @param crc optional CRC-32 implementation (e.g. Node's `zlib.crc32`, 8x faster than {@link crc32})
   */
  static open(source: RandomAccess, file: string, inflateRaw?: (data: Uint8Array, size: number) => Uint8Array,
    crc?: (data: Uint8Array, crc?: number) => number): ZipReader {
    return new ZipReader(source, file, readCentralDirectory(source, file), inflateRaw, crc);
  }

  private fail(msg: string): never {
    throw new ZipError(`${this.file}: ${msg}`);
  }

  /** The absolute file offset where an entry's data begins (after its local header). */
  dataOffset(entry: ZipEntry): number {
    const known = this.dataOffsets.get(entry.name);
    if (known !== undefined) return known;
    if (entry.localHeaderOffset + 30 > this.source.size) this.fail(`entry "${entry.name}": local header lies past the end of the file.`);
    const h = this.source.read(entry.localHeaderOffset, 30);
    const v = new DataView(h.buffer, h.byteOffset, 30);
    if (v.getUint32(0, true) !== 0x04034b50) this.fail(`entry "${entry.name}": bad local header signature.`);
    const start = entry.localHeaderOffset + 30 + v.getUint16(26, true) + v.getUint16(28, true);
    if (start + entry.compressedSize > this.source.size) {
      this.fail(`entry "${entry.name}": data (${entry.compressedSize} bytes at ${start}) lies past the end of the file (${this.source.size} bytes): the file is truncated.`);
    }
    this.dataOffsets.set(entry.name, start);
    return start;
  }

  /**
   * Reads `length` bytes at `offset` inside a STORED entry's data, without reading the rest.
   */
  readRange(entry: ZipEntry, offset: number, length: number): Uint8Array {
    if (offset < 0 || length < 0 || offset + length > entry.size) {
      this.fail(`entry "${entry.name}": range [${offset}, ${offset + length}) is outside its ${entry.size} bytes.`);
    }
    if (entry.method !== 0) return this.readInflated(entry).subarray(offset, offset + length);
    const data = this.source.read(this.dataOffset(entry) + offset, length);
    if (!this.verified.has(entry.name)) {
      // The common case reads the whole entry: check the bytes in hand. A part: check the whole once, in pieces.
      let c: number;
      if (offset === 0 && length === entry.size) {
        c = this.crc(data);
      } else {
        c = 0;
        const start = this.dataOffset(entry);
        for (let at = 0; at < entry.size; at += CRC_PIECE) c = this.crc(this.source.read(start + at, Math.min(CRC_PIECE, entry.size - at)), c);
      }
      if (c >>> 0 !== entry.crc32) this.fail(`entry "${entry.name}": CRC-32 mismatch, the file is corrupt.`);
      this.verified.add(entry.name);
    }
    return data;
  }

  /** A compressed entry, inflated and checked once while it stays in the cache. */
  private readInflated(entry: ZipEntry): Uint8Array {
    const hit = this.inflated.get(entry.name);
    if (hit) {
      this.inflated.delete(entry.name);
      this.inflated.set(entry.name, hit);
      return hit;
    }
    const data = this.read(entry);
    if (data.length <= INFLATED_CACHE_BYTES) {
      for (const [name, d] of this.inflated) {
        if (this.inflatedBytes + data.length <= INFLATED_CACHE_BYTES) break;
        this.inflated.delete(name);
        this.inflatedBytes -= d.length;
      }
      this.inflated.set(entry.name, data);
      this.inflatedBytes += data.length;
    }
    return data;
  }

  /** Reads a whole entry, inflating it if needed, and checks its CRC-32. */
  read(entry: ZipEntry): Uint8Array {
    const raw = this.source.read(this.dataOffset(entry), entry.compressedSize);
    let data: Uint8Array;
    if (entry.method === 0) {
      if (entry.size !== entry.compressedSize) this.fail(`stored entry "${entry.name}" has different sizes.`);
      data = raw;
    } else if (entry.method === 8 && this.inflateRaw) {
      try {
        const out = this.inflateRaw(raw, entry.size);
        // A plain view: Node's Buffer.slice() would share memory where callers expect Uint8Array's copy.
        data = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      } catch (e) {
        return this.fail(`entry "${entry.name}": corrupt deflate data (${(e as Error).message}).`);
      }
      if (data.length !== entry.size) this.fail(`entry "${entry.name}" inflated to ${data.length} bytes, expected ${entry.size}.`);
    } else {
      this.fail(`entry "${entry.name}" uses compression method ${entry.method}; only stored entries${this.inflateRaw ? ' and deflate' : ''} are supported (torch.save writes stored entries).`);
    }
    if (this.crc(data) >>> 0 !== entry.crc32) this.fail(`entry "${entry.name}": CRC-32 mismatch, the file is corrupt.`);
    return data;
  }
}

/** Bytes of a stored entry read at a time to check its CRC-32 when only part of it is needed. */
const CRC_PIECE = 16 << 20;
/** Inflated entries a reader keeps for range reads. */
const INFLATED_CACHE_BYTES = 512 << 20;

const EOCD_SIG = 0x06054b50, ZIP64_LOCATOR_SIG = 0x07064b50, ZIP64_EOCD_SIG = 0x06064b50, CENTRAL_SIG = 0x02014b50;

function readCentralDirectory(src: RandomAccess, file: string): Map<string, ZipEntry> {
  const fail = (msg: string): never => { throw new ZipError(`${file}: ${msg}`); };
  if (src.size < 22) fail(`not a zip archive (${src.size} bytes).`);
  // The end-of-central-directory record sits in the last 22 + (up to 65535 comment) bytes.
  const tailLen = Math.min(src.size, 22 + 65535);
  const tailStart = src.size - tailLen;
  const tail = src.read(tailStart, tailLen);
  const tv = new DataView(tail.buffer, tail.byteOffset, tail.byteLength);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD_SIG) { eocd = i; break; }
  }
  if (eocd < 0) fail('not a zip archive (no end-of-central-directory record).');
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    // zip64: a 20-byte locator precedes the EOCD and points at the zip64 EOCD record.
    const locAbs = tailStart + eocd - 20;
    if (locAbs < 0) fail('zip64 locator missing.');
    const loc = src.read(locAbs, 20);
    const lv = new DataView(loc.buffer, loc.byteOffset, 20);
    if (lv.getUint32(0, true) !== ZIP64_LOCATOR_SIG) fail('zip64 locator missing.');
    const recOff = safe(lv.getBigUint64(8, true), file);
    if (recOff + 56 > src.size) fail('zip64 end record lies past the end of the file.');
    const rec = src.read(recOff, 56);
    const rv = new DataView(rec.buffer, rec.byteOffset, 56);
    if (rv.getUint32(0, true) !== ZIP64_EOCD_SIG) fail('bad zip64 end record signature.');
    count = safe(rv.getBigUint64(32, true), file);
    cdSize = safe(rv.getBigUint64(40, true), file);
    cdOffset = safe(rv.getBigUint64(48, true), file);
  }
  if (cdOffset + cdSize > src.size) fail(`central directory [${cdOffset}, ${cdOffset + cdSize}) lies past the end of the file (${src.size} bytes): the file is truncated.`);
  if (count * 46 > cdSize) fail(`central directory of ${cdSize} bytes cannot hold ${count} entries.`);
  const cd = src.read(cdOffset, cdSize);
  const v = new DataView(cd.buffer, cd.byteOffset, cd.byteLength);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdSize || v.getUint32(p, true) !== CENTRAL_SIG) fail(`central directory entry ${i} is malformed.`);
    const flags = v.getUint16(p + 8, true);
    const method = v.getUint16(p + 10, true);
    const crc = v.getUint32(p + 16, true);
    let csize = v.getUint32(p + 20, true);
    let size = v.getUint32(p + 24, true);
    const nameLen = v.getUint16(p + 28, true), extraLen = v.getUint16(p + 30, true), commentLen = v.getUint16(p + 32, true);
    let local = v.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > cdSize) fail(`central directory entry ${i} overruns the directory.`);
    const name = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLen));
    if (flags & 1) fail(`entry "${name}" is encrypted.`);
    // zip64 extended information (header id 1) replaces the 0xffffffff fields, in this order.
    let e = p + 46 + nameLen;
    const extraEnd = e + extraLen;
    while (e + 4 <= extraEnd) {
      const id = v.getUint16(e, true), len = v.getUint16(e + 2, true);
      if (e + 4 + len > extraEnd) fail(`entry "${name}": malformed extra field.`);
      if (id === 1) {
        let q = e + 4;
        const next = (): number => {
          if (q + 8 > e + 4 + len) fail(`entry "${name}": short zip64 extra field.`);
          const val = safe(v.getBigUint64(q, true), file);
          q += 8;
          return val;
        };
        if (size === 0xffffffff) size = next();
        if (csize === 0xffffffff) csize = next();
        if (local === 0xffffffff) local = next();
      }
      e += 4 + len;
    }
    if (local + 30 > src.size || local + csize > src.size) fail(`entry "${name}" lies past the end of the file: the file is truncated.`);
    entries.set(name, { name, method, compressedSize: csize, size, crc32: crc, localHeaderOffset: local });
    p = extraEnd + commentLen;
  }
  return entries;
}

function safe(v: bigint, file: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new ZipError(`${file}: zip64 value ${v} is out of range.`);
  return Number(v);
}

let CRC_TABLE: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as in ZIP) of `data`. */
export function crc32(data: Uint8Array, crc = 0): number {
  if (!CRC_TABLE) {
    CRC_TABLE = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      CRC_TABLE[n] = c >>> 0;
    }
  }
  const t = CRC_TABLE;
  let c = ~crc;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
