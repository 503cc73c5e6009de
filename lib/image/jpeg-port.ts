/**
 * A TypeScript port of the libjpeg-turbo stages that Pillow's JPEG pixels go through, for the files
 * the WebAssembly build (`@jsquash/jpeg`, used for everything else) cannot reproduce:
 *  - 4-component (CMYK) files: that build only outputs RGBA and libjpeg-turbo cannot convert CMYK to
 *    it, while Pillow asks for the raw CMYK samples and converts them itself;
 *  - 3-component files with a component sampled 1x2 (4:4:0, what lossless rotation makes of 4:2:2):
 *    that build upsamples them by replication, where Pillow's libjpeg-turbo 2.1 uses its fancy 1h2v
 *    filter (measured: 11% of the values differ).
 * No npm decoder reproduces libjpeg-turbo's samples (pure-JS decoders use other IDCTs: up to 45 levels
 * off, see the fixtures README), so the stages are ported here from their published behaviour:
 *  - Huffman entropy decoding, sequential (SOF0/SOF1) and progressive (SOF2), with restart intervals
 *    (ITU-T T.81 Annexes F and G; progressive refinement as libjpeg's jdphuff.c does it);
 *  - dequantisation and the integer "islow" IDCT (libjpeg's jidctint.c: 13-bit constants, 2 extra
 *    bits between passes, its range-limit table);
 *  - upsampling as jdsample.c chooses it: fancy (triangle) 2h1v, 1h2v and 2h2v filters with their
 *    rounding and edge rules (context rows duplicated at the top and bottom of the image), replication
 *    for other integer ratios;
 *  - colour: YCbCr -> RGB with jdcolor.c's fixed-point tables (colour space chosen as
 *    jdapimin.c does: JFIF, then Adobe transform, then component ids); CMYK as Pillow reads it
 *    ("CMYK;I", inverted) and converts it (`cmyk2rgb`).
 * YCCK (Adobe transform 2), 12-bit samples, arithmetic coding and lossless/hierarchical frames are
 * refused with an ImageError rather than decoded approximately. Verified against Pillow 9.4 with
 * libjpeg-turbo 2.1 (the fixtures' reference): identical bytes on every file in images-extra.
 */
import { ImageError, named, type RgbImage } from './errors.js';

/** Natural (row-major) index of each zigzag position. */
const ZIGZAG = Uint8Array.from([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21, 28,
  35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
]);

interface Huffman {
  /** Largest code of each length 1..16 (-1 when none), smallest code, index of its first value. */
  readonly maxcode: Int32Array;
  readonly mincode: Int32Array;
  readonly valptr: Int32Array;
  readonly values: Uint8Array;
  /** By the next 8 bits: (code length << 8) | value for codes of up to 8 bits, else 0. */
  readonly lookup: Uint16Array;
}

interface Component {
  readonly id: number;
  readonly h: number;
  readonly v: number;
  readonly tq: number;
  /** Quantisation table latched when the component first appears in a scan (as libjpeg does). */
  quant?: Int32Array;
  /** Blocks per line / column as allocated (whole MCUs) and as covered by a non-interleaved scan. */
  blocksPerLine: number;
  blocksPerColumn: number;
  scanBlocksPerLine: number;
  scanBlocksPerColumn: number;
  /** 64 coefficients per block, natural order (16-bit like libjpeg's JCOEF, so overflow wraps alike). */
  coefs: Int16Array;
  dcPred: number;
}

/** Decoded samples of each component at its own resolution, and what the upsampler needs. */
interface Frame {
  readonly width: number;
  readonly height: number;
  readonly components: Component[];
  readonly hmax: number;
  readonly vmax: number;
  readonly adobeTransform: number | undefined;
  readonly jfif: boolean;
}

/** Entropy-coded data reader: 0xFF00 unstuffing, bit buffer, Huffman decoding with an 8-bit lookahead. */
class Reader {
  private bitBuf = 0;
  private bitCount = 0;

  constructor(private readonly bytes: Uint8Array, private pos: number, private readonly fail: (why: string) => never) {}

