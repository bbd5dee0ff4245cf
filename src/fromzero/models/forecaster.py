"""An LSTM/GRU forecaster with a direct multi-horizon head.

The recurrent layer reads the lookback window and its final state goes through one linear
layer that emits every step of the horizon for every target column at once ("direct"
forecasting: no step feeds the next, so errors do not compound as in autoregressive decoding).

Two simple things matter more than the size of the network (Zeng et al. 2023; Kim et al. 2022,
RevIN):

* per-window normalisation (``norm``): subtract the window's last value (``"last"``) or its
  mean and divide by its std (``"mean"``) before the network, add it back after. The model then
  forecasts changes, and a level never seen in training (a trend) does not confuse it.
* a linear skip (``skip``): a linear map from the lookback to the horizon, shared by the
  columns, added to the head's output.

Head and skip start at zero, so with ``norm="last"`` an untrained model is exactly the
repeat-the-last-value baseline; training moves it away from there.

Example:
    >>> import torch
    >>> model = Forecaster(ForecasterConfig(n_series=7, targets=list(range(7)), lookback=96, horizon=24))
    >>> model(torch.randn(2, 96, 7)).shape
    torch.Size([2, 24, 7])
"""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ShapeError
from ..registry import register_model
from .configs import ForecasterConfig

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN, "none": None}  # none: the linear skip alone


@register_model("forecaster", config_cls=ForecasterConfig)
class Forecaster(nn.Module):
    """``model(x)``: x (B, lookback, n_series + n_covariates) -> forecasts (B, horizon, len(targets))."""

    def __init__(self, config: ForecasterConfig):
        super().__init__()
        self.config = c = config
        per_run = 1 if c.channel_independent else c.n_series      # series one recurrent run reads
        outs = 1 if c.channel_independent else len(c.targets)      # columns one run forecasts
        self.rnn = self.head = None
        if c.cell != "none":
            self.rnn = CELLS[c.cell](per_run + c.n_covariates, c.hidden, num_layers=c.n_layer,
                                     batch_first=True, dropout=c.dropout if c.n_layer > 1 else 0.0)
            self.head = nn.Linear(c.hidden, c.horizon * outs)
        self.drop = nn.Dropout(c.dropout)
        self.skip = nn.Linear(c.lookback, c.horizon) if c.skip else None
        for m in (self.head, self.skip):
            if m is not None:
                nn.init.zeros_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        c = self.config
        if x.dim() != 3 or x.shape[1] != c.lookback or x.shape[2] != c.n_series + c.n_covariates:
            raise ShapeError(f"Forecaster: expected inputs (batch, {c.lookback}, "
                             f"{c.n_series + c.n_covariates}), got {tuple(x.shape)}")
        series, cov = x[..., :c.n_series], x[..., c.n_series:]       # (B, L, C), (B, L, K)
        loc, scale = self._stats(series)                             # each (B, 1, C)
        z = (series - loc) / scale
        y = self._recurrent(z, cov) if self.rnn is not None else 0.0  # (B, T, H)
        if self.skip is not None:
            y = y + self.skip(z[..., c.targets].transpose(1, 2))      # (B, T, L) -> (B, T, H)
        y = y.transpose(1, 2)                                         # (B, H, T)
        return y * scale[..., c.targets] + loc[..., c.targets]

    def _recurrent(self, z, cov):
        """The recurrent encoder and the direct head: (B, T, H) forecasts of the normalised targets."""
        c = self.config
        B = z.shape[0]
        if c.channel_independent:                                    # (B*C, L, 1 + K)
            inp = torch.cat([z.transpose(1, 2).reshape(B * c.n_series, c.lookback, 1),
                             cov.repeat_interleave(c.n_series, dim=0)], dim=-1)
        else:
            inp = torch.cat([z, cov], dim=-1)                        # (B, L, C + K)
        _, state = self.rnn(inp)
        h = (state[0] if isinstance(state, tuple) else state)[-1]   # top layer's final state (B', hidden)
        y = self.head(self.drop(h))
        if c.channel_independent:
            y = y.view(B, c.n_series, c.horizon)[:, c.targets]        # (B, T, H)
        else:
            y = y.view(B, c.horizon, len(c.targets)).transpose(1, 2)  # (B, T, H)
        return y

    def _stats(self, series):
        if self.config.norm == "last":
            return series[:, -1:, :], torch.ones_like(series[:, -1:, :])
        if self.config.norm == "mean":
            mean = series.mean(dim=1, keepdim=True)
            std = series.std(dim=1, keepdim=True, unbiased=False)
            return mean, std + 1e-5
        one = torch.ones_like(series[:, -1:, :])
        return torch.zeros_like(one), one
