/**
 * Reading, decoding and resizing images on worker threads while the main thread runs the model.
 *
 * Why: on the native backend the forward of one image takes ~165 ms (base model) but decoding a
 * 12-megapixel JPEG takes ~180 ms in the WebAssembly decoder, on the main thread, while the other
 * core waits. A folder of camera photos was therefore bound by decoding. With the images of the next
 * batch decoded by workers while the current batch runs, the cores share both jobs. Each worker
 * handles one local image at a time, or up to {@link URLS_PER_WORKER} http(s) URLs (their downloads
 * overlap, as on the main thread); answers come back in any order and are matched by id.
 */
import { Worker } from 'node:worker_threads';
import { ProcessorError, type ProcessorConfig } from '../image/processor.js';
import { ImageError } from '../image/errors.js';
import { InputError } from '../model/model.js';
import { imageStringKind } from '../image/source.js';
import type { PreprocessReply, PreprocessRequest, PreprocessWorkerInit } from './preprocess-worker.js';

/** A preprocessed image: CHW float32 pixels (as ProcessedImage's) and their size. */
export interface PooledImage { readonly pixelValues: Float32Array; readonly height: number; readonly width: number }

/** Options of {@link PreprocessPool}. */
export interface PreprocessPoolOptions {
  /** Worker threads (at least 1). */
  readonly workers: number;
  /** Refuse images with more pixels than this (as DecodeOptions.maxPixels). */
  readonly maxPixels?: number;
  /** Apply the EXIF orientation (as DecodeOptions.exifTranspose; default true). */
  readonly exifTranspose?: boolean;
  /** Hears decoding warnings (e.g. Pillow's DecompressionBombWarning), each distinct message once. */
  readonly onWarning?: (message: string) => void;
}

/** Requests a worker takes at once when they are http(s) URLs (waiting on the network, not the CPU). */
export const URLS_PER_WORKER = 4;

interface Pending { source: string; resolve: (v: PooledImage) => void; reject: (e: Error) => void }

/** The worker's error as the main thread would have thrown it: ImageError, ProcessorError, ... */
function namedError(message: string, name: string): Error {
  const known: Record<string, new (message: string) => Error> = { ImageError, ProcessorError, InputError, RangeError, TypeError };
  const Ctor = Object.hasOwn(known, name) ? known[name]! : undefined;
  if (Ctor) return new Ctor(message);
  const e = new Error(message);
  e.name = name;
  return e;
}

export class PreprocessPool {
  private readonly workers: Worker[] = [];
  /** Requests in flight per worker. */
  private readonly load = new Map<Worker, number>();
  private readonly queue: { id: number; p: Pending }[] = [];
  private readonly inFlight = new Map<number, { w: Worker; p: Pending }>();
  private readonly warned = new Set<string>();
  private nextId = 0;
  private closed = false;
  private failure: Error | undefined;

  constructor(processor: ProcessorConfig, private readonly options: PreprocessPoolOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1) throw new RangeError(`PreprocessPool: workers must be a positive integer, got ${options.workers}.`);
    const init: PreprocessWorkerInit = {
      processor,
      ...(options.maxPixels !== undefined ? { maxPixels: options.maxPixels } : {}),
      ...(options.exifTranspose !== undefined ? { exifTranspose: options.exifTranspose } : {}),
    };
    for (let i = 0; i < options.workers; i++) {
      const w = new Worker(new URL('./preprocess-worker.js', import.meta.url), { workerData: init });
      w.on('message', (m: PreprocessReply) => this.onMessage(w, m));
      w.on('error', (e) => this.onExit(w, e));
      w.on('exit', (code) => { if (!this.closed) this.onExit(w, new Error(`a preprocessing worker exited (code ${code})`)); });
      w.unref();
      this.workers.push(w);
      this.load.set(w, 0);
    }
  }

  /** Reads and preprocesses `source`; rejects with the reading / decoding error, which names the source. */
  preprocess(source: string): Promise<PooledImage> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new Error('PreprocessPool: closed'));
      if (this.failure) return reject(this.failure);
      this.queue.push({ id: this.nextId++, p: { source, resolve, reject } });
      this.pump();
    });
  }

  /** Stops the workers; pending requests are rejected. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new Error('PreprocessPool: closed');
    for (const { p } of this.queue.splice(0)) p.reject(err);
    for (const { p } of this.inFlight.values()) p.reject(err);
    this.inFlight.clear();
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

  /** Hands queued requests, in order, to the least loaded workers that have room for them. */
  private pump(): void {
    while (this.queue.length) {
      const { id, p } = this.queue[0]!;
      const room = imageStringKind(p.source) === 'url' ? URLS_PER_WORKER : 1;
      let w: Worker | undefined;
      for (const c of this.workers) if (this.load.get(c)! < room && (!w || this.load.get(c)! < this.load.get(w)!)) w = c;
      if (!w) return;
      this.queue.shift();
      this.inFlight.set(id, { w, p });
      this.load.set(w, this.load.get(w)! + 1);
      w.ref();
      w.postMessage({ id, source: p.source } satisfies PreprocessRequest);
    }
  }

  private onMessage(w: Worker, m: PreprocessReply): void {
    if ('warning' in m) {
      if (!this.warned.has(m.warning)) { this.warned.add(m.warning); this.options.onWarning?.(m.warning); }
      return;
    }
    const job = this.inFlight.get(m.id);
    if (!job) return;
    this.inFlight.delete(m.id);
    if ('error' in m) job.p.reject(namedError(m.error, m.name));
    else job.p.resolve({ pixelValues: m.pixelValues, height: m.height, width: m.width });
    const load = this.load.get(w)! - 1;
    this.load.set(w, load);
    if (load === 0) w.unref();
    this.pump();
  }

  /**
   * A worker died (out of memory, a crash): its request fails with the reason and the others carry
   * on; once no worker is left, every waiting request fails too.
   */
  private onExit(w: Worker, e: Error): void {
    if (this.closed || !this.workers.includes(w)) return;
    this.workers.splice(this.workers.indexOf(w), 1);
    this.load.delete(w);
    const err = new Error(`image preprocessing failed: ${e.message}`);
    for (const [id, job] of this.inFlight) {
      if (job.w === w) { job.p.reject(err); this.inFlight.delete(id); }
    }
    if (this.workers.length === 0) {
      this.failure = err;
      for (const { p } of this.queue.splice(0)) p.reject(err);
    } else {
      this.pump();
    }
  }
}
