/**
 * The life cycle the two @jsquash WebAssembly decoders (JPEG, WebP) share, written once:
 * - initialisation from a compiled module or the raw .wasm bytes (otherwise the package fetches its own
 *   .wasm next to its script);
 * - one decode at a time, so the messages a decode prints belong to it;
 * - a fresh instance after a failed decode: a fatal error leaves the instance without unwinding its
 *   stack, and a few hundred corrupt files later every decode, of valid files too, traps;
 * - the RGBA result checked against the size the header announced and reduced to RGB.
 * Runtime-neutral; Node reads the .wasm files in lib/node/codec-wasm.ts.
 */
import { ImageError, named, rgbFromRgba, type RgbImage } from './errors.js';

/** @jsquash's init: its .d.ts only declares init(options); its JS takes init(module?, options?). */
type InitWasm = (module?: WebAssembly.Module | object, options?: object) => Promise<void>;
type DecodeWasm = (buffer: ArrayBuffer) => Promise<{ width: number; height: number; data: Uint8ClampedArray }>;

/** What one decode produced: the RGBA image, or what was thrown, and the messages printed meanwhile. */
export interface WasmDecodeResult {
  readonly rgba?: { width: number; height: number; data: Uint8ClampedArray };
  readonly thrown?: unknown;
  readonly messages: readonly string[];
}

export class WasmDecoder {
  private ready: Promise<void> | undefined;
  /** The compiled decoder, kept so a fresh instance can replace one that a corrupt file has damaged. */
  private compiled: WebAssembly.Module | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly printed: string[] = [];
  private readonly options = {
    print: (s: string) => { this.printed.push(s); },
    printErr: (s: string) => { this.printed.push(s); },
  };

  private readonly start: InitWasm;

  /** `initWasm` is the package's `init` (typed loosely: see InitWasm), `decodeWasm` its default export. */
  constructor(initWasm: unknown, private readonly decodeWasm: DecodeWasm) {
    this.start = initWasm as InitWasm;
  }

  /** Initialises from a compiled module or the raw .wasm bytes. Calling it again is harmless. */
  init(wasm: WebAssembly.Module | BufferSource): Promise<void> {
    this.ready = (async () => {
      const mod = wasm instanceof WebAssembly.Module ? wasm : await WebAssembly.compile(wasm);
      this.compiled = mod;
      await this.start(mod, this.options);
    })();
    return this.ready;
  }

  /** Whether {@link init} has been called. */
  get initialised(): boolean {
    return this.ready !== undefined;
  }

  /** Decodes a copy of `bytes` (never the caller's buffer), after any decode already running. */
  decode(bytes: Uint8Array): Promise<WasmDecodeResult> {
    const run = this.queue.then(() => this.decodeOnce(bytes));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async decodeOnce(bytes: Uint8Array): Promise<WasmDecodeResult> {
    if (!this.ready) this.ready = this.start(this.options);
    await this.ready;
    this.printed.length = 0;
    let rgba: WasmDecodeResult['rgba'];
    let thrown: unknown;
    try {
      rgba = await this.decodeWasm(bytes.slice().buffer);
    } catch (e) {
      thrown = e ?? new Error('decoding failed');
    }
    const messages = this.printed.splice(0).map((s) => s.trim()).filter((s) => s.length > 0);
    if (thrown !== undefined || !rgba) {
      this.ready = this.start(this.compiled, this.options); // decode() uses whichever instance init set last
      return { thrown: thrown ?? new Error('decoding failed'), messages };
    }
    return { rgba, messages };
  }
}

/** The decoded RGBA as RGB, after checking it has the size the header announced. */
export function rgbOfDecoded(rgba: NonNullable<WasmDecodeResult['rgba']>, want: { width: number; height: number },
  format: string, name?: string): RgbImage {
  if (rgba.width !== want.width || rgba.height !== want.height) {
    throw new ImageError(named(name, `${format} decoder returned ${rgba.width}x${rgba.height}, header says ${want.width}x${want.height}.`));
  }
  return rgbFromRgba(rgba.data, rgba.width, rgba.height);
}
