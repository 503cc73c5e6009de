/**
 * A copy of the package without the built addon (what a user gets when npm holds back its install script
 * (npm 11 with strict-allow-scripts), or when there is no compiler): models load on wasm, and the user is told once why, with the
 * commands that build the addon — through loadModel's onWarning and on the CLI's stderr.
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { caseDir } from './helpers/fixtures.js';

describe('without the native addon', function () {
  this.timeout(120_000);
  let pkg = '';

  before(() => {
    pkg = fs.mkdtempSync(path.join(os.tmpdir(), 'beit-noaddon-'));
    fs.cpSync('dist', path.join(pkg, 'dist'), { recursive: true });
    fs.cpSync('bin', path.join(pkg, 'bin'), { recursive: true });
    fs.copyFileSync('package.json', path.join(pkg, 'package.json'));
    fs.symlinkSync(path.resolve('node_modules'), path.join(pkg, 'node_modules'));
    expect(fs.existsSync(path.join(pkg, 'build'))).to.equal(false);
  });

  after(() => fs.rmSync(pkg, { recursive: true, force: true }));

  it('loadModel runs on wasm and says why once, naming the commands that build the addon', () => {
    const script = `
      const { loadModel } = await import(${JSON.stringify(path.join(pkg, 'dist/lib/index.js'))});
      const warnings = [];
      const opts = { onWarning: (m) => warnings.push(m) };
      const a = await loadModel(${JSON.stringify(caseDir('d2v-tiny'))}, opts);
      const b = await loadModel(${JSON.stringify(caseDir('d2v-tiny'))}, opts);
      console.log(JSON.stringify({ backends: [a.backend, b.backend], warnings }));
      a.dispose(); b.dispose();`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, BEIT_BACKEND: '' } });
    expect(r.status, r.stderr).to.equal(0);
    const out = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { backends: string[]; warnings: string[] };
    expect(out.backends).to.deep.equal(['wasm', 'wasm']);
    expect(out.warnings).to.have.length(1);
    expect(out.warnings[0]).to.match(/^tfjs-beit runs on wasm, several times slower than its native backend: the native addon was not built at install/);
    expect(out.warnings[0]).to.contain('npm rebuild tfjs-beit').and.contain('npm install-scripts approve tfjs-beit');
  });

  it('the CLI says it once on stderr and still classifies', () => {
    const img = path.resolve('examples/coco_cats.jpg');
    const r = spawnSync(process.execPath, [path.join(pkg, 'bin/beit.mjs'), 'classify', img, img, '--model', caseDir('d2v-tiny'), '--top-k', '1'],
      { encoding: 'utf8', env: { ...process.env, BEIT_BACKEND: '' } });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stderr.match(/native addon was not built at install/g)).to.have.length(1);
    expect(r.stderr).to.contain('npm install-scripts approve tfjs-beit');
    expect(r.stdout.trim().split('\n')).to.have.length(2);
  });
});
