"""DP-SGD (fromzero.privacy.dp): the accountant's ε, per-example clipping, the budget, bad layers."""
import pytest
import torch
from torch import nn

from fromzero.errors import FromzeroError
from fromzero.privacy import DifferentialPrivacy, check_private_layers
from fromzero.train import Callback, Trainer


def _data(n=200, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    return x, (x[:, 0] > 0).long()


def _model(d=8):
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(d, 16), nn.ReLU(), nn.Linear(16, 2))


def test_epsilon_grows_as_the_accountant_says_and_ends_within_the_budget():
    from opacus.accountants import RDPAccountant

    x, y = _data()
    dp = DifferentialPrivacy(epsilon=2.0, delta=1e-3, max_grad_norm=1.0)
    trainer = Trainer(_model(), optimizer="sgd", lr=0.1, callbacks=[dp], verbose=0, nan_guard=None)
    history = trainer.fit((x, y), epochs=30, batch_size=20)        # 300 private steps, q = 0.1
    eps = [e["epsilon"] for e in history.epochs]
    assert dp.steps == trainer.step == 300 and dp.sample_rate == pytest.approx(0.1)
    for epoch, e in enumerate(eps, 1):          # the same numbers from Opacus's accountant, apart
        acc = RDPAccountant()
        acc.history = [(dp.noise_multiplier, 0.1, 10 * epoch)]
        assert e == pytest.approx(acc.get_epsilon(1e-3), rel=1e-9)
    assert all(a < b for a, b in zip(eps, eps[1:]))
    assert 1.9 < eps[-1] <= 2.0 + 1e-6         # σ was chosen to spend the budget, not more


@pytest.mark.parametrize("loss", ["mse", lambda out, y: ((out - y) ** 2).mean()], ids=["ghost", "stored"])
def test_each_example_moves_the_weights_no_more_than_the_clipping_norm(loss):
    """A named loss clips with ghost norms, any other callable with stored per-example gradients."""
    x, _ = _data(n=20)
    y = torch.randn(20, 2, generator=torch.Generator().manual_seed(1))
    x[3] *= 1e4                                 # one example with a huge error and gradient (MSE)

    class NoNoise(Callback):                    # isolate the clipping: noise off after DP's setup
        def on_train_begin(self, trainer):
            trainer.optimizer.noise_multiplier = 0.0

    def step(callbacks):
        model = _model()
        before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        Trainer(model, optimizer="sgd", lr=1.0, loss=loss, callbacks=callbacks, verbose=0, nan_guard=None).fit(
            (x, y), epochs=1, batch_size=20, shuffle=False)  # q = 1: every example, one step
        return torch.linalg.vector_norm(torch.cat([p.detach().flatten() for p in model.parameters()]) - before)

    clip = 0.5
    private = step([DifferentialPrivacy(epsilon=1.0, max_grad_norm=clip), NoNoise()])
    assert 0 < private <= clip * (1 + 1e-5)     # the mean of 20 clipped gradients: norm <= C
    assert step([]) > 100 * clip                # without DP, the one example dominates the step


def test_a_resumed_run_keeps_its_noise_and_stops_at_the_budget(tmp_path, capsys):
    x, y = _data()
    first = DifferentialPrivacy(epsilon=1.0)
    Trainer(_model(), optimizer="sgd", lr=0.1, callbacks=[first], verbose=0, run_dir=tmp_path, plot=False).fit(
        (x, y), epochs=2, batch_size=20)
    again = DifferentialPrivacy(epsilon=1.0)
    trainer = Trainer(_model(), optimizer="sgd", lr=0.1, callbacks=[again], verbose=0, run_dir=tmp_path, plot=False)
    trainer.fit((x, y), epochs=5, batch_size=20, resume=True)
    assert again.noise_multiplier == first.noise_multiplier
    assert trainer.step == first.steps == 20    # no step past the budget
    assert again.epsilon <= 1.0 + 1e-6
    assert "the budget ε 1 is spent" in capsys.readouterr().err    # says why nothing trained
    with pytest.raises(FromzeroError, match="must keep"):
        Trainer(_model(), optimizer="sgd", callbacks=[DifferentialPrivacy(epsilon=3.0)], verbose=0,
                run_dir=tmp_path, plot=False).fit((x, y), epochs=5, batch_size=20, resume=True)


