"""Pre-trains a decoder from scratch on worked answers (loss on the answer only)."""
import argparse
import math
import os
import random
import time

import torch

import decode
import relay_task as task
from model import ModelConfig, TinyGPT, count_parameters, load_checkpoint, save_checkpoint


def batch_from_texts(prompts, answers):
    """Right-padded ids, mask, and targets (-100 except on answer tokens and the end token)."""
    seqs, starts = [], []
    for p, a in zip(prompts, answers):
        pi = task.encode(p)
        seqs.append(pi + task.encode(a))
        starts.append(len(pi))
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), task.PAD_ID, dtype=torch.long)
    mask = torch.zeros_like(ids)
    targets = torch.full_like(ids, -100)
    for i, (s, st) in enumerate(zip(seqs, starts)):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
        targets[i, st - 1:len(s) - 1] = torch.tensor(s[st:])
    return ids, mask, targets


def lr_at(step, steps, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, steps - warmup)
    return peak * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def supervised_train(model, make_batch, steps, lr, warmup, log_every=100, label=''):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    t0 = time.time()
    model.train()
    for step in range(steps):
        for g in opt.param_groups:
            g['lr'] = lr_at(step, steps, lr, warmup)
        ids, mask, targets, *weights = make_batch(step)
        logits = model.forward_full(ids, mask)
        if weights:  # per-target weights (warmup.py --call-weight), averaged over the answer tokens
            per_token = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100,
                                                          reduction='none')
            w = weights[0].reshape(-1) * (targets.reshape(-1) != -100)
            loss = (per_token * w).sum() / w.sum()
        else:
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f'{label} step {step}/{steps} loss {loss.item():.4f} {time.time() - t0:.0f}s', flush=True)
    model.eval()


def train_base_model(layers, dim, heads, steps, batch, lr, seed, label='', log_every=100, init=None):
    torch.manual_seed(seed)
    rng = random.Random(seed)
    held = {q for q, _ in task.held_out_questions()}
    model = TinyGPT(ModelConfig(task.VOCAB_SIZE, layers, dim, heads, task.MAX_POSITIONS))
    if init is not None:  # continue training a checkpoint (a second schedule)
        model = load_checkpoint(init)
    print(f'{label} parameters {count_parameters(model)}', flush=True)

    def make_batch(_step):
        qs = []
        while len(qs) < batch:
            q, _ = task.make_question(rng)
            if q not in held:
                qs.append(q)
        return batch_from_texts([task.render_prompt(q) for q in qs], [task.worked_answer(q) + task.IM_END for q in qs])

    supervised_train(model, make_batch, steps, lr, warmup=max(1, steps // 20), label=label, log_every=log_every)
    return model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--layers', type=int, required=True)
    ap.add_argument('--dim', type=int, required=True)
    ap.add_argument('--heads', type=int, required=True)
    ap.add_argument('--steps', type=int, required=True)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--eval-size', type=int, default=500)
    ap.add_argument('--out', required=True)
    ap.add_argument('--init', help='checkpoint to continue from (same sizes)')
    args = ap.parse_args()
    torch.set_num_threads(1)
    t0 = time.time()
    model = train_base_model(args.layers, args.dim, args.heads, args.steps, args.batch, args.lr, args.seed,
                             label=os.path.basename(args.out), init=args.init)
    train_s = time.time() - t0
    evalset = task.held_out_questions()[:args.eval_size]
    acc = decode.accuracy(evalset, decode.generate_alone(model, [q for q, _ in evalset]))
    print(f'held-out greedy accuracy {acc:.3f} after {train_s:.0f}s', flush=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    save_checkpoint(model, args.out, {'greedy_accuracy': acc, 'train_seconds': train_s, 'steps': args.steps})


if __name__ == '__main__':
    main()
