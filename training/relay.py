"""Relay decoding in Python, as the paper's reference loop does it, batched.

Command mode: the SLM writes; when its text ends with `</call>` the number N of
`<call>N</call>` hands the next min(N, budget left) tokens to the LLM, which sees the
prompt plus the answer so far with every command removed; then the SLM resumes with the
command and the LLM's text in its own context. An end token from the LLM ends the answer.
At most `max_turns` SLM turns; a command on the last turn is ignored; `<call>` without
digits ends the answer with an error.
Confidence mode: no commands; the LLM writes `span` tokens wherever the SLM's top-1
probability is below a threshold.
All sequences advance one token per step; each model keeps its own KV cache."""
from dataclasses import dataclass, field

import torch

import decode
import relay_task as task

CALL_CLOSE = '</call>'


@dataclass
class Rollout:
    question: str
    prompt_ids: list
    answer_ids: list = field(default_factory=list)
    by_llm: list = field(default_factory=list)  # 1 where the LLM wrote the answer token
    calls: int = 0
    error: bool = False
    ended_by_eos: bool = False
    eos_by_llm: bool = False

    @property
    def text(self):
        return task.decode(self.answer_ids)

    @property
    def user_text(self):
        return task.strip_commands(self.text)

    @property
    def llm_tokens(self):
        return sum(self.by_llm)

    @property
    def total_tokens(self):
        return len(self.answer_ids)

    @property
    def llm_share(self):
        return self.llm_tokens / max(1, self.total_tokens)

    def correct(self, answer):
        return not self.error and task.parse_final_answer(self.user_text) == answer


@torch.no_grad()
def relay_generate(slm, llm, questions, mode='command', slm_temperature=0.7, llm_temperature=0.7,
                   seed=0, max_turns=5, budget=8192, threshold=0.8, span=1, generator=None):
    """mode: 'command', 'confidence' or 'slm' (the SLM alone, commands left as text)."""
    gen = generator or torch.Generator().manual_seed(seed)
    n = len(questions)
    outs = [Rollout(q, task.encode(task.render_prompt(q))) for q in questions]
    slm_state = decode.CachedBatch(slm, n)
    llm_state = decode.RaggedCachedBatch(llm, n) if llm is not None else None
    llm_fed = [0] * n
    slm_state.feed(list(range(n)), [o.prompt_ids for o in outs])
    slm_logits = slm_state.last_logits  # one row per sequence, updated in place by feed
    llm_left = [0] * n  # tokens the LLM still owes this row
    turns = [1] * n
    limits = [min(budget, slm.cfg.max_positions - len(o.prompt_ids)) for o in outs]
    active = list(range(n))
    while active:
        if mode == 'confidence':
            top1 = torch.softmax(slm_logits[active], dim=-1).max(-1).values
            for j, row in enumerate(active):
                if llm_left[row] == 0 and float(top1[j]) < threshold:
                    llm_left[row] = min(span, limits[row] - len(outs[row].answer_ids))
                    outs[row].calls += 1
        llm_rows = [r for r in active if llm_left[r] > 0]
        tokens = {}
        if llm_rows:
            pending = []
            for r in llm_rows:
                ctx = outs[r].prompt_ids + task.encode(task.strip_commands(outs[r].text))
                pending.append(ctx[llm_fed[r]:])
                llm_fed[r] = len(ctx)
            llm_logits = llm_state.feed(llm_rows, pending)
            for r, t in zip(llm_rows, decode.sample(llm_logits, llm_temperature, gen).tolist()):
                tokens[r] = t
        slm_rows = [r for r in active if llm_left[r] == 0]
        if slm_rows:
            idx = torch.tensor(slm_rows)
            for r, t in zip(slm_rows, decode.sample(slm_logits[idx], slm_temperature, gen).tolist()):
                tokens[r] = t
        still = []
        for r in active:
            o, t = outs[r], tokens[r]
            from_llm = llm_left[r] > 0
            if t == task.EOS_ID:
                o.ended_by_eos = True
                o.eos_by_llm = from_llm
                continue
            o.answer_ids.append(t)
            o.by_llm.append(1 if from_llm else 0)
            if from_llm:
                llm_left[r] -= 1
            elif mode == 'command' and o.text.endswith(CALL_CLOSE):
                command = o.text[o.text.rfind('<call>'):] if '<call>' in o.text else ''
                m = task.CALL_N_PATTERN.search(command)
                if m is None:
                    o.error = True
                    continue
                n_tokens = int(m.group(1))
                if n_tokens > 0 and turns[r] < max_turns:
                    turns[r] += 1
                    o.calls += 1
                    llm_left[r] = min(n_tokens, limits[r] - len(o.answer_ids))
            if len(o.answer_ids) >= limits[r]:
                continue
            still.append(r)
        active = still
        if active:
            # All rows at once (finished rows get nothing): the cache needs no regrouping.
            live = set(active)
            slm_state.feed(list(range(n)), [[outs[r].answer_ids[-1]] if r in live else [] for r in range(n)])
    return outs


@torch.no_grad()
def solve_rates(model, questions, samples, temperature, seed):
    """How many of `samples` answers of one model are right, per question (the data filter)."""
    gen = torch.Generator().manual_seed(seed)
    flat = [q for q, _ in questions for _ in range(samples)]
    rates = []
    outs = []
    for start in range(0, len(flat), 500):
        outs.extend(relay_generate(model, None, flat[start:start + 500], mode='slm', slm_temperature=temperature, generator=gen))
    for i, (_, a) in enumerate(questions):
        group = outs[i * samples:(i + 1) * samples]
        rates.append(sum(o.correct(a) for o in group) / samples)
    return rates
