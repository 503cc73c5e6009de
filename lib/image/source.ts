/**
 * Image sources given as strings, as `transformers.image_utils.load_image` takes them: an http(s) URL
 * (fetched), a `data:image/...;base64,` URL or a bare base64 string (decoded), else a file path (read by
 * the Node entry point). Runtime-neutral: the global `fetch`, `AbortController` and `atob` exist in
 * Node 20 and in browsers. Fetching guards what `requests.get` leaves open: an HTTP error status is an
 * error naming the URL (not a body to decode), a server that stops sending fails after an idle timeout
 * instead of hanging, and a body over `maxBytes` is refused while it streams in.
 */
import { ImageError } from './errors.js';
import { sniffFormat } from './decode.js';
import { fetchFailureReason } from '../io/fetch-error.js';

/** Options for reading images from URLs. */
export interface FetchImageOptions {
  /** The fetch to use (default `globalThis.fetch`), e.g. to add headers or a proxy. */
  readonly fetch?: typeof fetch;
  /** Fail when no bytes arrive for this long, in ms (default 30 000). */
  readonly timeoutMs?: number;
  /** Refuse bodies larger than this many bytes (default 256 MiB). */
  readonly maxBytes?: number;
}

export const DEFAULT_FETCH_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_IMAGE_BYTES = 256 * 1024 * 1024;

/** What a string image source is. */
export function imageStringKind(s: string): 'url' | 'data-url' | 'path' {
  if (/^https?:\/\//i.test(s)) return 'url';
  if (/^data:image\//i.test(s)) return 'data-url';
  return 'path';
}

/** A short name for messages and results: data URLs and base64 strings are cut, URLs lose their query. */
export function imageSourceName(s: string): string {
  if (imageStringKind(s) === 'data-url') return `${s.slice(0, s.indexOf(',') + 1)}… (${s.length} chars)`;
  if (imageStringKind(s) === 'url') {
    try {
      const u = new URL(s);
      return u.search ? `${u.origin}${u.pathname}?…` : s;
    } catch { /* reported when fetched */ }
  }
  return s.length > 200 ? `${s.slice(0, 40)}… (${s.length} chars)` : s;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Bytes of a base64 string (whitespace ignored), or undefined when it is not base64. Like Python's
 * `base64.decodebytes`, which `load_image` uses, padding may be missing at the end only.
 */
export function base64Bytes(s: string): Uint8Array | undefined {
  const b64 = s.replace(/\s+/g, '');
  if (b64.length === 0 || !BASE64.test(b64) || b64.length % 4 === 1) return undefined;
  const bin = atob(b64.padEnd(Math.ceil(b64.length / 4) * 4, '='));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Bytes of a `data:image/<type>;base64,<data>` URL. Throws ImageError naming the URL when malformed. */
export function dataUrlBytes(s: string): Uint8Array {
  const comma = s.indexOf(',');
  const header = comma < 0 ? '' : s.slice(0, comma);
  if (comma < 0 || !/;base64$/i.test(header)) {
    throw new ImageError(`${imageSourceName(s)}: a data URL image must be base64 ("data:image/png;base64,..."), got "${header.slice(0, 60) || s.slice(0, 60)}".`);
  }
  const bytes = base64Bytes(s.slice(comma + 1));
  if (bytes === undefined) throw new ImageError(`${imageSourceName(s)}: the data URL's payload is not valid base64.`);
  return bytes;
}

/**
 * A bare base64 string that holds an image (the last resort of `load_image` for a string that is not a
 * file): its bytes when they decode and start like a PNG, JPEG, WebP, GIF, BMP or TIFF, else undefined.
 */
export function base64ImageBytes(s: string): Uint8Array | undefined {
  if (s.length < 16) return undefined;
  const bytes = base64Bytes(s);
  return bytes !== undefined && sniffFormat(bytes) !== undefined ? bytes : undefined;
}

/**
 * Downloads an image's bytes. Errors (ImageError) name the URL and say what went wrong: network
 * failure, HTTP status, idle timeout, size limit; a non-image body is reported by the decoder, and
 * {@link describeBody} adds the server's content type to that message.
 */
export async function fetchImageBytes(url: string, options: FetchImageOptions = {}): Promise<{ bytes: Uint8Array; contentType: string }> {
  const name = imageSourceName(url);
  const doFetch = options.fetch ?? globalThis.fetch;
  if (typeof doFetch !== 'function') throw new ImageError(`${name}: no fetch() in this runtime to download the image.`);
  const timeoutMs = options.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_IMAGE_BYTES;
  const ctrl = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => ctrl.abort(), timeoutMs);
  };
  const timedOut = () => new ImageError(`${name}: no data from the server for ${timeoutMs / 1000} s; gave up.`);
  arm();
  try {
    let res: Response;
    try {
      res = await doFetch(url, { signal: ctrl.signal, headers: { accept: 'image/*,*/*;q=0.8' } });
    } catch (e) {
      if (ctrl.signal.aborted) throw timedOut();
      throw new ImageError(`${name}: cannot download the image (${fetchFailureReason(e)}).`);
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => {});
      throw new ImageError(`${name}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''} while downloading the image.`);
    }
    const contentType = res.headers.get('content-type') ?? '';
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > maxBytes) {
      await res.body?.cancel().catch(() => {});
      throw new ImageError(`${name}: the image is ${declared} bytes, over the ${maxBytes}-byte limit (maxBytes).`);
    }
    if (res.body === null) return { bytes: new Uint8Array(await res.arrayBuffer()), contentType };
    const reader = res.body.getReader();
    const chunks: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      let step: ReadableStreamReadResult<Uint8Array>;
      try {
        step = await reader.read();
      } catch (e) {
        if (ctrl.signal.aborted) throw timedOut();
        throw new ImageError(`${name}: the download broke off after ${total} bytes (${fetchFailureReason(e)}).`);
      }
      if (step.done) break;
      total += step.value.length;
      if (total > maxBytes) {
        await reader.cancel().catch(() => {});
        throw new ImageError(`${name}: the image is over the ${maxBytes}-byte limit (maxBytes); stopped downloading.`);
      }
      chunks.push(step.value);
      arm();
    }
    const bytes = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) {
      bytes.set(c, off);
      off += c.length;
    }
    return { bytes, contentType };
  } finally {
    clearTimeout(timer);
  }
}

/** Adds the server's content type to a decode error of a downloaded body that is not an image type. */
export function describeBody(e: unknown, contentType: string): unknown {
  if (e instanceof ImageError && contentType && !/^image\//i.test(contentType)) {
    return new ImageError(`${e.message.replace(/\.$/, '')}; the server sent "${contentType.split(';')[0]}", not an image.`);
  }
  return e;
}
