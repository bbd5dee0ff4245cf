"""A trained model as an ONNX graph, for runtimes other than PyTorch (tutorial 1.6: deployment).

``export_onnx(run)`` writes ``model.onnx`` (one file; weights over 1 GB go beside it, in
``model.onnx.data``) for the CNN (images (B, 1, 28, 28) -> logits), the
forecaster (windows (B, lookback, inputs), as the model reads them, scaled -> forecasts (B, horizon,
targets)) and the GPT (token ids (B, T) -> logits (B, T, vocab)), with the batch axis (and the
GPT's sequence axis) dynamic. Every export is checked at once: onnxruntime runs the file on random
inputs of two batch sizes (and for the GPT two lengths) and its outputs must match PyTorch's
within 1e-4, or the export fails.

Example:
    >>> report = export_onnx("runs/mnist-cnn")            # doctest: +SKIP
    >>> report["max_abs_error"] < 1e-4                     # doctest: +SKIP
    True
"""
from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import torch

from .checkpoint import load_model
from .errors import ConfigError, FromzeroError
from .io import read_json

TOLERANCE = 1e-4


def _inputs(spec: dict, model) -> tuple[str, list, dict]:
    """(input name, example inputs of the shapes to check, dynamic axes) for the run's family. The
    first is traced: its sizes are at least 2, as ``torch.export`` fixes an axis it sees at size 1."""
    g = torch.Generator().manual_seed(0)
    task, c = spec.get("task"), spec.get("config", {})
    batch = torch.export.Dim("batch", min=1, max=4096)
    if spec.get("name") == "gpt":
        T = model.config.block_size
        tokens = torch.export.Dim("tokens", min=1, max=T)
        shapes = [(2, max(2, T // 2)), (1, min(5, T)), (3, T)]
        return "tokens", [torch.randint(0, model.config.vocab_size, s, generator=g) for s in shapes], \
            {0: batch, 1: tokens}
    if task == "image-classification":
        return "images", [torch.rand(b, 1, 28, 28, generator=g) for b in (2, 1, 3)], {0: batch}
    if task == "forecast":
        n = c["n_series"] + c.get("n_covariates", 0)
        return "window", [torch.randn(b, c["lookback"], n, generator=g) for b in (2, 1, 3)], {0: batch}
    raise ConfigError(f"export --format onnx takes an image classifier, a forecaster or a GPT; got a run with "
                      f"task {task!r} and model {spec.get('name')!r}")


def _metadata(spec: dict, model, name: str) -> dict:
    """What a user of the file needs beside the graph, as ONNX metadata: the task, the input, and
    the classes, the GPT's context and vocabulary, or the forecaster's scaling."""
    meta = {"producer": "fromzero", "task": str(spec.get("task")), "input": name}
    if spec.get("classes"):
        meta["classes"] = json.dumps(spec["classes"], ensure_ascii=False)
    if spec.get("name") == "gpt":
        meta.update(context=str(model.config.block_size), vocab_size=str(model.config.vocab_size))
    if spec.get("task") == "forecast":
        meta["scaling"] = "inputs scaled with the run's scaler.json, outputs in the same scale"
    return meta


class _OneInput(torch.nn.Module):
    """``model(x)`` with one named argument: what ``torch.export`` maps the dynamic axes onto (the
    Keras-like ``Model`` takes ``*inputs``)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)


def export_onnx(run_dir, path=None) -> dict:
    """Write the model of ``run_dir`` to ``path`` (default ``RUN/model.onnx``) and check it with
    onnxruntime; returns ``{"path", "inputs", "checked_shapes", "max_abs_error"}``."""
    try:
        import onnxruntime as ort  # lazy: an optional extra (pip install 'fromzero[onnx]')
    except ImportError:
        raise FromzeroError("export --format onnx needs onnx, onnxscript and onnxruntime: pip install "
                            "'fromzero[onnx]'") from None
    run_dir = Path(run_dir)
    spec = read_json(run_dir / "model.json")
    model = load_model(run_dir).eval()
    name, examples, dynamic = _inputs(spec, model)
    path = Path(path) if path is not None else run_dir / "model.onnx"
    if path.is_dir() or (path.exists() and path.suffix != ".onnx"):   # never over a run's files
        raise ConfigError(f"--out {path}: expected a new file or an earlier .onnx export to replace, got an "
                          f"existing {'folder' if path.is_dir() else 'file'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    size = sum(p.numel() * p.element_size() for p in model.parameters())
    quiet = logging.getLogger("torch.onnx")   # "torchvision is not installed": notes on the exporter's own tables
    level, quiet.level = quiet.level, logging.ERROR
    try:
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")      # the exporter's notes on its own internals
            program = torch.onnx.export(_OneInput(model), (examples[0],), dynamo=True, dynamic_shapes=(dynamic,),
                                        input_names=[name], output_names=["output"], verbose=False)
    finally:
        quiet.setLevel(level)
    program.model.metadata_props.update(_metadata(spec, model, name))
    program.save(str(path), external_data=size > 1 << 30)   # one file, unless near protobuf's 2 GB limit
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst = 0.0
    for x in examples:
        with torch.no_grad():
            want = model(x)
        got = torch.from_numpy(session.run(None, {name: x.numpy()})[0])
        if got.shape != want.shape:
            raise FromzeroError(f"{path}: onnxruntime gave outputs of shape {tuple(got.shape)} for input "
                                f"{tuple(x.shape)}, PyTorch {tuple(want.shape)}")
        worst = max(worst, float((got - want).abs().max()))
    if worst > TOLERANCE:
        raise FromzeroError(f"{path}: onnxruntime's outputs differ from PyTorch's by up to {worst:.2e} "
                            f"(expected at most {TOLERANCE:g}); the file is left for inspection")
    return {"path": str(path), "input": name, "checked_shapes": [list(x.shape) for x in examples],
            "max_abs_error": worst}
