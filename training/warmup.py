"""Stage 1 (warm-up): the SLM's own sampled answers with one `<call>N</call>` inserted at
a random token position, then supervised fine-tuning so the SLM learns the syntax.
N = d * 10^k (d in 1..9, k in 0..K) capped at the number of answer tokens after the
insertion point; the text after the command stays the SLM's own (as in the paper)."""
import argparse
import random
import time

import torch

import relay
import relay_task as task
from model import load_checkpoint, save_checkpoint
from train_base import batch_from_texts, supervised_train


def draw_call_length(rng, remaining, max_exponent):
    return min(rng.randint(1, 9) * 10 ** rng.randint(0, max_exponent), remaining)


def insert_call(answer, rng, max_exponent, pos=None):
    """answer: the SLM's text (no end token). Returns it with one command inserted at
    `pos` (a random token position unless given)."""
    pos = rng.randrange(0, len(answer)) if pos is None else pos  # one character = one token
    n = draw_call_length(rng, len(answer) - pos, max_exponent)
    return f'{answer[:pos]}<call>{n}</call>{answer[pos:]}'


def build_warmup_set(slm, questions, rng, max_exponent, seed, call_fraction=1.0):
    outs = []
    gen = torch.Generator().manual_seed(seed)
    for start in range(0, len(questions), 500):
        outs.extend(relay.relay_generate(slm, None, questions[start:start + 500], mode='slm', slm_temperature=0.7, generator=gen))
    examples = []
    for o in outs:
        if not o.ended_by_eos or not o.answer_ids:
            continue  # keep well-formed samples; correctness is not required (paper)
        with_call = rng.random() < call_fraction
        answer = (insert_call(o.text, rng, max_exponent) if with_call else o.text) + task.IM_END
        prompt = task.render_prompt(o.question)
        if len(task.encode(prompt + answer)) <= task.MAX_POSITIONS:
            examples.append((prompt, answer))
    return examples


