"""The Trainer's two ways to say how long (epochs, max_steps), its callbacks and its Checkpointer."""
import pytest
import torch
from torch import nn

from fromzero.checkpoint import Checkpointer, list_checkpoints
from fromzero.errors import FromzeroError
from fromzero.train import Callback, EarlyStopping, KeepBest, StopAtTarget, Trainer


class Stream:
    """An endless stream of (x, y) batches with a position, like the GPT's RandomWindows."""

    def __init__(self, seed=0):
        self.seed, self.n = seed, 0

    def __iter__(self):
        while True:
            g = torch.Generator().manual_seed(self.seed * 1000 + self.n)
            self.n += 1
            x = torch.randn(8, 4, generator=g)
            yield x, (x[:, 0] > 0).long()

    def state_dict(self):
        return {"n": self.n}

    def load_state_dict(self, state):
        self.n = state["n"]


def trainer(**kw):
    torch.manual_seed(0)
    return Trainer(nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.1), nn.Linear(8, 2)), optimizer="adam",
                   lr=1e-2, metrics=["accuracy"], verbose=0, device="cpu", **kw)


def val():
    g = torch.Generator().manual_seed(99)
    x = torch.randn(64, 4, generator=g)
    return x, (x[:, 0] > 0).long()


def test_max_steps_evaluates_every_eval_every_steps_and_ends_on_a_short_period():
    t = trainer()
    h = t.fit(Stream(), max_steps=10, eval_every=4, validation_data=val()).history
    assert h["step"] == [4, 8, 10] and h["epoch"] == [1, 2, 3] and len(h["val_loss"]) == 3
    assert t.step == 10


def test_max_steps_is_the_same_training_as_epochs_of_steps_per_epoch():
    a = trainer().fit(Stream(), max_steps=12, eval_every=4, validation_data=val()).history
    b = trainer().fit(Stream(), epochs=3, steps_per_epoch=4, validation_data=val()).history
    for k in ("loss", "accuracy", "val_loss", "step"):
        assert a[k] == b[k], k


def test_a_stream_needs_max_steps_and_bad_values_are_named():
    with pytest.raises(FromzeroError, match="needs max_steps"):
        trainer().fit(Stream(), epochs=1)
    with pytest.raises(FromzeroError, match="eval_every: expected an integer >= 1, got 0"):
        trainer().fit(Stream(), max_steps=5, eval_every=0)


def test_step_based_run_resumes_mid_period_exactly(tmp_path):
    ref = trainer().fit(Stream(), max_steps=10, eval_every=4, validation_data=val()).history

    class Crash(Callback):
        def on_batch_end(self, tr, logs):
            if tr.step == 7:
                raise KeyboardInterrupt
    part = trainer(run_dir=tmp_path, checkpoint_every=3, callbacks=[Crash()], plot=False)
    with pytest.raises(KeyboardInterrupt):
        part.fit(Stream(), max_steps=10, eval_every=4, validation_data=val())
    assert part.checkpointer.latest().name == "step-00000006"  # in the middle of the 2nd period
    torch.manual_seed(123)  # a fresh process would start from other RNG states
    resumed = trainer(run_dir=tmp_path, plot=False)
    h = resumed.fit(Stream(), max_steps=10, eval_every=4, validation_data=val(), resume=True).history
    assert h["step"] == [4, 8, 10]
    assert h["loss"] == ref["loss"] and h["val_loss"] == ref["val_loss"]


def test_keep_best_restores_the_best_weights_and_early_stopping_only_stops():
    class Script(Callback):  # a made-up validation curve: best at the 2nd evaluation
        def __init__(self):
            self.curve, self.weights = [3.0, 1.0, 2.0, 2.5, 2.7], []

        def on_epoch_end(self, tr, epoch, logs):
            logs["val_loss"] = self.curve[epoch]
            self.weights.append({k: v.clone() for k, v in tr.model.state_dict().items()})
    s = Script()
    t = trainer(callbacks=[s, EarlyStopping(patience=2), KeepBest()])
    t.fit(Stream(), max_steps=50, eval_every=2)
    assert t.epoch == 4                                   # stopped: no better value for 2 evaluations
    for k, v in t.model.state_dict().items():
        assert torch.equal(v, s.weights[1][k])            # the weights of the best evaluation
    s2 = Script()
    t2 = trainer(callbacks=[s2, EarlyStopping(patience=2)])
    t2.fit(Stream(), max_steps=50, eval_every=2)
    assert all(torch.equal(v, s2.weights[-1][k]) for k, v in t2.model.state_dict().items())
    with pytest.raises(FromzeroError, match="mode: expected 'min' or 'max', got 'best'"):
        KeepBest(mode="best")


