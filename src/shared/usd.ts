/**
 * A small USD amount to `digits` significant digits, always in plain decimals: a call of a
 * cheap model costs a few millionths of a dollar, and toPrecision writes those as "3.4e-7".
 * Each view keeps its own rounding for larger amounts; this is the one way tiny ones are said.
 */
export function significantUsd(abs: number, digits: number): string {
  if (!Number.isFinite(abs) || abs <= 0) return (0).toFixed(Math.max(0, digits - 1));
  // Decimals that keep `digits` significant ones (the first is at 10^floor(log10)); toFixed takes at most 100.
  const decimals = Math.min(100, Math.max(0, digits - 1 - Math.floor(Math.log10(abs))));
  const fixed = abs.toFixed(decimals);
  // Rounding may carry into one more digit (0.000999 at 2 digits -> 0.0010): drop the extra zero.
  const [whole, fraction = ''] = fixed.split('.');
  const significant = (whole.replace(/^0+/, '') + fraction).replace(/^0+/, '').length;
  return significant > digits && fraction.endsWith('0') && fraction.length > 0 ? fixed.slice(0, -1).replace(/\.$/, '') : fixed;
}
