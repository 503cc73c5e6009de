/**
 * The native thread pool (native/pool.cc) under stress: spec/native/pool-stress.cc runs many jobs
 * of varying sizes while the pool is resized, and checks that every task runs exactly once and never
 * after its job returned. Built with g++ three times: as shipped, and with the test-only delays that
 * widen the two race windows of a job hand-over (the publishing caller, a worker claiming a task).
 * Before the task count moved into the job word, the publishing window made a stale claim succeed:
 * the caller then waited forever or returned while a task still ran (CI hang, segfault).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');
const CXX = process.env.CXX ?? 'g++';

describe('native thread pool', function () {
  this.timeout(180000);
  let dir = '';

  before(function () {
    if (spawnSync(CXX, ['--version']).status !== 0) {
      console.log(`      (skipped: no C++ compiler "${CXX}" to build the stress program)`);
      this.skip();
    }
    dir = mkdtempSync(path.join(tmpdir(), 'beit-pool-'));
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const variants = [
    { name: 'as shipped', defines: [], jobs: 300000 },
    { name: 'publishing caller slowed down', defines: ['-DBEIT_POOL_TEST_PUBLISH_DELAY=200'], jobs: 100000 },
    { name: 'claiming worker slowed down', defines: ['-DBEIT_POOL_TEST_CLAIM_DELAY=300'], jobs: 15000 },
  ];
  for (const v of variants) {
    it(`every task runs once, inside its job (${v.name}, ${v.jobs} jobs, 1-3 threads)`, () => {
      const exe = path.join(dir, `pool-stress-${variants.indexOf(v)}`);
      const build = spawnSync(CXX, ['-O2', '-std=c++17', '-pthread', ...v.defines, '-o', exe,
        path.join(root, 'spec', 'native', 'pool-stress.cc'), path.join(root, 'native', 'pool.cc')], { encoding: 'utf8' });
      expect(build.status, build.stderr).to.equal(0);
      const run = spawnSync(exe, [String(v.jobs), '3'], { encoding: 'utf8', timeout: 60000 });
      expect(run.signal, `stress program killed by ${run.signal} (a hang if SIGTERM after 60 s)`).to.equal(null);
      expect(run.stdout.trim()).to.equal(`jobs=${v.jobs} bad=0 late=0`);
      expect(run.status).to.equal(0);
    });
  }
});
