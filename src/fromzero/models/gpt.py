"""GPT: a decoder-only Transformer language model (tutorial 1.2.5 Transformer, 1.3.6 self-attention).

The model is a stack of blocks, each ``x + attention(norm(x))`` then ``x + mlp(norm(x))``.
Self-attention is the formula ``softmax(Q Kᵀ / √d + M) V`` with a causal mask ``M`` (a token
sees itself and the tokens before it, never the ones after). ``explicit_attention`` writes it
out; ``attention="sdpa"`` (the default) computes the same thing with torch's fused kernel.

Modern choices that help small models are config fields with tested defaults: rotary position
embeddings, QK-norm, ReLU², weight tying, zero-initialised output projections; LayerNorm or
RMSNorm (LayerNorm is the default: same loss here, and on CPUs its fused backward kernel is 4x
faster than RMSNorm's). docs/gpt.md has the measurements behind each default. The hand-written
kernels that make training cheaper are applied from outside (``fromzero.kernels.use_kernels``).

Example:
    >>> import torch
    >>> model = GPT(gpt_config("tiny", vocab_size=65))
    >>> idx = torch.randint(0, 65, (2, 16))
    >>> model(idx).shape                  # logits
    torch.Size([2, 16, 65])
    >>> model(idx, idx).ndim              # with targets: the mean cross-entropy
    0
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import register_model
from ..errors import ShapeError
from .configs import GPT_PRESETS as PRESETS, GPTConfig, gpt_config  # noqa: F401


# --- attention -----------------------------------------------------------------------------------

def causal_mask(t_q: int, t_k: int, device=None) -> torch.Tensor:
    """(t_q, t_k) booleans, True where query i may look at key j. The queries are the last t_q
    of the t_k positions, so query i sits at position t_k - t_q + i and sees keys 0..t_k - t_q + i."""
    return torch.ones(t_q, t_k, dtype=torch.bool, device=device).tril(diagonal=t_k - t_q)


def explicit_attention(q, k, v, dropout_p: float = 0.0, training: bool = False) -> torch.Tensor:
    """Causal self-attention, the formula written out: softmax(Q Kᵀ / √d + M) V.

    Args:
        q: queries (B, nh, Tq, hs); k, v: keys and values (B, nh, Tk, hs), Tk >= Tq.
    """
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.size(-1)))        # (B, nh, Tq, Tk)
    att = att.masked_fill(~causal_mask(q.size(-2), k.size(-2), q.device), float("-inf"))
    att = F.softmax(att, dim=-1)                                            # each row sums to 1
    att = F.dropout(att, dropout_p, training)
    return att @ v                                                          # (B, nh, Tq, hs)


def fused_attention(q, k, v, dropout_p: float = 0.0, training: bool = False) -> torch.Tensor:
    """The same as ``explicit_attention``, with torch's fused scaled_dot_product_attention."""
    t_q, t_k = q.size(-2), k.size(-2)
    p = dropout_p if training else 0.0
    if t_q == t_k:
        return F.scaled_dot_product_attention(q, k, v, dropout_p=p, is_causal=True)
    if t_q == 1:  # one new token looks at every cached position
        return F.scaled_dot_product_attention(q, k, v, dropout_p=p)
    return F.scaled_dot_product_attention(q, k, v, attn_mask=causal_mask(t_q, t_k, q.device), dropout_p=p)


# --- rotary position embeddings -------------------------------------------------------------------

def rope_table(n: int, head_size: int, base: float, device=None, start: int = 0) -> torch.Tensor:
    """(cos, sin) of the angles pos·θ_j for positions [start, start + n) and θ_j = base^(-2j/hs):
    (n, hs/2, 2). Real numbers, not e^{i·pos·θ_j} as complex ones: ONNX has no complex type."""
    inv_freq = base ** (-torch.arange(0, head_size, 2, device=device, dtype=torch.float32) / head_size)
    pos = torch.arange(start, start + n, device=device, dtype=torch.float32)
    angles = torch.outer(pos, inv_freq)                                          # (n, hs/2)
    return torch.stack((angles.cos(), angles.sin()), -1)


def apply_rope(x, freqs):
    """Rotary position embedding: turn each pair (x[2j], x[2j+1]) by the angle pos·θ_j.

    Seen as the complex number x[2j] + i·x[2j+1], the turn is a product with e^{i·pos·θ_j}:
    (re·cos − im·sin, re·sin + im·cos). So query·key depends only on the distance between their
    positions. x: (..., T, [2,] nh, hs); freqs: ``rope_table``'s (cos, sin), broadcast against
    it, e.g. (T, 1, 1, hs/2, 2).
    """
    re, im = x.float().unflatten(-1, (-1, 2)).unbind(-1)                        # each (..., hs/2)
    cos, sin = freqs.unbind(-1)
    return torch.stack((re * cos - im * sin, re * sin + im * cos), -1).flatten(-2).type_as(x)


