/**
 * `relay eval`'s data: a JSONL file, one question a line, in the form of the data set it
 * came from, detected line by line:
 *   GSM8K:   {"question": "...", "answer": "... #### 42"}            (the reference follows ####)
 *   MATH500: {"problem": "...", "answer": "\\frac{1}{2}", ...}        (or a "solution" whose last \boxed{} is the reference)
 *   plain:   {"question": "...", "answer": "42"}                     (the demo's held-out set; also "prompt", "reference")
 * A question's index is its position among the file's questions (blank lines skipped),
 * whatever --offset says: its sampling seed and its key in the answers file depend on it.
 */
import { readFileSync } from 'node:fs';
import { extractBoxed } from '../../core/relay/answerExtraction';
import { UsageError } from '../args';
import { fileErrorInWords } from '../../core/fileErrors';

export type EvalFormat = 'gsm8k' | 'math' | 'plain';

export interface EvalItem {
  /** Position among the file's questions, from 0 (not the line number). */
  index: number;
  /** The data set's own id (MATH500's unique_id, an "id" field), else "line N". */
  id: string;
  question: string;
  reference: string;
  format: EvalFormat;
}

export interface LoadOptions {
  /** Skip this many questions first. */
  offset?: number;
  /** At most this many questions (after the offset). */
  limit?: number;
}

const ID_KEYS = ['unique_id', 'id', 'idx', 'task_id', 'problem_id'];

const EXPECTED =
  'Each line must be a GSM8K-style {"question": "...", "answer": "... #### 42"}, a MATH500-style {"problem": "...", "answer": "..."} ' +
  '(or a "solution" with \\boxed{...}), or {"question": "...", "answer": "42"}';

const isText = (v: unknown): v is string => typeof v === 'string' && v.trim() !== '';
const isAnswer = (v: unknown): v is string | number => isText(v) || (typeof v === 'number' && Number.isFinite(v));

/** One line's question and reference; `where` names the line in errors ("data.jsonl line 7"). */
export function parseEvalLine(row: unknown, where: string): { question: string; reference: string; format: EvalFormat; id?: string } {
  if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new UsageError(`relay eval: ${where} is not a JSON object. ${EXPECTED}.`);
  const r = row as Record<string, unknown>;
  const keys = Object.keys(r);
  const found =
    keys.length === 0
      ? 'none'
      : keys
          .slice(0, 12)
          .map((k) => JSON.stringify(k))
          .join(', ');
  const idKey = ID_KEYS.find((k) => isText(r[k]) || typeof r[k] === 'number');
  const id = idKey === undefined ? undefined : String(r[idKey]);
  if (isText(r.problem)) {
    if (isAnswer(r.answer)) return { question: r.problem, reference: String(r.answer).trim(), format: 'math', id };
    if (isText(r.solution)) {
      const boxed = extractBoxed(r.solution);
      if (boxed !== null && boxed !== '') return { question: r.problem, reference: boxed, format: 'math', id };
      throw new UsageError(
        `relay eval: ${where} is MATH500-style ("problem") but has no "answer", and its "solution" has no \\boxed{...} to take the reference from.`,
      );
    }
    throw new UsageError(`relay eval: ${where} is MATH500-style ("problem") but has no "answer" or "solution" (keys found: ${found}).`);
  }
  const question = [r.question, r.prompt].find(isText);
  if (question !== undefined) {
    const answer = [r.answer, r.reference, r.solution].find(isAnswer);
    if (answer === undefined) {
      throw new UsageError(`relay eval: ${where} has a "question" but no "answer" (GSM8K: "... #### 42"; or the answer itself) (keys found: ${found}).`);
    }
    const text = String(answer);
    const hashes = text.lastIndexOf('####');
    if (hashes >= 0) {
      const reference = text
        .slice(hashes + 4)
        .trim()
        .replace(/,/g, '');
      if (reference === '') throw new UsageError(`relay eval: ${where}: nothing follows "####" in its "answer".`);
      return { question, reference, format: 'gsm8k', id };
    }
    return { question, reference: extractBoxed(text) ?? text.trim(), format: 'plain', id };
  }
  throw new UsageError(`relay eval: ${where} has no "question" or "problem" string (keys found: ${found}). ${EXPECTED}.`);
}

export function readEvalData(path: string, options: LoadOptions = {}): EvalItem[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`relay eval: cannot read ${path}: ${fileErrorInWords(error)}.`);
  }
  const offset = options.offset ?? 0;
  const end = options.limit === undefined ? Infinity : offset + options.limit;
  const items: EvalItem[] = [];
  const lines = text.replace(/^\uFEFF/, '').split('\n');
  let index = 0;
  for (let i = 0; i < lines.length && index < end; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    const where = `${path} line ${i + 1}`;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      throw new UsageError(`relay eval: ${where} is not JSON. ${EXPECTED}.`);
    }
    const parsed = parseEvalLine(row, where);
    if (index >= offset) items.push({ index, id: parsed.id ?? `line ${i + 1}`, question: parsed.question, reference: parsed.reference, format: parsed.format });
    index++;
  }
  if (items.length === 0) {
    throw new UsageError(
      offset > 0 && index > 0 ? `relay eval: ${path} has ${index} questions, none after --offset ${offset}.` : `relay eval: ${path} has no questions.`,
    );
  }
  return items;
}
