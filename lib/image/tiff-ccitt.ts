/**
 * CCITT bilevel decompression for TIFF (TIFF 6.0 sections 10 and 11; ITU-T T.4 and T.6): Modified
 * Huffman RLE (compression 2: rows byte-aligned, no EOL), Group 3 (3: EOL-prefixed rows, 1-D, or 2-D
 * when T4Options bit 0 is set, with a tag bit after each EOL) and Group 4 (4: 2-D against the row above,
 * the first against a white row). The output is packed rows, MSB first, 1 = black: what libtiff hands
 * Pillow, to be read with the image's PhotometricInterpretation. Uncompressed mode is refused.
 * Written here because no npm decoder passed the fixtures as a whole (see tiff.ts); the code tables are
 * T.4's, checked by decoding files libtiff wrote.
 */

/** What a TIFF's tags say about its CCITT data. */
export interface CcittOptions {
  readonly mode: 2 | 3 | 4;
  /** T4Options (292): bit 0 two-dimensional, bit 1 uncompressed mode, bit 2 fill bits before EOL. */
  readonly t4: number;
  /** T6Options (293): bit 1 uncompressed mode. */
  readonly t6: number;
}

// T.4 terminating codes (runs 0…63), then make-up codes (64, 128, … 1728), as bit strings.
const WHITE_TERM = ('00110101 000111 0111 1000 1011 1100 1110 1111 10011 10100 00111 01000 001000 000011 110100 110101 '
  + '101010 101011 0100111 0001100 0001000 0010111 0000011 0000100 0101000 0101011 0010011 0100100 0011000 00000010 '
  + '00000011 00011010 00011011 00010010 00010011 00010100 00010101 00010110 00010111 00101000 00101001 00101010 '
  + '00101011 00101100 00101101 00000100 00000101 00001010 00001011 01010010 01010011 01010100 01010101 00100100 '
  + '00100101 01011000 01011001 01011010 01011011 01001010 01001011 00110010 00110011 00110100').split(' ');
const WHITE_MAKEUP = ('11011 10010 010111 0110111 00110110 00110111 01100100 01100101 01101000 01100111 011001100 011001101 '
  + '011010010 011010011 011010100 011010101 011010110 011010111 011011000 011011001 011011010 011011011 010011000 '
  + '010011001 010011010 011000 010011011').split(' ');
const BLACK_TERM = ('0000110111 010 11 10 011 0011 0010 00011 000101 000100 0000100 0000101 0000111 00000100 00000111 '
  + '000011000 0000010111 0000011000 0000001000 00001100111 00001101000 00001101100 00000110111 00000101000 '
  + '00000010111 00000011000 000011001010 000011001011 000011001100 000011001101 000001101000 000001101001 '
  + '000001101010 000001101011 000011010010 000011010011 000011010100 000011010101 000011010110 000011010111 '
  + '000001101100 000001101101 000011011010 000011011011 000001010100 000001010101 000001010110 000001010111 '
  + '000001100100 000001100101 000001010010 000001010011 000000100100 000000110111 000000111000 000000100111 '
  + '000000101000 000001011000 000001011001 000000101011 000000101100 000001011010 000001100110 000001100111').split(' ');
const BLACK_MAKEUP = ('0000001111 000011001000 000011001001 000001011011 000000110011 000000110100 000000110101 '
  + '0000001101100 0000001101101 0000001001010 0000001001011 0000001001100 0000001001101 0000001110010 '
  + '0000001110011 0000001110100 0000001110101 0000001110110 0000001110111 0000001010010 0000001010011 '
  + '0000001010100 0000001010101 0000001011010 0000001011011 0000001100100 0000001100101').split(' ');
/** Make-up codes shared by both colours, runs 1792…2560. */
const EXT_MAKEUP = ('00000001000 00000001100 00000001101 000000010010 000000010011 000000010100 000000010101 000000010110 '
  + '000000010111 000000011100 000000011101 000000011110 000000011111').split(' ');

