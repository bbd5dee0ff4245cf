"""A non-finite run never saves NaN as "good" and never ends as a success (issue #15, finding 3)."""
import pytest
import torch
from torch import nn

from fromzero.checkpoint import list_checkpoints, save_checkpoint, save_weights
from fromzero.cli import main
from fromzero.train import NonFiniteError, Trainer


def _data(n=16):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, 4, generator=g), torch.randint(0, 2, (n,), generator=g)


@pytest.mark.parametrize("guard", ["stop", "skip"])
def test_a_step_that_makes_the_parameters_nonfinite_stops_before_any_save(tmp_path, guard):
    # loss and gradients of the first step are finite; the step itself (lr = 1e300) breaks the weights
    trainer = Trainer(nn.Linear(4, 2), optimizer="adam", lr=1e300, verbose=0, run_dir=tmp_path,
                      nan_guard=guard, plot=False)
    with pytest.raises(NonFiniteError, match="non-finite parameters after the optimizer step 1"):
        trainer.fit(_data(), epochs=2, batch_size=8, shuffle=False)
    assert trainer.step == 1 and list_checkpoints(tmp_path) == []
    assert not (tmp_path / "history.csv").exists()   # stopped before validation and logs, too


def test_the_last_step_of_a_run_is_checked_too(tmp_path):
    trainer = Trainer(nn.Linear(4, 2), optimizer="adam", lr=1e300, verbose=0, plot=False)  # no run_dir
    with pytest.raises(NonFiniteError):
        trainer.fit(_data(8), epochs=1, batch_size=8)   # one step: no later loss would show it


def test_saving_refuses_nonfinite_tensors(tmp_path):
    with pytest.raises(NonFiniteError, match=r"model\.safetensors: refusing to save NaN or Inf.*: w\)"):
        save_weights(tmp_path / "model.safetensors", {"w": torch.tensor([1.0, float("nan")]),
                                                      "ids": torch.arange(3)})
    assert not (tmp_path / "model.safetensors").exists()
    state = {"step": 1, "optimizer": {"state": {0: {"exp_avg": torch.tensor([float("inf")])}}}}
    with pytest.raises(NonFiniteError, match=r"state\.pt: refusing.*optimizer\.state\.0\.exp_avg"):
        save_checkpoint(tmp_path, 1, nn.Linear(2, 2), state)
    assert list_checkpoints(tmp_path) == []


def test_cli_nonfinite_run_exits_1_and_writes_no_weights(tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["pretrain", "gpt", "--preset", "tiny", "--set", "lr=1e300", "--max-iters", "1", "--quiet",
               "--device", "cpu", "--peak-flops", "1e9", "--eval-tokens", "256", "--set", "plot=false",
               "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 1 and "non-finite parameters" in err and "Traceback" not in err
    assert not (out / "model.safetensors").exists() and list_checkpoints(out) == []