  /** Appends one data byte to the bit buffer; false at a marker or the end of the file (nothing consumed). */
  private more(): boolean {
    const b = this.bytes[this.pos];
    if (b === undefined) return false;
    if (b === 0xff) {
      if (this.bytes[this.pos + 1] !== 0) return false;
      this.pos += 2;
    } else {
      this.pos++;
    }
    this.bitBuf = ((this.bitBuf & 0xffffff) << 8) | b;
    this.bitCount += 8;
    return true;
  }

  private starved(): never {
    const next = this.bytes[this.pos + 1];
    return this.fail(this.pos >= this.bytes.length || next === undefined || next === 0xd9
      ? 'file is truncated inside the image data' : `image data runs into marker 0x${next.toString(16)} at byte ${this.pos}`);
  }

  bit(): number {
    if (this.bitCount === 0 && !this.more()) this.starved();
    this.bitCount--;
    return (this.bitBuf >>> this.bitCount) & 1;
  }

  bits(n: number): number {
    while (this.bitCount < n && this.more());
    if (this.bitCount < n) this.starved();
    this.bitCount -= n;
    return (this.bitBuf >>> this.bitCount) & ((1 << n) - 1);
  }

  /** Value of category s (T.81 F.2.2.1 EXTEND). */
  receiveExtend(s: number): number {
    if (s === 0) return 0;
    const v = this.bits(s);
    return v < 1 << (s - 1) ? v - (1 << s) + 1 : v;
  }

  decode(t: Huffman): number {
    while (this.bitCount < 16 && this.more());
    if (this.bitCount >= 8) {
      const e = t.lookup[(this.bitBuf >>> (this.bitCount - 8)) & 0xff]!;
      if (e) {
        this.bitCount -= e >> 8;
        return e & 0xff;
      }
    }
    let code = 0;
    for (let l = 1; l <= 16; l++) {
      code = (code << 1) | this.bit();
      if (code <= t.maxcode[l]!) return t.values[t.valptr[l]! + code - t.mincode[l]!]!;
    }
    return this.fail('bad Huffman code');
  }

  /** Discards the rest of the current byte and expects RSTn (restart interval boundary). */
  restart(expected: number): void {
    this.bitBuf = 0;
    this.bitCount = 0; // the rest of the byte before the marker is padding
    let p = this.pos;
    while (this.bytes[p] === 0xff && this.bytes[p + 1] === 0xff) p++; // fill bytes
    if (this.bytes[p] !== 0xff || this.bytes[p + 1] !== 0xd0 + expected) this.fail(`expected restart marker RST${expected} at byte ${p}`);
    this.pos = p + 2;
  }

  /** Offset of the marker that ends this scan (bytes before it are skipped, as libjpeg does with a warning). */
  endScan(): number {
    let p = this.pos;
    while (p + 1 < this.bytes.length && !(this.bytes[p] === 0xff && this.bytes[p + 1] !== 0 && this.bytes[p + 1] !== 0xff)) p++;
    return p;
  }
}

function buildHuffman(bits: Uint8Array, values: Uint8Array): Huffman {
  const maxcode = new Int32Array(18).fill(-1), mincode = new Int32Array(17), valptr = new Int32Array(17);
  const lookup = new Uint16Array(256);
  let code = 0, k = 0;
  for (let l = 1; l <= 16; l++) {
    const n = bits[l - 1]!;
    if (n) {
      valptr[l] = k;
      mincode[l] = code;
      for (let i = 0; i < n && l <= 8; i++) {
        const first = (code + i) << (8 - l);
        if (first >= 256) break; // an over-subscribed table: left to the bit-by-bit path
        lookup.fill((l << 8) | values[k + i]!, first, Math.min(256, first + (1 << (8 - l))));
      }
      code += n;
      k += n;
      maxcode[l] = code - 1;
    }
    code <<= 1;
  }
  return { maxcode, mincode, valptr, values, lookup };
}

