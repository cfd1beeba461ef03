// Token choice: confidence signals, greedy, seeded sampling with temperature/top-k/top-p.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SeededRng, TokenSampler } from '../../../src/core/slm/onnx/sampling';

function randomLogits(n: number, seed: number): Float32Array {
  const rng = new SeededRng(seed);
  return Float32Array.from({ length: n }, () => (rng.next() - 0.5) * 8);
}

describe('confidence', () => {
  test('top1, margin and entropy of a known distribution', () => {
    // probabilities 0.5, 0.25, 0.25
    const logits = Float32Array.of(Math.log(2), 0, 0);
    const c = new TokenSampler(3).confidence(logits);
    assert.equal(c.argmax, 0);
    assert.ok(Math.abs(c.top1 - 0.5) < 1e-9);
    assert.ok(Math.abs(c.margin - 0.25) < 1e-9);
    assert.ok(Math.abs(c.entropy - 1.5 * Math.log(2)) < 1e-9);
  });

  test('a uniform distribution has zero margin and log(n) entropy', () => {
    const c = new TokenSampler(4).confidence(new Float32Array(4));
    assert.ok(Math.abs(c.top1 - 0.25) < 1e-12);
    assert.equal(c.margin, 0);
    assert.ok(Math.abs(c.entropy - Math.log(4)) < 1e-12);
  });
});

describe('choice', () => {
  const n = 1000;
  const logits = randomLogits(n, 3);
  const argmax = logits.indexOf(Math.max(...logits));

  test('greedy (no temperature) is the argmax', () => {
    const s = new TokenSampler(n);
    assert.equal(s.choose(logits, undefined, new SeededRng(1)).id, argmax);
    assert.equal(s.choose(logits, { temperature: 0 }, new SeededRng(1)).id, argmax);
  });

  test('same seed, same draws; another seed, other draws', () => {
    const s = new TokenSampler(n);
    const draw = (seed: number) => {
      const rng = new SeededRng(seed);
      return Array.from({ length: 50 }, () => s.choose(logits, { temperature: 1.5 }, rng).id);
    };
    assert.deepEqual(draw(42), draw(42));
    assert.notDeepEqual(draw(42), draw(43));
  });

  test('top-k 1 is greedy even at high temperature', () => {
    const s = new TokenSampler(n);
    const rng = new SeededRng(9);
    for (let i = 0; i < 20; i++) assert.equal(s.choose(logits, { temperature: 5, topK: 1 }, rng).id, argmax);
  });

  test('top-k and top-p only draw from the allowed set', () => {
    const s = new TokenSampler(n);
    const order = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]);
    const top5 = new Set(order.slice(0, 5));
    const rng = new SeededRng(5);
    for (let i = 0; i < 200; i++) assert.ok(top5.has(s.choose(logits, { temperature: 2, topK: 5 }, rng).id));

    // A peaked distribution: two tokens hold 90% of the mass, top-p 0.85 keeps only them.
    const peaked = new Float32Array(n).fill(0);
    peaked[10] = 10;
    peaked[20] = 9.8;
    const seen = new Set<number>();
    for (let i = 0; i < 300; i++) seen.add(s.choose(peaked, { temperature: 1, topP: 0.85 }, rng).id);
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      [10, 20],
    );
  });

  test('sampling follows the distribution (frequencies within a few percent)', () => {
    const s = new TokenSampler(3);
    const probs = [0.6, 0.3, 0.1];
    const l = Float32Array.from(probs, Math.log);
    const counts = [0, 0, 0];
    const rng = new SeededRng(123);
    const draws = 20000;
    for (let i = 0; i < draws; i++) counts[s.choose(l, { temperature: 1 }, rng).id]++;
    counts.forEach((c, i) => assert.ok(Math.abs(c / draws - probs[i]) < 0.02, `token ${i}: ${c / draws}`));
  });
});
