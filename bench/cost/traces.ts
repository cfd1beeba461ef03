/**
 * The traces of bench:cost, shaped like the editor's work, each with a fixed reference
 * answer and the scripted SLM's confidence at every token of it:
 * - explain-40: explain 40 lines of code (prompt about 700 SLM tokens, answer about 450);
 * - explain-200: explain 200 lines (prompt about 4,000 tokens, answer about 600);
 * - chat-3k: a chat turn after 3,000 tokens of history (answer about 400); chat-3k-warm:
 *   the same turn with the server's cache holding what the previous turn sent (its last
 *   relay call; for the llm-only row, its prompt);
 * - problem: a short problem (prompt about 80 tokens) with a 2,000-token reasoning answer.
 * Everything is generated from fixed seeds: the same traces on every run.
 *
 * Low confidence (top-1 probability below 0.5, the shipped threshold) is scripted at 3-8%
 * of the answer's tokens: about half in clusters (3-6 low positions within 10 tokens, as
 * where a small model does not know a name or a number), the rest isolated tokens.
 */
import type { ChatMessage } from '../../src/core/slm/types';
import { intIn, pick, rng, slmPieces, type Piece } from './text';

export interface Trace {
  id: string;
  label: string;
  /** One of the traces the issue calls editor-shaped (explain, chat), not the paper's problem shape. */
  editor: boolean;
  messages: ChatMessage[];
  /** The answer every model writes: the SLM token by token, the LLM by continuation. */
  reference: string;
  /** The SLM's tokens of the reference. */
  pieces: Piece[];
  /** The SLM's top-1 probability at each of its tokens. */
  top1: number[];
  /** Indices (into pieces) of the low-confidence positions: top1 below LOW_TOP1. */
  low: number[];
  /**
   * The previous turn's last relay request, sent before the answer so that the server's
   * cache holds what an editor session's earlier turn left there (its bill is not counted;
   * before the llm-only row, its messages alone: the LLM alone's previous prompt).
   */
  warm?: { messages: ChatMessage[]; partialAnswer: string };
}

/** Below this top-1 probability a position is scripted as low-confidence (the shipped gate is 0.5). */
export const LOW_TOP1 = 0.5;

const SYSTEM = 'You are a coding assistant inside VS Code. Answer precisely and concisely, in Markdown; quote identifiers in backticks.';

const NOUNS = [
  'order',
  'item',
  'user',
  'session',
  'token',
  'request',
  'buffer',
  'price',
  'entry',
  'record',
  'span',
  'answer',
  'limit',
  'budget',
  'chunk',
  'window',
  'model',
  'prompt',
  'cache',
  'call',
];
const VERBS = ['compute', 'load', 'parse', 'render', 'update', 'find', 'merge', 'check', 'build', 'resolve', 'format', 'collect', 'split', 'count', 'trim'];
const cap = (s: string): string => s[0].toUpperCase() + s.slice(1);

interface Fn {
  name: string;
  noun: string;
  param: string;
  lines: string[];
}

