"""Stage 2: GRPO on the warm-up SLM with the LLM in the loop.

Each step samples a group of answers per question with relay decoding (the SLM at
temperature 1.0; each command really runs the LLM for N tokens on the command-free
context and returns control). Rewards use rho = share of the answer's tokens the LLM
wrote. Advantages are normalised within each group; the loss is the policy gradient on
the SLM's own tokens (the LLM's tokens are masked out) plus a KL penalty to the warm-up
model. One update per batch of rollouts (on-policy), so PPO's ratio clipping is moot."""
import argparse
import json
import random
import time

import torch

import relay
import relay_task as task
from model import load_checkpoint, save_checkpoint


def group_rewards(rollouts, answer, kind):
    correct = [o.correct(answer) for o in rollouts]
    called = [o.llm_tokens > 0 for o in rollouts]
    rho = [o.llm_share for o in rollouts]
    if kind == 'simple':
        return [float(c) - r for c, r in zip(correct, rho)]
    if any(c and not k for c, k in zip(correct, called)):
        # The SLM can solve it alone: calling is a cost.
        return [(1.5 if not k else 1.0 - r) if c else 0.0 for c, k, r in zip(correct, called, rho)]
    if any(correct):
        # Only samples that called are right: not calling and failing is punished.
        return [(1.0 - r) if c else (-1.0 if not k else 0.0) for c, k, r in zip(correct, called, rho)]
    return list(rho)  # nobody is right: reward exploring the LLM


def rollout_batch(rollouts):
    """Right-padded ids with targets on the tokens the SLM wrote (its end token included)."""
    seqs, masks = [], []
    for o in rollouts:
        ids = o.prompt_ids + o.answer_ids
        own = [0] * (len(o.prompt_ids) - 1) + [1 - b for b in o.by_llm]
        if o.ended_by_eos:
            ids = ids + [task.EOS_ID]
            own = own + [0 if o.eos_by_llm else 1]
        seqs.append(ids)
        masks.append(own)
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), task.PAD_ID, dtype=torch.long)
    attn = torch.zeros_like(ids)
    targets = torch.zeros_like(ids)
    loss_mask = torch.zeros(len(seqs), width)
    for i, (s, m) in enumerate(zip(seqs, masks)):
        ids[i, :len(s)] = torch.tensor(s)
        attn[i, :len(s)] = 1
        targets[i, :len(s) - 1] = torch.tensor(s[1:])
        loss_mask[i, :len(m)] = torch.tensor(m, dtype=torch.float)
    return ids, attn, targets, loss_mask


