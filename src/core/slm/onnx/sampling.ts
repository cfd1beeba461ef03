/**
 * Next-token choice from one row of logits: confidence signals of the model's own
 * distribution (softmax at temperature 1), then greedy or seeded sampling with
 * temperature, top-k and top-p. Scratch buffers are allocated once per vocabulary size.
 */
import type { SamplingOptions, TokenConfidence } from '../types';

/** Small, fast, seedable PRNG (mulberry32); same seed, same sequence. */
export class SeededRng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
}

export interface TokenChoice extends TokenConfidence {
  id: number;
}

/** Only tokens with at least this probability are sorted for top-p (the rest can never be in a nucleus that these fill). */
const NUCLEUS_FLOOR = 1e-7;

export class TokenSampler {
  private readonly probs: Float32Array;
  private readonly candidates: Int32Array;

  constructor(readonly vocabSize: number) {
    this.probs = new Float32Array(vocabSize);
    this.candidates = new Int32Array(vocabSize);
  }

  /** top1, entropy (nats) and margin of softmax(logits). */
  confidence(logits: ArrayLike<number>): TokenConfidence & { argmax: number } {
    const n = this.vocabSize;
    let max = -Infinity;
    let argmax = 0;
    let second = -Infinity;
    for (let i = 0; i < n; i++) {
      const x = logits[i];
      if (x > max) {
        second = max;
        max = x;
        argmax = i;
      } else if (x > second) second = x;
    }
    let sum = 0;
    let weighted = 0;
    for (let i = 0; i < n; i++) {
      const d = logits[i] - max;
      const e = Math.exp(d);
      sum += e;
      weighted += e * d;
    }
    const top1 = 1 / sum;
    const top2 = Math.exp(second - max) / sum;
    // H = -sum p log p with p = e^d / S:  H = log S - (sum e^d d) / S
    const entropy = Math.max(0, Math.log(sum) - weighted / sum);
    return { top1, entropy, margin: top1 - (Number.isFinite(top2) ? top2 : 0), argmax };
  }

  choose(logits: ArrayLike<number>, sampling: SamplingOptions | undefined, rng: SeededRng): TokenChoice {
    const conf = this.confidence(logits);
    const temperature = sampling?.temperature ?? 0;
    if (!(temperature > 0)) return { id: conf.argmax, top1: conf.top1, entropy: conf.entropy, margin: conf.margin };
    const id = this.sample(logits, temperature, sampling?.topK, sampling?.topP, rng);
    return { id, top1: conf.top1, entropy: conf.entropy, margin: conf.margin };
  }

  private sample(logits: ArrayLike<number>, temperature: number, topK: number | undefined, topP: number | undefined, rng: SeededRng): number {
    const n = this.vocabSize;
    const probs = this.probs;
    let max = -Infinity;
    for (let i = 0; i < n; i++) if (logits[i] > max) max = logits[i];
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const e = Math.exp((logits[i] - max) / temperature);
      probs[i] = e;
      sum += e;
    }
    for (let i = 0; i < n; i++) probs[i] /= sum;

    // Candidates: every token above the floor, most likely first.
    let count = 0;
    for (let i = 0; i < n; i++) if (probs[i] >= NUCLEUS_FLOOR) this.candidates[count++] = i;
    let order = Array.from(this.candidates.subarray(0, count));
    order.sort((a, b) => probs[b] - probs[a] || a - b);
    if (topK !== undefined && topK > 0 && order.length > topK) order = order.slice(0, topK);
    if (topP !== undefined && topP > 0 && topP < 1) {
      let mass = 0;
      let keep = 0;
      while (keep < order.length) {
        mass += probs[order[keep++]];
        if (mass >= topP) break;
      }
      order = order.slice(0, Math.max(1, keep));
    }
    let total = 0;
    for (const i of order) total += probs[i];
    let r = rng.next() * total;
    for (const i of order) {
      r -= probs[i];
      if (r < 0) return i;
    }
    return order[order.length - 1];
  }
}