/** One TypeScript function of exactly `size` lines (at least 6). */
function codeFunction(random: () => number, size: number): Fn {
  const noun = pick(random, NOUNS);
  const other = pick(
    random,
    NOUNS.filter((n) => n !== noun),
  );
  const verb = pick(random, VERBS);
  const name = `${verb}${cap(noun)}${random() < 0.5 ? cap(other) : ''}s`;
  const param = `${noun}s`;
  const type = cap(noun);
  const limit = intIn(random, 2, 512);
  const field = (): string => pick(random, ['size', 'count', 'length', 'weight', 'priority']);
  const header = [
    `/** ${cap(verb)}s the ${noun}s of one ${other} (at most ${limit} at a time), skipping those above the threshold. */`,
    `export function ${name}(${param}: readonly ${type}[], ${other}: ${cap(other)}, options: { max?: number; threshold?: number } = {}): ${cap(pick(random, NOUNS))}Result[] {`,
    `  const max = options.max ?? ${limit}, threshold = options.threshold ?? ${intIn(random, 2, 99)};`,
    `  const out: ${cap(pick(random, NOUNS))}Result[] = [];`,
  ];
  const inner = [
    () => `    if (${noun}.${field()} > threshold || ${noun}.${field()} === 0) continue; // nothing to ${verb}`,
    () => `    const key = \`\${${other}.id}:\${${noun}.${pick(random, ['id', 'name', 'hash'])}}:\${out.length}\`;`,
    () =>
      `    out.push(${pick(random, VERBS)}${cap(pick(random, NOUNS))}(${noun}, key, ${other}.${pick(random, ['rate', 'scale', 'offset'])} * ${intIn(random, 2, 1000) / 100}));`,
    () => `    if (out.length >= max) break; // the caller asked for at most \`max\``,
  ];
  const after = [
    () => `  ${other}.${pick(random, ['updatedAt', 'checkedAt', 'seenAt'])} = Date.now() - ${intIn(random, 1, 60_000)}; // milliseconds`,
    () => `  const total = out.reduce((sum, result) => sum + result.${pick(random, ['price', 'tokens', 'bytes'])} * ${intIn(random, 2, 9)}, 0);`,
    () =>
      `  if (total > ${other}.${pick(random, ['limit', 'budget', 'quota'])}) throw new RangeError(\`${cap(noun)} total \${total} is over the ${other} limit\`);`,
  ];
  const k = size - 6;
  const body: string[] = [];
  if (k < 3) {
    for (let i = 0; i < k; i++) body.push(after[i % after.length]());
  } else {
    const afterCount = k >= 7 ? 2 : k >= 5 ? 1 : 0;
    body.push(`  for (const ${noun} of ${param}) {`);
    for (let i = 0; i < k - 2 - afterCount; i++) body.push(inner[i % inner.length]());
    body.push('  }');
    for (let i = 0; i < afterCount; i++) body.push(after[i % after.length]());
  }
  const lines = [...header, ...body, '  return out;', '}'];
  return { name, noun, param, lines };
}

/** `lines` lines of code as separate functions (a blank line between them). */
function codeBlock(random: () => number, lines: number): { text: string; fns: Fn[] } {
  const fns: Fn[] = [];
  const out: string[] = [];
  while (out.length < lines) {
    const left = lines - out.length;
    const size = Math.min(left, intIn(random, 10, 16));
    if (size < 6) {
      out.push(...Array.from({ length: left }, (_, i) => `export const ${pick(random, NOUNS).toUpperCase()}_${i}_LIMIT = ${intIn(random, 1, 4096)};`));
      break;
    }
    const fn = codeFunction(random, size);
    fns.push(fn);
    out.push(...fn.lines.slice(0, size));
    if (out.length < lines) out.push('');
  }
  return { text: out.slice(0, lines).join('\n'), fns };
}

/** Prose that explains functions, about `target` SLM tokens. */
function explanation(random: () => number, fns: Fn[], target: number, opening: string): string {
  const sentences = [
    (f: Fn) => `\`${f.name}\` walks over \`${f.param}\` and keeps at most \`max\` results, ${intIn(random, 2, 512)} unless \`options.max\` says otherwise.`,
    (f: Fn) => `For each ${f.noun} it builds a key from the owner's \`id\`, so two ${f.noun}s with the same name never collide.`,
    (f: Fn) =>
      `The loop skips a ${f.noun} whose size is above the threshold; note that \`continue\` here means the ${f.noun} is dropped silently, which can hide bad input.`,
    (f: Fn) =>
      `The total is summed with \`reduce\` and compared with the limit: past it, \`${f.name}\` throws a \`RangeError\` instead of returning a partial list.`,
    (_f: Fn) =>
      `It also stamps the time of the last check (\`Date.now()\` minus a fixed offset), which makes the function impure: calling it twice changes state.`,
    (f: Fn) => `If \`${f.param}\` is empty, the result is an empty array and nothing is thrown.`,
    (f: Fn) => `A cheaper variant would stop reading \`${f.param}\` once \`out.length\` reaches \`max\`; it already does, with the \`break\` inside the loop.`,
    (f: Fn) => `The scale factor is applied per ${f.noun}, so rounding happens ${intIn(random, 2, 9)} times per call rather than once at the end.`,
  ];
  const parts: string[] = [opening];
  let tokens = slmPieces(opening).length;
  let i = 0;
  while (tokens < target) {
    const f = fns[i % fns.length];
    const paragraph: string[] = [];
    const n = intIn(random, 2, 4);
    const order = sentences.map((_, k) => k).sort(() => random() - 0.5);
    for (let k = 0; k < n; k++) paragraph.push(sentences[order[k]](f));
    const text = i % 3 === 2 ? paragraph.map((s) => `- ${s}`).join('\n') : paragraph.join(' ');
    parts.push(text);
    tokens += slmPieces(text).length + 1;
    i++;
  }
  return parts.join('\n\n');
}

