/**
 * The EXIF orientation of a PNG as Pillow 9.4's `ImageOps.exif_transpose` finds it (what
 * transformers' `load_image` applies). Pillow gathers the text and EXIF chunks into `image.info`, one
 * entry per keyword (a later chunk replaces an earlier one), and then reads, in this order:
 * - `info["exif"]`: the eXIf chunk, or a tEXt chunk whose keyword is `exif`;
 * - else `info["Raw profile type exif"]`: the hex dump ImageMagick writes in a tEXt, zTXt or iTXt chunk
 *   ("\nexif\n   <length>\n<hex lines>"), the hex from its fourth line on;
 * - and, when that EXIF holds no orientation entry, `tiff:Orientation` in the XMP packet of an
 *   `XML:com.adobe.xmp` text chunk.
 * `exif_transpose` runs before the pixels are loaded, so only the chunks before the image data count
 * when one of them is an `exif`; otherwise Pillow loads the image, which reads the chunks after the image
 * data as well.
 */
import { exifOrientationEntry } from './exif.js';

/** A metadata chunk of a PNG (eXIf, tEXt, zTXt, iTXt) and whether it comes after the image data. */
export interface PngMetaChunk {
  readonly type: string;
  readonly data: Uint8Array;
  readonly afterImage: boolean;
}

/** The chunk types {@link pngOrientation} reads. */
export const PNG_META_TYPES: ReadonlySet<string> = new Set(['eXIf', 'tEXt', 'zTXt', 'iTXt']);

/** Pillow's `_safe_zlib_decompress` limit for text chunks (ImageFile.SAFEBLOCK): larger text is not read. */
const MAX_TEXT_CHUNK = 1 << 20;

type Inflate = (zlibStream: Uint8Array, limit: number) => Uint8Array | Promise<Uint8Array>;
type Info = Map<string, Uint8Array | string>;

const latin1 = (b: Uint8Array): string => String.fromCharCode(...b.subarray(0, 0x10000)) + (b.length > 0x10000 ? latin1(b.subarray(0x10000)) : '');

/** Adds one chunk to `info` as Pillow's chunk handlers do; unreadable chunks leave it unchanged. */
async function addChunk(info: Info, c: PngMetaChunk, inflate: Inflate): Promise<void> {
  const d = c.data;
  if (c.type === 'eXIf') {
    info.set('exif', Uint8Array.from([0x45, 0x78, 0x69, 0x66, 0, 0, ...d]));
    return;
  }
  const z = d.indexOf(0);
  const key = latin1(z < 0 ? d : d.subarray(0, z));
  if (!key) return;
  const rest = z < 0 ? new Uint8Array(0) : d.subarray(z + 1);
  if (c.type === 'tEXt') {
    info.set(key, key === 'exif' ? rest : latin1(rest));
  } else if (c.type === 'zTXt') {
    if (rest.length > 0 && rest[0] !== 0) return; // Pillow refuses the file; this reader ignores the chunk
    const text = rest.length > 1 ? await inflate(rest.subarray(1), MAX_TEXT_CHUNK + 1) : new Uint8Array(0);
    if (text.length > MAX_TEXT_CHUNK) return;
    info.set(key, latin1(text));
  } else if (c.type === 'iTXt') {
    if (rest.length < 2) return;
    const [compressed, method] = [rest[0], rest[1]];
    let r = rest.subarray(2);
    const z1 = r.indexOf(0);
    const z2 = z1 < 0 ? -1 : r.indexOf(0, z1 + 1);
    if (z2 < 0) return;
    r = r.subarray(z2 + 1);
    if (compressed !== 0) {
      if (method !== 0) return;
      r = await inflate(r, MAX_TEXT_CHUNK + 1);
      if (r.length > MAX_TEXT_CHUNK) return;
    }
    try {
      info.set(key, new TextDecoder('utf-8', { fatal: true }).decode(r));
    } catch {
      // Pillow skips iTXt chunks that are not UTF-8
    }
  }
}

/** Python's `bytes.fromhex` (whitespace between byte pairs allowed); undefined where it raises. */
function fromHex(s: string): Uint8Array | undefined {
  const out: number[] = [];
  for (let i = 0; i < s.length;) {
    if (' \t\n\r\f\v'.includes(s[i]!)) { i++; continue; }
    const byte = /^[0-9a-fA-F]{2}$/.test(s.slice(i, i + 2)) ? parseInt(s.slice(i, i + 2), 16) : Number.NaN;
    if (Number.isNaN(byte)) return undefined;
    out.push(byte);
    i += 2;
  }
  return Uint8Array.from(out);
}

/**
 * The orientation (1…8) `exif_transpose` applies to a PNG with these metadata chunks (in file order).
 * @param inflate zlib inflater for zTXt / compressed iTXt chunks
 */
export async function pngOrientation(meta: readonly PngMetaChunk[], inflate: Inflate): Promise<number> {
  const info: Info = new Map();
  for (const c of meta) if (!c.afterImage) await addChunk(info, c, inflate);
  if (!info.has('exif')) for (const c of meta) if (c.afterImage) await addChunk(info, c, inflate);
  let block = info.get('exif');
  const raw = info.get('Raw profile type exif');
  if (block === undefined && typeof raw === 'string') block = fromHex(raw.split('\n').slice(3).join(''));
  const entry = block instanceof Uint8Array ? exifOrientationEntry(block) : undefined;
  if (entry !== undefined) return entry;
  const xmp = info.get('XML:com.adobe.xmp');
  const m = typeof xmp === 'string' ? /tiff:Orientation(="|>)([0-9])/.exec(xmp) : null;
  const v = m ? Number(m[2]) : 1;
  return v >= 2 && v <= 8 ? v : 1;
}
