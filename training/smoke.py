"""Smoke test of the whole pipeline at tiny sizes (a few steps each, well under a minute):
pre-train an SLM and an LLM, warm-up SFT with inserted commands, the LLM data filter,
GRPO with both rewards (rollouts really call the LLM), export both models as folders,
and the evaluation table. Prints one JSON line summarising what happened.
Usage: /usr/bin/python3 training/smoke.py <output folder>"""
import json
import os
import random
import sys
import time

import torch

import eval_relay
import export_model
import grpo
import relay_task as task
import warmup
from model import load_checkpoint, save_checkpoint
from train_base import batch_from_texts, supervised_train, train_base_model


def main(out):
    torch.set_num_threads(1)
    t0 = time.time()
    os.makedirs(out, exist_ok=True)
    slm = train_base_model(1, 32, 2, steps=150, batch=16, lr=3e-3, seed=1, label='smoke-slm', log_every=0)
    llm = train_base_model(1, 48, 2, steps=150, batch=16, lr=3e-3, seed=2, label='smoke-llm', log_every=0)
    rng = random.Random(3)
    questions = [q for q, _ in task.training_questions(64, seed=3)]
    sampled = warmup.build_warmup_set(slm, questions, rng, max_exponent=1, seed=3)
    # Commands at the start of the answer so that a few steps teach the tiny SLM to call
    # and the GRPO rollouts below really hand tokens to the LLM.
    examples = [(task.render_prompt(q), warmup.insert_call(task.worked_answer(q), rng, 1, pos=0) + task.IM_END) for q in questions]
    supervised_train(slm, lambda s: batch_from_texts([p for p, _ in examples[s % 4 * 16:][:16]], [a for _, a in examples[s % 4 * 16:][:16]]),
                     100, 3e-3, 5, log_every=0)
    save_checkpoint(slm, os.path.join(out, 'warmup.pt'))
    pool = task.training_questions(8, seed=4)
    kept = grpo.filter_questions(llm, pool, samples=2, seed=4)
    grpo_pool = kept if kept else pool  # an untrained LLM solves nothing; keep the smoke going
    histories = {}
    for kind in ('difficulty', 'simple'):
        policy, reference = load_checkpoint(os.path.join(out, 'warmup.pt')), load_checkpoint(os.path.join(out, 'warmup.pt'))
        histories[kind] = grpo.train(policy, reference, llm, grpo_pool, kind, steps=2, questions_per_step=2, group=4,
                                     lr=1e-4, kl_coef=0.01, seed=5, log_every=0,
                                     slm_temperature=0.3)  # tiny, barely trained: keep its samples on the call syntax
        save_checkpoint(policy, os.path.join(out, f'grpo-{kind}.pt'))
    refs = {}
    for role, model in (('slm', load_checkpoint(os.path.join(out, 'grpo-difficulty.pt'))), ('llm', llm)):
        refs[role] = export_model.write_folder(model, os.path.join(out, f'{role}-folder'), role, reference_questions=3)
        with open(os.path.join(out, f'{role}-reference.json'), 'w') as f:
            json.dump(refs[role], f)
    questions = task.held_out_questions()[:8]
    rows = [eval_relay.run_row('SLM alone', slm, None, questions, 'slm', 0.7, 7),
            eval_relay.run_row('LLM alone', llm, None, questions, 'slm', 0.7, 7),
            eval_relay.run_row('command', load_checkpoint(os.path.join(out, 'grpo-difficulty.pt')), llm, questions, 'command', 0.7, 7),
            eval_relay.run_row('confidence', slm, llm, questions, 'confidence', 0.7, 7, threshold=0.9, span=1)]
    rows[1]['llm_tokens'] = rows[1]['total_tokens']
    router = eval_relay.matched_router(rows[0], rows[1], rows[2]['accuracy'])
    table = eval_relay.table(rows, router, rows[0], rows[1])
    print(json.dumps({'warmup_examples': len(sampled), 'example': examples[0][1], 'kept': len(kept), 'pool': len(pool),
                      'grpo_steps': {k: len(h) for k, h in histories.items()},
                      'grpo_last': {k: h[-1] for k, h in histories.items()},
                      'grpo_calls': {k: sum(r['calls'] for r in h) for k, h in histories.items()},
                      'grpo_llm_share': {k: sum(r['llm_share'] for r in h) for k, h in histories.items()},
                      'confidence_llm_tokens': rows[3]['llm_tokens'], 'table_lines': len(table.splitlines()),
                      'seconds': round(time.time() - t0, 1)}))


if __name__ == '__main__':
    main(sys.argv[1])
