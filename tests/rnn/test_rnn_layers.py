"""Recurrent layers: shapes (inferred = real), states, bidirectional, stacking, save/load."""
import pytest
import torch

from fromzero import Model, Sequential, load_model, save_model
from fromzero import layers as L
from fromzero.errors import ConfigError, ShapeError
from fromzero.rnn import GRU, LSTM, GlobalMaxPool1D, SimpleRNN


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
@pytest.mark.parametrize("seqs, bidir, layers, expected", [
    (False, False, 1, (8,)),
    (True, False, 1, (7, 8)),
    (False, True, 1, (16,)),
    (True, True, 2, (7, 16)),
])
def test_inferred_shape_equals_real_shape(cls, seqs, bidir, layers, expected):
    layer = cls(8, return_sequences=seqs, bidirectional=bidir, num_layers=layers)
    assert layer(L.Input((7, 3))).shape == expected
    assert tuple(layer(torch.randn(2, 7, 3)).shape[1:]) == expected


def test_last_output_equals_last_step_of_sequence_and_final_state():
    torch.manual_seed(0)
    layer = LSTM(5, return_sequences=True, return_state=True, num_layers=2)
    layer.eval()
    seq, h, c = layer(torch.randn(3, 6, 4))
    assert seq.shape == (3, 6, 5) and h.shape == (3, 5) and c.shape == (3, 5)
    torch.testing.assert_close(seq[:, -1], h)  # the top layer's last output is its final state
    last = LSTM(5, num_layers=2)
    last(torch.randn(1, 6, 4))
    last.load_state_dict(layer.state_dict())
    last.eval()
    x = torch.randn(3, 6, 4)
    torch.testing.assert_close(last(x), layer(x)[0][:, -1])


def test_bidirectional_final_output_joins_forward_end_and_backward_start():
    layer = GRU(4, return_sequences=True, bidirectional=True)
    x = torch.randn(2, 5, 3)
    seq = layer(x)
    summary = GRU(4, bidirectional=True, return_state=True)
    summary(x)
    summary.load_state_dict(layer.state_dict())
    out, h = summary(x)
    torch.testing.assert_close(out, torch.cat([seq[:, -1, :4], seq[:, 0, 4:]], dim=-1))
    torch.testing.assert_close(out, h)


def test_return_state_in_functional_graph_saves_and_loads(tmp_path):
    x = L.Input((10, 3))
    seq, h, c = LSTM(6, return_sequences=True, return_state=True)(x)
    pooled = GlobalMaxPool1D()(seq)
    out = L.Dense(2)(L.Concatenate()([pooled, h, c]))
    model = Model(x, out)
    xs = torch.randn(4, 10, 3)
    save_model(tmp_path, model)
    loaded = load_model(tmp_path)
    assert torch.equal(loaded(xs), model.eval()(xs))


@pytest.mark.parametrize("cls", [SimpleRNN, LSTM, GRU])
def test_sequential_text_model_round_trip(tmp_path, cls):
    model = Sequential([L.Input((12,)), L.Embedding(50, 8),
                        cls(6, return_sequences=True, bidirectional=True, num_layers=2, dropout=0.2),
                        GlobalMaxPool1D(), L.Dense(2)])
    save_model(tmp_path, model)
    loaded = load_model(tmp_path)
    x = torch.randint(0, 50, (3, 12))
    assert type(loaded) is Sequential and torch.equal(loaded(x), model.eval()(x))
    assert loaded.layers[1].get_config()["bidirectional"] is True


def test_dropout_is_active_only_in_training():
    layer = LSTM(4, dropout=0.5)
    x = torch.randn(8, 5, 3)
    layer.train()
    assert not torch.equal(layer(x), layer(x))
    layer.eval()
    assert torch.equal(layer(x), layer(x))


def test_bad_arguments_and_shapes_are_clear():
    with pytest.raises(ConfigError, match="units must be a positive integer, got 0"):
        LSTM(0)
    with pytest.raises(ConfigError, match=r"dropout must be in \[0, 1\), got 1.5"):
        GRU(4, dropout=1.5)
    with pytest.raises(ConfigError, match="activation must be 'tanh' or 'relu'"):
        SimpleRNN(4, activation="sigmoid")
    with pytest.raises(ShapeError, match=r"expected inputs of shape \(steps, features\), got \(7,\)"):
        LSTM(4)(L.Input((7,)))


def test_lstm_learns_the_mean_of_a_sequence():
    """A tiny LSTM regressor trains through model.fit and beats predicting the mean."""
    torch.manual_seed(0)
    x = torch.rand(512, 8, 1) * 2 - 1
    y = x.mean(dim=(1, 2))[:, None]
    model = Sequential([L.Input((8, 1)), LSTM(16), L.Dense(1)])
    model.compile(optimizer="adam", loss="mse", lr=1e-2)
    model.fit(x, y, epochs=6, batch_size=64, verbose=0)
    mse = model.evaluate(x, y)["loss"]
    assert mse < 0.1 * y.var().item()
