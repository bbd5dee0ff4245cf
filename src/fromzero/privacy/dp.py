"""Differential privacy for any training run: DP-SGD (Abadi et al. 2016) with Opacus (tutorial 1.5).

A model trained on private data can leak it: an example it was trained on tends to get a lower
loss than one it never saw (``fromzero.privacy.audit`` measures exactly that). DP-SGD bounds
what any one example can change, with four changes to each optimizer step:

1. **Poisson sampling.** Each training example joins the batch independently with probability
   q = batch_size / N (batches vary in size around batch_size): what the accountant assumes.
2. **Per-example gradients** g_i, instead of only their sum.
3. **Clipping.** Each g_i is scaled down to norm at most C (``max_grad_norm``), so no example
   moves the weights by more than C / batch_size. With a named loss (cross-entropy, MSE, ...) this
   is Opacus's ghost clipping (Li et al. 2021): a first backward pass gives each example's
   gradient *norm* without storing its gradient, a second one the sum of the clipped gradients
   (2.2x faster than storing them on the tutorial's CNN, measured on a CPU); with any other loss,
   each example's gradient is stored (Opacus's ``GradSampleModule``).
4. **Noise.** Gaussian noise N(0, σ²C²) is added to the sum of the clipped gradients, and the
   result divided by batch_size, before the optimizer's own step (Adam, SGD, Muon, ...).

The accountant (Rényi DP, Mironov 2017) turns σ, q and the number of steps into the pair (ε, δ):
whatever an observer of the trained model does, the chance of any outcome changes by at most a
factor e^ε when one example is added or removed, except with probability δ. σ is chosen so that
the planned run spends exactly ``epsilon``; the run reports ε spent after every epoch (progress
line, history.csv, metrics.json) and stops before a step would spend more (a resumed run with
more epochs keeps its σ, so it stops at the budget).

Example:
    >>> from fromzero.train import Trainer
    >>> dp = DifferentialPrivacy(epsilon=3.0, max_grad_norm=1.0)
    >>> trainer = Trainer(model, callbacks=[dp])    # doctest: +SKIP
"""
from __future__ import annotations

import sys
import warnings

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import FromzeroError
from ..train.callbacks import Callback
from ..train.losses import PER_EXAMPLE


def check_private_layers(model: nn.Module, fix: bool = False) -> nn.Module:
    """Refuse (or, with ``fix=True``, replace) layers that mix examples of a batch, such as
    BatchNorm: a per-example gradient, and so DP-SGD, is not defined for them."""
    from opacus.validators import ModuleValidator  # lazy: Opacus loads only for private training
    errors = ModuleValidator.validate(model, strict=False)
    if not errors:
        return model
    if fix:
        fixed = ModuleValidator.fix(model)
        if not ModuleValidator.validate(fixed, strict=False):
            print(f"differential privacy: replaced {len(errors)} layer(s) Opacus cannot handle "
                  "(BatchNorm -> GroupNorm)", file=sys.stderr)
            return fixed
    names = "; ".join(str(e) for e in errors[:5])
    raise FromzeroError(f"differential privacy: expected layers with per-example gradients, got "
                        f"{len(errors)} that mix the examples of a batch ({names}). Use GroupNorm or "
                        "LayerNorm instead of BatchNorm, or replace them before training: "
                        "fromzero.privacy.check_private_layers(model, fix=True)")


