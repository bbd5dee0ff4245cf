"""Where each token looks: the attention weights of a GPT, per layer and head (tutorial 1.3.6).

Each head's weights are softmax(Q Kᵀ / √d + M), the formula of ``explicit_attention``: row i says
how much token i takes from each token j ≤ i (the causal mask M hides the later ones, so the
upper triangle is 0 and every row sums to 1; ``fromzero.explain.checks.attention_check``).

Example:
    >>> att = attention_maps(model, idx)     # idx: (1, T) token ids  # doctest: +SKIP
    >>> att.shape                            # (layers, heads, T, T)
    torch.Size([4, 4, 12, 12])
"""
from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F

from ..errors import FromzeroError
from ..models.gpt import causal_mask
from .images import save_figure


@contextlib.contextmanager
def recording_attention(model):
    """Within the block, every attention layer of ``model`` runs the explicit formula and appends
    its weights (B, nh, Tq, Tk) to the yielded list, layer by layer."""
    blocks = getattr(model, "blocks", None)
    if blocks is None:
        raise FromzeroError(f"attention maps: expected a GPT, got {type(model).__name__}")
    weights, saved = [], [b.attn.attend for b in blocks]

    def attend(q, k, v, dropout_p=0.0, training=False):
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.size(-1)))
        att = att.masked_fill(~causal_mask(q.size(-2), k.size(-2), q.device), float("-inf"))
        att = F.softmax(att, dim=-1)
        weights.append(att.detach())
        return att @ v
    try:
        for b in blocks:
            b.attn.attend = attend
        yield weights
    finally:
        for b, a in zip(blocks, saved):
            b.attn.attend = a


@torch.no_grad()
def attention_maps(model, idx: torch.Tensor) -> torch.Tensor:
    """The attention weights of the first sequence of ``idx`` (1, T): (layers, heads, T, T)."""
    was = model.training
    model.eval()
    with recording_attention(model) as weights:
        model(idx[:1])
    model.train(was)
    return torch.stack([w[0] for w in weights])


def save_attention_grid(att: torch.Tensor, tokens: list[str], path, title: str = "") -> None:
    """A PNG: one heat map per layer (rows) and head (columns), tokens on the axes."""
    import matplotlib  # lazy: pyplot costs ~1 s, only when drawing
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: as above

    L, H, T, _ = att.shape
    size = 1.2 + 0.16 * T
    fig, axes = plt.subplots(L, H, figsize=(size * H, size * L), squeeze=False)
    labels = [t.replace("\n", "\\n") for t in tokens]
    for i in range(L):
        for j in range(H):
            ax = axes[i][j]
            ax.imshow(att[i, j].cpu().numpy(), cmap="viridis", vmin=0, vmax=1)
            ax.set_title(f"layer {i + 1}, head {j + 1}", fontsize=8)
            if T <= 40:
                ax.set_xticks(range(T), labels, fontsize=6, rotation=90)
                ax.set_yticks(range(T), labels, fontsize=6)
            else:
                ax.set_xticks([])
                ax.set_yticks([])
    fig.supxlabel("key: the token looked at")
    fig.supylabel("query: the token looking")
    if title:
        fig.suptitle(title)
    save_figure(fig, path)