/** Parses the file and decodes every scan into DCT coefficients. */
function readFrame(bytes: Uint8Array, fail: (why: string) => never): Frame {
  const quant: (Int32Array | undefined)[] = [];
  const dcTables: (Huffman | undefined)[] = [];
  const acTables: (Huffman | undefined)[] = [];
  let frame: { width: number; height: number; progressive: boolean; components: Component[]; hmax: number; vmax: number;
    mcusPerLine: number; mcusPerColumn: number } | undefined;
  let restartInterval = 0;
  let adobeTransform: number | undefined;
  let jfif = false;
  let eobrun = 0;
  let p = 2;
  for (;;) {
    if (p + 1 >= bytes.length) fail('file is truncated (no end-of-image marker)');
    if (bytes[p] !== 0xff) fail(`expected a marker at byte ${p}`);
    while (bytes[p + 1] === 0xff) p++;
    const m = bytes[p + 1]!;
    p += 2;
    if (m === 0xd9) break; // EOI
    if (m === 0x01 || (m >= 0xd0 && m <= 0xd7)) continue;
    if (p + 2 > bytes.length) fail('file is truncated');
    const len = (bytes[p]! << 8) | bytes[p + 1]!;
    if (len < 2 || p + len > bytes.length) fail('file is truncated');
    const seg = bytes.subarray(p + 2, p + len);
    p += len;
    if (m === 0xdb) { // DQT
      let q = 0;
      while (q < seg.length) {
        const pq = seg[q]! >> 4, tq = seg[q]! & 15;
        if (pq > 1 || tq > 3 || q + 1 + 64 * (pq + 1) > seg.length) fail('bad quantisation table');
        const t = new Int32Array(64);
        for (let k = 0; k < 64; k++) t[ZIGZAG[k]!] = pq ? (seg[q + 1 + 2 * k]! << 8) | seg[q + 2 + 2 * k]! : seg[q + 1 + k]!;
        quant[tq] = t;
        q += 1 + 64 * (pq + 1);
      }
    } else if (m === 0xc4) { // DHT
      let q = 0;
      while (q < seg.length) {
        const tc = seg[q]! >> 4, th = seg[q]! & 15;
        if (tc > 1 || th > 3 || q + 17 > seg.length) fail('bad Huffman table');
        const bits = seg.subarray(q + 1, q + 17);
        const n = bits.reduce((a, b) => a + b, 0);
        if (n > 256 || q + 17 + n > seg.length) fail('bad Huffman table');
        (tc === 0 ? dcTables : acTables)[th] = buildHuffman(bits, seg.slice(q + 17, q + 17 + n));
        q += 17 + n;
      }
    } else if (m === 0xdd) { // DRI
      if (seg.length < 2) fail('bad restart interval');
      restartInterval = (seg[0]! << 8) | seg[1]!;
    } else if (m === 0xee) { // APP14 Adobe
      if (seg.length >= 12 && String.fromCharCode(...seg.subarray(0, 5)) === 'Adobe') adobeTransform = seg[11];
    } else if (m === 0xe0) { // APP0 JFIF (libjpeg requires the 14-byte body)
      if (seg.length >= 14 && String.fromCharCode(...seg.subarray(0, 5)) === 'JFIF\0') jfif = true;
    } else if (m === 0xc0 || m === 0xc1 || m === 0xc2) {
      if (frame) fail('more than one frame');
      if (seg.length < 6 || seg[0] !== 8) fail(seg[0] === 12 ? '12-bit samples are not supported' : 'bad frame header');
      const height = (seg[1]! << 8) | seg[2]!, width = (seg[3]! << 8) | seg[4]!, n = seg[5]!;
      if (!width || !height || seg.length < 6 + 3 * n) fail('bad frame header');
      const comps: Component[] = [];
      for (let i = 0; i < n; i++) {
        const h = seg[7 + 3 * i]! >> 4, v = seg[7 + 3 * i]! & 15, tq = seg[8 + 3 * i]!;
        if (h < 1 || h > 4 || v < 1 || v > 4 || tq > 3) fail('bad component sampling factors');
        comps.push({ id: seg[6 + 3 * i]!, h, v, tq, blocksPerLine: 0, blocksPerColumn: 0, scanBlocksPerLine: 0, scanBlocksPerColumn: 0,
          coefs: new Int16Array(0), dcPred: 0 });
      }
      const hmax = Math.max(...comps.map((c) => c.h)), vmax = Math.max(...comps.map((c) => c.v));
      const mcusPerLine = Math.ceil(width / (8 * hmax)), mcusPerColumn = Math.ceil(height / (8 * vmax));
      for (const c of comps) {
        c.blocksPerLine = mcusPerLine * c.h;
        c.blocksPerColumn = mcusPerColumn * c.v;
        c.scanBlocksPerLine = Math.ceil(Math.ceil((width * c.h) / hmax) / 8);
        c.scanBlocksPerColumn = Math.ceil(Math.ceil((height * c.v) / vmax) / 8);
        c.coefs = new Int16Array(c.blocksPerLine * c.blocksPerColumn * 64);
      }
      frame = { width, height, progressive: m === 0xc2, components: comps, hmax, vmax, mcusPerLine, mcusPerColumn };
    } else if ((m >= 0xc3 && m <= 0xcf) && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) {
      fail('lossless, hierarchical and arithmetic-coded JPEG files are not supported');
    } else if (m === 0xda) { // SOS
      if (!frame) fail('scan before the frame header');
      const ns = seg[0]!;
      if (!ns || ns > 4 || seg.length < 4 + 2 * ns) fail('bad scan header');
      const comps: { c: Component; dc?: Huffman; ac?: Huffman }[] = [];
      for (let i = 0; i < ns; i++) {
        const c = frame!.components.find((x) => x.id === seg[1 + 2 * i]);
        if (!c) fail('scan names an unknown component');
        const td = seg[2 + 2 * i]! >> 4, ta = seg[2 + 2 * i]! & 15;
        if (!c!.quant) {
          const q = quant[c!.tq];
          if (!q) fail(`quantisation table ${c!.tq} is not defined`);
          c!.quant = q!.slice();
        }
        comps.push({ c: c!, dc: dcTables[td], ac: acTables[ta] });
      }
      const ss = seg[1 + 2 * ns]!, se = seg[2 + 2 * ns]!, ah = seg[3 + 2 * ns]! >> 4, al = seg[3 + 2 * ns]! & 15;
      const progressive = frame!.progressive;
      if (!progressive && (ss !== 0 || se !== 63 || ah !== 0 || al !== 0)) fail('bad sequential scan parameters');
      if (progressive && (se > 63 || ss > se || (ss === 0 && se !== 0) || (ss > 0 && ns !== 1) || al > 13)) fail('bad progressive scan parameters');
      for (const { c, dc, ac } of comps) {
        const needDc = !progressive || (ss === 0 && ah === 0), needAc = !progressive ? true : ss > 0;
        if ((needDc && !dc) || (needAc && !ac)) fail(`scan uses an undefined Huffman table (component ${c.id})`);
        c.dcPred = 0;
      }
      eobrun = 0;
      const r = new Reader(bytes, p, fail);
      const decodeBlock = (c: Component, dc: Huffman | undefined, ac: Huffman | undefined, off: number): void => {
        const b = c.coefs;
        if (!progressive) {
          c.dcPred += r.receiveExtend(r.decode(dc!));
          b[off] = c.dcPred;
          for (let k = 1; k < 64; k++) {
            const rs = r.decode(ac!), run = rs >> 4, s = rs & 15;
            if (s) {
              k += run;
              if (k > 63) fail('corrupt AC coefficients');
              b[off + ZIGZAG[k]!] = r.receiveExtend(s);
            } else if (run === 15) {
              k += 15;
            } else {
              break;
            }
          }
        } else if (ss === 0) {
          if (ah === 0) {
            c.dcPred += r.receiveExtend(r.decode(dc!));
            b[off] = c.dcPred * (1 << al);
          } else if (r.bit()) {
            b[off]! |= 1 << al;
          }
        } else if (ah === 0) {
          if (eobrun > 0) { eobrun--; return; }
          for (let k = ss; k <= se; k++) {
            const rs = r.decode(ac!), run = rs >> 4, s = rs & 15;
            if (s) {
              k += run;
              if (k > 63) fail('corrupt AC coefficients');
              b[off + ZIGZAG[k]!] = r.receiveExtend(s) * (1 << al);
            } else if (run < 15) {
              eobrun = (1 << run) - 1;
              if (run) eobrun += r.bits(run);
              break;
            } else {
              k += 15;
            }
          }
        } else {
          const p1 = 1 << al, m1 = -1 << al;
          let k = ss;
          const refine = (idx: number) => {
            if (r.bit() && (b[idx]! & p1) === 0) b[idx] = b[idx]! + (b[idx]! >= 0 ? p1 : m1);
          };
          if (eobrun === 0) {
            for (; k <= se; k++) {
              const rs = r.decode(ac!);
              let run = rs >> 4, s = rs & 15;
              if (s) {
                if (s !== 1) fail('corrupt refinement scan');
                s = r.bit() ? p1 : m1;
              } else if (run !== 15) {
                eobrun = 1 << run;
                if (run) eobrun += r.bits(run);
                break;
              }
              do {
                const idx = off + ZIGZAG[k]!;
                if (b[idx] !== 0) refine(idx);
                else if (--run < 0) break;
                k++;
              } while (k <= se);
              if (s) {
                if (k > 63) fail('corrupt refinement scan');
                b[off + ZIGZAG[k]!] = s;
              }
            }
          }
          if (eobrun > 0) {
            for (; k <= se; k++) {
              const idx = off + ZIGZAG[k]!;
              if (b[idx] !== 0) refine(idx);
            }
            eobrun--;
          }
        }
      };
      const f = frame!;
      let mcu = 0, rstIndex = 0;
      const total = ns === 1 ? comps[0]!.c.scanBlocksPerLine * comps[0]!.c.scanBlocksPerColumn : f.mcusPerLine * f.mcusPerColumn;
      for (let n = 0; n < total; n++) {
        if (restartInterval && mcu === restartInterval) {
          r.restart(rstIndex);
          rstIndex = (rstIndex + 1) & 7;
          mcu = 0;
          eobrun = 0;
          for (const { c } of comps) c.dcPred = 0;
        }
        if (ns === 1) {
          const { c, dc, ac } = comps[0]!;
          const row = Math.floor(n / c.scanBlocksPerLine), col = n % c.scanBlocksPerLine;
          decodeBlock(c, dc, ac, (row * c.blocksPerLine + col) * 64);
        } else {
          const mr = Math.floor(n / f.mcusPerLine), mc = n % f.mcusPerLine;
          for (const { c, dc, ac } of comps) {
            for (let v = 0; v < c.v; v++) {
              for (let h = 0; h < c.h; h++) {
                decodeBlock(c, dc, ac, ((mr * c.v + v) * c.blocksPerLine + mc * c.h + h) * 64);
              }
            }
          }
        }
        mcu++;
      }
      p = r.endScan();
    }
    // other APPn, COM, DNL...: skipped
  }
  if (!frame) return fail('no frame header');
  return { width: frame.width, height: frame.height, components: frame.components, hmax: frame.hmax, vmax: frame.vmax, adobeTransform, jfif };
}

