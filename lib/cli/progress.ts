/**
 * A dependency-free progress bar on stderr for long CLI operations (downloads, conversions, image
 * batches). It draws only when the stream is a TTY and the user did not pass --quiet, so piped output
 * and logs stay clean; redraws are throttled to ~10 per second.
 */

/** A running progress display. All methods are no-ops when the bar is silent. */
export interface Progress {
  /** Adds `n` units of work done. */
  tick(n?: number): void;
  /** Sets the amount of work done. */
  update(done: number): void;
  /** Draws the final state and ends the line. */
  finish(): void;
  /** Clears the bar, runs `write` (which prints lines of output), and draws the bar again below them. */
  interrupt(write: () => void): void;
}

/** Options of {@link createProgress}. */
export interface ProgressOptions {
  /** Shown before the bar, e.g. a file name. */
  readonly label: string;
  /** Total work, if known (bytes or items); unknown totals show no percentage or ETA. */
  readonly total?: number;
  /** `bytes` formats amounts as kB/MB/GB with a speed; `count` as plain numbers per second. */
  readonly unit?: 'bytes' | 'count';
  readonly quiet?: boolean;
  /** Defaults to `process.stderr`. */
  readonly stream?: { isTTY?: boolean; columns?: number; write(s: string): unknown };
  /** Force drawing even without a TTY (tests). */
  readonly force?: boolean;
}

const SILENT: Progress = { tick() {}, update() {}, finish() {}, interrupt(write) { write(); } };

/** Creates a progress bar, or a silent one when not on a TTY or when `quiet`. */
export function createProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  // HF_HUB_DISABLE_PROGRESS_BARS: the switch huggingface_hub users already set to silence theirs.
  if (opts.quiet || (!stream.isTTY && !opts.force) || /^(1|true|yes|on)$/i.test(process.env.HF_HUB_DISABLE_PROGRESS_BARS ?? '')) return SILENT;
  const start = Date.now();
  const unit = opts.unit ?? 'bytes';
  let done = 0, lastDraw = 0, finished = false, drawn = false;
  const draw = (final: boolean): void => {
    const now = Date.now();
    if (!final && now - lastDraw < 100) return;
    lastDraw = now;
    const secs = Math.max((now - start) / 1000, 1e-3);
    const rate = done / secs;
    const amount = unit === 'bytes' ? formatBytes(done) : String(done);
    const parts = [opts.label];
    const total = opts.total;
    if (total && total > 0) {
      const frac = Math.min(done / total, 1);
      const width = 24, fill = Math.round(frac * width);
      parts.push(`[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(frac * 100).toFixed(0).padStart(3)}%`);
      parts.push(`${amount}/${unit === 'bytes' ? formatBytes(total) : total}`);
    } else {
      parts.push(amount);
    }
    parts.push(unit === 'bytes' ? `${formatBytes(rate)}/s` : `${rate.toFixed(1)}/s`);
    if (total && !final && rate > 0 && done < total) parts.push(`ETA ${formatSeconds((total - done) / rate)}`);
    if (final) parts.push(`in ${formatSeconds(secs)}`);
    const line = parts.join('  ');
    const cols = stream.columns || 100; // a terminal reporting 0 columns (some pseudo-terminals): assume 100
    stream.write(`\r${line.slice(0, cols - 1).padEnd(cols - 1)}${final ? '\n' : ''}`);
    drawn = !final;
  };
  return {
    tick(n = 1) { done += n; draw(false); },
    update(d) { done = d; draw(false); },
    finish() { if (!finished) { finished = true; draw(true); } },
    interrupt(write) {
      if (drawn) stream.write(`\r${' '.repeat((stream.columns || 100) - 1)}\r`);
      drawn = false;
      write();
      if (!finished) { lastDraw = 0; draw(false); }
    },
  };
}

/** Formats a byte count with a decimal unit: `12.3 MB`. */
export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${i === 0 ? n.toFixed(0) : n.toFixed(1)} ${units[i]}`;
}

function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