/** Longest code of any table (black make-up codes), in bits. */
const PEEK = 13;

/**
 * A code table as a lookup on the next 13 bits: entry (length << 16) | (value + 1), 0 where no code
 * starts with those bits. The codes of one table are prefix-free, so each entry is unambiguous.
 */
function lookup(codes: ReadonlyArray<readonly [string, number]>): Int32Array {
  const t = new Int32Array(1 << PEEK);
  for (const [code, value] of codes) {
    const from = parseInt(code, 2) << (PEEK - code.length);
    t.fill((code.length << 16) | (value + 1), from, from + (1 << (PEEK - code.length)));
  }
  return t;
}
/** Run-length codes of one colour: terminating (runs 0…63), then make-up (64, 128, … 1728, then 1792…2560). */
function runTable(term: string[], makeup: string[]): Int32Array {
  return lookup([...term.map((c, i) => [c, i] as const), ...makeup.map((c, i) => [c, 64 * (i + 1)] as const),
    ...EXT_MAKEUP.map((c, i) => [c, 1792 + 64 * i] as const)]);
}
const WHITE = runTable(WHITE_TERM, WHITE_MAKEUP), BLACK = runTable(BLACK_TERM, BLACK_MAKEUP);

/** 2-D mode codes: vertical a1 − b1 = −3…3 as 0…6, then pass, horizontal and the extension (uncompressed mode). */
const V0 = 3, PASS = 7, HORIZONTAL = 8, EXTENSION = 9;
const MODES = lookup([['0000010', 0], ['000010', 1], ['010', 2], ['1', 3], ['011', 4], ['000011', 5], ['0000011', 6],
  ['0001', PASS], ['001', HORIZONTAL], ['0000001', EXTENSION]]);

class Bits {
  p = 0;
  private readonly end: number;
  constructor(private readonly b: Uint8Array) { this.end = b.length * 8; }
  get left(): number { return this.end - this.p; }
  bit(): number {
    if (this.p >= this.end) throw new Error('CCITT data ends early');
    const v = (this.b[this.p >> 3]! >> (7 - (this.p & 7))) & 1;
    this.p++;
    return v;
  }
  /** The next 13 bits (zeros past the end). */
  peek13(): number {
    const b = this.b, i = this.p >> 3;
    const w = ((b[i] ?? 0) << 16) | ((b[i + 1] ?? 0) << 8) | (b[i + 2] ?? 0);
    return (w >>> (11 - (this.p & 7))) & 0x1fff;
  }
  peek(n: number): number { return this.peek13() >>> (PEEK - n); } // next n ≤ 13 bits
  align(): void { this.p = (this.p + 7) & ~7; }
  /** Reads a code of `table` (see lookup) and returns its value. */
  code(table: Int32Array, what: string): number {
    const hit = table[this.peek13()]!;
    if (hit === 0) {
      if (this.left < PEEK) throw new Error('CCITT data ends early');
      throw new Error(`corrupt CCITT data (bad ${what} code at bit ${this.p})`);
    }
    const n = hit >>> 16;
    if (n > this.left) throw new Error('CCITT data ends early');
    this.p += n;
    return (hit & 0xffff) - 1;
  }
  /** One run: make-up codes then a terminating code. */
  run(black: boolean): number {
    let total = 0;
    for (;;) {
      const r = black ? this.code(BLACK, 'black run') : this.code(WHITE, 'white run');
      total += r;
      if (r < 64) return total;
    }
  }
  /** Skips an EOL (≥ 11 zeros, then a one) if one is next; true when it did. */
  eol(): boolean {
    if (this.peek(12) !== 1 && !(this.peek(11) === 0 && this.left >= 12)) return false;
    const start = this.p;
    let zeros = 0;
    while (this.left > 0 && this.peek(1) === 0) { this.p++; zeros++; }
    if (zeros >= 11 && this.left > 0) { this.p++; return true; }
    this.p = start;
    return false;
  }
}