// libjpeg's islow IDCT constants: FIX(x) = round(x * 2^13).
const CONST_BITS = 13, PASS1_BITS = 2;
const F0_298 = 2446, F0_390 = 3196, F0_541 = 4433, F0_765 = 6270, F0_899 = 7373, F1_175 = 9633, F1_501 = 12299,
  F1_847 = 15137, F1_961 = 16069, F2_053 = 16819, F2_562 = 20995, F3_072 = 25172;

/** libjpeg's DESCALE(x, n): add 2^(n-1), arithmetic shift by n (exact on doubles up to 2^53). */
const PASS1_SHIFT = CONST_BITS - PASS1_BITS, PASS2_SHIFT = CONST_BITS + PASS1_BITS + 3;
const PASS1_HALF = 2 ** (PASS1_SHIFT - 1), PASS1_SCALE = 2 ** -PASS1_SHIFT;
const PASS2_HALF = 2 ** (PASS2_SHIFT - 1), PASS2_SCALE = 2 ** -PASS2_SHIFT;
function descale1(x: number): number {
  return Math.floor((x + PASS1_HALF) * PASS1_SCALE);
}
function descale2(x: number): number {
  return Math.floor((x + PASS2_HALF) * PASS2_SCALE);
}

/** libjpeg's post-IDCT range limit: (x & 1023) read as the table jdmaster.c builds (centre 128). */
function rangeLimit(x: number): number {
  const i = ((x % 1024) + 1024) % 1024;
  return i < 128 ? i + 128 : i < 512 ? 255 : i < 896 ? 0 : i - 896;
}

