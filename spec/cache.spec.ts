/**
 * `beit cache`: listing this engine's checkpoint cache (complete, partial and benchmark entries with
 * their sizes) and removing a repo's revisions, never anything outside the cache root.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

describe('beit cache', () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'beit-cache-'));
  const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'beit-outside-'));
  after(() => { fs.rmSync(root, { recursive: true, force: true }); fs.rmSync(outside, { recursive: true, force: true }); });
  const cli = (...args: string[]) => spawnSync(process.execPath, ['bin/beit.mjs', 'cache', ...args],
    { encoding: 'utf8', env: { ...process.env, BEIT_CACHE: root } });
  const put = (rel: string, bytes: number) => {
    fs.mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    fs.writeFileSync(path.join(root, rel), Buffer.alloc(bytes));
  };

  before(() => {
    put('acme--a/main/config.json', 100);
    put('acme--a/main/model.safetensors', 5000);
    put('acme--a/main/.beit-download/complete.json', 0);
    fs.writeFileSync(path.join(root, 'acme--a/main/.beit-download/complete.json'),
      JSON.stringify({ repo: 'acme/a', revision: 'main', files: ['config.json', 'model.safetensors'], converted: false }));
    put('acme--a/refs%2Fpr%2F1/.beit-download/model.safetensors.part', 700); // an interrupted download
    put('solo/main/.beit-download/config.json.part', 10);
    put('bench/random-seed1/model.safetensors', 300);
    put('bench/random-seed1/config.json', 20);
    fs.writeFileSync(path.join(outside, 'keep'), 'x');
  });

  it('lists complete, partial and benchmark checkpoints with their sizes', () => {
    const r = cli('--json');
    expect(r.status, r.stderr).to.equal(0);
    const entries = JSON.parse(r.stdout) as { repo: string; revision: string; bytes: number; status: string; files: string[] }[];
    expect(entries.map((e) => [e.repo, e.revision, e.status])).to.deep.equal([
      ['acme/a', 'main', 'complete'], ['acme/a', 'refs/pr/1', 'partial'], ['(bench) random-seed1', '-', 'complete'], ['solo', 'main', 'partial']]);
    expect(entries[0]!.bytes).to.be.greaterThan(5100);
    expect(entries[0]!.files).to.deep.equal(['config.json', 'model.safetensors']);
    expect(entries[1]!.bytes).to.equal(700);
    const text = cli();
    expect(text.stdout).to.match(/^repo\s+revision\s+size\s+status\s+folder\n/);
    expect(text.stdout).to.match(/acme\/a\s+main\s+5\.\d KB\s+complete/);
    expect(text.stdout).to.contain(`in ${root}`);
  });

  it('removes one revision, then the rest of the repo; unknown repos and bad ids are reported', () => {
    const one = cli('remove', 'acme/a', '--revision', 'refs/pr/1');
    expect(one.status, one.stderr).to.equal(0);
    expect(one.stdout).to.match(/^removed acme\/a@refs\/pr\/1 \(700 B\)/);
    expect(fs.existsSync(path.join(root, 'acme--a/main/model.safetensors'))).to.equal(true);
    const all = JSON.parse(cli('remove', 'acme/a', '--json').stdout) as { revision: string }[];
    expect(all.map((e) => e.revision)).to.deep.equal(['main']);
    expect(fs.existsSync(path.join(root, 'acme--a'))).to.equal(false);
    expect(cli('remove', 'acme/none').stdout).to.equal('acme/none: nothing cached\n');
    const bad = cli('remove', `../${path.basename(outside)}`);
    expect(bad.status).to.equal(2); // a usage error
    expect(bad.stderr).to.contain('is not a hub repo id');
    expect(fs.existsSync(path.join(outside, 'keep'))).to.equal(true);
    expect(cli('prune').status).to.equal(2);
    expect(cli('remove').status).to.equal(2);
    const left = JSON.parse(cli('--json').stdout) as { repo: string }[];
    expect(left.map((e) => e.repo)).to.deep.equal(['(bench) random-seed1', 'solo']);
  });

  it('folders this engine did not make are neither listed nor removed (a user\'s "bench" or "my--project")', () => {
    const own = fs.mkdtempSync(path.join(os.tmpdir(), 'beit-cache-foreign-'));
    try {
      fs.mkdirSync(path.join(own, 'bench'), { recursive: true });
      fs.writeFileSync(path.join(own, 'bench', 'important.txt'), 'mine');
      fs.mkdirSync(path.join(own, 'my--project', 'src'), { recursive: true });
      fs.writeFileSync(path.join(own, 'my--project', 'src', 'a.ts'), 'mine');
      const run = (...args: string[]) => spawnSync(process.execPath, ['bin/beit.mjs', 'cache', ...args],
        { encoding: 'utf8', env: { ...process.env, BEIT_CACHE: own } });
      expect(JSON.parse(run('--json').stdout)).to.deep.equal([]);
      for (const repo of ['bench', 'my/project']) {
        const r = run('remove', repo);
        expect(r.status).to.equal(0);
        expect(r.stdout).to.include('nothing cached');
      }
      expect(fs.readFileSync(path.join(own, 'bench', 'important.txt'), 'utf8')).to.equal('mine');
      expect(fs.readFileSync(path.join(own, 'my--project', 'src', 'a.ts'), 'utf8')).to.equal('mine');
      // An empty BEIT_CACHE is unset (it made the current folder the cache), and a file is not a cache.
      const cwd = spawnSync(process.execPath, [path.resolve('bin/beit.mjs'), 'cache', 'remove', 'my/project'],
        { encoding: 'utf8', cwd: own, env: { ...process.env, BEIT_CACHE: '', XDG_CACHE_HOME: path.join(own, 'xdg') } });
      expect(cwd.status, cwd.stderr).to.equal(0);
      expect(fs.existsSync(path.join(own, 'my--project', 'src', 'a.ts'))).to.equal(true);
      const file = spawnSync(process.execPath, ['bin/beit.mjs', 'cache'], { encoding: 'utf8', env: { ...process.env, BEIT_CACHE: path.join(own, 'bench', 'important.txt') } });
      expect(file.status).to.equal(1);
      expect(file.stderr).to.include('important.txt: the cache (BEIT_CACHE or XDG_CACHE_HOME) is not a folder');
    } finally {
      fs.rmSync(own, { recursive: true, force: true });
    }
  });
});