/** Decodes `rows` rows of `width` pixels into packed rows (⌈width/8⌉ bytes each, 1 = black). */
export function decodeCcitt(src: Uint8Array, width: number, rows: number, o: CcittOptions): Uint8Array {
  if ((o.mode === 3 && o.t4 & 2) || (o.mode === 4 && o.t6 & 2)) throw new Error('CCITT uncompressed mode is not supported');
  const rowBytes = Math.ceil(width / 8), out = new Uint8Array(rowBytes * rows);
  const bits = new Bits(src);
  let ref: number[] = []; // changing elements of the row above (a white row at first)
  for (let y = 0; y < rows; y++) {
    let twoD = o.mode === 4;
    if (o.mode === 3) {
      bits.eol();
      if (o.t4 & 1) twoD = bits.bit() === 0;
    }
    const changes = twoD ? row2d(bits, width, ref) : row1d(bits, width);
    if (o.mode === 2) bits.align();
    paint(out, y * rowBytes, changes, width);
    ref = changes;
  }
  return out;
}

/** A 1-D (Modified Huffman) row: alternating white and black runs; returns the changing elements. */
function row1d(bits: Bits, width: number): number[] {
  const changes: number[] = [];
  let x = 0, black = false;
  while (x < width) {
    x += bits.run(black);
    if (x > width) throw new Error(`corrupt CCITT data (a run passes the end of a ${width}-pixel row)`);
    changes.push(x);
    black = !black;
  }
  return changes;
}

/** A 2-D row coded against `ref` (T.4 4.2 / T.6 2.2): returns the changing elements. */
function row2d(bits: Bits, width: number, ref: readonly number[]): number[] {
  const changes: number[] = [];
  let a0 = -1, black = false, i = 0;
  while (a0 < width) {
    // b1: the first changing element of the reference row right of a0 whose new colour is a0's opposite.
    while (i < ref.length && (ref[i]! <= a0 || (i & 1) !== (black ? 1 : 0))) i++;
    const b1 = ref[i] ?? width, b2 = ref[i + 1] ?? width;
    const mode = bits.code(MODES, 'mode');
    const start = Math.max(a0, 0);
    if (mode === PASS) {
      a0 = b2;
      continue;
    }
    if (mode === HORIZONTAL) {
      const a1 = start + bits.run(black), a2 = a1 + bits.run(!black);
      if (a2 > width) throw new Error(`corrupt CCITT data (a run passes the end of a ${width}-pixel row)`);
      changes.push(a1, a2);
      a0 = a2;
      if (a0 >= width) break;
      continue;
    }
    if (mode === EXTENSION) throw new Error('CCITT uncompressed mode is not supported');
    const a1 = b1 + mode - V0;
    if (a1 < start || a1 > width) throw new Error(`corrupt CCITT data (vertical code to ${a1} in a ${width}-pixel row)`);
    changes.push(a1);
    a0 = a1;
    black = !black;
    if (i > 0) i--; // the next b1 may lie left of this one
  }
  return changes.filter((c) => c < width);
}

/** Paints black the pixels between changing elements 1→2, 3→4, … of a row (whole bytes filled at once). */
function paint(out: Uint8Array, at: number, changes: readonly number[], width: number): void {
  for (let k = 0; k < changes.length; k += 2) {
    let x = changes[k]!;
    const to = Math.min(changes[k + 1] ?? width, width);
    for (; x < to && x & 7; x++) out[at + (x >> 3)]! |= 0x80 >> (x & 7);
    const whole = (to - x) >> 3;
    if (whole > 0) { out.fill(0xff, at + (x >> 3), at + (x >> 3) + whole); x += whole << 3; }
    for (; x < to; x++) out[at + (x >> 3)]! |= 0x80 >> (x & 7);
  }
}
