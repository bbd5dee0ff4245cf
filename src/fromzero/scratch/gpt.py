"""A GPT in NumPy: the Transformer of 1.2.5 with every backward written by hand.

The architecture is GPT-2's (and nanoGPT's), pre-LN:

    x = wte[idx] + wpe[0..T)                      token + position embeddings    (B, T, C)
    for each of n_layer blocks:
        x = x + attn(ln1(x))                      causal multi-head self-attention
        x = x + mlp(ln2(x))                       dense 4C -> GELU -> dense C
    logits = ln_f(x) wteᵀ                         the LM head reads the token table  (B, T, V)

The head is *tied* to the token embedding (GPT-2, nanoGPT): one (V, C) table both turns ids
into vectors and vectors into logits, so ∂L/∂wte is the sum of the two uses' gradients. No
dropout (the data sets here are small, and its randomness would make the gradient checks
meaningless). ``gpt_forward`` / ``gpt_backward`` work on a parameter dict; ``GPT`` holds one.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..errors import ShapeError
from .activations import gelu_backward, gelu_forward, softmax
from .attention import multi_head_attention_backward, multi_head_attention_forward
from .dense import dense_backward, dense_forward
from .embedding import embedding_backward, embedding_forward
from .losses import softmax_cross_entropy_backward, softmax_cross_entropy_forward
from .norm import layer_norm_backward, layer_norm_forward


@dataclass(frozen=True)
class GPTConfig:
    """The sizes of a scratch GPT (names as in ``fromzero.models.configs.GPTConfig``)."""
    vocab_size: int
    block_size: int = 64  # longest context, in tokens
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128  # C; head size C / n_head

    def __post_init__(self):
        if min(self.vocab_size, self.block_size, self.n_layer, self.n_head, self.n_embd) < 1:
            raise ShapeError(f"GPTConfig: expected positive sizes, received {self}")
        if self.n_embd % self.n_head:
            raise ShapeError(f"GPTConfig: expected n_head dividing n_embd={self.n_embd}, "
                             f"received n_head={self.n_head}")


def init_params(config: GPTConfig, seed: int = 0, dtype=np.float32) -> dict[str, np.ndarray]:
    """GPT-2's initialisation: weights N(0, 0.02²), the two projections that write into the
    residual stream N(0, (0.02/√(2·n_layer))²) so its variance does not grow with depth; biases
    0, layer-norm gains 1.

    Example:
        >>> p = init_params(GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=4))
        >>> p["wte"].shape, p["h.0.attn.W"].shape, p["h.0.mlp.fc.W"].shape
        ((10, 4), (12, 4), (16, 4))
    """
    rng = np.random.default_rng(seed)
    C, L = config.n_embd, config.n_layer

    def normal(shape, std=0.02):
        return (rng.standard_normal(shape) * std).astype(dtype)

    p = {"wte": normal((config.vocab_size, C)), "wpe": normal((config.block_size, C))}
    for i in range(L):
        h = f"h.{i}."
        p.update({h + "ln1.gamma": np.ones(C, dtype), h + "ln1.beta": np.zeros(C, dtype),
                  h + "attn.W": normal((3 * C, C)), h + "attn.b": np.zeros(3 * C, dtype),
                  h + "attn.proj.W": normal((C, C), 0.02 / math.sqrt(2 * L)),
                  h + "attn.proj.b": np.zeros(C, dtype),
                  h + "ln2.gamma": np.ones(C, dtype), h + "ln2.beta": np.zeros(C, dtype),
                  h + "mlp.fc.W": normal((4 * C, C)), h + "mlp.fc.b": np.zeros(4 * C, dtype),
                  h + "mlp.proj.W": normal((C, 4 * C), 0.02 / math.sqrt(2 * L)),
                  h + "mlp.proj.b": np.zeros(C, dtype)})
    p.update({"ln_f.gamma": np.ones(C, dtype), "ln_f.beta": np.zeros(C, dtype)})
    return p


def mlp_forward(x, W1, b1, W2, b2):
    """The block's feed-forward part: y = GELU(x W1ᵀ + b1) W2ᵀ + b2, (B, T, C) -> (B, T, C)."""
    h, c1 = dense_forward(x, W1, b1)  # (B, T, 4C)
    a, c2 = gelu_forward(h)
    y, c3 = dense_forward(a, W2, b2)  # (B, T, C)
    return y, (c1, c2, c3)


