// A minimal protocol-buffers wire-format encoder (and a field walker for reading back), enough for
// ONNX ModelProto files. Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
// Large byte fields (tensor raw_data) are kept as references, never copied, so a 350 MB model is
// written as a list of chunks.

const WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_FIXED32 = 5;

/** One message being encoded: a list of byte chunks with their total length. */
export class Message {
  constructor() {
    /** @type {Uint8Array[]} */
    this.chunks = [];
    this.length = 0;
    /** @type {number[]} small bytes not yet flushed into a chunk */
    this.pending = [];
  }

  #flush() {
    if (this.pending.length === 0) return;
    this.chunks.push(Uint8Array.from(this.pending));
    this.pending = [];
  }

  #byte(b) { this.pending.push(b); this.length++; }

  #raw(u8) {
    if (u8.length < 64) { for (const b of u8) this.#byte(b); return; }
    this.#flush();
    this.chunks.push(u8);
    this.length += u8.length;
  }

  /** Unsigned varint of a non-negative safe integer or of a 64-bit two's complement (negative int64). */
  #varint(v) {
    if (typeof v === 'bigint' || v < 0 || v > Number.MAX_SAFE_INTEGER) {
      let b = BigInt.asUintN(64, BigInt(v));
      do {
        let byte = Number(b & 0x7fn);
        b >>= 7n;
        if (b !== 0n) byte |= 0x80;
        this.#byte(byte);
      } while (b !== 0n);
      return;
    }
    if (!Number.isInteger(v)) throw new TypeError(`varint: not an integer: ${v}`);
    do {
      let byte = v % 128;
      v = Math.floor(v / 128);
      if (v !== 0) byte |= 0x80;
      this.#byte(byte);
    } while (v !== 0);
  }

  #tag(field, wire) { this.#varint(field * 8 + wire); }

  /** int32 / int64 / enum / bool field (negative values as 10-byte two's complement, like protoc). */
  int(field, v) { this.#tag(field, WIRE_VARINT); this.#varint(typeof v === 'boolean' ? Number(v) : v); return this; }

  /** Repeated int64, unpacked (proto2 default; parsers accept either form). */
  ints(field, values) { for (const v of values) this.int(field, v); return this; }

  /** float field (fixed32, little-endian). */
  float(field, f) {
    this.#tag(field, WIRE_FIXED32);
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, f, true);
    this.#raw(b);
    return this;
  }

  /** Repeated float, unpacked. */
  floats(field, values) { for (const f of values) this.float(field, f); return this; }

  /** Length-delimited bytes; the array is referenced, not copied. */
  bytes(field, u8) { this.#tag(field, WIRE_LEN); this.#varint(u8.length); this.#raw(u8); return this; }

  string(field, s) { return this.bytes(field, new TextEncoder().encode(s)); }

  strings(field, list) { for (const s of list) this.string(field, s); return this; }

  /** Embedded message. */
  message(field, m) {
    m.#flush();
    this.#tag(field, WIRE_LEN);
    this.#varint(m.length);
    this.#flush();
    for (const c of m.chunks) this.chunks.push(c);
    this.length += m.length;
    return this;
  }

  /** The encoded chunks, in order (their lengths sum to `length`). */
  finish() { this.#flush(); return this.chunks; }
}

/**
 * Walks the fields of one message in `buf[start, end)`: yields { field, wire, value } for varints
 * (value a BigInt), fixed32 / fixed64 (value the raw bytes), and { field, wire, start, end } for
 * length-delimited fields (the bytes of an embedded message, string or packed array).
 */
export function* fields(buf, start = 0, end = buf.length) {
  let p = start;
  const varint = () => {
    let v = 0n, shift = 0n;
    for (;;) {
      if (p >= end) throw new Error('protobuf: truncated varint');
      const b = buf[p++];
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return v;
      shift += 7n;
    }
  };
  while (p < end) {
    const key = Number(varint());
    const field = key >>> 3, wire = key & 7;
    if (wire === WIRE_VARINT) yield { field, wire, value: varint() };
    else if (wire === WIRE_LEN) {
      const len = Number(varint());
      if (p + len > end) throw new Error('protobuf: truncated length-delimited field');
      yield { field, wire, start: p, end: p + len };
      p += len;
    } else if (wire === WIRE_FIXED32) { yield { field, wire, value: buf.subarray(p, p + 4) }; p += 4; }
    else if (wire === WIRE_FIXED64) { yield { field, wire, value: buf.subarray(p, p + 8) }; p += 8; }
    else throw new Error(`protobuf: unsupported wire type ${wire}`);
  }
}