# --- the model ------------------------------------------------------------------------------------

def make_norm(config: GPTConfig) -> nn.Module:
    if config.norm == "rmsnorm":
        return nn.RMSNorm(config.n_embd)
    return nn.LayerNorm(config.n_embd, bias=config.bias)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention of a normalised input (B, T, C), with QK-norm and rotary
    positions; with a ``KVCache`` the new positions attend to the cached ones too."""

    def __init__(self, config: GPTConfig, layer_idx: int):
        super().__init__()
        self.layer_idx, self.n_head, self.hs = layer_idx, config.n_head, config.head_size
        self.qk_norm, self.dropout = config.qk_norm, config.dropout
        self.norm_qk = F.rms_norm if config.norm == "rmsnorm" else F.layer_norm
        self.qkv = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_drop = nn.Dropout(config.dropout)
        self.attend = explicit_attention if config.attention == "explicit" else fused_attention

    def forward(self, x, rope=None, cache=None):                             # x: (B, T, C)
        B, T, C = x.shape
        qkv = self.qkv(x).view(B, T, 3, self.n_head, self.hs)                 # (B, T, 3, nh, hs)
        y = self.heads(qkv, rope, cache, self.attend)                         # (B, T, nh, hs)
        y = self.proj(y.reshape(B, T, C))                                     # (B, T, C): heads side by side
        return self.resid_drop(y) if self.dropout else y

    def heads(self, qkv, rope, cache, attend):
        """Every head's ``attend(q, k, v)`` of the queries, keys and values in qkv (B, T, 3, nh, hs)."""
        qk, v = qkv[:, :, :2], qkv[:, :, 2]                                   # queries and keys together
        if self.qk_norm:                                                      # normalise each head's q, k
            qk = self.norm_qk(qk, (self.hs,))
        if rope is not None:
            qk = apply_rope(qk, rope)
        q, k = qk.unbind(2)                                                   # each (B, T, nh, hs)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)    # (B, nh, T, hs)
        if cache is not None:
            k, v = cache.update(self.layer_idx, k, v)                         # (B, nh, Tk, hs)
        y = attend(q, k, v, self.dropout, self.training)                      # (B, nh, T, hs)
        return y.transpose(1, 2)                                              # (B, T, nh, hs)


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        hidden = config.mlp_ratio * config.n_embd
        self.fc = nn.Linear(config.n_embd, hidden, bias=config.bias)
        self.proj = nn.Linear(hidden, config.n_embd, bias=config.bias)
        self.relu2 = config.activation == "relu2"
        self.gelu = "tanh" if config.activation == "gelu_tanh" else "none"   # GPT-2's GELU is the tanh form
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x):                                  # x: (B, T, C)
        h = self.fc(x)                                     # (B, T, 4C)
        h = torch.relu(h).square() if self.relu2 else F.gelu(h, approximate=self.gelu)
        y = self.proj(h)                                   # (B, T, C)
        return self.drop(y) if self.drop.p else y


class Block(nn.Module):
    def __init__(self, config: GPTConfig, layer_idx: int):
        super().__init__()
        self.norm1, self.attn = make_norm(config), CausalSelfAttention(config, layer_idx)
        self.norm2, self.mlp = make_norm(config), MLP(config)

    def forward(self, x, rope=None, cache=None):           # x: (B, T, C)
        x = x + self.attn(self.norm1(x), rope, cache)      # pre-norm: each sublayer reads norm(x)
        x = x + self.mlp(self.norm2(x))
        return x


