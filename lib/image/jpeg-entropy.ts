/**
 * JPEG parsing and entropy decoding for the libjpeg-turbo port (jpeg-port.ts): marker segments, Huffman
 * tables, sequential and progressive scans with restart intervals, into each component's DCT
 * coefficients (ITU-T T.81 Annexes B, F and G; progressive refinement as libjpeg's jdphuff.c does it).
 */

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
  /** By the next 10 bits: (code length << 8) | value for codes of up to 10 bits, else 0. */
  readonly lookup: Uint16Array;
}

export interface Component {
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
export interface Frame {
  readonly width: number;
  readonly height: number;
  readonly components: Component[];
  readonly hmax: number;
  readonly vmax: number;
  readonly adobeTransform: number | undefined;
  readonly jfif: boolean;
}

/** T.81 F.2.2.1 EXTEND: the signed value of the s extra bits v of a category-s coefficient. */
function extend(v: number, s: number): number {
  return v < 1 << (s - 1) ? v - (1 << s) + 1 : v;
}

/**
 * Entropy-coded data reader: 0xFF00 unstuffing, a 32-bit bit buffer, Huffman decoding with a 10-bit
 * lookahead. Bytes are taken one at a time, only when the bits are needed (up to 16 before a Huffman
 * code, up to n before n extra bits) and never past a marker, so where a scan or restart interval ends
 * does not depend on the fast paths. The sequential block decoder keeps the buffer in local variables.
 */
class Reader {
  buf = 0;
  cnt = 0;
  private readonly len: number;

  constructor(private readonly bytes: Uint8Array, public pos: number, private readonly fail: (why: string) => never) {
    this.len = bytes.length;
  }

  /** Appends one data byte to the bit buffer; false at a marker or the end of the file (nothing consumed). */
  private more(): boolean {
    const pos = this.pos;
    if (pos >= this.len) return false;
    const b = this.bytes[pos]!;
    if (b === 0xff) {
      if (this.bytes[pos + 1] !== 0) return false;
      this.pos = pos + 2;
    } else {
      this.pos = pos + 1;
    }
    this.buf = ((this.buf & 0xffffff) << 8) | b;
    this.cnt += 8;
    return true;
  }

  starved(): never {
    const next = this.bytes[this.pos + 1];
    return this.fail(this.pos >= this.bytes.length || next === undefined || next === 0xd9
      ? 'file is truncated inside the image data' : `image data runs into marker 0x${next.toString(16)} at byte ${this.pos}`);
  }

  bit(): number {
    if (this.cnt === 0 && !this.more()) this.starved();
    this.cnt--;
    return (this.buf >>> this.cnt) & 1;
  }

  bits(n: number): number {
    while (this.cnt < n && this.more());
    if (this.cnt < n) this.starved();
    this.cnt -= n;
    return (this.buf >>> this.cnt) & ((1 << n) - 1);
  }

  /** Value of category s (T.81 F.2.2.1 EXTEND). */
  receiveExtend(s: number): number {
    if (s === 0) return 0;
    return extend(this.bits(s), s);
  }

  decode(t: Huffman): number {
    while (this.cnt < 16 && this.more());
    if (this.cnt >= 10) {
      const e = t.lookup[(this.buf >>> (this.cnt - 10)) & 1023]!;
      if (e) {
        this.cnt -= e >> 8;
        return e & 0xff;
      }
    }
    return this.slowDecode(t);
  }

  /** Bit by bit (T.81 F.2.2.3), after the buffer was filled: codes over 10 bits, or near a marker. */
  slowDecode(t: Huffman): number {
    let code = 0;
    for (let l = 1; l <= 16; l++) {
      code = (code << 1) | this.bit();
      if (code <= t.maxcode[l]!) return t.values[t.valptr[l]! + code - t.mincode[l]!]!;
    }
    return this.fail('bad Huffman code');
  }

  /**
   * One sequential (baseline / extended) block into b[off..off+63] (zeroed beforehand), with the DC
   * predictor `pred`; returns the new predictor. The DC symbol goes through decode / receiveExtend; the
   * 63 AC symbols, the hot part, repeat their steps inline with the bit buffer in locals (same refills).
   */
  sequentialBlock(b: Int16Array, off: number, dc: Huffman, ac: Huffman, pred: number): number {
    pred += this.receiveExtend(this.decode(dc));
    b[off] = pred;
    const bytes = this.bytes, len = this.len, look = ac.lookup;
    let buf = this.buf, cnt = this.cnt, pos = this.pos;
    let e: number, s: number;
    for (let k = 1; k < 64; k++) {
      while (cnt < 16 && pos < len) {
        const x = bytes[pos]!;
        if (x === 0xff) { if (bytes[pos + 1] !== 0) break; pos += 2; } else pos++;
        buf = ((buf & 0xffffff) << 8) | x;
        cnt += 8;
      }
      let rs: number;
      e = cnt >= 10 ? look[(buf >>> (cnt - 10)) & 1023]! : 0;
      if (e) {
        cnt -= e >> 8;
        rs = e & 0xff;
      } else {
        this.buf = buf; this.cnt = cnt; this.pos = pos;
        rs = this.slowDecode(ac);
        buf = this.buf; cnt = this.cnt; pos = this.pos;
      }
      s = rs & 15;
      if (s) {
        k += rs >> 4;
        if (k > 63) this.fail('corrupt AC coefficients');
        while (cnt < s && pos < len) {
          const x = bytes[pos]!;
          if (x === 0xff) { if (bytes[pos + 1] !== 0) break; pos += 2; } else pos++;
          buf = ((buf & 0xffffff) << 8) | x;
          cnt += 8;
        }
        if (cnt < s) { this.buf = buf; this.cnt = cnt; this.pos = pos; this.starved(); }
        cnt -= s;
        b[off + ZIGZAG[k]!] = extend((buf >>> cnt) & ((1 << s) - 1), s);
      } else if (rs === 0xf0) {
        k += 15;
      } else {
        break;
      }
    }
    this.buf = buf; this.cnt = cnt; this.pos = pos;
    return pred;
  }