def token_logprobs(model, ids, attn, targets):
    logits = model.forward_full(ids, attn)
    return torch.log_softmax(logits, dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def filter_questions(llm, questions, samples, seed):
    rates = relay.solve_rates(llm, questions, samples, temperature=0.7, seed=seed)
    return [qa for qa, r in zip(questions, rates) if r >= 0.5]


def train(policy, reference, llm, pool, kind, steps, questions_per_step, group, lr, kl_coef, seed, log_every=10, log=print,
          slm_temperature=1.0):
    opt = torch.optim.AdamW(policy.parameters(), lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    rng = random.Random(seed)
    order = list(range(len(pool)))
    rng.shuffle(order)
    cursor = 0
    history = []
    t0 = time.time()
    for step in range(steps):
        batch_q = []
        for _ in range(questions_per_step):
            if cursor == len(order):
                rng.shuffle(order)
                cursor = 0
            batch_q.append(pool[order[cursor]])
            cursor += 1
        flat = [q for q, _ in batch_q for _ in range(group)]
        policy.eval()
        rolls = relay.relay_generate(policy, llm, flat, mode='command', slm_temperature=slm_temperature, llm_temperature=0.7,
                                     generator=gen)
        rewards, advantages = [], []
        for g, (_, answer) in enumerate(batch_q):
            grp = rolls[g * group:(g + 1) * group]
            r = torch.tensor(group_rewards(grp, answer, kind))
            rewards.extend(r.tolist())
            advantages.extend(((r - r.mean()) / (r.std() + 1e-4)).tolist())
        ids, attn, targets, mask = rollout_batch(rolls)
        adv = torch.tensor(advantages).unsqueeze(1)
        with torch.no_grad():
            ref_lp = token_logprobs(reference, ids, attn, targets)
        policy.train()
        lp = token_logprobs(policy, ids, attn, targets)
        diff = ref_lp - lp
        kl = torch.exp(diff) - diff - 1  # k3 estimator of KL(policy || reference)
        loss = ((-adv * lp + kl_coef * kl) * mask).sum() / mask.sum().clamp(min=1)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(policy.parameters(), 1.0)
        opt.step()
        acc = sum(o.correct(a) for o, (_, a) in zip(rolls, [qa for qa in batch_q for _ in range(group)])) / len(rolls)
        share = sum(o.llm_tokens for o in rolls) / max(1, sum(o.total_tokens for o in rolls))
        calls = sum(o.calls for o in rolls) / len(rolls)
        row = {'step': step, 'reward': sum(rewards) / len(rewards), 'accuracy': acc, 'llm_share': share,
               'calls': calls, 'kl': float((kl * mask).sum() / mask.sum()), 'seconds': round(time.time() - t0, 1)}
        history.append(row)
        if log_every and (step % log_every == 0 or step == steps - 1):
            log(json.dumps(row))
    policy.eval()
    return history


def make_pool(llm, size, samples, seed):
    raw = task.training_questions(size, seed=seed + 1000)
    return raw, filter_questions(llm, raw, samples, seed)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--llm', required=True)
    ap.add_argument('--pool-file', required=True, help='questions kept by the data filter (JSON); made by --make-pool')
    ap.add_argument('--make-pool', action='store_true', help='only run the LLM data filter and write --pool-file')
    ap.add_argument('--warmup')
    ap.add_argument('--reward', choices=['difficulty', 'simple'])
    ap.add_argument('--out')
    ap.add_argument('--steps', type=int, default=60)
    ap.add_argument('--questions', type=int, default=16)
    ap.add_argument('--group', type=int, default=8)
    ap.add_argument('--lr', type=float, default=1e-4)
    ap.add_argument('--kl', type=float, default=0.01)
    ap.add_argument('--pool', type=int, default=600)
    ap.add_argument('--filter-samples', type=int, default=10)
    ap.add_argument('--seed', type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    llm = load_checkpoint(args.llm)
    t0 = time.time()
    if args.make_pool:
        raw, pool = make_pool(llm, args.pool, args.filter_samples, args.seed)
        with open(args.pool_file, 'w') as f:
            json.dump({'pool': len(raw), 'samples': args.filter_samples, 'kept': pool}, f)
        print(f'data filter: kept {len(pool)} of {len(raw)} questions the LLM solves in >= half of '
              f'{args.filter_samples} samples ({time.time() - t0:.0f}s)', flush=True)
        return
    if not (args.warmup and args.reward and args.out):
        ap.error('--warmup, --reward and --out are needed to train')
    with open(args.pool_file) as f:
        saved = json.load(f)
    pool = [tuple(qa) for qa in saved['kept']]
    policy = load_checkpoint(args.warmup)
    reference = load_checkpoint(args.warmup)
    history = train(policy, reference, llm, pool, args.reward, args.steps, args.questions, args.group, args.lr, args.kl, args.seed,
                    log=lambda s: print(s, flush=True))
    save_checkpoint(policy, args.out, {'stage': f'grpo-{args.reward}', 'kept': len(pool), 'pool': saved['pool'],
                                       'seconds': time.time() - t0, 'history': history})
    print(f'saved {args.out} after {time.time() - t0:.0f}s', flush=True)


if __name__ == '__main__':
    main()