@torch.no_grad()
def top1_probabilities(model, pairs):
    """(prompt, answer) pairs, teacher-forced: [pairs, positions] top-1 probability of the
    model's next-token distribution at each position."""
    seqs = [task.encode(p + a) for p, a in pairs]
    width = max(len(x) for x in seqs)
    ids = torch.full((len(seqs), width), task.PAD_ID, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, x in enumerate(seqs):
        ids[i, :len(x)] = torch.tensor(x)
        mask[i, :len(x)] = 1
    return torch.softmax(model.forward_full(ids, mask), dim=-1).max(-1).values


@torch.no_grad()
def worked_answers_with_doubt(slm, questions):
    """Yields (prompt, correct worked answer, the SLM's top-1 probability before each of
    the answer's characters), teacher-forced, 500 questions per forward pass."""
    for start in range(0, len(questions), 500):
        qs = questions[start:start + 500]
        prompts = [task.render_prompt(q) for q in qs]
        answers = [task.worked_answer(q) for q in qs]
        top1 = top1_probabilities(slm, list(zip(prompts, answers)))
        for i, (p, a) in enumerate(zip(prompts, answers)):
            offset = len(task.encode(p))
            yield p, a, [float(top1[i, offset + j - 1]) for j in range(len(a))]


@torch.no_grad()
def build_uncertain_set(slm, questions, threshold, max_calls=4):
    """Departure from the paper (see README): commands go where the SLM itself is unsure.
    Along the correct worked answer, `<call>1</call>` is inserted before every character
    whose position has a top-1 probability below `threshold` (at most `max_calls`, the
    turn limit), and the text after each command is the correct one the LLM would write."""
    examples = []
    for p, a, top1 in worked_answers_with_doubt(slm, questions):
        out, calls = '', 0
        for j, ch in enumerate(a):
            if calls < max_calls and top1[j] < threshold:
                out += '<call>1</call>'
                calls += 1
            out += ch
        examples.append((p, out + task.IM_END))
    return examples


@torch.no_grad()
def build_uncertain_number_set(slm, questions, threshold, max_calls=4):
    """Departure, variant: the same uncertain characters, but the command goes before the
    whole number that holds them and the LLM writes that number up to its last uncertain
    digit (`<call>2</call>62` then the SLM writes `8`): a command never splits a number,
    which the 2-layer SLM must copy later (into the next step and the final answer)."""
    examples = []
    for p, a, top1 in worked_answers_with_doubt(slm, questions):
        out, calls, j = '', 0, 0
        while j < len(a):
            end = j + 1
            if a[j].isdigit():
                while end < len(a) and a[end].isdigit():
                    end += 1
            hits = [k for k in range(j, end) if top1[k] < threshold]
            if hits and calls < max_calls:
                out += f'<call>{hits[-1] - j + 1}</call>'
                calls += 1
            out += a[j:end]
            j = end
        examples.append((p, out + task.IM_END))
    return examples


@torch.no_grad()
def add_calls_where_caller_unsure(caller, examples, threshold, max_calls=4):
    """Departure, second round: the commands of `examples` (prompt, answer with commands)
    came from the base SLM's doubts on clean text; an SLM trained on them (`caller`) doubts
    other characters once commands sit in its context. Teacher-forced on each annotated
    answer, `<call>1</call>` is added before every SLM-written character where `caller`'s
    top-1 probability is below `threshold` (the character right after a command is the
    LLM's and needs none), up to `max_calls` commands per answer."""
    out = []
    for start in range(0, len(examples), 500):
        chunk = examples[start:start + 500]
        top1 = top1_probabilities(caller, chunk)
        for i, (p, a) in enumerate(chunk):
            offset = len(task.encode(p))
            body = a[:-len(task.IM_END)] if a.endswith(task.IM_END) else a
            calls = body.count('<call>')
            text, j = '', 0
            while j < len(body):
                if body.startswith('<call>', j):
                    end = body.index('</call>', j) + len('</call>')
                    text += body[j:end + 1]  # the command and the LLM's character after it
                    j = end + 1
                    continue
                if calls < max_calls and float(top1[i, offset + j - 1]) < threshold:
                    text += '<call>1</call>'
                    calls += 1
                text += body[j]
                j += 1
            out.append((p, text + task.IM_END))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--slm', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--samples', type=int, default=6000)
    ap.add_argument('--steps', type=int, default=500)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--lr', type=float, default=1e-3)
    ap.add_argument('--max-exponent', type=int, default=1)
    ap.add_argument('--call-fraction', type=float, default=0.5, help='share of answers that get a command')
    ap.add_argument('--placement', choices=['random', 'uncertain', 'uncertain-number'], default='random',
                    help='random: the paper; uncertain: before characters the SLM is unsure of; uncertain-number: before '
                         'the numbers holding them, the LLM writing up to the last unsure digit (departures)')
    ap.add_argument('--threshold', type=float, default=0.9, help='--placement uncertain: top-1 probability below which to call')
    ap.add_argument('--call-weight', type=float, default=1.0, help="loss weight of the '<' that starts a command (1: the paper's plain SFT)")
    ap.add_argument('--relabel-with', help='--placement uncertain: then also call where this SLM, trained on the first labels, is unsure')
    ap.add_argument('--seed', type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    slm = load_checkpoint(args.slm)
    t0 = time.time()
    questions = [q for q, _ in task.training_questions(args.samples, seed=args.seed)]
    if args.placement == 'random':
        examples = build_warmup_set(slm, questions, rng, args.max_exponent, args.seed, args.call_fraction)
    elif args.placement == 'uncertain':
        examples = build_uncertain_set(slm, questions, args.threshold)
        if args.relabel_with:
            examples = add_calls_where_caller_unsure(load_checkpoint(args.relabel_with), examples, args.threshold)
    else:
        examples = build_uncertain_number_set(slm, questions, args.threshold)
    print(f'warm-up set: {len(examples)} answers, {sum("<call>" in a for _, a in examples)} with a command, e.g. {examples[0][1]!r} ({time.time() - t0:.0f}s)', flush=True)

    def make_batch(step):
        batch = [examples[(step * args.batch + i) % len(examples)] for i in range(args.batch)]
        ids, mask, targets = batch_from_texts([p for p, _ in batch], [a for _, a in batch])
        if args.call_weight == 1.0:
            return ids, mask, targets
        # The decision to call is one token ('<' of '<call>'); weighting it makes a
        # call where the data has one more likely than a guess (a departure, see README).
        weights = torch.ones(targets.shape)
        for i, (p, a) in enumerate(batch):
            at = a.find('<call>')
            while at >= 0:
                weights[i, len(task.encode(p + a[:at])) - 1] = args.call_weight  # the target of that position is '<'
                at = a.find('<call>', at + 1)
        return ids, mask, targets, weights

    supervised_train(slm, make_batch, args.steps, args.lr, warmup=max(1, args.steps // 10), log_every=50, label='warm-up')
    save_checkpoint(slm, args.out, {'stage': 'warm-up', 'examples': len(examples), 'seconds': time.time() - t0})
    print(f'saved {args.out} after {time.time() - t0:.0f}s', flush=True)


if __name__ == '__main__':
    main()