/**
 * libjpeg's 1-D islow butterfly: v[0..7] (one column or row) -> t[0..7], before descaling. Both passes
 * use it; they differ only in what they feed it and how they descale (see idctBlock).
 */
function butterfly(v: Float64Array, t: Float64Array): void {
  // Even part: the rotator is sqrt(2)·c(-6).
  let z1 = (v[2]! + v[6]!) * F0_541;
  let tmp2 = z1 + v[6]! * -F1_847;
  let tmp3 = z1 + v[2]! * F0_765;
  let tmp0 = (v[0]! + v[4]!) * 2 ** CONST_BITS;
  let tmp1 = (v[0]! - v[4]!) * 2 ** CONST_BITS;
  const tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;
  // Odd part.
  tmp0 = v[7]!; tmp1 = v[5]!; tmp2 = v[3]!; tmp3 = v[1]!;
  z1 = tmp0 + tmp3;
  let z2 = tmp1 + tmp2, z3 = tmp0 + tmp2, z4 = tmp1 + tmp3;
  const z5 = (z3 + z4) * F1_175;
  tmp0 *= F0_298; tmp1 *= F2_053; tmp2 *= F3_072; tmp3 *= F1_501;
  z1 *= -F0_899; z2 *= -F2_562; z3 *= -F1_961; z4 *= -F0_390;
  z3 += z5; z4 += z5;
  tmp0 += z1 + z3; tmp1 += z2 + z4; tmp2 += z2 + z3; tmp3 += z1 + z4;
  t[0] = tmp10 + tmp3; t[7] = tmp10 - tmp3; t[1] = tmp11 + tmp2; t[6] = tmp11 - tmp2;
  t[2] = tmp12 + tmp1; t[5] = tmp12 - tmp1; t[3] = tmp13 + tmp0; t[4] = tmp13 - tmp0;
}

