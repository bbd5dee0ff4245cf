"""A faithful minimal re-implementation of nanoGPT's model.py + train.py + sample.py (the reference).

nanoGPT is not installed here, so the benchmarks time this instead, side by side with fromzero.
It follows nanoGPT (github.com/karpathy/nanoGPT, model.py / train.py / sample.py) line by line
where it matters for speed: LayerNorm (F.layer_norm, optional bias), learned position embeddings,
GELU MLP, fused SDPA attention (nanoGPT's "flash" path), weight tying, AdamW without ``fused``
on CPU (nanoGPT only fuses on CUDA), ``get_batch`` re-opening the memmap and stacking one
window at a time, ``loss.item()`` every iteration (``log_interval=1`` in its CPU command),
gradient clipping at 1.0, and generation that re-runs the cropped context for every token.

train.py's default is ``bias = False``; nanoGPT's CPU shakespeare_char command does not change
it, so that is the default here too (``bias=True`` is slower, so False is the stricter reference).
"""
from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from torch.nn import functional as F


@dataclass
class RefConfig:
    block_size: int = 64
    vocab_size: int = 65
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = False


class LayerNorm(nn.Module):
    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, input):
        return F.layer_norm(input, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head, self.n_embd, self.dropout = config.n_head, config.n_embd, config.dropout

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)  # (B, nh, T, hs)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=None,
                                           dropout_p=self.dropout if self.training else 0, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class RefGPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, bias=config.bias)))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for pn, p in self.named_parameters():
            if pn.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        b, t = idx.size()
        pos = torch.arange(0, t, dtype=torch.long, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if targets is not None:
            logits = self.lm_head(x)
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        else:
            logits = self.lm_head(x[:, [-1], :])
            loss = None
        return logits, loss

    def configure_optimizers(self, weight_decay, learning_rate, betas, device_type):
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
        extra = dict(fused=True) if device_type == "cuda" else dict()   # nanoGPT: fused on CUDA only
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, **extra)

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None):
        for _ in range(max_new_tokens):
            idx_cond = idx if idx.size(1) <= self.config.block_size else idx[:, -self.config.block_size:]
            logits, _ = self(idx_cond)
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float("Inf")
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


def train(bin_path, iters: int, batch_size=12, block_size=64, learning_rate=1e-3, min_lr=1e-4,
          warmup_iters=100, lr_decay_iters=2000, weight_decay=1e-1, beta2=0.99, grad_clip=1.0,
          log=None, seed=1337, amp=False, eval_interval=0, eval_iters=20, val_path=None, keep=None,
          **model_kw) -> list[float]:
    """nanoGPT's train.py loop on CPU: each iteration's (wall ms, CPU ms).

    ``amp=True`` runs the forward pass under bf16 autocast, as nanoGPT's train.py does on a GPU
    (``ctx = torch.amp.autocast(device_type, dtype=ptdtype)``); on the CPU its default is fp32.
    Evaluation is left out unless ``eval_interval``: then, as train.py's ``estimate_loss``, the mean
    loss of ``eval_iters`` random batches of train and of ``val_path`` at iteration 0 and every
    ``eval_interval`` (train.py then runs one more iteration, ``max_iters`` + 1 in all: pass
    ``iters=max_iters + 1``). ``keep``: a dict that receives the trained ``"model"`` and, at each
    evaluation, ``"evals"``: (iteration, ``time.time()`` when it began, a copy of the weights).
    """
    torch.manual_seed(seed)
    model = RefGPT(RefConfig(block_size=block_size, **model_kw))
    optimizer = model.configure_optimizers(weight_decay, learning_rate, (0.9, beta2), "cpu")

    def get_batch(path=bin_path):
        data = np.memmap(path, dtype=np.uint16, mode="r")
        ix = torch.randint(len(data) - block_size, (batch_size,))
        x = torch.stack([torch.from_numpy((data[i:i + block_size]).astype(np.int64)) for i in ix])
        y = torch.stack([torch.from_numpy((data[i + 1:i + 1 + block_size]).astype(np.int64)) for i in ix])
        return x, y

    def get_lr(it):
        if it < warmup_iters:
            return learning_rate * (it + 1) / (warmup_iters + 1)
        if it > lr_decay_iters:
            return min_lr
        ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
        return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (learning_rate - min_lr)

    ctx = torch.autocast("cpu", dtype=torch.bfloat16) if amp else contextlib.nullcontext()

    @torch.no_grad()
    def estimate_loss():
        model.eval()
        out = {}
        for split, path in (("train", bin_path), ("val", val_path)):
            losses = torch.zeros(eval_iters)
            for k in range(eval_iters):
                xb, yb = get_batch(path)
                with ctx:
                    _, loss = model(xb, yb)
                losses[k] = loss.item()
            out[split] = losses.mean()
        model.train()
        return out

    times = []
    X, Y = get_batch()
    t0, c0 = time.perf_counter(), time.process_time()
    for it in range(iters):
        if eval_interval and it % eval_interval == 0:
            if keep is not None:
                keep.setdefault("evals", []).append(
                    (it, time.time(), {k: v.detach().clone() for k, v in model.state_dict().items()}))
            losses = estimate_loss()
            if log:
                log(f"step {it}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")
        lr = get_lr(it)
        for group in optimizer.param_groups:
            group["lr"] = lr
        with ctx:
            logits, loss = model(X, Y)
        X, Y = get_batch()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        t1, c1 = time.perf_counter(), time.process_time()
        dt, cdt, t0, c0 = t1 - t0, c1 - c0, t1, c1
        lossf = loss.item()
        if log:
            log(f"iter {it}: loss {lossf:.4f}, time {dt * 1000:.2f}ms")
        times.append((dt * 1000, cdt * 1000))
    if keep is not None:
        keep["model"] = model
    return times
