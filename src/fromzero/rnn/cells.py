"""Recurrent cells written out gate by gate, as in the textbooks (tutorial 1.2.4).

These are the readable versions. The layers in ``fromzero.layers.recurrent`` run torch's fused
modules (``nn.RNN``, ``nn.LSTM``, ``nn.GRU``), which compute exactly the same functions much
faster; ``tests/rnn`` checks that outputs and gradients agree.

The LSTM keeps two vectors per step: the cell state ``c`` (the long-term memory) and the hidden
state ``h`` (the output). Four gates, each a function of the input ``x_t`` and ``h_{t-1}``:

    i = σ(W_i x_t + U_i h_{t-1} + b_i)       input gate: how much of the candidate to write
    f = σ(W_f x_t + U_f h_{t-1} + b_f)       forget gate: how much of the old memory to keep
    g = tanh(W_g x_t + U_g h_{t-1} + b_g)    candidate memory
    o = σ(W_o x_t + U_o h_{t-1} + b_o)       output gate: how much of the memory to show
    c_t = f ⊙ c_{t-1} + i ⊙ g
    h_t = o ⊙ tanh(c_t)

Because ``c_t`` is updated by a sum (not a product of matrices, as in the simple RNN), the
gradient can flow back over many steps without vanishing when ``f`` is close to 1.

The weights use torch's layout, so a state dict moves between ``ExplicitLSTM`` and ``nn.LSTM``:
``weight_ih_l{k}`` is (4H, I) with the rows of the gates in the order i, f, g, o;
``weight_hh_l{k}`` is (4H, H); ``bias_ih_l{k}`` and ``bias_hh_l{k}`` are (4H,).

Example:
    >>> import torch
    >>> from torch import nn
    >>> ref = nn.LSTM(3, 5, batch_first=True)
    >>> mine = ExplicitLSTM(3, 5)
    >>> _ = mine.load_state_dict(ref.state_dict())
    >>> x = torch.randn(2, 7, 3)
    >>> torch.allclose(mine(x)[0], ref(x)[0], atol=1e-6)
    True
"""
from __future__ import annotations

import math

import torch
from torch import nn


def lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """One LSTM step. x (B, I), h and c (B, H); weights in torch's layout. Returns (h_t, c_t)."""
    W_i, W_f, W_g, W_o = w_ih.chunk(4)          # each (H, I)
    U_i, U_f, U_g, U_o = w_hh.chunk(4)          # each (H, H)
    b_i, b_f, b_g, b_o = (b_ih + b_hh).chunk(4)  # each (H,)
    i = torch.sigmoid(x @ W_i.T + h @ U_i.T + b_i)   # input gate        (B, H)
    f = torch.sigmoid(x @ W_f.T + h @ U_f.T + b_f)   # forget gate       (B, H)
    g = torch.tanh(x @ W_g.T + h @ U_g.T + b_g)      # candidate memory  (B, H)
    o = torch.sigmoid(x @ W_o.T + h @ U_o.T + b_o)   # output gate       (B, H)
    c = f * c + i * g                                # new memory        (B, H)
    h = o * torch.tanh(c)                            # new output        (B, H)
    return h, c


def gru_cell(x, h, w_ih, w_hh, b_ih, b_hh):
    """One GRU step (torch's variant: the reset gate multiplies U_n h + b_hn). Returns h_t.

        r = σ(W_r x + b_ir + U_r h + b_hr)          reset gate
        z = σ(W_z x + b_iz + U_z h + b_hz)          update gate
        n = tanh(W_n x + b_in + r ⊙ (U_n h + b_hn))  candidate
        h_t = (1 - z) ⊙ n + z ⊙ h
    """
    W_r, W_z, W_n = w_ih.chunk(3)
    U_r, U_z, U_n = w_hh.chunk(3)
    bi_r, bi_z, bi_n = b_ih.chunk(3)
    bh_r, bh_z, bh_n = b_hh.chunk(3)
    r = torch.sigmoid(x @ W_r.T + bi_r + h @ U_r.T + bh_r)
    z = torch.sigmoid(x @ W_z.T + bi_z + h @ U_z.T + bh_z)
    n = torch.tanh(x @ W_n.T + bi_n + r * (h @ U_n.T + bh_n))
    return (1 - z) * n + z * h


def rnn_cell(x, h, w_ih, w_hh, b_ih, b_hh, activation=torch.tanh):
    """One step of the simple (Elman) RNN: h_t = tanh(W x_t + U h_{t-1} + b)."""
    return activation(x @ w_ih.T + b_ih + h @ w_hh.T + b_hh)


class ExplicitLSTM(nn.Module):
    """A (stacked) LSTM that loops over time with ``lstm_cell``: ``nn.LSTM(batch_first=True)``, readable.

    Args:
        input_size: features per step (I).
        hidden_size: units (H).
        num_layers: stacked layers; layer k+1 reads layer k's outputs.

    ``forward(x, state=None)``: x (B, T, I); state ``(h0, c0)``, each (num_layers, B, H), or zeros.
    Returns ``(out, (h_n, c_n))`` like ``nn.LSTM``: out (B, T, H), h_n and c_n (num_layers, B, H).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1):
        super().__init__()
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        k = 1 / math.sqrt(hidden_size)  # nn.LSTM's initialisation: U(-k, k)
        for layer in range(num_layers):
            n_in = input_size if layer == 0 else hidden_size
            for name, shape in ((f"weight_ih_l{layer}", (4 * hidden_size, n_in)),
                                (f"weight_hh_l{layer}", (4 * hidden_size, hidden_size)),
                                (f"bias_ih_l{layer}", (4 * hidden_size,)),
                                (f"bias_hh_l{layer}", (4 * hidden_size,))):
                self.register_parameter(name, nn.Parameter(torch.empty(shape).uniform_(-k, k)))

    def forward(self, x, state=None):
        B, T, _ = x.shape
        if state is None:
            zeros = x.new_zeros(self.num_layers, B, self.hidden_size)
            state = (zeros, zeros)
        h_n, c_n = [], []
        for layer in range(self.num_layers):
            w = [getattr(self, f"{n}_l{layer}") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            h, c = state[0][layer], state[1][layer]          # (B, H)
            outs = []
            for t in range(T):
                h, c = lstm_cell(x[:, t], h, c, *w)
                outs.append(h)
            x = torch.stack(outs, dim=1)                     # (B, T, H): the next layer's input
            h_n.append(h)
            c_n.append(c)
        return x, (torch.stack(h_n), torch.stack(c_n))
