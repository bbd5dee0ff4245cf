"""The textbook cells equal torch's fused modules: outputs and gradients."""
import pytest
import torch
from torch import nn

from fromzero.rnn import ExplicitLSTM, gru_cell, rnn_cell


@pytest.mark.parametrize("num_layers", [1, 2])
def test_explicit_lstm_equals_nn_lstm_values_and_gradients(num_layers):
    torch.manual_seed(0)
    ref = nn.LSTM(3, 5, num_layers=num_layers, batch_first=True).double()
    mine = ExplicitLSTM(3, 5, num_layers=num_layers).double()
    mine.load_state_dict(ref.state_dict())
    x = torch.randn(4, 9, 3, dtype=torch.double)
    h0 = torch.randn(num_layers, 4, 5, dtype=torch.double)
    c0 = torch.randn(num_layers, 4, 5, dtype=torch.double)
    xs = [x.clone().requires_grad_(True) for _ in range(2)]
    out_r, (h_r, c_r) = ref(xs[0], (h0, c0))
    out_m, (h_m, c_m) = mine(xs[1], (h0, c0))
    torch.testing.assert_close(out_m, out_r)
    torch.testing.assert_close(h_m, h_r)
    torch.testing.assert_close(c_m, c_r)
    w = torch.randn_like(out_r)  # a loss that touches every output, and the final states
    ((out_r * w).sum() + c_r.sum() + h_r.pow(2).sum()).backward()
    ((out_m * w).sum() + c_m.sum() + h_m.pow(2).sum()).backward()
    torch.testing.assert_close(xs[1].grad, xs[0].grad)
    for name, p in ref.named_parameters():
        torch.testing.assert_close(dict(mine.named_parameters())[name].grad, p.grad, msg=name)


def test_explicit_lstm_detects_a_wrong_gate_order():
    """The parity test can fail: swap the forget and input gates and the outputs differ."""
    ref = nn.LSTM(3, 5, batch_first=True)
    mine = ExplicitLSTM(3, 5)
    state = ref.state_dict()
    swapped = {k: torch.cat([v.chunk(4)[i] for i in (1, 0, 2, 3)]) for k, v in state.items()}
    mine.load_state_dict(swapped)
    x = torch.randn(2, 6, 3)
    assert not torch.allclose(mine(x)[0], ref(x)[0], atol=1e-4)


def _unroll(cell, module, x, h):
    p = [getattr(module, n + "_l0") for n in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    outs = []
    for t in range(x.shape[1]):
        h = cell(x[:, t], h, *p)
        outs.append(h)
    return torch.stack(outs, 1)


@pytest.mark.parametrize("kind", ["gru", "rnn"])
def test_gru_and_simple_rnn_cells_equal_torch(kind):
    ref = (nn.GRU if kind == "gru" else nn.RNN)(4, 6, batch_first=True).double()
    x = torch.randn(3, 7, 4, dtype=torch.double)
    h0 = torch.randn(1, 3, 6, dtype=torch.double)
    out = _unroll(gru_cell if kind == "gru" else rnn_cell, ref, x, h0[0])
    torch.testing.assert_close(out, ref(x, h0)[0])