const bv = new Float64Array(8), bt = new Float64Array(8);

/** One block: dequantise + islow IDCT into out (row stride `stride`); ws is the 8x8 int workspace. */
function idctBlock(coefs: Int16Array, off: number, q: Int32Array, ws: Int32Array, out: Uint8Array, o: number, stride: number): void {
  for (let col = 0; col < 8; col++) { // pass 1: columns, kept with PASS1_BITS extra bits (int, as in libjpeg)
    for (let k = 0; k < 8; k++) bv[k] = coefs[off + k * 8 + col]! * q[k * 8 + col]!;
    butterfly(bv, bt);
    for (let k = 0; k < 8; k++) ws[k * 8 + col] = descale1(bt[k]!);
  }
  for (let row = 0; row < 8; row++) { // pass 2: rows, descaled to samples through the range limit
    for (let k = 0; k < 8; k++) bv[k] = ws[row * 8 + k]!;
    butterfly(bv, bt);
    for (let k = 0; k < 8; k++) out[o + row * stride + k] = rangeLimit(descale2(bt[k]!));
  }
}

/** Component samples at full image resolution ([height, width]), upsampled as libjpeg-turbo does. */
function componentPlane(f: Frame, c: Component, fail: (why: string) => never): Uint8Array {
  const sw = c.blocksPerLine * 8, sh = c.blocksPerColumn * 8;
  const samples = new Uint8Array(sw * sh);
  const ws = new Int32Array(64);
  for (let by = 0; by < c.blocksPerColumn; by++) {
    for (let bx = 0; bx < c.blocksPerLine; bx++) {
      idctBlock(c.coefs, (by * c.blocksPerLine + bx) * 64, c.quant!, ws, samples, by * 8 * sw + bx * 8, sw);
    }
  }
  const W = f.width, H = f.height, out = new Uint8Array(W * H);
  const dw = Math.ceil((W * c.h) / f.hmax), dh = Math.ceil((H * c.v) / f.vmax);
  const hx = f.hmax / c.h, vx = f.vmax / c.v;
  const at = (x: number, y: number) => samples[y * sw + x]!;
  if (hx === 1 && vx === 1) {
    for (let y = 0; y < H; y++) out.set(samples.subarray(y * sw, y * sw + W), y * W);
  } else if (hx === 2 && (vx === 1 || vx === 2) && dw <= 2) {
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[y * W + x] = at(x >> 1, vx === 2 ? y >> 1 : y);
  } else if (hx === 2 && vx === 1) { // h2v1_fancy_upsample
    const row = new Uint8Array(2 * dw);
    for (let y = 0; y < H; y++) {
      row[0] = at(0, y);
      row[1] = (at(0, y) * 3 + at(1, y) + 2) >> 2;
      for (let x = 1; x < dw - 1; x++) {
        const v3 = at(x, y) * 3;
        row[2 * x] = (v3 + at(x - 1, y) + 1) >> 2;
        row[2 * x + 1] = (v3 + at(x + 1, y) + 2) >> 2;
      }
      row[2 * dw - 2] = (at(dw - 1, y) * 3 + at(dw - 2, y) + 1) >> 2;
      row[2 * dw - 1] = at(dw - 1, y);
      out.set(row.subarray(0, W), y * W);
    }
  } else if (hx === 2 && vx === 2) { // h2v2_fancy_upsample; context rows duplicate the first / last real row
    const row = new Uint8Array(2 * dw);
    for (let y = 0; y < H; y++) {
      const iy = y >> 1, other = Math.min(dh - 1, Math.max(0, (y & 1) === 0 ? iy - 1 : iy + 1));
      const colsum = (x: number) => at(x, iy) * 3 + at(x, other);
      let last = colsum(0), cur = last, next = colsum(1);
      row[0] = (cur * 4 + 8) >> 4;
      row[1] = (cur * 3 + next + 7) >> 4;
      last = cur; cur = next;
      for (let x = 1; x < dw - 1; x++) {
        next = colsum(x + 1);
        row[2 * x] = (cur * 3 + last + 8) >> 4;
        row[2 * x + 1] = (cur * 3 + next + 7) >> 4;
        last = cur; cur = next;
      }
      row[2 * dw - 2] = (cur * 3 + last + 8) >> 4;
      row[2 * dw - 1] = (cur * 4 + 7) >> 4;
      out.set(row.subarray(0, W), y * W);
    }
  } else if (hx === 1 && vx === 2) { // h1v2_fancy_upsample (4:4:0); same context rows as 2h2v
    for (let y = 0; y < H; y++) {
      const iy = y >> 1, upper = (y & 1) === 0;
      const other = Math.min(dh - 1, Math.max(0, upper ? iy - 1 : iy + 1)), bias = upper ? 1 : 2;
      for (let x = 0; x < W; x++) out[y * W + x] = (at(x, iy) * 3 + at(x, other) + bias) >> 2;
    }
  } else if (Number.isInteger(hx) && Number.isInteger(vx)) { // int_upsample: replication
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[y * W + x] = at(Math.floor(x / hx), Math.floor(y / vx));
  } else {
    fail(`component sampling ${c.h}x${c.v} against ${f.hmax}x${f.vmax} is not supported`);
  }
  return out;
}

