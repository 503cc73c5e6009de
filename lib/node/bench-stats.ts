/**
 * Statistics the benchmarks report. One definition for `beit bench` and the tools, so their figures
 * compare: the median of an even number of runs is the mean of the two middle ones (taking the upper
 * one alone biased 10-run medians up by up to half the gap between them).
 */

/** Median of the values (NaN for none); the input is not modified. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
