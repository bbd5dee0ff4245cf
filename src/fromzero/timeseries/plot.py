"""PNG plots of forecasts against the actual values (matplotlib, no display needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import atomic_open


def plot_forecast(path, actual, forecast, baseline=None, history=None, times=None, title: str = "",
                  ylabel: str = "", baseline_name: str = "repeat last value") -> Path:
    """Save a plot of ``forecast`` vs ``actual`` (1-D arrays over the same steps).

    Args:
        history: values before the forecast (drawn in grey), e.g. the lookback window.
        baseline: a naive forecast over the same steps, for comparison.
        times: x-axis values for ``history`` followed by the forecast steps (default: step numbers).
    """
    import matplotlib  # lazy: matplotlib.pyplot costs ~1 s and only the end of a run draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: as above

    n_hist = 0 if history is None else len(history)
    x = np.arange(n_hist + len(actual)) if times is None else np.asarray(times)
    fig, ax = plt.subplots(figsize=(8, 3.2))
    if history is not None:
        ax.plot(x[:n_hist], history, color="0.6", lw=1, label="input (lookback)")
    ax.plot(x[n_hist:], actual, color="black", lw=1.2, label="actual")
    if baseline is not None:
        ax.plot(x[n_hist:], baseline, color="tab:orange", lw=1, ls="--", label=baseline_name)
    ax.plot(x[n_hist:], forecast, color="tab:blue", lw=1.4, label="forecast")
    ax.set_title(title, fontsize=10)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.autofmt_xdate() if times is not None else None
    fig.tight_layout()
    path = Path(path)
    with atomic_open(path) as f:   # a symlink at ``path`` is replaced, never written through
        fig.savefig(f, dpi=80, format="png")
    plt.close(fig)
    return path
