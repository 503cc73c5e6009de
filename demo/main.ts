/**
 * The demo page's script: load a model (hub repo id or a folder served by `npm run demo`), classify a
 * picked, dropped or sample image, show the top 5 with bars, the time of each stage and the backend,
 * and draw the CLS-to-patch attention of a chosen layer over the image. Stages are timed separately
 * (download, decode, preprocess, forward), so the page calls the library's pieces one by one
 * instead of `model.classify`. Bundled by tools/build-browser.ts against dist/browser/tfjs-beit.js.
 */
import {
  attentionForPixels, loadModel, modelRegion, overlayAttention, preprocess, readBrowserImage, softmax, topK,
  type AttentionMap, type BrowserModel, type FileProgress, type RgbImage,
} from '../lib/browser/index.js';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $<HTMLParagraphElement>('status');
const progress = $<HTMLSpanElement>('progress');
const layerInput = $<HTMLInputElement>('layer');
const canvas = $<HTMLCanvasElement>('overlay');

let model: BrowserModel | undefined;
let loadedName = '';
let downloadMs = 0;
let current: { image: RgbImage; maps: AttentionMap[] } | undefined;

function setStatus(text: string, state: 'idle' | 'busy' | 'done' | 'error'): void {
  status.textContent = text;
  status.dataset.state = state;
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
function showProgress(p: FileProgress): void {
  const of = p.total ? ` of ${mb(p.total)}` : '';
  progress.textContent = `${p.file}: ${mb(p.loaded)}${of}${p.cached ? ' (from cache)' : ''}`;
}

async function ensureModel(): Promise<BrowserModel> {
  const name = $<HTMLInputElement>('model').value.trim();
  const backend = $<HTMLSelectElement>('backend').value || undefined;
  if (model && loadedName === `${name}|${backend ?? ''}`) return model;
  model?.dispose();
  model = undefined;
  setStatus(`Loading ${name}…`, 'busy');
  const t0 = performance.now();
  model = await loadModel(name, { backend, onProgress: showProgress, onWarning: (m) => console.warn(m) });
  downloadMs = performance.now() - t0;
  loadedName = `${name}|${backend ?? ''}`;
  $('backend-used').textContent = model.backend;
  return model;
}

function renderTop5(logits: Float32Array, m: BrowserModel): void {
  const list = $<HTMLOListElement>('top5');
  list.replaceChildren(...topK(logits, 5, m.id2label).map((p) => {
    const li = document.createElement('li');
    const bar = document.createElement('div');
    bar.className = 'bar';
    bar.style.width = `${(p.score * 100).toFixed(1)}%`;
    li.append(`${p.label} — ${(p.score * 100).toFixed(1)}%`, bar);
    return li;
  }));
}

function renderTimings(rows: Array<[string, number]>): void {
  $('timings').querySelector('tbody')!.replaceChildren(...rows.map(([stage, ms]) => {
    const tr = document.createElement('tr');
    tr.innerHTML = `<td>${stage}</td><td>${ms.toFixed(1)} ms</td>`;
    return tr;
  }));
}

function drawLayer(layer: number): void {
  if (!current || !model) return;
  const { image, maps } = current;
  const rgba = overlayAttention(image, maps[layer]!, { region: modelRegion(model.processor, image.width, image.height) });
  canvas.width = rgba.width;
  canvas.height = rgba.height;
  canvas.getContext('2d')!.putImageData(new ImageData(rgba.data, rgba.width, rgba.height), 0, 0);
  canvas.dataset.layer = String(layer);
  $<HTMLOutputElement>('layer-out').textContent = `${layer + 1} of ${maps.length}`;
}

async function run(blob: Blob, name: string): Promise<void> {
  try {
    const m = await ensureModel();
    setStatus(`Running ${name}…`, 'busy');
    let t = performance.now();
    const image = await readBrowserImage(blob, { name });
    const decodeMs = performance.now() - t;
    t = performance.now();
    const { pixelValues } = preprocess(image, m.processor);
    const preprocessMs = performance.now() - t;
    t = performance.now();
    const { logits, maps } = await attentionForPixels(m, pixelValues);
    const forwardMs = performance.now() - t;
    current = { image, maps };
    $('results').hidden = false;
    if (logits) renderTop5(logits, m);
    else $('top5').textContent = 'this checkpoint has no classification head';
    renderTimings([['download (load)', downloadMs], ['decode', decodeMs], ['preprocess', preprocessMs], ['forward', forwardMs]]);
    layerInput.max = String(maps.length - 1);
    layerInput.value = String(maps.length - 1);
    drawLayer(maps.length - 1);
    const top = logits ? topK(logits, 1, m.id2label)[0] : undefined;
    setStatus(`${name}: ${top ? `${top.label} (${(softmax(logits!)[top.index]! * 100).toFixed(1)}%)` : 'done'} on ${m.backend}`, 'done');
  } catch (e) {
    console.error(e);
    setStatus((e as Error).message, 'error');
  }
}

$('load').addEventListener('click', () => {
  ensureModel().then((m) => setStatus(`Loaded on ${m.backend}; now give it an image.`, 'done'),
    (e: Error) => setStatus(e.message, 'error'));
});
$<HTMLInputElement>('file').addEventListener('change', (ev) => {
  const f = (ev.target as HTMLInputElement).files?.[0];
  if (f) void run(f, f.name);
});
for (const b of Array.from(document.querySelectorAll<HTMLButtonElement>('button.sample'))) {
  b.addEventListener('click', async () => {
    const src = b.dataset.src!;
    const res = await fetch(src);
    void run(await res.blob(), src.split('/').pop()!);
  });
}
const drop = $('drop');
drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  const f = e.dataTransfer?.files[0];
  if (f) void run(f, f.name);
});
layerInput.addEventListener('input', () => drawLayer(Number(layerInput.value)));