// jdcolor.c: YCbCr -> RGB with 16-bit fixed-point tables.
const SCALEBITS = 16, ONE_HALF = 1 << (SCALEBITS - 1);
const fix = (x: number): number => Math.floor(x * (1 << SCALEBITS) + 0.5);
const CR_R = new Int32Array(256), CB_B = new Int32Array(256), CR_G = new Int32Array(256), CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (fix(1.402) * x + ONE_HALF) >> SCALEBITS;
  CB_B[i] = (fix(1.772) * x + ONE_HALF) >> SCALEBITS;
  CR_G[i] = -fix(0.71414) * x;
  CB_G[i] = -fix(0.34414) * x + ONE_HALF;
}
const clamp255 = (v: number): number => (v < 0 ? 0 : v > 255 ? 255 : v);

/** Whether the port must decode a JPEG with these sampling factors ([h, v] per component). */
export function jpegNeedsPort(sampling: readonly (readonly [number, number])[]): boolean {
  if (sampling.length === 4) return true;
  const hmax = Math.max(...sampling.map(([h]) => h)), vmax = Math.max(...sampling.map(([, v]) => v));
  return sampling.length === 3 && sampling.some(([h, v]) => hmax === h && vmax === 2 * v);
}

/**
 * Decodes a 3-component (YCbCr or RGB) or 4-component (CMYK) JPEG to RGB as Pillow does (`Image.open`,
 * then `convert("RGB")` for CMYK).
 * @throws ImageError for YCCK, unsupported layouts and corrupt or truncated data
 */