@register_model("gpt", config_cls=GPTConfig)
class GPT(nn.Module):
    """A GPT language model: ``model(idx)`` gives logits, ``model(idx, targets)`` the loss.

    Args:
        config: a ``GPTConfig`` (see ``gpt_config`` for the named presets).

    ``forward(idx, targets=None, cache=None)``: ``idx`` is (B, T) token ids. With ``targets``
    (B, T) it returns the mean cross-entropy (targets of -1 are ignored); without, the logits
    (B, T, vocab_size). With a ``KVCache`` (generation) the new tokens attend to the cached
    positions too, and only the last position's logits (B, 1, vocab_size) are computed.
    """

    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = c = config
        self.wte = nn.Embedding(c.vocab_size, c.n_embd)
        self.wpe = nn.Embedding(c.block_size, c.n_embd) if c.pos_emb == "learned" else None
        self.drop = nn.Dropout(c.dropout)
        self.blocks = nn.ModuleList(Block(c, i) for i in range(c.n_layer))
        self.norm_f = make_norm(c)
        self.lm_head = nn.Linear(c.n_embd, c.vocab_size, bias=False)
        if c.tie_weights:
            self.lm_head.weight = self.wte.weight
        if c.pos_emb == "rope":
            self._set_rope(c.block_size)
        self.apply(self._init_weights)
        for block in self.blocks:
            for proj in (block.attn.proj, block.mlp.proj):
                if c.zero_init:
                    nn.init.zeros_(proj.weight)
                else:  # GPT-2: scale the residual projections by 1/sqrt(2 * n_layer)
                    nn.init.normal_(proj.weight, std=c.init_std / math.sqrt(2 * c.n_layer))

    def _init_weights(self, m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=self.config.init_std)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def _set_rope(self, n: int):
        freqs = rope_table(n, self.config.head_size, self.config.rope_base, self.wte.weight.device)
        self.register_buffer("rope_freqs", freqs, persistent=False)   # (n, hs/2, 2): cos, sin

    def _rope(self, start: int, T: int):
        if self.config.pos_emb != "rope":
            return None
        table = self.rope_freqs
        if table.dtype != torch.float32:   # model.to(bf16) cast the buffer: angles keep fp32 precision
            table = self.rope_freqs = rope_table(table.size(0), self.config.head_size, self.config.rope_base,
                                                 table.device)
        if start + T > table.size(0):  # generation past block_size with a sliding cache
            ext = getattr(self, "_rope_ext", None)                 # (not a buffer: never saved)
            if ext is None or ext.size(0) < start + T or ext.device != table.device:
                n = max(2 * table.size(0), 2 * (start + T))
                ext = self._rope_ext = rope_table(n, self.config.head_size, self.config.rope_base, table.device)
            table = ext
        return table[start:start + T, None, None]           # (T, 1, 1, hs/2, 2): over q/k and heads

    def forward(self, idx, targets=None, cache=None):
        x = self.trunk(idx, cache)                          # (B, T, C)
        if cache is not None:
            x = x[:, -1:, :]                                # (B, 1, C): only the next token matters
        logits = self.lm_head(self.norm_f(x))               # (B, T, vocab_size)
        if targets is None:
            return logits
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)

    def trunk(self, idx, cache=None):
        """The residual stream (B, T, C) after the last block, for the token ids ``idx`` (B, T):
        what the final norm reads. A ``KVCache`` is updated and advanced by T positions."""
        B, T = idx.shape
        start = 0 if cache is None else cache.pos
        if self.wpe is not None and start + T > self.config.block_size:
            raise ShapeError(f"positions {start}..{start + T - 1} exceed block_size "
                             f"{self.config.block_size} of this learned-position model")
        if cache is None and T > self.config.block_size:
            raise ShapeError(f"sequence length {T} exceeds block_size {self.config.block_size}")
        x = self.wte(idx)                                   # (B, T, C)
        if self.wpe is not None:
            # each sequence looks its positions up itself, (B, T), not (T,) broadcast over the batch:
            # then each sequence's gradient of the table is its own (differential privacy needs it)
            x = x + self.wpe(torch.arange(start, start + T, device=idx.device).repeat(B, 1))
        x = self.drop(x)
        rope = self._rope(start, T)
        for block in self.blocks:
            x = block(x, rope, cache)
        if cache is not None:
            cache.advance(T)
        return x

    def decode_step(self, tok, pos, cache):
        """The next-token logits (B, 1, vocab_size) for one new token per sequence, ``tok`` (B, 1),
        at absolute position ``pos`` (a 0-dim long tensor: ``cache.pos``), with static shapes, so
        that ``torch.compile`` traces it once for every position (``generate(compile=True)``).

        The same numbers as ``forward(tok, cache=cache)``: the token's key and value go to slot
        ``pos % max_len`` of the cache's buffers, the query attends to all of them with a mask that
        hides the slots not yet filled, and the rotary angles are computed from ``pos``. The caller
        advances the cache.
        """
        c, B = self.config, tok.size(0)
        x = self.wte(tok)                                                       # (B, 1, C)
        if self.wpe is not None:
            x = x + self.wpe(pos.view(1))
        slot = (pos % cache.max_len).view(1)
        seen = (torch.arange(cache.max_len, device=tok.device) <= pos).view(1, 1, 1, -1)  # (1, 1, 1, max_len)
        if c.pos_emb == "rope":
            inv_freq = c.rope_base ** (-torch.arange(0, c.head_size, 2, device=tok.device) / c.head_size)
            angle = pos * inv_freq                                              # (hs/2,)
            turn = torch.stack((angle.cos(), angle.sin()), -1)                  # (hs/2, 2): rope_table's row
        for i, block in enumerate(self.blocks):
            a = block.attn
            qkv = a.qkv(block.norm1(x)).view(B, 1, 3, a.n_head, a.hs)
            qk, v = qkv[:, :, :2], qkv[:, :, 2]
            if a.qk_norm:
                qk = a.norm_qk(qk, (a.hs,))
            if c.pos_emb == "rope":
                qk = apply_rope(qk, turn)
            q, k = qk.unbind(2)                                                 # (B, 1, nh, hs)
            cache.ks[i].index_copy_(2, slot, k.transpose(1, 2))
            cache.vs[i].index_copy_(2, slot, v.transpose(1, 2))
            y = F.scaled_dot_product_attention(q.transpose(1, 2), cache.ks[i], cache.vs[i], attn_mask=seen)
            x = x + a.proj(y.transpose(1, 2).reshape(B, 1, c.n_embd))
            x = x + block.mlp(block.norm2(x))
        return self.lm_head(self.norm_f(x))                                     # (B, 1, vocab_size)

    def hidden_states(self, idx):
        """The final normalised hidden states (B, T, n_embd) of ``idx`` (B, T), before the output
        layer: what a task head reads when fine-tuning (``fromzero.models.classifier``)."""
        return self.norm_f(self.trunk(idx))                 # (B, T, C)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count (tied weights once); learned position embeddings excluded by default,
        since they cost no matmul FLOPs. The tied token embedding counts: it is the output layer."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding and self.wpe is not None:
            n -= self.wpe.weight.numel()
        return n

    def flops_per_token(self, T: int | None = None) -> int:
        """Training FLOPs per token ≈ 6N + 12·L·H·Q·T (PaLM appendix B; nanoGPT's estimate_mfu)."""
        c = self.config
        return 6 * self.num_params() + 12 * c.n_layer * c.n_head * c.head_size * (T or c.block_size)


