"""Which past time steps and variables drove a forecast: Integrated Gradients over the input window.

The forecaster reads a window (lookback steps x variables, scaled as in training) and forecasts
the next steps. The score explained is the forecast of one target summed over the horizon; each
(step, variable) cell of the window gets (x − x₀) times the gradient averaged on the path from
x₀ = 0, the training mean of every variable after scaling. The cells add up to score(x) −
score(x₀) (completeness). Positive cells pushed the forecast up, negative ones down.

Example:
    >>> r = window_attributions(model, x, target=0)    # x: (1, lookback, variables)  # doctest: +SKIP
    >>> r["attributions"].shape
    torch.Size([96, 7])
"""
from __future__ import annotations

import torch

from .images import IG_STEPS, save_figure


def window_attributions(model, x: torch.Tensor, target: int = 0, steps: int = IG_STEPS) -> dict:
    """``{"attributions": (lookback, variables), "score", "baseline_score"}`` for the forecast of
    target ``target`` summed over the horizon."""
    from captum.attr import IntegratedGradients  # lazy: only to explain

    was = model.training
    model.eval()
    score = lambda inp: model(inp)[:, :, target].sum(-1)  # noqa: E731
    ig = IntegratedGradients(score).attribute(x, baselines=torch.zeros_like(x), n_steps=steps)
    with torch.no_grad():
        full, base = float(score(x)[0]), float(score(torch.zeros_like(x))[0])
    model.train(was)
    return {"attributions": ig[0].detach(), "score": full, "baseline_score": base}


def save_heatmap(att: torch.Tensor, names: list[str], path, title: str = "") -> None:
    """A PNG: one row per variable, one column per past step (the last one is the newest)."""
    import matplotlib  # lazy: pyplot costs ~1 s, only when drawing
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: as above

    a = att.T.cpu().numpy()                                         # (variables, lookback)
    lim = float(abs(a).max()) or 1.0
    fig, ax = plt.subplots(figsize=(min(16, 3 + 0.12 * a.shape[1]), 1.2 + 0.35 * a.shape[0]))
    im = ax.imshow(a, cmap="bwr", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_xlabel(f"past step (1 = oldest, {a.shape[1]} = newest)")
    ax.set_xticks([0, a.shape[1] - 1], ["1", str(a.shape[1])])
    fig.colorbar(im, ax=ax, label="up (red), down (blue)")
    if title:
        ax.set_title(title, fontsize=9)
    save_figure(fig, path)
