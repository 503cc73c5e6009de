/** Sharded safetensors (`model.safetensors.index.json` + shards) load transparently and give the same outputs. */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadModel } from '../lib/node/load.js';
import { readSafetensorsFile, writeSafetensorsFile } from '../lib/node/safetensors-file.js';
import type { StWriteTensor } from '../lib/io/safetensors.js';
import { caseDir, inputsOf } from './helpers/fixtures.js';

describe('sharded safetensors checkpoints', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'beit-shard-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  function shard(dir: string, mutateIndex?: (m: Record<string, string>) => void): void {
    fs.mkdirSync(dir);
    for (const f of ['config.json', 'preprocessor_config.json']) fs.copyFileSync(path.join(caseDir('d2v-tiny'), f), path.join(dir, f));
    const t = readSafetensorsFile(path.join(caseDir('d2v-tiny'), 'model.safetensors')).tensors;
    const names = [...t.keys()];
    const map: Record<string, string> = {};
    const parts = [names.slice(0, 20), names.slice(20, 33), names.slice(33)];
    parts.forEach((p, i) => {
      const file = `model-0000${i + 1}-of-00003.safetensors`;
      const out: Record<string, StWriteTensor> = {};
      for (const n of p) {
        const x = t.get(n)!;
        out[n] = x.dtype === 'int32' ? { dtype: 'I32', shape: x.shape, data: x.data } : { dtype: 'F32', shape: x.shape, data: x.data };
        map[n] = file;
      }
      writeSafetensorsFile(path.join(dir, file), out);
    });
    mutateIndex?.(map);
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: map }));
  }

  it('three shards give bit-identical outputs to the single file', async () => {
    const dir = path.join(tmp, 'ok');
    shard(dir);
    const a = await loadModel(dir, { backend: 'cpu' });
    const b = await loadModel(caseDir('d2v-tiny'), { backend: 'cpu' });
    const la = a.predict(inputsOf('d2v-tiny')), lb = b.predict(inputsOf('d2v-tiny'));
    expect(Array.from(la.dataSync())).to.deep.equal(Array.from(lb.dataSync()));
    la.dispose(); lb.dispose(); a.dispose(); b.dispose();
  });

  it('a missing shard or an index naming an absent tensor is a clear error', async () => {
    const dir = path.join(tmp, 'missing');
    shard(dir, (m) => { m['extra.weight'] = 'model-00009-of-00003.safetensors'; });
    let err: Error | undefined;
    try { await loadModel(dir, { backend: 'cpu' }); } catch (e) { err = e as Error; }
    expect(err?.message).to.include('shard model-00009-of-00003.safetensors is missing');
    const dir2 = path.join(tmp, 'absent');
    shard(dir2, (m) => { m['extra.weight'] = 'model-00001-of-00003.safetensors'; });
    err = undefined;
    try { await loadModel(dir2, { backend: 'cpu' }); } catch (e) { err = e as Error; }
    expect(err?.message).to.include('lacks tensors the index assigns to it: extra.weight');
  });

  it('an index that is JSON null, or whose weight_map is a list, is a WeightsError naming it', async () => {
    for (const [name, text] of [['null-index', 'null'], ['list-map', '{"weight_map": []}']] as const) {
      const dir = path.join(tmp, name);
      fs.mkdirSync(dir);
      fs.copyFileSync(path.join(caseDir('d2v-tiny'), 'config.json'), path.join(dir, 'config.json'));
      fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), text);
      let err: Error | undefined;
      try { await loadModel(dir, { backend: 'cpu' }); } catch (e) { err = e as Error; }
      expect(err?.name).to.equal('WeightsError');
      expect(err!.message).to.include('model.safetensors.index.json: no "weight_map" object');
    }
  });

  it('an index with an empty weight_map says so (not a list of every tensor missing)', async () => {
    const dir = path.join(tmp, 'empty-map');
    fs.mkdirSync(dir);
    fs.copyFileSync(path.join(caseDir('d2v-tiny'), 'config.json'), path.join(dir, 'config.json'));
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), '{"metadata": {}, "weight_map": {}}');
    let err: Error | undefined;
    try { await loadModel(dir, { backend: 'cpu' }); } catch (e) { err = e as Error; }
    expect(err?.name).to.equal('WeightsError');
    expect(err!.message).to.match(/model\.safetensors\.index\.json: "weight_map" is empty/);
  });

  it('an index pointing outside the folder is refused', async () => {
    const dir = path.join(tmp, 'escape');
    shard(dir, (m) => { m['extra.weight'] = '../evil.safetensors'; });
    let err: Error | undefined;
    try { await loadModel(dir, { backend: 'cpu' }); } catch (e) { err = e as Error; }
    expect(err?.message).to.include('invalid shard name');
  });
});
