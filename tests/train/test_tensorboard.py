"""--tensorboard: the event files hold what history.csv holds, at the optimizer step."""
import pytest
import torch

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from fromzero.train import TensorBoard, Trainer  # noqa: E402


def _scalars(folder):
    acc = EventAccumulator(str(folder))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def test_each_epochs_logs_become_scalars_train_and_val_side_by_side(tmp_path):
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = (x[:, 0] > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    trainer = Trainer(model, optimizer="sgd", lr=0.1, metrics=["accuracy"], verbose=0,
                      callbacks=[TensorBoard(tmp_path / "tb")])
    history = trainer.fit((x, y), epochs=3, batch_size=16, validation_data=(x, y))
    got = _scalars(tmp_path / "tb")
    assert {"loss/train", "loss/val", "accuracy/train", "accuracy/val", "lr"} <= set(got)
    assert [s for s, _ in got["loss/train"]] == [4, 8, 12]                   # optimizer steps
    for tag, key in (("loss/train", "loss"), ("loss/val", "val_loss"), ("accuracy/val", "val_accuracy")):
        assert [v for _, v in got[tag]] == pytest.approx([e[key] for e in history.epochs], rel=1e-6)


def test_the_mnist_recipe_writes_them_with_tensorboard(tmp_path):
    from fromzero.recipes.mnist import MnistConfig, train_mnist

    train_mnist(tmp_path / "run", MnistConfig(epochs=1, limit=128, batch_size=64, tensorboard=True, device="cpu"),
                verbose=0)
    got = _scalars(tmp_path / "run" / "tensorboard")
    assert "accuracy/val" in got and "samples_per_s" in got and got["loss/train"][0][0] == 2