class KVCache:
    """Keys and values of the positions seen so far, for every layer: generation without recompute.

    Each layer's keys and values are (B, nh, max_len, hs) buffers; ``len`` of them are filled.
    ``pos`` is the absolute position of the next token. Once full, the buffers work as a ring:
    a new token overwrites the oldest position (slot ``pos % max_len``), so a rotary model keeps
    a sliding window of the last ``max_len`` positions (its attention only depends on relative
    positions, and one query attends to its keys in any order).
    """

    def __init__(self, config: GPTConfig, batch_size: int, max_len: int | None = None,
                 device=None, dtype=torch.float32):
        self.max_len = max_len or config.block_size
        shape = (config.n_layer, batch_size, config.n_head, self.max_len, config.head_size)
        self.k = torch.zeros(shape, device=device, dtype=dtype)
        self.v = torch.zeros(shape, device=device, dtype=dtype)
        self.ks, self.vs = self.k.unbind(0), self.v.unbind(0)   # per-layer views (B, nh, max_len, hs)
        self.len = self.pos = 0

    def update(self, layer: int, k, v):
        """Store the new keys/values k, v (B, nh, T, hs); return all of this layer's so far."""
        T, end = k.size(2), self.len + k.size(2)
        ks, vs = self.ks[layer], self.vs[layer]
        if end <= self.max_len:                                 # append
            ks.narrow(2, self.len, T).copy_(k)
            vs.narrow(2, self.len, T).copy_(v)
            return ks.narrow(2, 0, end), vs.narrow(2, 0, end)
        if T != 1 or self.len != self.max_len:
            raise ShapeError(f"KV cache overflow: {T} new positions after {self.len} in a cache of "
                             f"{self.max_len}; past the end, only one token at a time")
        slot = self.pos % self.max_len                          # full: replace the oldest position
        ks.narrow(2, slot, 1).copy_(k)
        vs.narrow(2, slot, 1).copy_(v)
        return ks, vs

    def advance(self, T: int):
        self.len = min(self.len + T, self.max_len)
        self.pos += T

    def reset(self):
        self.len = self.pos = 0