  /** Discards the rest of the current byte and expects RSTn (restart interval boundary). */
  restart(expected: number): void {
    this.buf = 0;
    this.cnt = 0; // the rest of the byte before the marker is padding
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
  const lookup = new Uint16Array(1024);
  let code = 0, k = 0;
  for (let l = 1; l <= 16; l++) {
    const n = bits[l - 1]!;
    if (n) {
      valptr[l] = k;
      mincode[l] = code;
      for (let i = 0; i < n && l <= 10; i++) {
        const first = (code + i) << (10 - l);
        if (first >= 1024) break; // an over-subscribed table: left to the bit-by-bit path
        lookup.fill((l << 8) | values[k + i]!, first, Math.min(1024, first + (1 << (10 - l))));
      }
      code += n;
      k += n;
      maxcode[l] = code - 1;
    }
    code <<= 1;
  }
  return { maxcode, mincode, valptr, values, lookup };
}

/**
 * The next marker at or after `p`, as libjpeg's `next_marker` (and Pillow's header parser) finds it:
 * bytes other than 0xFF before it are skipped ("extraneous bytes before marker", a warning there),
 * then fill bytes, and an 0xFF00 pair is skipped as stuffing. Undefined at the end of the data.
 * @returns the marker code and the position after it
 */
export function nextMarker(bytes: Uint8Array, p: number): { m: number; p: number } | undefined {
  for (;;) {
    while (p < bytes.length && bytes[p] !== 0xff) p++;
    while (p < bytes.length && bytes[p] === 0xff) p++;
    if (p >= bytes.length) return undefined;
    const m = bytes[p++]!;
    if (m !== 0) return { m, p };
  }
}

/** Parses the file and decodes every scan into DCT coefficients. */
export function readFrame(bytes: Uint8Array, fail: (why: string) => never): Frame {
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
    const next = nextMarker(bytes, p);
    if (!next) return fail('file is truncated (no end-of-image marker)');
    const m = next.m;
    p = next.p;
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
      }
      // Every block's DC coefficient takes at least one bit, so a file with fewer bits than blocks is cut
      // short: refuse it before allocating 128 bytes per block (a 100-byte file may claim 9000x9000 CMYK).
      const blocks = comps.reduce((n, c) => n + c.scanBlocksPerLine * c.scanBlocksPerColumn, 0);
      if (bytes.length * 8 < blocks) fail(`file is truncated (${bytes.length} bytes cannot hold ${blocks} blocks of ${width}x${height})`);
      for (const c of comps) c.coefs = new Int16Array(c.blocksPerLine * c.blocksPerColumn * 64);
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
                if (b[idx] !== 0) { if (r.bit() && (b[idx]! & p1) === 0) b[idx] = b[idx]! + (b[idx]! >= 0 ? p1 : m1); } // refine
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
              if (b[idx] !== 0) { if (r.bit() && (b[idx]! & p1) === 0) b[idx] = b[idx]! + (b[idx]! >= 0 ? p1 : m1); } // refine
            }
            eobrun--;
          }
        }
      };
      const f = frame!;
      let mcu = 0, rstIndex = 0;
      if (!progressive) { // sequential scans: one tight loop per layout, blocks decoded by Reader.sequentialBlock
        if (ns === 1) {
          const c = comps[0]!.c, dc = comps[0]!.dc!, ac = comps[0]!.ac!, b = c.coefs;
          const cols = c.scanBlocksPerLine, rows = c.scanBlocksPerColumn, stride = c.blocksPerLine * 64;
          let pred = 0;
          for (let row = 0; row < rows; row++) {
            for (let col = 0, off = row * stride; col < cols; col++, off += 64) {
              if (restartInterval && mcu === restartInterval) {
                r.restart(rstIndex);
                rstIndex = (rstIndex + 1) & 7;
                mcu = 0;
                pred = 0;
              }
              pred = r.sequentialBlock(b, off, dc, ac, pred);
              mcu++;
            }
          }
          c.dcPred = pred;
        } else {
          const cs = comps.map((x) => x.c), dcs = comps.map((x) => x.dc!), acs = comps.map((x) => x.ac!);
          for (let mr = 0; mr < f.mcusPerColumn; mr++) {
            for (let mc = 0; mc < f.mcusPerLine; mc++) {
              if (restartInterval && mcu === restartInterval) {
                r.restart(rstIndex);
                rstIndex = (rstIndex + 1) & 7;
                mcu = 0;
                for (let i = 0; i < ns; i++) cs[i]!.dcPred = 0;
              }
              for (let i = 0; i < ns; i++) {
                const c = cs[i]!, dc = dcs[i]!, ac = acs[i]!, b = c.coefs, ch = c.h, cv = c.v, bpl = c.blocksPerLine;
                let pred = c.dcPred;
                for (let v = 0; v < cv; v++) {
                  for (let h = 0, off = ((mr * cv + v) * bpl + mc * ch) * 64; h < ch; h++, off += 64) {
                    pred = r.sequentialBlock(b, off, dc, ac, pred);
                  }
                }
                c.dcPred = pred;
              }
              mcu++;
            }
          }
        }
        p = r.endScan();
        continue;
      }
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