def mlp_backward(dy, cache):
    """Returns ``(dx, dW1, db1, dW2, db2)``."""
    c1, c2, c3 = cache
    da, dW2, db2 = dense_backward(dy, c3)
    dx, dW1, db1 = dense_backward(gelu_backward(da, c2), c1)
    return dx, dW1, db1, dW2, db2


def block_forward(x, p: dict, prefix: str, n_head: int):
    """One pre-LN block: x + attn(ln1(x)), then + mlp(ln2(·)); parameters ``p[prefix + ...]``."""
    g = lambda name: p[prefix + name]  # noqa: E731
    h, c_ln1 = layer_norm_forward(x, g("ln1.gamma"), g("ln1.beta"))
    a, c_attn = multi_head_attention_forward(h, g("attn.W"), g("attn.b"), g("attn.proj.W"),
                                             g("attn.proj.b"), n_head, causal=True)
    x = x + a
    h, c_ln2 = layer_norm_forward(x, g("ln2.gamma"), g("ln2.beta"))
    m, c_mlp = mlp_forward(h, g("mlp.fc.W"), g("mlp.fc.b"), g("mlp.proj.W"), g("mlp.proj.b"))
    return x + m, (c_ln1, c_attn, c_ln2, c_mlp)


def block_backward(dy, cache):
    """∂L/∂x of a block and its parameters' gradients (keys without the prefix).

    A residual y = x + f(x) has ∂L/∂x = ∂L/∂y + ∂L/∂y · f'(x): the gradient reaches x both
    directly (the shortcut) and through the branch, and the two add up.
    """
    c_ln1, c_attn, c_ln2, c_mlp = cache
    g = {}
    dh, g["mlp.fc.W"], g["mlp.fc.b"], g["mlp.proj.W"], g["mlp.proj.b"] = mlp_backward(dy, c_mlp)
    dx_branch, g["ln2.gamma"], g["ln2.beta"] = layer_norm_backward(dh, c_ln2)
    dx = dy + dx_branch
    dh, g["attn.W"], g["attn.b"], g["attn.proj.W"], g["attn.proj.b"] = \
        multi_head_attention_backward(dx, c_attn)
    dx_branch, g["ln1.gamma"], g["ln1.beta"] = layer_norm_backward(dh, c_ln1)
    return dx + dx_branch, g


def gpt_forward(params: dict, idx, config: GPTConfig):
    """Logits (B, T, V) for the ids ``idx`` (B, T), T <= block_size; returns ``(logits, cache)``.

    Example:
        >>> cfg = GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4)
        >>> gpt_forward(init_params(cfg), np.zeros((2, 3), int), cfg)[0].shape
        (2, 3, 5)
    """
    idx = np.asarray(idx)
    if idx.ndim != 2 or not 1 <= idx.shape[1] <= config.block_size:
        raise ShapeError(f"gpt idx: expected shape (B, T) with 1 <= T <= block_size="
                         f"{config.block_size}, received {tuple(idx.shape)}")
    tok, c_tok = embedding_forward(idx, params["wte"])  # (B, T, C)
    pos, c_pos = embedding_forward(np.arange(idx.shape[1]), params["wpe"])  # (T, C)
    x = tok + pos  # the positions broadcast over the batch
    blocks = []
    for i in range(config.n_layer):
        x, c = block_forward(x, params, f"h.{i}.", config.n_head)
        blocks.append(c)
    h, c_lnf = layer_norm_forward(x, params["ln_f.gamma"], params["ln_f.beta"])
    logits, c_head = dense_forward(h, params["wte"])  # tied head: (B, T, C) @ (C, V)
    return logits, (c_tok, c_pos, blocks, c_lnf, c_head)