def test_stop_at_target_stops_at_the_first_evaluation_that_reaches_it():
    class Script(Callback):  # a made-up validation curve
        def __init__(self, curve):
            self.curve = curve

        def on_epoch_end(self, tr, epoch, logs):
            logs["val_loss"], logs["val_accuracy"] = self.curve[epoch], 1 - self.curve[epoch]
    stop = StopAtTarget("val_loss", 1.5)
    t = trainer(callbacks=[Script([3.0, 2.0, 1.6, 1.5, 1.0, 0.5]), stop])
    t.fit(Stream(), max_steps=12, eval_every=2)
    assert t.epoch == 4 and t.step == 8 and stop.reached["val_loss"] == 1.5    # at or below: the 4th
    up = StopAtTarget("val_accuracy", 0.9, mode="max")                          # never reached: runs to the end
    t = trainer(callbacks=[Script([3.0, 2.0, 1.6, 1.5, 1.0, 0.5]), up])
    t.fit(Stream(), max_steps=12, eval_every=2)
    assert t.step == 12 and up.reached is None
    with pytest.raises(FromzeroError, match="mode: expected 'min' or 'max', got 'least'"):
        StopAtTarget("val_loss", 1.0, mode="least")


def test_checkpointer_keeps_the_last_k_and_restores_the_newest(tmp_path):
    t = trainer(run_dir=tmp_path, checkpoint_every=2, keep_checkpoints=2, plot=False)
    t.fit(Stream(), max_steps=7, eval_every=7)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step-00000006", "step-00000007"]
    ck = Checkpointer(tmp_path)
    assert ck.latest().name == "step-00000007"
    fresh = trainer()
    fresh.train_data = Stream()
    assert ck.restore(fresh) and fresh.step == 7 and fresh.epoch == 1
    assert fresh.train_data.n == 7
    for a, b in zip(fresh.model.parameters(), t.model.parameters()):
        assert torch.equal(a, b)
    assert not Checkpointer(tmp_path / "none").restore(fresh)


def test_a_resumed_run_says_from_which_step_of_how_many(tmp_path, capsys):
    """Issue #16: --resume says where the run continues, in steps and epochs of the whole run."""
    x, y = val()

    class Stop(Callback):
        def __init__(self, step):
            self.at = step

        def on_batch_end(self, tr, logs):
            if tr.step == self.at:
                raise KeyboardInterrupt
    for name, at in (("e", 5), ("m", 7)):      # 4 steps an epoch: stopped after epoch 1, in epoch 2
        with pytest.raises(KeyboardInterrupt):
            trainer(run_dir=tmp_path / name, plot=False, checkpoint_every=2, callbacks=[Stop(at)]).fit(
                (x, y), epochs=3, batch_size=16)
        trainer(run_dir=tmp_path / name, plot=False).fit((x, y), epochs=3, batch_size=16, resume=True)
    err = capsys.readouterr().err
    assert "from step 4, after epoch 1 of 3 (checkpoint step-00000004)" in err
    assert "from step 6, 2 of 4 steps into epoch 2 of 3 (checkpoint step-00000006)" in err
    trainer(run_dir=tmp_path / "s", plot=False).fit(Stream(), max_steps=4, eval_every=2)
    trainer(run_dir=tmp_path / "s", plot=False).fit(Stream(), max_steps=6, eval_every=2, resume=True)
    assert "from step 4 of 6 (checkpoint step-00000004)" in capsys.readouterr().err