/** A reasoning answer of about `target` SLM tokens: numbered steps with their arithmetic. */
function reasoning(random: () => number, target: number): string {
  const parts = ['Let me set up the quantities first, then work through the rates step by step and check the result at the end.'];
  let tokens = slmPieces(parts[0]).length;
  let step = 1;
  let carried = intIn(random, 120, 480);
  while (tokens < target) {
    const a = intIn(random, 12, 96);
    const b = intIn(random, 3, 19);
    const product = a * b;
    const next = carried + product;
    const lines = [
      `**Step ${step}.** The ${pick(random, ['second', 'third', 'faster', 'slower'])} pipe fills ${a} litres per minute for ${b} minutes, so it adds ${a} × ${b} = ${product} litres.`,
      `Adding this to the ${carried} litres from before gives ${carried} + ${product} = ${next} litres.`,
      random() < 0.5
        ? `Check: ${next} − ${product} = ${carried}, which matches the previous total, so the step is consistent.`
        : `As a fraction of the ${intIn(random, 2, 9) * 1000}-litre tank this is about ${((next / 5000) * 100).toFixed(1)}%, still below the overflow mark.`,
    ];
    const text = lines.join(' ');
    parts.push(text);
    tokens += slmPieces(text).length + 1;
    carried = next;
    step++;
  }
  parts.push(`So the tank holds ${carried} litres at the end, and the answer is $\\boxed{${carried}}$.`);
  return parts.join('\n\n');
}

/** Scripts the SLM's confidence over the reference: low at 3-8% of positions, clusters and isolated tokens. */
export function scriptConfidence(pieces: Piece[], seed: number, rate: number): { top1: number[]; low: number[] } {
  const random = rng(seed);
  const n = pieces.length;
  const isLow = new Array<boolean>(n).fill(false);
  const target = Math.round(n * rate);
  let count = 0;
  const free = (from: number, to: number): boolean => {
    for (let i = Math.max(0, from); i <= Math.min(n - 1, to); i++) if (isLow[i]) return false;
    return true;
  };
  // About half in clusters of 3-6 within 10 tokens.
  for (let guard = 0; count < target * 0.5 && guard < 10_000; guard++) {
    const start = intIn(random, 3, n - 12);
    if (!free(start - 6, start + 16)) continue;
    const k = intIn(random, 3, 6);
    const slots = Array.from({ length: 10 }, (_, i) => start + i)
      .sort(() => random() - 0.5)
      .slice(0, k);
    for (const s of slots) isLow[s] = true;
    count += k;
  }
  // The rest isolated: no other low position within 8 tokens.
  for (let guard = 0; count < target && guard < 10_000; guard++) {
    const at = intIn(random, 3, n - 2);
    if (!free(at - 8, at + 8)) continue;
    isLow[at] = true;
    count += 1;
  }
  const top1 = isLow.map((low) => (low ? 0.08 + 0.37 * random() : random() < 0.85 ? 0.85 + 0.145 * random() : 0.5 + 0.35 * random()));
  const low = isLow.flatMap((l, i) => (l ? [i] : []));
  return { top1, low };
}

function trace(id: string, label: string, editor: boolean, messages: ChatMessage[], reference: string, seed: number, rate: number): Trace {
  const pieces = slmPieces(reference);
  return { id, label, editor, messages, reference, pieces, ...scriptConfidence(pieces, seed, rate) };
}

/**
 * The warm-up answer of bench:cost, run once per billing model before any measured row:
 * explain 12 lines (prompt about 250 SLM tokens, answer about 150), so that the token
 * ratios the measured rows share are learned from code and prose, as the editor's first
 * answer of a session would teach them. Not a measured trace.
 */
