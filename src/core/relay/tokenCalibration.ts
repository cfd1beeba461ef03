/**
 * Learning the input token ratio (money.ts) before the first call of a new SLM and LLM
 * pair: where the provider counts tokens for free (Anthropic's count_tokens, OpenAI's
 * input_tokens), it counts a fixed sample text and the SLM counts the same text. Beyond the
 * paper: without it the first call is priced at a token per byte by the money ceiling and
 * in the SLM's tokens by the LLM-alone estimate, so a tight ceiling may never let a first
 * call through and the first saving shown is off by the tokenizers' difference.
 *
 * The sample is Relay's own text, never the user's: a count is not a call, and an answer
 * that makes no call sends nothing of the user's anywhere.
 */
import { ProviderError } from '../providers/errors';
import type { LlmProvider } from '../providers/types';
import { slmCanCount, type SlmRuntime } from '../slm/types';
import type { TokenRatios } from './money';

/** How long a count may take, the answer waiting meanwhile (it runs beside the SLM's prefill; once per pair and process, unless it failed in passing: TokenRatios.calibrate). */
export const CALIBRATION_TIMEOUT_MS = 4_000;

/** Code and prose as an editor sends them, with some non-ASCII: about 550 tokens in a BPE tokenizer. */
export const CALIBRATION_TEXT = `Explain what this function does and where it could fail.

\`\`\`ts
/** Splits an invoice total over the months of a contract, rounding each share to the cent. */
export function monthlyShares(totalCents: number, months: number, startsOn: Date): Array<{ month: string; cents: number }> {
  if (!Number.isInteger(totalCents) || totalCents < 0) throw new RangeError(\`totalCents must be a whole number >= 0, got \${totalCents}\`);
  if (months < 1) return [];
  const base = Math.floor(totalCents / months);
  let rest = totalCents - base * months; // the cents rounding left over, given to the first months
  const shares = [];
  for (let i = 0; i < months; i++) {
    const day = new Date(startsOn.getFullYear(), startsOn.getMonth() + i, 1);
    const month = \`\${day.getFullYear()}-\${String(day.getMonth() + 1).padStart(2, '0')}\`;
    shares.push({ month, cents: base + (rest > 0 ? 1 : 0) });
    if (rest > 0) rest--;
  }
  return shares;
}
\`\`\`

It gives every month the same whole number of cents and hands the remainder out one cent
at a time from the start, so the shares always add up to the total: 100,00 € over 3 months
is 33,34 + 33,33 + 33,33. Two things to check: \`months\` is not tested for being an
integer (2.5 months loops three times), and the month labels use the local time zone, so a
start date of 2026-03-01T00:30:00Z may read as February west of Greenwich. Größere Beträge
(über 9.007.199.254.740.991 Cent) verlieren an Genauigkeit; 日本円のように小数点のない通貨でも
同じ計算になります.
`;

/**
 * Teaches `ratios` the input ratio from the provider's count of CALIBRATION_TEXT, unless a
 * call or a count already did or the provider cannot count. Resolves when learned, failed
 * or timed out (never rejects): pricing then goes on as before. `signal`: the answer's Stop
 * (or silence ceiling), given to the SLM's count only, so that a runtime in a child process
 * stops one that does not answer it after its grace (SlmRuntime.countTokens). Not the
 * provider's CALIBRATION_TIMEOUT_MS: a healthy process still reading a long prompt may take
 * longer than that to reach the count, and a stop of its count would stop the process.
 */
export function calibrateTokenRatios(
  ratios: TokenRatios,
  llm: LlmProvider,
  slm: SlmRuntime,
  now: () => number = Date.now,
  signal?: AbortSignal,
): Promise<void> {
  const count = llm.countInputTokens?.bind(llm);
  // A small model whose process has ended is not counted with: the count would load the model again.
  if (ratios.known || !count || !slmCanCount(slm)) return Promise.resolve();
  return ratios.calibrate(
    async () => {
      // The provider first: one that cannot count says so at once, and the SLM is not asked.
      const reportedInput = await count(CALIBRATION_TEXT, AbortSignal.timeout(CALIBRATION_TIMEOUT_MS));
      return { localInput: await slm.countTokens(CALIBRATION_TEXT, signal), reportedInput };
    },
    { retryable: countMayPass, now },
  );
}

/**
 * A count that may succeed later: the network or the server (the provider's own judgement),
 * or no answer within CALIBRATION_TIMEOUT_MS (the only signal it has, so 'cancelled' is that).
 * Not: no endpoint, a refused key, a reply that was not a count.
 */
function countMayPass(error: unknown): boolean {
  return error instanceof ProviderError && (error.retryable || error.code === 'cancelled');
}