def gpt_backward(dlogits, cache) -> dict[str, np.ndarray]:
    """Every parameter's gradient, from ∂L/∂logits (B, T, V), in a dict keyed like the params.

    Example:
        >>> cfg = GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4)
        >>> p = init_params(cfg)
        >>> logits, cache = gpt_forward(p, np.zeros((2, 3), int), cfg)
        >>> sorted(gpt_backward(np.ones_like(logits), cache)) == sorted(p)
        True
    """
    c_tok, c_pos, blocks, c_lnf, c_head = cache
    grads = {}
    dh, dwte_head, _ = dense_backward(dlogits, c_head)
    dx, grads["ln_f.gamma"], grads["ln_f.beta"] = layer_norm_backward(dh, c_lnf)
    for i in range(len(blocks) - 1, -1, -1):
        dx, g = block_backward(dx, blocks[i])
        grads.update({f"h.{i}.{k}": v for k, v in g.items()})
    grads["wpe"] = embedding_backward(dx.sum(axis=0), c_pos)  # summed over the batch it was broadcast to
    grads["wte"] = embedding_backward(dx, c_tok) + dwte_head  # tied: both uses of the table add up
    return grads


def lm_loss_forward(logits, targets):
    """Mean cross-entropy of next-token prediction over every (b, t): logits (B, T, V), targets
    (B, T). Returns ``(loss, cache)``."""
    V = logits.shape[-1]
    loss, cache = softmax_cross_entropy_forward(logits.reshape(-1, V), np.asarray(targets).reshape(-1))
    return loss, (cache, logits.shape)


def lm_loss_backward(cache, dloss: float = 1.0):
    """∂L/∂logits (B, T, V): (softmax − onehot(target)) / (B·T), as for any cross-entropy."""
    ce_cache, shape = cache
    return softmax_cross_entropy_backward(ce_cache, dloss).reshape(shape)


class GPT:
    """A parameter dict with forward, backward and sampling.

    Example:
        >>> model = GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=8))
        >>> x = np.array([[0, 1, 2, 3]]); y = np.array([[1, 2, 3, 4]])
        >>> loss = model.loss(x, y); model.backward()
        >>> round(loss, 1), model.grads["wte"].shape  # log 5 = 1.6: an untrained guess
        (1.6, (5, 8))
    """

    def __init__(self, config: GPTConfig, seed: int = 0, dtype=np.float32):
        self.config = config
        self.params = init_params(config, seed, dtype)
        self.grads: dict[str, np.ndarray] = {}
        self._cache = None

    def n_params(self) -> int:
        return sum(p.size for p in self.params.values())

    def forward(self, idx) -> np.ndarray:
        """Logits (B, T, V); no cache kept (evaluation, sampling)."""
        return gpt_forward(self.params, idx, self.config)[0]

    def loss(self, idx, targets) -> float:
        """The mean next-token cross-entropy; keeps what ``backward`` needs."""
        logits, cache = gpt_forward(self.params, idx, self.config)
        loss, loss_cache = lm_loss_forward(logits, targets)
        self._cache = (cache, loss_cache)
        return loss

    def backward(self) -> None:
        """Fill ``grads`` (same keys as ``params``) for the last ``loss``."""
        if self._cache is None:
            raise RuntimeError("GPT.backward: call loss() first")
        cache, loss_cache = self._cache
        self.grads = gpt_backward(lm_loss_backward(loss_cache), cache)
        self._cache = None

    def generate(self, idx, max_new_tokens: int, temperature: float = 1.0, rng=None) -> np.ndarray:
        """Append ``max_new_tokens`` sampled ids to ``idx`` (B, T), each from the softmax of the
        last position's logits / temperature, reading at most block_size ids back."""
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        idx = np.asarray(idx)
        for _ in range(max_new_tokens):
            logits = self.forward(idx[:, -self.config.block_size:])[:, -1]  # (B, V)
            p = softmax(logits.astype(np.float64) / temperature)
            nxt = [rng.choice(len(row), p=row) for row in p]
            idx = np.concatenate([idx, np.array(nxt)[:, None]], axis=1)
        return idx