export function buildWarmupTrace(): Trace {
  const random = rng(12);
  const code = codeBlock(random, 12);
  const answer = explanation(
    random,
    code.fns,
    150,
    `These 12 lines define ${code.fns.length === 1 ? 'one function' : `${code.fns.length} functions`} that filter a list and check a limit.`,
  );
  return trace(
    'warm-up',
    'explain 12 lines (warm-up, not measured)',
    true,
    [
      { role: 'system', content: SYSTEM },
      { role: 'user', content: `Explain what this code does, step by step, and point out anything surprising.\n\n\`\`\`ts\n${code.text}\n\`\`\`` },
    ],
    answer,
    1201,
    0.05,
  );
}

export function buildTraces(): Trace[] {
  const traces: Trace[] = [];

  {
    const random = rng(40);
    const code = codeBlock(random, 40);
    const answer = explanation(
      random,
      code.fns,
      440,
      `This file defines ${code.fns.length} small functions that filter, transform and total lists of records. Each follows the same pattern: a loop with an early \`continue\`, a cap on the number of results, and a check against a limit at the end.`,
    );
    traces.push(
      trace(
        'explain-40',
        'explain 40 lines',
        true,
        [
          { role: 'system', content: SYSTEM },
          { role: 'user', content: `Explain what this code does, step by step, and point out anything surprising.\n\n\`\`\`ts\n${code.text}\n\`\`\`` },
        ],
        answer,
        401,
        0.055,
      ),
    );
  }
  {
    const random = rng(200);
    const code = codeBlock(random, 200);
    const answer = explanation(
      random,
      code.fns,
      600,
      `The selection is a module of ${code.fns.length} functions over lists of records. They share one shape, so I explain the pattern once and then what differs between them.`,
    );
    traces.push(
      trace(
        'explain-200',
        'explain 200 lines',
        true,
        [
          { role: 'system', content: SYSTEM },
          { role: 'user', content: `Explain what this code does, step by step, and point out anything surprising.\n\n\`\`\`ts\n${code.text}\n\`\`\`` },
        ],
        answer,
        2001,
        0.045,
      ),
    );
  }
  {
    const random = rng(3000);
    const history: ChatMessage[] = [{ role: 'system', content: SYSTEM }];
    const questions = [
      'Why does my cache of parsed records keep growing? Here is the code that fills it.',
      'Can you rewrite the loop so it stops early, and explain the trade-off?',
      'How would you test this without a real clock?',
      'Which of these functions would you split first, and why?',
    ];
    for (let turn = 0; turn < 3; turn++) {
      const code = codeBlock(random, intIn(random, 12, 16));
      history.push({ role: 'user', content: `${questions[turn]}\n\n\`\`\`ts\n${code.text}\n\`\`\`` });
      history.push({
        role: 'assistant',
        content: explanation(random, code.fns, 620, `Looking at \`${code.fns[0].name}\`: the short answer is that nothing ever removes an entry.`),
      });
    }
    history.push({ role: 'user', content: questions[3] });
    const code = codeBlock(random, 24);
    const answer = explanation(
      random,
      code.fns,
      400,
      `I would split \`${code.fns[0].name}\` first: it mixes three jobs (filtering, pricing and the limit check), and the last one throws.`,
    );
    traces.push(trace('chat-3k', 'chat turn, 3k history', true, history, answer, 3001, 0.06));
    // The same turn after the previous one: its last call sent the history up to most of the previous answer.
    const previous = history[history.length - 2].content;
    const warm = { messages: history.slice(0, -2), partialAnswer: previous.slice(0, previous.length - 40) };
    traces.push({ ...trace('chat-3k-warm', 'chat turn, 3k history cached by the previous turn', true, history, answer, 3001, 0.06), warm });
  }
  {
    const random = rng(2000);
    const answer = reasoning(random, 2000);
    traces.push(
      trace(
        'problem',
        'short problem, long reasoning',
        false,
        [
          {
            role: 'user',
            content:
              'A tank is filled by several pipes in turn; each pipe runs at its own rate for a few minutes. Starting from the amount already in the tank, how many litres does it hold at the end? Reason step by step and put the final answer in \\boxed{}.',
          },
        ],
        answer,
        20001,
        0.05,
      ),
    );
  }
  return traces;
}