def test_batchnorm_is_refused_with_what_to_use_and_can_be_replaced():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(2))
    with pytest.raises(FromzeroError, match="GroupNorm"):
        check_private_layers(model)
    fixed = check_private_layers(nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4)), fix=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fixed.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in fixed.modules())


@pytest.mark.parametrize("kw, msg", [({"epsilon": 0}, "epsilon"), ({"epsilon": 1, "delta": 2}, "delta"),
                                     ({"epsilon": 1, "max_grad_norm": -1}, "max_grad_norm")])
def test_bad_privacy_settings_are_named(kw, msg):
    with pytest.raises(FromzeroError, match=msg):
        DifferentialPrivacy(**kw)


def test_model_fit_takes_the_callback_and_reports_epsilon():
    from fromzero.layers import Dense, Input
    from fromzero.model import Model

    x, y = _data()
    inputs = Input((8,))
    model = Model(inputs, Dense(2)(Dense(16, activation="relu")(inputs)))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=2, batch_size=50, verbose=0, callbacks=[DifferentialPrivacy(epsilon=4.0)])
    assert 0 < history.epochs[0]["epsilon"] < history.epochs[1]["epsilon"] <= 4.0 + 1e-6


@pytest.mark.parametrize("gpt", [{}, {"pos_emb": "learned", "bias": True, "qk_norm": False}],
                         ids=["rotary", "gpt2-style"])
def test_a_text_classifiers_private_step_is_the_mean_of_its_clipped_per_example_gradients(gpt):
    """The GPT classifier on padded texts of different lengths (rotary: LayerNorms without bias;
    GPT-2 style: a learned position table): one private step without noise equals the reference,
    each text's own gradient clipped then averaged."""
    import copy

    import numpy as np
    import torch.nn.functional as F

    from fromzero.models.classifier import ClassifierConfig, GPTClassifier
    from fromzero.text.labelled import PaddedBatches, pad

    torch.manual_seed(0)
    model = GPTClassifier(ClassifierConfig(gpt=dict(vocab_size=30, block_size=12, n_layer=2, n_head=2, n_embd=16,
                                                    dropout=0.0, **gpt), n_classes=3, head_dropout=0.0))
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 30, size=n) for n in (3, 12, 7, 5, 9, 12)]
    labels = torch.tensor([0, 1, 2, 1, 0, 2])
    clip = 1e-2                                 # below every text's gradient norm: each one is scaled
    ref, norms = None, []
    for s, y in zip(seqs, labels):
        model.zero_grad()
        F.cross_entropy(model(pad([s])), y[None]).backward()
        g = torch.cat([p.grad.flatten() for p in model.parameters()])
        norms.append(float(g.norm()))
        g = g * min(1.0, clip / float(g.norm()))
        ref = g if ref is None else ref + g
    ref /= len(seqs)
    assert min(norms) > clip

    class NoNoise(Callback):
        def on_train_begin(self, trainer):
            trainer.optimizer.noise_multiplier = 0.0

    private = copy.deepcopy(model)
    before = torch.cat([p.detach().flatten().clone() for p in private.parameters()])
    Trainer(private, optimizer="sgd", lr=1.0, loss="sparse_categorical_crossentropy", verbose=0, nan_guard=None,
            callbacks=[DifferentialPrivacy(epsilon=1.0, max_grad_norm=clip), NoNoise()]).fit(
        PaddedBatches(seqs, labels, batch_size=len(seqs)), epochs=1)   # q = 1: every text, one step
    step = before - torch.cat([p.detach().flatten() for p in private.parameters()])
    torch.testing.assert_close(step, ref, rtol=1e-4, atol=1e-7)
