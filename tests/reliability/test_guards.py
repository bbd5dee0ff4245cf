"""NaN guard, safe loading, determinism (issue #7, items 3, 5, 7)."""
import pickle

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from fromzero.batches import as_batches
from fromzero.checkpoint import CheckpointError, list_checkpoints, load_checkpoint, save_checkpoint
from fromzero.io import sha256_file
from fromzero.train import NonFiniteError, Trainer


def data_with_nan_at(batch_index, n=64, bs=8):
    x, y = torch.randn(n, 4), torch.randint(0, 2, (n,))
    x[batch_index * bs] = float("nan")
    return x, y


def test_nan_loss_stops_before_the_step_and_keeps_checkpoint(tmp_path):
    torch.manual_seed(0)
    x, y = data_with_nan_at(5)  # the 6th batch
    model = nn.Linear(4, 2)
    trainer = Trainer(model, verbose=0, run_dir=tmp_path, checkpoint_every=2)
    before = {}

    class Snapshot:
        def on_batch_end(self, tr, logs):
            before.update({k: v.clone() for k, v in tr.model.state_dict().items()})
    trainer.callbacks.append(Snapshot())
    with pytest.raises(NonFiniteError, match=r"non-finite value at step 6: loss is nan; training "
                                             r"stopped before the optimizer step.*step-00000004"):
        trainer.fit((x, y), epochs=1, batch_size=8, shuffle=False)
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])  # parameters unchanged by the bad step
    assert trainer.step == 5
    assert load_checkpoint(list_checkpoints(tmp_path)[-1], nn.Linear(4, 2))["step"] == 4


def test_inf_gradient_with_finite_loss_is_caught():
    model = nn.Linear(4, 2)

    def loss_fn(out, y):  # finite value, infinite gradient
        return (out * 0).sum() + torch.sqrt(torch.zeros(()) + out.sum() * 0)
    trainer = Trainer(model, loss=loss_fn, verbose=0)
    with pytest.raises(NonFiniteError, match="step 1: gradient norm is"):
        trainer.fit((torch.randn(8, 4), torch.zeros(8)), epochs=1, batch_size=8)


def test_skip_option_skips_the_batch_and_goes_on():
    x, y = data_with_nan_at(3)
    trainer = Trainer(nn.Linear(4, 2), verbose=0, nan_guard="skip")
    hist = trainer.fit((x, y), epochs=1, batch_size=8, shuffle=False)
    assert trainer.step == 7 and hist.history["skipped_steps"] == [1]
    assert np.isfinite(hist.history["loss"][0])


class Evil:
    def __reduce__(self):
        import os
        return (os.system, (f"touch {self.marker}",))


def test_pickle_payload_is_refused_and_never_runs(tmp_path):
    save_checkpoint(tmp_path, 1, nn.Linear(2, 2), {"step": 1})
    ck = list_checkpoints(tmp_path)[-1]
    evil = Evil()
    evil.marker = tmp_path / "pwned"
    Evil.marker = evil.marker
    with open(ck / "state.pt", "wb") as f:
        pickle.dump({"step": 1, "x": evil}, f)
    # an attacker who writes state.pt writes its SHA-256 too: the unpickling guard must hold alone
    (ck / "state.sha256").write_text(sha256_file(ck / "state.pt"))
    with pytest.raises(CheckpointError, match="cannot load training state safely"):
        load_checkpoint(ck, nn.Linear(2, 2))
    assert not (tmp_path / "pwned").exists()
    with pytest.raises(CheckpointError):  # torch.save format with a payload: refused as well
        torch.save({"x": evil}, ck / "state.pt")
        (ck / "state.sha256").write_text(sha256_file(ck / "state.pt"))
        load_checkpoint(ck, nn.Linear(2, 2))
    assert not (tmp_path / "pwned").exists()


class Noisy(Dataset):
    def __len__(self):
        return 8

    def __getitem__(self, i):
        return torch.tensor([np.random.rand()]), torch.tensor(0)


def test_dataloader_workers_get_distinct_reproducible_seeds():
    def draw(seed):
        loader = as_batches(Noisy(), batch_size=1, shuffle=False, seed=seed, num_workers=2)
        return [float(x) for x, _ in loader]
    a, b, c = draw(1), draw(1), draw(2)
    assert a == b  # reproducible
    assert a != c  # depends on the seed
    assert a[0] != a[1]  # items 0 and 1 come from different workers: distinct streams
