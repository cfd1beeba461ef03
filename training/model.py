"""A GPT-style decoder (pre-LayerNorm, learned positions, tied embeddings, GELU) whose
forward pass has the interface of the real ONNX exports: ids, a mask over past+new
positions, explicit position ids and a per-layer KV cache [batch, heads, past, head_dim].
Attention is written by hand: torch 1.13 has no scaled_dot_product_attention."""
import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F

MASKED = -1e9  # finite, so a fully masked (padding) query row stays free of NaN


@dataclass
class ModelConfig:
    vocab_size: int
    n_layer: int
    n_embd: int
    n_head: int
    max_positions: int

    @property
    def head_dim(self):
        return self.n_embd // self.n_head

    def to_dict(self):
        return asdict(self)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.n_head, self.head_dim = cfg.n_head, cfg.head_dim
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.fc = nn.Linear(cfg.n_embd, 4 * cfg.n_embd)
        self.fc_out = nn.Linear(4 * cfg.n_embd, cfg.n_embd)

    def forward(self, x, bias, past_k, past_v):
        b, t, c = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(c, dim=2)
        q = q.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        k = k.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        v = v.view(b, t, self.n_head, self.head_dim).transpose(1, 2)
        k = torch.cat([past_k, k], dim=2)
        v = torch.cat([past_v, v], dim=2)
        att = torch.matmul(q, k.transpose(2, 3)) * (1.0 / math.sqrt(self.head_dim)) + bias
        y = torch.matmul(torch.softmax(att, dim=-1), v)
        y = y.transpose(1, 2).reshape(b, t, c)
        x = x + self.proj(y)
        x = x + self.fc_out(F.gelu(self.fc(self.ln2(x))))
        return x, k, v


class TinyGPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.wpe = nn.Embedding(cfg.max_positions, cfg.n_embd)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layer)])
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def empty_past(self, batch):
        shape = (batch, self.cfg.n_head, 0, self.cfg.head_dim)
        return [(torch.zeros(shape), torch.zeros(shape)) for _ in self.blocks]

    def forward(self, input_ids, attention_mask, position_ids, past):
        """attention_mask covers past+new positions (1 = real token); returns logits and
        the new past (past and new keys/values concatenated)."""
        t = input_ids.shape[1]
        past_len = past[0][0].shape[2]
        total = past_len + t
        # Query j (absolute index past_len+j) sees key i when i <= past_len+j and i is real.
        causal = torch.arange(total).unsqueeze(0) <= (torch.arange(t) + past_len).unsqueeze(1)
        allowed = causal.unsqueeze(0) & (attention_mask[:, None, :] > 0)
        bias = torch.where(allowed, torch.zeros(()), torch.full((), MASKED)).unsqueeze(1)
        x = self.wte(input_ids) + self.wpe(position_ids)
        present = []
        for block, (pk, pv) in zip(self.blocks, past):
            x, k, v = block(x, bias, pk, pv)
            present.append((k, v))
        logits = torch.matmul(self.ln_f(x), self.wte.weight.t())
        return logits, present

    def forward_full(self, input_ids, attention_mask):
        """No cache: right-padded sequences, positions counted over real tokens."""
        positions = (attention_mask.cumsum(1) - 1).clamp(min=0)
        logits, _ = self.forward(input_ids, attention_mask, positions, self.empty_past(input_ids.shape[0]))
        return logits


def count_parameters(model):
    return sum(p.numel() for p in model.parameters())


def save_checkpoint(model, path, extra=None):
    torch.save({'config': model.cfg.to_dict(), 'state': model.state_dict(), 'extra': extra or {}}, path)


def load_checkpoint(path):
    ck = torch.load(path, map_location='cpu')
    model = TinyGPT(ModelConfig(**ck['config']))
    model.load_state_dict(ck['state'])
    model.eval()
    return model
