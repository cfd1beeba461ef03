"""Evaluates the relay protocols on the held-out split and prints the paper-style table.

Rows: SLM alone, LLM alone, command mode with the warm-up / GRPO-simple / GRPO-difficulty
SLMs, confidence mode (base SLM, LLM writes `span` tokens where top-1 < t) at two
thresholds, and a random query-level router whose accuracy matches the most accurate relay row.
Columns: accuracy, share of answer tokens written by the LLM, LLM calls per question,
and cost reduction = 1 - (LLM tokens of the row / LLM tokens of a random router matched
to the row's accuracy, i.e. sending (acc - acc_SLM) / (acc_LLM - acc_SLM) of queries).
Both models sample at temperature 0.7 (the paper's setting) with fixed seeds."""
import argparse
import json
import time

import torch

import relay
import relay_task as task
from export_model import fake_quantize_
from model import load_checkpoint as load_float_checkpoint


def load_checkpoint(path):
    """Evaluate the weights as shipped: int8-rounded like the committed ONNX files."""
    model = load_float_checkpoint(path)
    fake_quantize_(model)
    return model


def run_row(name, slm, llm, questions, mode, temperature, seed, **kw):
    t0 = time.time()
    gen = torch.Generator().manual_seed(seed)
    outs = relay.relay_generate(slm, llm, [q for q, _ in questions], mode=mode, slm_temperature=temperature,
                                llm_temperature=temperature, generator=gen, **kw)
    correct = sum(o.correct(a) for o, (_, a) in zip(outs, questions))
    llm_tokens = sum(o.llm_tokens for o in outs)
    total = sum(o.total_tokens for o in outs)
    return {'name': name, 'accuracy': correct / len(outs), 'llm_tokens': llm_tokens, 'total_tokens': total,
            'llm_share': llm_tokens / max(1, total), 'calls_per_question': sum(o.calls for o in outs) / len(outs),
            'seconds': round(time.time() - t0, 1), 'example': outs[0].text}


def matched_router(slm_row, llm_row, target_accuracy):
    gap = llm_row['accuracy'] - slm_row['accuracy']
    p = min(1.0, max(0.0, (target_accuracy - slm_row['accuracy']) / gap)) if gap > 0 else 1.0
    llm_tokens = p * llm_row['total_tokens']
    total = llm_tokens + (1 - p) * slm_row['total_tokens']
    return {'name': f'random router matched ({p:.0%} of queries to the LLM)', 'accuracy': target_accuracy,
            'llm_tokens': llm_tokens, 'total_tokens': total, 'llm_share': llm_tokens / total, 'calls_per_question': p,
            'routed_fraction': p}


def table(rows, router, slm_row, llm_row):
    """Cost reduction of a row: 1 - its LLM tokens / those of a random router matched to
    its own accuracy (n/a where the SLM alone is at least as accurate: no router needed)."""
    lines = ['| protocol | accuracy | LLM token share | LLM calls / question | cost reduction vs router matched to this accuracy |',
             '|---|---|---|---|---|']
    for r in rows + [router]:
        own_router = matched_router(slm_row, llm_row, r['accuracy'])
        if r is llm_row or r is router or own_router['llm_tokens'] <= 0:
            r['cost_reduction'] = None
            cell = 'n/a'
        else:
            r['cost_reduction'] = 1 - r['llm_tokens'] / own_router['llm_tokens']
            cell = f"{100 * r['cost_reduction']:.1f}%"
        lines.append(f"| {r['name']} | {100 * r['accuracy']:.1f}% | {100 * r['llm_share']:.2f}% | "
                     f"{r['calls_per_question']:.2f} | {cell} |")
    return '\n'.join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--slm', required=True, help='base SLM (SLM alone, confidence mode)')
    ap.add_argument('--llm', required=True)
    ap.add_argument('--warmup', required=True)
    ap.add_argument('--grpo-simple', required=True)
    ap.add_argument('--grpo-difficulty', required=True)
    ap.add_argument('--thresholds', default='0.7,0.9')
    ap.add_argument('--span', type=int, default=1)
    ap.add_argument('--temperature', type=float, default=0.7)
    ap.add_argument('--seed', type=int, default=7)
    ap.add_argument('--limit', type=int, default=task.HELD_OUT_SIZE)
    ap.add_argument('--extra', action='append', default=[], metavar='NAME=CHECKPOINT',
                    help='another SLM to evaluate in command mode (a row of its own)')
    ap.add_argument('--json-out')
    args = ap.parse_args()
    torch.set_num_threads(1)
    questions = task.held_out_questions()[:args.limit]
    slm, llm = load_checkpoint(args.slm), load_checkpoint(args.llm)
    rows = [run_row('SLM alone', slm, None, questions, 'slm', args.temperature, args.seed),
            run_row('LLM alone', llm, None, questions, 'slm', args.temperature, args.seed)]
    rows[1]['llm_tokens'], rows[1]['llm_share'], rows[1]['calls_per_question'] = rows[1]['total_tokens'], 1.0, 1.0
    relay_rows = []
    for name, path in [('relay, command mode: warm-up only', args.warmup), ('relay, command mode: GRPO simple reward', args.grpo_simple),
                       ('relay, command mode: GRPO difficulty-aware', args.grpo_difficulty)]:
        relay_rows.append(run_row(name, load_checkpoint(path), llm, questions, 'command', args.temperature, args.seed))
    for extra in args.extra:
        name, path = extra.split('=', 1)
        relay_rows.append(run_row(f'relay, command mode: {name}', load_checkpoint(path), llm, questions, 'command', args.temperature, args.seed))
    conf_rows = [run_row(f'relay, confidence mode: top-1 < {t}, LLM writes {args.span}', slm, llm, questions, 'confidence',
                         args.temperature, args.seed, threshold=float(t), span=args.span) for t in args.thresholds.split(',')]
    best = max(relay_rows + conf_rows, key=lambda r: r['accuracy'])
    router = matched_router(rows[0], rows[1], best['accuracy'])
    router['name'] += f", matched to \"{best['name']}\""
    all_rows = rows + relay_rows + conf_rows
    print(f'held-out questions: {len(questions)}, temperature {args.temperature}, seed {args.seed}')
    print(table(all_rows, router, rows[0], rows[1]))
    if args.json_out:
        with open(args.json_out, 'w') as f:
            json.dump({'rows': all_rows, 'router': router}, f, indent=1)


if __name__ == '__main__':
    main()