class PoissonBatches:
    """Batches of ``data`` (``TensorBatches``, ``PaddedBatches``: anything with ``examples`` and
    ``take(idx)``) where each example joins independently with probability ``sample_rate``
    (DP-SGD's sampling). An epoch is ``round(1 / sample_rate)`` batches."""

    def __init__(self, data, sample_rate: float, seed: int = 0):
        self.data, self.sample_rate = data, sample_rate
        self.gen = torch.Generator().manual_seed(seed)
        self.pos = 0

    def __len__(self) -> int:
        return max(1, round(1 / self.sample_rate))

    def __iter__(self):
        while self.pos < len(self):
            self.pos += 1
            yield self.data.take((torch.rand(self.data.examples, generator=self.gen) < self.sample_rate)
                                 .nonzero()[:, 0])
        self.pos = 0

    def state_dict(self) -> dict:
        return {"gen": self.gen.get_state(), "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        if set(state) != {"gen", "pos"}:
            raise FromzeroError("differential privacy: this checkpoint was saved by a run without it; "
                                "resume it without the --dp options (or start a new run)")
        self.gen.set_state(state["gen"])
        self.pos = int(state["pos"])


def _layer_norm_grad_sample(layer: nn.LayerNorm, activations, backprops) -> dict:
    """Each example's gradient of a LayerNorm's gain (and bias, if it has one): the gain's is the
    normalized input times the gradient of the output, summed over positions. Opacus's own sampler
    expects a bias; the GPT's LayerNorms have none."""
    x = activations[0]
    positions = list(range(1, x.dim() - len(layer.normalized_shape)))   # between the batch and the features
    xhat = F.layer_norm(x, layer.normalized_shape, eps=layer.eps)
    out = {}
    if layer.weight is not None and layer.weight.requires_grad:
        out[layer.weight] = (xhat * backprops).sum(positions) if positions else xhat * backprops
    if layer.bias is not None and layer.bias.requires_grad:
        out[layer.bias] = backprops.sum(positions) if positions else backprops
    return out


class _Criterion:
    """A (B,) per-example loss as Opacus's ghost clipping expects a criterion: with ``reduction``."""

    def __init__(self, per_example):
        self.per_example, self.reduction = per_example, "mean"

    def __call__(self, out, y):
        losses = self.per_example(out, y)
        return losses if self.reduction == "none" else losses.mean()


class DifferentialPrivacy(Callback):
    """Train with DP-SGD at a budget of ``epsilon`` (with ``delta``, default 1 / N): a callback for
    ``Trainer`` / ``Model.fit`` on in-memory ``(x, y)`` data. ``epsilon`` is the current spend
    after training (and in every epoch's logs as ``epsilon``); ``noise_multiplier`` is σ.

    Args:
        epsilon: the privacy budget ε of the whole run (smaller = more private, noisier).
        delta: δ; default 1 / N for N training examples.
        max_grad_norm: C, the per-example gradient norm clip.

    A model with BatchNorm is refused (``check_private_layers(model, fix=True)`` replaces it,
    before the optimizer is made).
    """

    def __init__(self, epsilon: float, delta: float | None = None, max_grad_norm: float = 1.0, file=None):
        bad = []
        if not (isinstance(epsilon, (int, float)) and 0 < epsilon < float("inf")):
            bad.append(f"epsilon: expected a number > 0, got {epsilon!r}")
        if delta is not None and not 0 < delta < 1:
            bad.append(f"delta: expected a number in (0, 1), got {delta!r}")
        if not (isinstance(max_grad_norm, (int, float)) and max_grad_norm > 0):
            bad.append(f"max_grad_norm: expected a number > 0, got {max_grad_norm!r}")
        if bad:
            raise FromzeroError("differential privacy: " + "; ".join(bad))
        self.target, self.delta, self.max_grad_norm = float(epsilon), delta, float(max_grad_norm)
        self.noise_multiplier = self.sample_rate = None
        self.clipping = None    # "ghost" or "per-example gradients" (how each example is clipped)
        self.steps = 0          # private steps taken by this run
        self.epsilon = 0.0      # spent so far
        self.file = file

    # --- the Trainer's hooks ----------------------------------------------------------------
    def train_batches(self, trainer, data):
        """Poisson sampling of the training examples (the Trainer asks before the run starts)."""
        if not hasattr(data, "take"):
            raise FromzeroError(f"differential privacy: expected in-memory (x, y) training data, got "
                                f"{type(data).__name__} (a DataLoader or stream cannot be Poisson-sampled here)")
        n = data.examples
        self.n = n
        if self.delta is None:
            self.delta = 1.0 / n
        self.sample_rate = min(1.0, data.batch_size / n)
        self.batch_size = min(data.batch_size, n)
        seed = data.seed if hasattr(data, "seed") else data.gen.initial_seed()
        return PoissonBatches(data, self.sample_rate, seed=int(seed))

    def on_train_begin(self, trainer):
        from opacus import GradSampleModule  # lazy: Opacus loads only for private training
        from opacus.accountants.utils import get_noise_multiplier  # lazy: as above
        from opacus.grad_sample import GradSampleModuleFastGradientClipping  # lazy: as above

        if self.sample_rate is None:
            raise FromzeroError("differential privacy: this Trainer does not sample batches for it "
                                "(expected Trainer.fit on in-memory (x, y) data)")
        if trainer.grad_accum != 1 or trainer.grad_clip:
            raise FromzeroError("differential privacy: clips each example's gradient itself; expected "
                                f"grad_accum=1 and no grad_clip, got grad_accum={trainer.grad_accum}, "
                                f"grad_clip={trainer.grad_clip}")
        if trainer.forward is not trainer.model and not isinstance(
                trainer.forward, (GradSampleModule, GradSampleModuleFastGradientClipping)):
            raise FromzeroError("differential privacy: expected a plain model (not compiled, DDP or FSDP)")
        check_private_layers(trainer.model, fix=False)
        if self.noise_multiplier is None:   # a new run: σ that spends exactly the budget
            steps = trainer.max_steps or trainer.epochs * trainer.steps_per_epoch
            with warnings.catch_warnings():   # "optimal order is the largest alpha": see spent()
                warnings.simplefilter("ignore", UserWarning)
                try:
                    self.noise_multiplier = get_noise_multiplier(
                        target_epsilon=self.target, target_delta=self.delta, sample_rate=self.sample_rate,
                        steps=steps, accountant="rdp")
                except ValueError as e:    # Opacus: "the privacy budget is too low"
                    raise FromzeroError(
                        f"differential privacy: no noise level keeps {steps} steps at sampling rate "
                        f"{self.sample_rate:.4g} within ε {self.target:g} (δ {self.delta:.3g}): {e} Give a larger "
                        "--dp-epsilon, fewer epochs, or a smaller batch size") from None
        self.budget_steps = self._budget_steps()
        if self.steps >= self.budget_steps:
            trainer.stop_training = True
            print(f"differential privacy: the budget ε {self.target:g} is spent ({self.spent(self.steps):.3f} after "
                  f"{self.steps} private steps): no more steps are possible; start a new run with a larger "
                  "--dp-epsilon to train more", file=self.file or sys.stderr)
            return
        if self.delta > 1e-3:
            print(f"differential privacy: note: δ = {self.delta:.3g} (1/N for {self.n} examples) is a weak "
                  "guarantee; pass a smaller delta (e.g. --dp-delta 1e-5)", file=self.file or sys.stderr)
        if trainer.forward is trainer.model:
            self._wrap(trainer)
            trainer._privacy = self
        elif getattr(trainer, "_privacy", None) is not self:
            raise FromzeroError("differential privacy: this Trainer already trains with another "
                                "DifferentialPrivacy callback (its own noise and budget); make a new Trainer")
        print(f"differential privacy: ε budget {self.target:g}, δ {self.delta:.3g}, per-example clip "
              f"{self.max_grad_norm:g} ({self.clipping}), noise σ {self.noise_multiplier:.3f}, sampling rate "
              f"{self.sample_rate:.5f} (expected batch {self.batch_size})", file=self.file or sys.stderr)

    def on_batch_end(self, trainer, logs):
        self.steps += 1
        if self.steps >= self.budget_steps:    # one more step would spend more than the budget
            trainer.stop_training = True

    def on_epoch_end(self, trainer, epoch, logs):
        self.epsilon = logs["epsilon"] = self.spent(self.steps)
        if self.steps >= self.budget_steps and (trainer.max_steps or trainer.epochs * trainer.steps_per_epoch) \
                > trainer.step:
            print(f"differential privacy: budget ε {self.target:g} spent ({self.epsilon:.3f}) at step "
                  f"{trainer.step}; training stopped", file=self.file or sys.stderr)

    def _wrap(self, trainer):
        """The model, optimizer and (for ghost clipping) loss of ``trainer``, made private."""
        from opacus import GradSampleModule  # lazy: Opacus loads only for private training
        from opacus.grad_sample import GradSampleModuleFastGradientClipping  # lazy: as above
        from opacus.optimizers import DPOptimizer, DPOptimizerFastGradientClipping  # lazy: as above
        from opacus.utils.fast_gradient_clipping_utils import DPLossFastGradientClipping  # lazy: as above

        # Opacus's hooks fire on the first layer, whose input (the data) needs no gradient: harmless
        warnings.filterwarnings("ignore", message="Full backward hook is firing when gradients are computed "
                                "with respect to module outputs")
        GradSampleModule.GRAD_SAMPLERS[nn.LayerNorm] = _layer_norm_grad_sample   # also LayerNorms without bias
        kw = dict(noise_multiplier=self.noise_multiplier, max_grad_norm=self.max_grad_norm,
                  expected_batch_size=self.batch_size, loss_reduction="mean")
        per_example = PER_EXAMPLE.get(trainer.loss_fn)
        self.clipping = "ghost" if per_example else "per-example gradients"
        if per_example is None:   # a model that computes its own loss, or a custom loss function
            trainer.forward = GradSampleModule(trainer.model, loss_reduction="mean")
            trainer.optimizer = DPOptimizer(trainer.optimizer, **kw)
            return
        trainer.forward = GradSampleModuleFastGradientClipping(
            trainer.model, loss_reduction="mean", max_grad_norm=self.max_grad_norm, use_ghost_clipping=True)
        trainer.optimizer = DPOptimizerFastGradientClipping(trainer.optimizer, **kw)
        private = DPLossFastGradientClipping(trainer.forward, trainer.optimizer, _Criterion(per_example), "mean")
        plain = trainer.loss_fn
        # training: the (B,) losses that make the two backward passes; evaluation: the plain loss
        trainer.loss_fn = lambda out, y: private(out, y) if torch.is_grad_enabled() else plain(out, y)

    # --- the accountant -----------------------------------------------------------------------
    def spent(self, steps: int) -> float:
        """ε spent after ``steps`` private steps at this run's σ and q (RDP accountant)."""
        from opacus.accountants import RDPAccountant  # lazy: Opacus loads only for private training
        from opacus.accountants.analysis import rdp  # lazy: as above

        if steps == 0:
            return 0.0
        # RDP composes linearly over identical steps: one step's RDP at each order, computed once for
        # this σ and q (slow at large q), times ``steps`` is what RDPAccountant.get_epsilon computes
        key = (self.noise_multiplier, self.sample_rate)
        if getattr(self, "_rdp_key", None) != key:
            self._rdp_key, self._rdp_step = key, rdp.compute_rdp(
                q=self.sample_rate, noise_multiplier=self.noise_multiplier, steps=1,
                orders=RDPAccountant.DEFAULT_ALPHAS)
        with warnings.catch_warnings():   # "optimal order is the largest alpha": a looser bound, still valid
            warnings.simplefilter("ignore", UserWarning)
            eps, _ = rdp.get_privacy_spent(orders=RDPAccountant.DEFAULT_ALPHAS, rdp=self._rdp_step * steps,
                                           delta=self.delta)
            return float(eps)

    def _budget_steps(self) -> int:
        """The most private steps whose ε stays within the budget (binary search on the accountant)."""
        within = lambda s: self.spent(s) <= self.target * (1 + 1e-9)  # noqa: E731
        lo, hi = self.steps, max(2 * self.steps, 16)
        while within(hi):
            lo, hi = hi, 2 * hi
            if hi > 10 ** 9:
                return hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (mid, hi) if within(mid) else (lo, mid)
        return lo

    def state_dict(self) -> dict:
        return {"noise_multiplier": self.noise_multiplier, "sample_rate": self.sample_rate,
                "steps": self.steps, "delta": self.delta, "target": self.target,
                "max_grad_norm": self.max_grad_norm}

    def load_state_dict(self, state: dict) -> None:
        if state["target"] != self.target or state["max_grad_norm"] != self.max_grad_norm:
            raise FromzeroError(f"differential privacy: this run was started with ε {state['target']:g} and clip "
                                f"{state['max_grad_norm']:g}; a resumed run must keep them, got ε {self.target:g} "
                                f"and clip {self.max_grad_norm:g}")
        if self.sample_rate is not None and abs(state["sample_rate"] - self.sample_rate) > 1e-12:
            raise FromzeroError(f"differential privacy: this run samples {state['sample_rate']:.6g} of the data "
                                f"per step; a resumed run must keep it, got {self.sample_rate:.6g} (another "
                                "batch size or other data)")
        self.noise_multiplier, self.sample_rate = state["noise_multiplier"], state["sample_rate"]
        self.steps, self.delta = int(state["steps"]), state["delta"]
        self.epsilon = self.spent(self.steps)
