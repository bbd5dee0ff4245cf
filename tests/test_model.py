import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from fromzero import Sequential, Trainer
from fromzero import layers as L
from fromzero.errors import ShapeError
from fromzero.models.cnn import build_model


def small_cnn():
    return Sequential([L.Input((1, 28, 28)), L.Conv2D(8, 3, activation="relu"), L.MaxPool2D(2),
                       L.Flatten(), L.Dense(10)])


def test_fit_evaluate_predict_learns_mnist_subset(mnist_small):
    x, y, xt, yt = mnist_small
    model = small_cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], lr=3e-3)
    before = model.evaluate(xt, yt)["accuracy"]
    hist = model.fit(x, y, batch_size=64, epochs=2, validation_data=(xt, yt), verbose=0)
    assert set(hist.history) >= {"loss", "accuracy", "val_loss", "val_accuracy", "lr", "samples_per_s"}
    assert hist.history["loss"][1] < hist.history["loss"][0]
    after = model.evaluate(xt, yt)
    assert after["accuracy"] > 0.85 > before
    # on a GPU, bf16 autocast and cuDNN's kernel choice per batch size can flip a borderline sample
    tol = 2 / len(yt) if torch.cuda.is_available() else 1e-6
    assert abs(after["accuracy"] - hist.history["val_accuracy"][-1]) < tol
    logits = model.predict(xt)
    assert logits.shape == (500, 10)
    assert (logits.argmax(1) == yt).float().mean().item() == pytest.approx(after["accuracy"])


def test_one_hot_labels_and_validation_split(mnist_small):
    x, y, _, _ = mnist_small
    onehot = torch.nn.functional.one_hot(y[:600], 10).float()  # the tutorial's to_categorical
    model = small_cnn()
    model.compile("adam", "categorical_crossentropy", ["accuracy"])
    hist = model.fit(x[:600], onehot, epochs=1, validation_split=0.25, verbose=0)
    assert 0 <= hist.history["val_accuracy"][0] <= 1
    assert hist.history["samples_per_s"][0] > 0


def test_a_trained_model_copies_without_its_trainer(mnist_small):
    """copy.deepcopy of a fitted model (what the explanation checks' model randomization does) works:
    the copy has the weights and compile settings, and a trainer of its own once it trains."""
    import copy

    x, y, xt, _ = mnist_small
    model = small_cnn().compile("adam", "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x[:128], y[:128], batch_size=64, epochs=1, verbose=0)
    twin = copy.deepcopy(model)
    assert model.trainer is not None and twin.trainer is None
    assert torch.equal(twin.predict(xt[:8]), model.predict(xt[:8]))
    twin.fit(x[:64], y[:64], batch_size=64, epochs=1, verbose=0)
    assert twin.trainer is not model.trainer
    assert not torch.equal(twin.predict(xt[:8]), model.predict(xt[:8]))


def test_numpy_inputs_are_accepted(mnist_small):
    x, y, _, _ = mnist_small
    model = small_cnn().compile("sgd", "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x[:256].numpy().astype(np.float64), y[:256].numpy(), epochs=1, verbose=0)


def test_fit_accepts_any_module_and_dataloader(mnist_small):
    x, y, xt, yt = mnist_small
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.ReLU(), nn.Linear(64, 10))
    trainer = Trainer(net, optimizer=torch.optim.Adam(net.parameters(), 1e-3), metrics=["accuracy"],
                      verbose=0)
    trainer.fit(DataLoader(TensorDataset(x, y), batch_size=100, shuffle=True), epochs=2)
    assert trainer.evaluate(DataLoader(TensorDataset(xt, yt), batch_size=100))["accuracy"] > 0.75
    trainer.fit(TensorDataset(x, y), epochs=1)  # a Dataset is wrapped in a DataLoader


def test_wrong_input_shape_names_both_shapes_and_hints_channels_first():
    model = build_model().compile()
    with pytest.raises(ShapeError, match=r"expected input of shape \(batch, 1, 28, 28\), got "
                                         r"\(4, 28, 28, 1\) \(images are channels-first"):
        model.fit(torch.zeros(4, 28, 28, 1), torch.zeros(4, dtype=torch.long), verbose=0)
    with pytest.raises(ShapeError, match=r"got \(2, 1, 32, 32\)"):
        model.predict(torch.zeros(2, 1, 32, 32))


def test_labels_out_of_range():
    model = build_model().compile()
    with pytest.raises(ValueError, match=r"expected class ids in \[0, 9\], got values in \[0, 10\]"):
        model.fit(torch.zeros(3, 1, 28, 28), torch.tensor([0, 10, 3]), verbose=0)
    with pytest.raises(ValueError, match="expected 10 columns, got 9"):
        model.fit(torch.zeros(3, 1, 28, 28), torch.zeros(3, 9), verbose=0)


def test_x_and_y_of_different_lengths():
    model = build_model().compile()
    with pytest.raises(ShapeError, match="same number of samples, got 5 and 4"):
        model.fit(torch.zeros(5, 1, 28, 28), torch.zeros(4, dtype=torch.long), verbose=0)


@pytest.mark.parametrize("kw, msg", [
    (dict(optimizer="adamm"), "unknown optimizer 'adamm'; expected one of: adam, adamw"),
    (dict(loss="crossentropy"), "unknown loss 'crossentropy'; expected one of: binary_crossentropy"),
    (dict(metrics=["acc", "f1"]), "unknown metric 'f1'; expected one of: acc, accuracy"),
])
def test_unknown_names(kw, msg):
    with pytest.raises(ValueError, match=msg):
        build_model().compile(**kw)


def test_compile_required_and_empty_data():
    with pytest.raises(ValueError, match="call model.compile"):
        build_model().fit(torch.zeros(2, 1, 28, 28), torch.zeros(2, dtype=torch.long))
    with pytest.raises(ValueError, match="expected at least one sample"):
        build_model().compile().fit(torch.zeros(0, 1, 28, 28), torch.zeros(0, dtype=torch.long), verbose=0)


def test_same_seed_same_losses_different_seed_different(mnist_small):
    x, y, _, _ = mnist_small

    def run(seed):
        torch.manual_seed(seed)
        m = small_cnn().compile("adam", metrics=["accuracy"])
        return m.fit(x[:512], y[:512], epochs=2, verbose=0, seed=seed).history["loss"]
    assert run(1) == run(1)
    assert run(1) != run(2)


@pytest.mark.parametrize("plot", [True, False])
def test_run_dir_gets_the_history_and_the_plot_unless_turned_off(tmp_path, plot):
    torch.manual_seed(0)
    x, y = torch.randn(32, 4), torch.randint(0, 2, (32,))
    trainer = Trainer(nn.Linear(4, 2), device="cpu", verbose=0, run_dir=tmp_path, plot=plot)
    trainer.fit((x, y), epochs=1, batch_size=16)
    assert (tmp_path / "history.csv").is_file()
    assert (tmp_path / "history.png").is_file() == plot
