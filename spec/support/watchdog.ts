/**
 * Mocha root hooks (loaded by .mocharc.json): a watchdog thread that ends the run when one test
 * takes far longer than any test should. Mocha's own timeouts are timers on the main thread, so
 * they cannot fire while native code blocks that thread; a hang in the addon would otherwise stall
 * CI until its own limit, with no word about which test hung. The limit per test is
 * BEIT_TEST_WATCHDOG_S seconds (default 600; the slowest test takes about 20).
 */
import { Worker } from 'node:worker_threads';

const limitS = Number(process.env.BEIT_TEST_WATCHDOG_S ?? 600);

// The watchdog runs in its own thread with its own event loop: it sees the deadline even when the
// main thread is stuck. It prints which test hung, then aborts the process (a core dump, if enabled).
const source = `
const { parentPort } = require('node:worker_threads');
const { writeSync } = require('node:fs');
let current = null;
parentPort.on('message', (m) => { current = m; });
setInterval(() => {
  if (current !== null && Date.now() > current.deadline) {
    writeSync(2, '\\nwatchdog: "' + current.title + '" still running after ' + current.limitS + ' s; aborting the test run\\n');
    process.kill(process.pid, 'SIGABRT');
  }
}, 1000);
`;

let watchdog: Worker | undefined;
if (Number.isFinite(limitS) && limitS > 0) {
  watchdog = new Worker(source, { eval: true });
  watchdog.unref();
}

export const mochaHooks = {
  beforeEach(this: Mocha.Context) {
    watchdog?.postMessage({ title: this.currentTest?.fullTitle() ?? '?', deadline: Date.now() + limitS * 1000, limitS });
  },
  afterEach() {
    watchdog?.postMessage(null);
  },
};
