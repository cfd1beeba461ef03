/**
 * A share (0 to 1) as a percent, the one way every view says it (the answer view, the status
 * bar, the savings view): none and all as "0%" and "100%"; else one decimal, two near either
 * end, so a share that is neither never reads as one ("0.0% LLM" beside what the LLM cost);
 * past two decimals, "<0.01%" or ">99.99%".
 */
export function formatPercent(share: number): string {
  if (!Number.isFinite(share)) return '–';
  const percent = share * 100;
  if (percent === 0 || percent === 100) return `${percent}%`;
  if (percent > 0 && percent < 0.01) return '<0.01%';
  if (percent < 100 && percent > 99.99) return '>99.99%';
  const nearNoneOrAll = (percent > 0 && percent < 0.1) || (percent < 100 && percent > 99.9);
  return `${percent.toFixed(nearNoneOrAll ? 2 : 1)}%`;
}
