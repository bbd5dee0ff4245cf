"""Sanity checks for explanations: a map that is not checked is a picture, not an explanation.

- **Model randomization** (Adebayo et al. 2018): the maps of the trained model and of the same
  architecture with re-initialised weights must differ (mean Spearman rank correlation < 0.5).
  A map that passes this depends on what the model learnt; an edge detector of the input fails it.
- **Deletion** (Petsiuk et al. 2018): setting the 10% most attributed pixels to the background
  must lower the predicted class's probability at least twice as much as 10% random pixels, and
  by at least 0.05 on average (a drop of 0.001 against 0.0002 is no evidence).
- **Completeness** (Sundararajan et al. 2017): Integrated Gradients' attributions add up to
  f(x) − f(baseline), within 1%.
- **Attention maps**: each row sums to 1 (a softmax), and nothing lies above the diagonal (a
  token never looks at a later one).

Example:
    >>> report = image_checks(model, x)      # x: (100, 1, 28, 28) test images  # doctest: +SKIP
    >>> report["randomization"]["saliency"]["passed"]
    True
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from ..train.metrics import mean_ranks

from .images import IG_STEPS, METHODS, attribution_maps, edge_map

RANDOMIZATION_MAX = 0.5      # the mean Spearman correlation a map must stay below
DELETION_MIN_RATIO = 2.0     # top-10% deletion vs random-10% deletion, in probability drop
DELETION_MIN_DROP = 0.05     # and the top-10% deletion must matter at all (mean probability drop)
COMPLETENESS_TOL = 0.01      # |Σ IG − (f(x) − f(x₀))| / |f(x) − f(x₀)|


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Spearman rank correlation of each row of ``a`` with the same row of ``b`` (N, D) -> (N,);
    tied values share their mean rank."""
    ra, rb = mean_ranks(a.flatten(1)), mean_ranks(b.flatten(1))
    ra, rb = ra - ra.mean(-1, keepdim=True), rb - rb.mean(-1, keepdim=True)
    return (ra * rb).sum(-1) / (ra.norm(dim=-1) * rb.norm(dim=-1)).clamp_min(1e-12)


def reinitialized(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with every layer's parameters drawn afresh (same architecture)."""
    torch.manual_seed(seed)
    fresh = copy.deepcopy(model)
    for m in fresh.modules():
        if hasattr(m, "reset_parameters") and m is not fresh:
            m.reset_parameters()
    return fresh


@torch.no_grad()
def probabilities(model: nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return torch.softmax(model(x).float(), -1).gather(1, target[:, None])[:, 0]


def deletion(model: nn.Module, x: torch.Tensor, target: torch.Tensor, maps: torch.Tensor,
             fraction: float = 0.1, seed: int = 0) -> dict:
    """The mean drop of the target class's probability when the top ``fraction`` of pixels by
    ``maps`` (N, H, W) are set to 0 (the background), against as many random pixels."""
    n, hw = len(x), x.shape[-1] * x.shape[-2]
    k = max(1, int(round(fraction * hw)))
    base = probabilities(model, x, target)

    def drop(idx):                                               # idx: (N, k) flat pixel positions
        keep = torch.ones(n, hw, dtype=x.dtype).scatter_(1, idx, 0.0).view(n, 1, *x.shape[-2:])
        return float((base - probabilities(model, x * keep, target)).mean())
    top = drop(maps.flatten(1).topk(k, dim=1).indices)
    g = torch.Generator().manual_seed(seed)
    rand = drop(torch.stack([torch.randperm(hw, generator=g)[:k] for _ in range(n)]))
    ratio = top / rand if rand > 1e-9 else float("inf")
    return {"top_drop": top, "random_drop": rand, "ratio": ratio,
            "passed": top >= DELETION_MIN_DROP and ratio >= DELETION_MIN_RATIO}


def completeness(model: nn.Module, x: torch.Tensor, target: torch.Tensor, ig: torch.Tensor | None = None) -> dict:
    """Integrated Gradients' sum against f(x) − f(black image): the largest relative error."""
    if ig is None:
        ig = attribution_maps(model, x, target, ("integrated_gradients",))["integrated_gradients"]
    with torch.no_grad():
        fx = model(x).float().gather(1, target[:, None])[:, 0]
        f0 = model(torch.zeros_like(x)).float().gather(1, target[:, None])[:, 0]
    rel = (ig.flatten(1).sum(1) - (fx - f0)).abs() / (fx - f0).abs().clamp_min(1e-6)
    return {"max_relative_error": float(rel.max()), "mean_relative_error": float(rel.mean()),
            "passed": float(rel.max()) <= COMPLETENESS_TOL}


def randomization(maps: torch.Tensor, random_maps: torch.Tensor, where: torch.Tensor | None = None) -> dict:
    """Mean Spearman correlation of |map| between the trained model's maps and a re-initialised
    model's, over the pixels ``where`` (N, H, W) is True (default: all).

    Integrated Gradients is (x − x₀) times a gradient: exactly 0 wherever the image equals the
    black baseline, for any model. Those pixels are ties that say nothing about the model, so its
    maps are compared over the pixels that differ from the baseline.
    """
    a, b = maps.abs().flatten(1), random_maps.abs().flatten(1)
    if where is None:
        rho = spearman(a, b)
    else:
        w = where.flatten(1)
        rho = torch.stack([spearman(a[i, w[i]][None], b[i, w[i]][None])[0] for i in range(len(a))])
    rho = float(rho.mean())
    return {"spearman": rho, "passed": rho < RANDOMIZATION_MAX}


def image_checks(model: nn.Module, x: torch.Tensor, methods=METHODS, ig_steps: int = IG_STEPS,
                 control: bool = True) -> dict:
    """Every check on images ``x`` (N, C, H, W), for each method (and the edge-detector control)."""
    model.eval()
    with torch.no_grad():
        target = model(x).argmax(-1)
    maps = attribution_maps(model, x, target, methods, ig_steps)
    fresh = reinitialized(model)
    random_maps = attribution_maps(fresh, x, target, methods, ig_steps)
    if control:
        maps["edges"], random_maps["edges"] = edge_map(x), edge_map(x)   # ignores the model
    report = {"images": len(x),
              "randomization": {m: randomization(maps[m], random_maps[m], (x != 0).any(1)
                                                 if m == "integrated_gradients" else None) for m in maps},
              "deletion": {m: deletion(model, x, target, maps[m].abs() if m != "integrated_gradients"
                                       else maps[m]) for m in maps}}
    if "integrated_gradients" in maps:
        report["completeness"] = completeness(model, x, target, maps["integrated_gradients"])
    return report


def attention_check(att: torch.Tensor, atol: float = 1e-5) -> dict:
    """Attention weights (..., T, T): rows sum to 1, zero above the diagonal."""
    rows = (att.sum(-1) - 1).abs().max()
    above = att.triu(diagonal=1).abs().max()
    return {"max_row_error": float(rows), "max_above_diagonal": float(above),
            "passed": float(rows) <= atol and float(above) == 0.0}