export function portJpegToRgb(bytes: Uint8Array, name?: string): RgbImage {
  const fail = (why: string): never => { throw new ImageError(named(name, `JPEG: ${why}.`)); };
  const f = readFrame(bytes, fail);
  const nc = f.components.length;
  if (nc !== 3 && nc !== 4) fail(`expected 3 or 4 components, found ${nc}`);
  const n = f.width * f.height, rgb = new Uint8Array(n * 3);
  if (nc === 4) {
    if (f.adobeTransform === 2) fail('YCCK (Adobe transform 2) is not supported; save the image as RGB or plain CMYK');
    if (f.adobeTransform !== undefined && f.adobeTransform !== 0) fail(`unknown Adobe colour transform ${f.adobeTransform}`);
    const [cp, mp, yp, kp] = f.components.map((c) => componentPlane(f, c, fail)) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
    for (let i = 0; i < n; i++) {
      // Pillow: raw mode "CMYK;I" inverts the samples, then cmyk2rgb: nk = 255 - k, v = nk - nk·x/255 (rounded).
      const nk = kp[i]!; // 255 - (255 - k)
      rgb[3 * i] = nk - muldiv255(255 - cp[i]!, nk);
      rgb[3 * i + 1] = nk - muldiv255(255 - mp[i]!, nk);
      rgb[3 * i + 2] = nk - muldiv255(255 - yp[i]!, nk);
    }
    return { width: f.width, height: f.height, data: rgb };
  }
  const ids = f.components.map((c) => c.id);
  const isRgb = !f.jfif && (f.adobeTransform !== undefined ? f.adobeTransform === 0 : ids[0] === 82 && ids[1] === 71 && ids[2] === 66);
  const [p0, p1, p2] = f.components.map((c) => componentPlane(f, c, fail)) as [Uint8Array, Uint8Array, Uint8Array];
  for (let i = 0; i < n; i++) {
    if (isRgb) {
      rgb[3 * i] = p0[i]!; rgb[3 * i + 1] = p1[i]!; rgb[3 * i + 2] = p2[i]!;
      continue;
    }
    const y = p0[i]!, cb = p1[i]!, cr = p2[i]!;
    rgb[3 * i] = clamp255(y + CR_R[cr]!);
    rgb[3 * i + 1] = clamp255(y + ((CB_G[cb]! + CR_G[cr]!) >> SCALEBITS));
    rgb[3 * i + 2] = clamp255(y + CB_B[cb]!);
  }
  return { width: f.width, height: f.height, data: rgb };
}

/** Pillow's MULDIV255: a·b/255 rounded with integer arithmetic. */
function muldiv255(a: number, b: number): number {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
}
