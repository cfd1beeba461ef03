"""Batched decoding with a KV cache for many sequences at once.

`CachedBatch` keeps one cache per model for a batch of sequences. Each `feed` appends a
block of new tokens for some rows; rows with fewer (or no) new tokens are padded with
masked positions, so rows advance independently while sharing one tensor. The same
mask/position interface is what the ONNX export takes."""
import torch

import relay_task as task


class CachedBatch:
    def __init__(self, model, batch):
        self.model = model
        self.batch = batch
        self.past = model.empty_past(batch)
        self.mask = torch.zeros(batch, 0, dtype=torch.long)
        self.next_pos = torch.zeros(batch, dtype=torch.long)
        self.last_logits = torch.zeros(batch, model.cfg.vocab_size)

    @torch.no_grad()
    def feed(self, rows, token_lists):
        """Append token_lists[j] to row rows[j]; returns the next-token logits of those rows."""
        if not rows:
            return self.last_logits[:0]
        width = max(len(t) for t in token_lists)
        if width == 0:
            return self.last_logits[rows]
        sub = torch.tensor(rows, dtype=torch.long)
        ids = torch.full((len(rows), width), task.PAD_ID, dtype=torch.long)
        new_mask = torch.zeros(len(rows), width, dtype=torch.long)
        for j, toks in enumerate(token_lists):
            ids[j, :len(toks)] = torch.tensor(toks, dtype=torch.long)
            new_mask[j, :len(toks)] = 1
        positions = (self.next_pos[sub].unsqueeze(1) + torch.arange(width).unsqueeze(0)).clamp(max=self.model.cfg.max_positions - 1)
        full = len(rows) == self.batch and rows == list(range(self.batch))
        sub_past = self.past if full else [(k[sub], v[sub]) for k, v in self.past]
        full_mask = torch.cat([self.mask if full else self.mask[sub], new_mask], dim=1)
        logits, present = self.model(ids, full_mask, positions, sub_past)
        if full:  # every row was fed: the model's output is the new cache as it is
            self.past = present
            self.mask = full_mask
        else:
            # Every row gets `width` new cache columns; rows not fed get masked zeros.
            grown = []
            for (k, v), (nk, nv) in zip(self.past, present):
                b, h, _, d = k.shape
                k2 = torch.cat([k, torch.zeros(b, h, width, d)], dim=2)
                v2 = torch.cat([v, torch.zeros(b, h, width, d)], dim=2)
                k2[sub] = nk
                v2[sub] = nv
                grown.append((k2, v2))
            self.past = grown
            mask = torch.cat([self.mask, torch.zeros(self.batch, width, dtype=torch.long)], dim=1)
            mask[sub] = full_mask
            self.mask = mask
        lengths = torch.tensor([len(t) for t in token_lists], dtype=torch.long)
        self.next_pos[sub] += lengths
        last = logits[torch.arange(len(rows)), (lengths - 1).clamp(min=0)]
        keep = lengths > 0
        idx = sub[keep]
        self.last_logits[idx] = last[keep]
        return self.last_logits[sub]


def sample(logits, temperature, generator):
    if temperature <= 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits / temperature, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


@torch.no_grad()
def generate_alone(model, questions, temperature=0.0, seed=0, max_new=96, batch_size=250):
    """One model writes whole answers. Returns list of answer strings (without the prompt)."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for start in range(0, len(questions), batch_size):
        qs = questions[start:start + batch_size]
        state = CachedBatch(model, len(qs))
        prompts = [task.encode(task.render_prompt(q)) for q in qs]
        logits = state.feed(list(range(len(qs))), prompts)
        answers = [[] for _ in qs]
        active = list(range(len(qs)))
        limit = min(max_new, model.cfg.max_positions - max(len(p) for p in prompts))
        for _ in range(limit):
            toks = sample(logits, temperature, gen)
            still = []
            for j, row in enumerate(active):
                t = int(toks[j])
                if t == task.EOS_ID:
                    continue
                answers[row].append(t)
                still.append(row)
            active = still
            if not active:
                break
            logits = state.feed(active, [[answers[r][-1]] for r in active])
        out.extend(task.decode(a) for a in answers)
    return out


def accuracy(questions_with_answers, texts):
    good = sum(1 for (q, a), t in zip(questions_with_answers, texts) if task.parse_final_answer(t) == a)
    return good / len(texts)


class RaggedCachedBatch:
    """Like CachedBatch, for a model that only some rows use at each step (the LLM in a
    relay): each row's cache is a prefix of a preallocated buffer, so feeding a few rows
    never grows the others and attention spans only the longest row fed."""

    def __init__(self, model, batch):
        cfg = model.cfg
        self.model = model
        self.k = torch.zeros(cfg.n_layer, batch, cfg.n_head, cfg.max_positions, cfg.head_dim)
        self.v = torch.zeros_like(self.k)
        self.lengths = [0] * batch
        self.last_logits = torch.zeros(batch, cfg.vocab_size)

    @torch.no_grad()
    def feed(self, rows, token_lists):
        fed = [(r, t) for r, t in zip(rows, token_lists) if t]
        if fed:
            cap = self.model.cfg.max_positions
            for r, t in fed:
                if self.lengths[r] + len(t) > cap:
                    raise ValueError(f'row {r} would exceed the {cap} positions of the model')
            sub = torch.tensor([r for r, _ in fed])
            past_len = max(self.lengths[r] for r, _ in fed)
            width = max(len(t) for _, t in fed)
            ids = torch.full((len(fed), width), task.PAD_ID, dtype=torch.long)
            mask = torch.zeros(len(fed), past_len + width, dtype=torch.long)
            positions = torch.zeros(len(fed), width, dtype=torch.long)
            for j, (r, t) in enumerate(fed):
                ids[j, :len(t)] = torch.tensor(t)
                mask[j, :self.lengths[r]] = 1
                mask[j, past_len:past_len + len(t)] = 1
                positions[j] = (self.lengths[r] + torch.arange(width)).clamp(max=cap - 1)
            past = [(self.k[layer, sub, :, :past_len], self.v[layer, sub, :, :past_len]) for layer in range(self.k.shape[0])]
            logits, present = self.model(ids, mask, positions, past)
            for j, (r, t) in enumerate(fed):
                n, start = len(t), self.lengths[r]
                for layer, (nk, nv) in enumerate(present):
                    self.k[layer, r, :, start:start + n] = nk[j, :, past_len:past_len + n]
                    self.v[layer, r, :, start:start + n] = nv[j, :, past_len:past_len + n]
                self.lengths[r] += n
                self.last_logits[r] = logits[j, n - 1]
        return self.last_logits[torch.tensor(rows, dtype=torch.long)] if rows else self.last_logits[:0]
