"""Which tokens drove the answer: Integrated Gradients on the token embeddings (tutorial 1.5).

For a text model f (a GPT's next-token logit, a classifier's class logit), each token t gets
attribution (e_t − b) · ∫₀¹ ∂f(B + α(E − B))/∂e_t dα, where E holds the token embeddings e_t and
the baseline B puts the mean of all token embeddings, b, at every position: an "average token"
that says nothing. (Not zero embeddings: the first thing each block does is a LayerNorm, which
cannot tell α·e from e, so f jumps near α = 0 and the integral is inaccurate.) The integral is
a Gauss-Legendre sum, and the attributions add up to f(E) − f(B) (completeness, as for images).
Positive tokens pushed toward the answer, negative ones away from it. ``save_html`` shows them as
coloured text.

Example:
    >>> att = token_attributions(model, idx, lambda out: out[0, -1, target])   # doctest: +SKIP
"""
from __future__ import annotations

import html

import numpy as np
import torch
from torch import nn

from ..errors import FromzeroError
from .checks import COMPLETENESS_TOL

STEPS = 64          # points on the path, and rows per batch
MAX_STEPS = 512     # when completeness misses by more than TOL, twice the points, up to this
TOL = COMPLETENESS_TOL   # |Σ attributions − (f(E) − f(B))| / |f(E) − f(B)| that ends the doubling


def embedding_layer(model: nn.Module) -> nn.Embedding:
    """The token embedding: the first ``nn.Embedding`` of the model (a GPT's ``wte``)."""
    for m in model.modules():
        if isinstance(m, nn.Embedding):
            return m
    raise FromzeroError(f"token attributions: expected a model with a token embedding, got {type(model).__name__}")


def token_attributions(model: nn.Module, idx: torch.Tensor, score, steps: int = STEPS, tol: float = TOL,
                       max_steps: int = MAX_STEPS) -> dict:
    """Integrated Gradients of ``score(model(idx))`` with respect to the embeddings of the tokens
    ``idx`` (1, T): ``{"attributions": (T,), "score": f(E), "baseline_score": f(B), "steps": n}``.

    ``score(out)`` gives one score per row of a batch of model outputs, e.g. ``lambda out:
    out[:, -1, k]``: the points of the path run in batches of at most ``STEPS`` rows. When the
    attributions miss f(E) − f(B) by more than ``tol`` of it (a sharply trained model bends the
    path), the sum is done again with twice the points, up to ``max_steps``.
    """
    emb_layer = embedding_layer(model)
    was = model.training
    model.eval()
    with torch.no_grad():
        emb = emb_layer(idx[:1]).detach()                             # (1, T, C)
        base = emb_layer.weight.mean(0).expand_as(emb).detach()       # the mean token, everywhere
    state = {}

    def scaled(module, inputs, output):                               # replace E by B + α(E − B)
        return state["x"]

    def run(x):                                                       # score(model) with E replaced by x
        state["x"] = x
        return score(model(idx[:1].expand(x.size(0), -1)))
    handle = emb_layer.register_forward_hook(scaled)
    try:
        with torch.no_grad():
            full, at_base = (float(v) for v in run(torch.cat([emb, base])))
        gap = full - at_base
        while True:
            nodes, weights = np.polynomial.legendre.leggauss(steps)       # on [-1, 1]
            alphas = torch.as_tensor((nodes + 1) / 2, dtype=emb.dtype, device=emb.device)[:, None, None]
            w = torch.as_tensor(weights / 2, dtype=emb.dtype, device=emb.device)      # on [0, 1]
            g = torch.zeros_like(emb)
            for i in range(0, steps, STEPS):
                x = (base + alphas[i:i + STEPS] * (emb - base)).requires_grad_(True)  # (≤ STEPS, T, C)
                (gi,) = torch.autograd.grad((w[i:i + STEPS] * run(x)).sum(), x)
                g += gi.sum(0, keepdim=True)
            a = ((emb - base) * g).sum(-1)[0].detach()
            if abs(float(a.sum()) - gap) <= tol * max(abs(gap), 1e-6) or 2 * steps > max_steps:
                break
            steps *= 2
    finally:
        handle.remove()
        model.train(was)
    return {"attributions": a, "score": full, "baseline_score": at_base, "steps": steps}


def token_labels(tok, ids) -> list[str]:
    """How to show each token of ``ids``: its text, or, for a byte-level BPE token that holds only part
    of a character (Chinese characters are often 2 or 3 tokens), the whole character with the part:
    ``好[1/2]``, ``好[2/2]``. One label per token, so they line up with attributions and attention rows."""
    ids = [int(t) for t in ids]
    labels, i = [], 0
    while i < len(ids):
        k = 1
        while "\ufffd" in tok.decode(ids[i:i + k]) and k < 4 and i + k < len(ids):
            k += 1                                          # the bytes of one character, split over tokens
        text = tok.decode(ids[i:i + k])
        if k > 1 and "\ufffd" not in text:
            labels += [f"{text}[{j}/{k}]" for j in range(1, k + 1)]
        else:                                               # a whole token, or bytes that make no character
            labels += [tok.decode([t]) for t in ids[i:i + k]]
        i += k
    return labels


def save_html(tokens: list[str], attributions, path, title: str = "") -> None:
    """The text with each token's background red (pushed toward the answer) or blue (away)."""
    a = torch.as_tensor(attributions, dtype=torch.float64)
    lim = float(a.abs().max()) or 1.0
    spans = []
    for tok, v in zip(tokens, a.tolist()):
        alpha = min(1.0, abs(v) / lim)
        rgb = "220,40,40" if v > 0 else "40,80,220"
        text = html.escape(tok).replace("\n", "↵<br>")
        spans.append(f'<span title="{v:+.4f}" style="background: rgba({rgb},{alpha:.3f}); '
                     f'padding: 1px 0">{text}</span>')
    page = (f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<body style='font-family: monospace; font-size: 18px; max-width: 60em'>"
            f"<p>{html.escape(title)}</p><p style='white-space: pre-wrap'>{''.join(spans)}</p>"
            "<p style='font-size: 13px'>red: pushed toward the answer; blue: away from it; hover for the value "
            "(Integrated Gradients on the token embeddings)</p></body>")
    path.write_text(page, encoding="utf-8")
