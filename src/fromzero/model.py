"""Keras-like models on plain PyTorch: the functional ``Model`` and ``Sequential`` (tutorial 1.4).

``compile`` only records the optimizer, loss and metrics; ``fit``/``evaluate``/``predict`` hand
the work to the one ``Trainer``. A model built this way is an ordinary ``nn.Module``.

Example:
    >>> from fromzero import Sequential, layers as L
    >>> model = Sequential([L.Input((1, 28, 28)), L.Flatten(), L.Dense(10)])
    >>> model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    >>> model.count_params()
    7850
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .batches import as_batches, as_tensor
from .errors import ConfigError, FromzeroError, ShapeError, unknown_name
from .layers import LAYERS, Embedding, Input, Layer, Symbol
from .registry import register_model
from .train.losses import get_loss
from .train.metrics import get_metrics
from .train.optim import OPTIMIZERS
from .train.trainer import Trainer

CLASSIFICATION_LOSSES = ("categorical_crossentropy", "sparse_categorical_crossentropy")


@register_model("model")
class Model(nn.Module):
    """A graph of layers from ``inputs`` (``Input`` symbols) to ``outputs`` (functional API)."""

    def __init__(self, inputs, outputs, name: str = "model"):
        super().__init__()
        self.inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        self.outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        self.model_name = name
        self.nodes = self._topo_order()
        self.layers = nn.ModuleList(dict.fromkeys(n.layer for n in self.nodes))
        self.trainer = None

    def __getstate__(self):
        """A copy (``copy.deepcopy``) or a pickle carries the layers and the compile settings, not
        the trainer (its optimizer, data iterators and generators): the copy trains afresh."""
        state = self.__dict__.copy()
        state["trainer"] = None
        state.pop("_cbs", None)
        return state

    def _topo_order(self) -> list[Symbol]:
        order, seen = [], set()

        def visit(s):
            if id(s) in seen:
                return
            seen.add(id(s))
            for p in s.parents:
                visit(p)
            if s.layer is not None:
                order.append(s)
            elif not any(s is i for i in self.inputs):
                raise ConfigError(f"{s} is not computed from the model's inputs")
        for o in self.outputs:
            visit(o)
        return order

    @property
    def input_shape(self):
        return self.inputs[0].shape if len(self.inputs) == 1 else [i.shape for i in self.inputs]

    @property
    def output_shape(self):
        return self.outputs[0].shape if len(self.outputs) == 1 else [o.shape for o in self.outputs]

    def forward(self, *xs):
        if len(xs) != len(self.inputs):
            raise ShapeError(f"{self.model_name}: expected {len(self.inputs)} inputs, got {len(xs)}")
        values = {}
        for s, x in zip(self.inputs, xs):
            check_input_shape(x, s.shape, self.model_name)
            values[id(s)] = x
        for node in self.nodes:
            args = [values[id(p)] for p in node.parents]
            values[id(node)] = node.layer(*args)
        out = [values[id(o)] for o in self.outputs]
        return out[0] if len(out) == 1 else tuple(out)

    # --- introspection -------------------------------------------------------------------------
    def count_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def summary(self, print_fn=print) -> str:
        """A table of layers, output shapes and parameter counts (Keras' ``model.summary()``)."""
        rows = [("Layer (type)", "Output Shape", "Param #")]
        for s in self.inputs:
            rows.append(("input (Input)", str((None, *s.shape)), "0"))
        for n in self.nodes:
            params = sum(p.numel() for p in n.layer.parameters())
            rows.append((f"{type(n.layer).__name__.lower()} ({type(n.layer).__name__})",
                         str((None, *n.shape)), f"{params:,}"))
        w = [max(len(r[i]) for r in rows) + 2 for i in range(3)]
        line = "-" * sum(w)
        fmt = lambda r: r[0].ljust(w[0]) + r[1].ljust(w[1]) + r[2].rjust(w[2])  # noqa: E731
        trainable = sum(p.numel() for p in self.parameters() if p.requires_grad)
        text = "\n".join([f'Model: "{self.model_name}"', line, fmt(rows[0]), "=" * sum(w)]
                         + [fmt(r) for r in rows[1:]] + ["=" * sum(w),
                         f"Total params: {self.count_params():,}", f"Trainable params: {trainable:,}",
                         f"Non-trainable params: {self.count_params() - trainable:,}", line])
        if print_fn:
            print_fn(text)
        return text

    # --- config (for saving without pickle) ----------------------------------------------------
    def get_config(self) -> dict:
        ids = {id(s): i for i, s in enumerate(self.inputs)}
        nodes = []
        for k, n in enumerate(self.nodes):
            ids[id(n)] = len(self.inputs) + k
            nodes.append({"class": _layer_class(n.layer), "config": _jsonable(n.layer.get_config()),
                          "layer": self._layer_index(n.layer),
                          "parents": [ids[id(p)] for p in n.parents]})
        return {"name": self.model_name, "inputs": [list(s.shape) for s in self.inputs],
                "nodes": nodes, "outputs": [ids[id(o)] for o in self.outputs]}

    def _layer_index(self, layer) -> int:
        return next(i for i, m in enumerate(self.layers) if m is layer)

    @classmethod
    def from_config(cls, config: dict):
        syms = [Input(tuple(s)) for s in config["inputs"]]
        layers = {}
        for node in config["nodes"]:
            if node["class"] not in LAYERS:
                raise unknown_name("layer", node["class"], LAYERS)
            if node["layer"] not in layers:
                layers[node["layer"]] = LAYERS[node["class"]](**node["config"])
            syms.append(layers[node["layer"]](*[syms[p] for p in node["parents"]]))
        return Model(syms[:len(config["inputs"])], [syms[o] for o in config["outputs"]],
                     config.get("name", "model"))

    # --- training ------------------------------------------------------------------------------
    def compile(self, optimizer="adam", loss="sparse_categorical_crossentropy", metrics=(), **kwargs):
        """Record how to train: optimizer, loss and metrics (names or objects); see ``Trainer``."""
        self._compile_args = dict(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
        self.trainer = None
        get_loss(loss), get_metrics(metrics)  # fail now on unknown names, not in fit
        if isinstance(optimizer, str):
            if optimizer not in OPTIMIZERS:
                raise unknown_name("optimizer", optimizer, OPTIMIZERS)
        return self

    def _get_trainer(self, verbose=1, callbacks=(), run_dir=None) -> Trainer:
        if not hasattr(self, "_compile_args"):
            raise FromzeroError("call model.compile(optimizer, loss, metrics) before fit/evaluate")
        if self.trainer is None:
            self.trainer = Trainer(self, verbose=verbose, callbacks=callbacks, run_dir=run_dir,
                                   **self._compile_args)
            self._cbs = list(callbacks)
            return self.trainer  # the callbacks are in place: adding them again would run them twice
        self.trainer.callbacks = [c for c in self.trainer.callbacks if c not in getattr(self, "_cbs", ())]
        self.trainer.callbacks += list(callbacks)
        self._cbs = list(callbacks)
        return self.trainer

    def fit(self, x=None, y=None, batch_size: int = 32, epochs: int = 1, validation_data=None,
            validation_split: float = 0.0, callbacks=(), shuffle: bool = True, verbose: int = 1,
            seed: int = 0, run_dir=None, steps_per_epoch=None, resume: bool = False, overwrite: bool = False):
        """Train on arrays/tensors ``(x, y)``, a ``Dataset`` or a ``DataLoader``; returns the history.

        ``run_dir``: write checkpoints, history and plot there; ``resume=True`` continues the run in
        ``run_dir`` from its newest checkpoint, ``overwrite=True`` replaces an earlier run there
        (``Trainer.fit``)."""
        trainer = self._get_trainer(verbose, callbacks, run_dir)
        if resume and trainer.run_dir is None:
            raise FromzeroError("fit: resume=True needs run_dir, the run directory to continue")
        if y is not None:
            x, y = self._check_xy(x, y, "fit")
            if not 0 <= validation_split < 1:
                raise FromzeroError(f"validation_split: expected a fraction in [0, 1), got {validation_split}")
            if validation_split:
                cut = int(len(x) * (1 - validation_split))
                x, y, validation_data = x[:cut], y[:cut], (x[cut:], y[cut:])
            data = (x, y)
        else:
            data = x
        if isinstance(validation_data, tuple) and len(validation_data) == 2:
            validation_data = self._check_xy(*validation_data, "validation_data")
        return trainer.fit(data, epochs=epochs, validation_data=validation_data, batch_size=batch_size,
                           shuffle=shuffle, seed=seed, steps_per_epoch=steps_per_epoch, resume=resume,
                           overwrite=overwrite)

    def evaluate(self, x=None, y=None, batch_size: int = 256, verbose: int = 0) -> dict:
        """Loss and metrics on ``(x, y)`` (or a DataLoader of batches)."""
        trainer = self._get_trainer(verbose)
        data = self._check_xy(x, y, "evaluate") if y is not None else x
        return trainer.evaluate(data, batch_size=batch_size)

    def predict(self, x, batch_size: int = 256) -> torch.Tensor:
        """Model outputs (logits for classifiers) for every sample of ``x``."""
        if not isinstance(x, (torch.Tensor, np.ndarray)):
            return Trainer(self, verbose=0, device=_device_of(self)).predict(x, batch_size)
        x = self._as_inputs(as_tensor(x, "x"))
        check_input_shape(x, self.input_shape, self.model_name)
        trainer = self.trainer or Trainer(self, verbose=0, device=_device_of(self))
        return trainer.predict(as_batches(x, batch_size))

    def _as_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` in the dtype the model computes with: float32; integer and bool arrays (uint8
        images, ...) are converted with their values unchanged (0..255 stays 0..255: scale images
        yourself), except for a model with an ``Embedding``, which takes int64 token ids."""
        if x.dtype.is_complex:
            raise FromzeroError(f"x: expected real numbers, got dtype {x.dtype}")
        if x.dtype.is_floating_point:
            return x if x.dtype == torch.float32 else x.float()
        return x.long() if any(isinstance(n.layer, Embedding) for n in self.nodes) else x.float()

    def _check_xy(self, x, y, where):
        x, y = self._as_inputs(as_tensor(x, "x")), as_tensor(y, "y")
        loss = self._compile_args.get("loss") if hasattr(self, "_compile_args") else None
        y = _as_labels(y, loss in CLASSIFICATION_LOSSES)
        if len(x) != len(y):
            raise ShapeError(f"{where}: x and y must have the same number of samples, "
                             f"got {len(x)} and {len(y)}")
        if len(self.inputs) == 1:
            check_input_shape(x, self.input_shape, self.model_name)
        if loss in CLASSIFICATION_LOSSES and len(self.outputs) == 1:
            check_labels(y, self.output_shape[-1])
        return x, y


@register_model("sequential")
class Sequential(Model):
    """A stack of layers, each feeding the next (``Input`` first, or pass ``input_shape``)."""

    def __init__(self, layers=(), input_shape=None, name: str = "sequential"):
        layers = list(layers)
        if layers and isinstance(layers[0], Symbol):
            inp, layers = layers[0], layers[1:]
        elif input_shape is not None:
            inp = Input(tuple(input_shape))
        else:
            raise ConfigError("Sequential: give the input shape, as Input(shape) first or input_shape=")
        x = inp
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ConfigError(f"Sequential: item {i} must be a fromzero layer, got {type(layer).__name__}")
            x = layer(x)
        super().__init__(inp, x, name)

    def get_config(self) -> dict:
        return {"name": self.model_name, "input_shape": list(self.inputs[0].shape),
                "layers": [{"class": _layer_class(n.layer), "config": _jsonable(n.layer.get_config())}
                           for n in self.nodes]}

    @classmethod
    def from_config(cls, config: dict):
        layers = []
        for spec in config["layers"]:
            if spec["class"] not in LAYERS:
                raise unknown_name("layer", spec["class"], LAYERS)
            layers.append(LAYERS[spec["class"]](**spec["config"]))
        return cls(layers, input_shape=tuple(config["input_shape"]), name=config.get("name", "sequential"))


def check_input_shape(x, shape, name="model"):
    """ShapeError naming both shapes, with a hint for channels-last images."""
    if isinstance(shape, list) or tuple(x.shape[1:]) == tuple(shape):
        return
    got = tuple(x.shape)
    hint = ""
    if len(got) == 4 and len(shape) == 3 and got[1:] == (shape[1], shape[2], shape[0]):
        hint = " (images are channels-first in fromzero: use x.permute(0, 3, 1, 2) or reshape(-1, C, H, W))"
    raise ShapeError(f"{name}: expected input of shape (batch, {', '.join(map(str, shape))}), "
                     f"got {got}{hint}")


def check_labels(y: torch.Tensor, n_classes: int) -> None:
    """Integer labels must lie in [0, n_classes); one-hot labels must have n_classes columns."""
    if y.dtype.is_floating_point and y.dim() == 2:
        if y.shape[1] != n_classes:
            raise ShapeError(f"one-hot labels: expected {n_classes} columns, got {y.shape[1]}")
        return
    if y.dtype.is_floating_point and not torch.equal(y, y.round()):
        raise FromzeroError("labels: expected integer class ids or one-hot rows, got fractional values")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise FromzeroError(f"labels: expected class ids in [0, {n_classes - 1}], got values in "
                            f"[{int(y.min())}, {int(y.max())}]")


def _as_labels(y: torch.Tensor, classes: bool) -> torch.Tensor:
    """Labels in the dtype the loss takes: integer or bool class ids as int64 for a classification
    loss, float32 otherwise (a regression target); floating labels (one-hot rows) as float32."""
    if y.dtype.is_complex:
        raise FromzeroError(f"y: expected real numbers, got dtype {y.dtype}")
    if y.dtype.is_floating_point:
        return y if y.dtype == torch.float32 else y.float()
    return y.long() if classes else y.float()


def _layer_class(layer) -> str:
    """The registered class name of ``layer`` (FSDP turns a sharded ``Conv2D`` into a subclass
    named ``FSDPConv2D``)."""
    return next((c.__name__ for c in type(layer).__mro__ if c.__name__ in LAYERS), type(layer).__name__)


def _device_of(module):
    p = next(module.parameters(), None)
    return p.device if p is not None else "cpu"


def _jsonable(v):
    if isinstance(v, tuple):
        return [_jsonable(i) for i in v]
    if isinstance(v, dict):
        return {k: _jsonable(i) for k, i in v.items()}
    if callable(v) and not isinstance(v, (str, int, float, bool)):
        raise ConfigError(f"cannot save a layer whose config holds a callable ({v!r}); use a name")
    return v
