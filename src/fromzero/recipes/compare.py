"""Traditional models beside the deep one, on the same split: ``fromzero compare TASK``.

Tasks and their models (docs/choosing.md has the measured tables):

* ``mnist``: logistic regression and a random forest on the pixels; the tutorial's CNN (train
  mnist-cnn's speedrun recipe). Data: ``mnist``, ``fashion-mnist`` or a folder of IDX files.
* ``text``: TF-IDF (word and character n-grams) + logistic regression; the from-scratch BiLSTM of
  ``train text-rnn``. Data: ``sst2`` or a labelled file or folder.
* ``forecast``: repeat-last, seasonal-naive and ridge on lagged windows; the LSTM of ``train
  forecast``, on its windows. Data: ``ett``, ``melbourne`` or a CSV file.
* ``lm``: an interpolated Kneser-Ney character n-gram model; a GPT (``pretrain gpt``). Data: a
  built-in corpus or a text file; both read the GPT's character tokens and its train/val split.

Each row: the quality on the test split (a language model: validation; a labelled file without
a test split: dev), the parameters, the training time (wall clock; the deep recipes' time
includes reading the data and saving the run; the CNN's is its training alone, in memory), the
inference latency per sample measured on one batch (best of 3), and the model's size in MB.
``OUT`` gets ``table.json``, ``table.csv``, ``chart.png`` and the deep model's run (``text-rnn/``,
``forecaster/`` or ``gpt/``; ``mnist`` saves none). A failed comparison leaves no ``OUT`` it created.

Example:
    >>> table = compare("forecast", budget="tiny", out="runs/compare-forecast")   # doctest: +SKIP
    >>> from fromzero.recipes.compare_report import format_table
    >>> print(format_table(table))                                                 # doctest: +SKIP
"""
from __future__ import annotations

import dataclasses
import shutil
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..baselines import classic
from ..baselines.lagged import RidgeForecaster
from ..baselines.ngram import KneserNey, bits
from ..checkpoint import load_model
from ..config import make_config
from ..datasets import load_mnist
from ..datasets.mnist import DATASETS
from ..device import resolve_device, seed_everything
from ..errors import DataError
from ..io import atomic_write_text, check_writable_dir, read_json, save_json
from ..models.cnn import build_model
from ..text.data import eval_batches, load_corpus
from ..text.labelled import load_task
from ..text.tokenizer import load_tokenizer
from ..timeseries import baselines as B
from ..timeseries.metrics import mae, mse, rmse
from ..train import Trainer
from ..train.schedules import WarmupLinear
from . import rnn_text
from .compare_report import cpu_name, plot_table, table_csv
from .configs import COMPARE_BUDGETS, MNIST_SPEEDRUN, CompareConfig, MnistConfig, TextRNNConfig
from .forecast import forecast_config, prepare, train_forecast
from .gpt import pretrain
from .mnist import _optimizer, to_inputs

COMPARE_DEFAULTS = {"text_column": "text", "label_column": "label", "order": 6}
DEFAULT_DATA = {"mnist": "mnist", "text": "sst2", "forecast": "ett", "lm": "shakespeare"}
# Samples per latency measurement: images, sentences, windows, characters.
LATENCY_BATCH = {"mnist": 1000, "text": 1000, "forecast": 256, "lm": 4096}
SAMPLE = {"mnist": "image", "text": "sentence", "forecast": "window", "lm": "character"}
KIND = "fromzero compare"


@dataclass
class Row:
    """One model's line of the table."""
    model: str
    kind: str                   # "traditional" or "deep"
    quality: dict               # metric -> value (the table's metrics, in order)
    params: int
    train_s: float
    latency_ms: float           # per sample
    size_mb: float
    note: str = ""


@dataclass
class Info:
    """What a task's table says beside its rows."""
    data: str
    metrics: list               # [(key, title, format)], the first one is charted
    split: str = "test"
    notes: list = field(default_factory=list)


def compare(task: str, data: str | None = None, out=None, budget: str = "quick", overwrite: bool = False,
            verbose: int = 1, **options) -> dict:
    """Train the traditional models and the fromzero model of ``task`` on one split; write the
    table (``table.json``, ``table.csv``) and ``chart.png`` into ``out``; return the table.

    ``options``: the other ``CompareConfig`` fields (``limit``, ``epochs``, ``order``, ...)."""
    cfg = make_config(CompareConfig, {"task": task, "data": data, "budget": budget, **options},
                      source="CompareConfig")
    cfg.data = cfg.data or DEFAULT_DATA[cfg.task]
    for k, default in COMPARE_DEFAULTS.items():   # None unless given: another task's options are refused
        if getattr(cfg, k) is None:
            setattr(cfg, k, default)
    out = Path(out or f"runs/compare-{cfg.task}")
    existed = out.exists()
    out = _open_out(out, overwrite)
    try:
        return _compare(cfg, out, verbose)
    except BaseException:
        if not existed and out.is_dir():     # a folder this call created: nothing of the user's is in it
            shutil.rmtree(out, ignore_errors=True)
        raise


def _compare(cfg: CompareConfig, out: Path, verbose: int) -> dict:
    settings = dict(COMPARE_BUDGETS[cfg.budget][cfg.task])
    settings.update({k: getattr(cfg, k) for k in ("limit", "epochs", "max_iters", "trees", "lookback", "horizon")
                     if getattr(cfg, k)})
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    warm_up()
    seed_everything(cfg.seed)
    rows, info = TASKS[cfg.task](cfg, settings, out, verbose)
    table = {"kind": KIND, "task": cfg.task, "data": info.data, "budget": cfg.budget, "settings": settings,
             "split": info.split, "metrics": [list(m) for m in info.metrics], "sample": SAMPLE[cfg.task],
             "latency_batch": LATENCY_BATCH[cfg.task], "notes": info.notes, "cpu": cpu_name(),
             "threads": torch.get_num_threads(), "rows": [dataclasses.asdict(r) for r in rows]}
    save_json(out / "table.json", table)
    atomic_write_text(out / "table.csv", table_csv(table))
    plot_table(out / "chart.png", table)
    return table


def _open_out(out: Path, overwrite: bool) -> Path:
    """``out`` ready to write: empty or new; an earlier comparison only with ``overwrite``; never
    a folder that holds something else."""
    if out.is_dir() and any(out.iterdir()):
        mine = (out / "table.json").is_file() and read_json(out / "table.json").get("kind") == KIND
        if not mine:
            raise DataError(f"{out}: expected an empty folder or an earlier comparison (table.json), but it holds "
                            "other files; choose another --out")
        if not overwrite:
            raise DataError(f"{out}: holds an earlier comparison; pass --overwrite to replace it")
        shutil.rmtree(out)
    return check_writable_dir(out)


def warm_up() -> None:
    """Load what the first training of a process would otherwise load inside its timer: torch's first
    optimizer imports torch._dynamo, and the training plots import matplotlib (seconds each)."""
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    import matplotlib  # lazy: see above
    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401  # lazy: see above


def _timed(fn):
    t = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - t


def latency_ms(fn, n: int, repeats: int = 3) -> float:
    """Milliseconds per sample of ``fn()`` on a batch of ``n`` samples, the best of ``repeats`` runs."""
    best = min(_timed(fn)[1] for _ in range(repeats))
    return best / max(n, 1) * 1000


def torch_size(model) -> tuple[int, float]:
    """(parameters, MB of parameters and buffers) of a torch module."""
    params = sum(p.numel() for p in model.parameters())
    size = sum(t.numel() * t.element_size() for t in model.state_dict().values())
    return params, size / 1e6


@contextmanager
def _hint(old: str, new: str):
    """Rephrase a DataError's advice ``old`` (written for another command's options) as ``new``."""
    try:
        yield
    except DataError as e:
        if old not in str(e):
            raise
        raise DataError(str(e).replace(old, new)) from None


def _n(count: int, noun: str) -> str:
    """``1 epoch``, ``3 epochs``."""
    return f"{count:,} {noun}" + "s" * (count != 1)


def _sklearn_row(name, model, quality, train_s, lat, note=""):
    return Row(name, "traditional", quality, classic.count_params(model), train_s, lat,
               classic.size_bytes(model) / 1e6, note)


# --- mnist --------------------------------------------------------------------------------------

def load_images(data: str) -> tuple:
    """((train images, labels), (test images, labels)): a built-in dataset, or a folder with the four
    IDX files (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte``, ``t10k-...``), read by
    ``load_mnist(data_dir=...)`` as ``train mnist-cnn --data-dir`` reads them: 28x28 images, labels 0-9."""
    if data in DATASETS:
        return load_mnist("train", None, data), load_mnist("test", None, data)
    if not Path(data).is_dir():
        raise DataError(f"{data}: expected mnist, fashion-mnist or a folder with the four IDX files, but "
                        f"{'it is a file' if Path(data).is_file() else 'there is no such folder'}")
    return load_mnist("train", data), load_mnist("test", data)


def fit_cnn(x, y, epochs: int, seed: int, device, verbose: int):
    """The tutorial's CNN trained with train mnist-cnn's speedrun recipe (Muon, linear decay)."""
    c = make_config(MnistConfig, {**MNIST_SPEEDRUN, "epochs": epochs, "seed": seed}, source="MnistConfig")
    seed_everything(seed)
    model = build_model()
    steps = epochs * -(-len(x) // c.batch_size)
    trainer = Trainer(model, optimizer=_optimizer(c), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      schedule=WarmupLinear(warmup=min(100, steps // 10), total=steps), device=device,
                      verbose=verbose, plot=False)
    trainer.fit((to_inputs(x), torch.from_numpy(y)), epochs=epochs, batch_size=c.batch_size, seed=seed)
    return trainer


def _mnist(cfg: CompareConfig, s: dict, out: Path, verbose: int):
    (xtr, ytr), (xte, yte) = load_images(cfg.data)
    xtr, ytr = xtr[:s.get("limit")], ytr[:s.get("limit")]
    xte, yte = xte[:s.get("test_limit")], yte[:s.get("test_limit")]
    lat = xte[:LATENCY_BATCH["mnist"]]
    acc = lambda pred: float(np.mean(pred == yte))  # noqa: E731
    rows = []
    for name, fit in (("logistic regression (pixels)", lambda: classic.fit_pixel_logistic(xtr, ytr, seed=cfg.seed)),
                      (f"random forest, {s['trees']} trees (pixels)",
                       lambda: classic.fit_pixel_forest(xtr, ytr, s["trees"], cfg.seed, jobs=cfg.threads or 1))):
        if verbose:
            print(f"fromzero: training {name} on {len(xtr):,} images", file=sys.stderr)
        m, t = _timed(fit)
        rows.append(_sklearn_row(name, m, {"accuracy": acc(m.predict(classic.pixels(xte)))}, t,
                                 latency_ms(lambda: m.predict(classic.pixels(lat)), len(lat))))
    device = resolve_device(cfg.device)
    trainer, t = _timed(lambda: fit_cnn(xtr, ytr, s["epochs"], cfg.seed, device, verbose))
    net = trainer.model.eval()
    a = trainer.evaluate((to_inputs(xte), torch.from_numpy(yte)))["accuracy"]

    def infer():
        with torch.no_grad():
            return net(to_inputs(lat).to(device)).argmax(-1).cpu()
    params, mb = torch_size(net)
    rows.append(Row(f"CNN, {_n(s['epochs'], 'epoch')} (fromzero, speedrun recipe)", "deep", {"accuracy": float(a)},
                    params, t, latency_ms(infer, len(lat)), mb))
    return rows, Info(cfg.data, [("accuracy", "test accuracy %", "pct")], notes=[
        f"{len(xtr):,} training and {len(xte):,} test images"])


# --- text ---------------------------------------------------------------------------------------

def _text(cfg: CompareConfig, s: dict, out: Path, verbose: int):
    # quiet: train text-rnn below reads the task again and says which file gave each split
    task = load_task(cfg.data, None, cfg.text_column, cfg.label_column, verbose=False)
    split = "test" if task.test is not None else "dev"
    ev = task.test if task.test is not None else task.dev
    texts = ev.texts[:LATENCY_BATCH["text"]]
    if verbose:
        print(f"fromzero: training TF-IDF + logistic regression on {len(task.train):,} texts", file=sys.stderr)
    (pipe, scores), t = _timed(lambda: classic.fit_tfidf_logistic(task.train.texts, task.train.labels,
                                                                   task.dev.texts, task.dev.labels, seed=cfg.seed))
    best = max(scores, key=scores.get)
    rows = [_sklearn_row("TF-IDF word+char n-grams + logistic regression", pipe,
                         {"accuracy": float(np.mean(pipe.predict(ev.texts) == np.array(ev.labels)))}, t,
                         latency_ms(lambda: pipe.predict(texts), len(texts)), note=f"C={best:g} chosen on dev")]
    rc = make_config(TextRNNConfig, {"data": cfg.data, "seed": cfg.seed, "device": cfg.device,
                                     "text_column": cfg.text_column, "label_column": cfg.label_column, **s},
                     source="TextRNNConfig")
    run = out / "text-rnn"
    m, t = _timed(lambda: rnn_text.train_text_rnn(run, rc, verbose=verbose, overwrite=True))
    net = load_model(run)
    params, mb = torch_size(net)
    lat = latency_ms(lambda: rnn_text.predict_many(run, texts, model=net), len(texts))
    rows.append(Row(f"BiLSTM from scratch, <= {_n(rc.epochs, 'epoch')} (fromzero train text-rnn)", "deep",
                    {"accuracy": m[f"{split}_accuracy"]}, params, t, lat, mb, note=f"{_n(m['epochs'], 'epoch')} run"))
    notes = [f"{len(task.train):,} training, {len(task.dev):,} dev" + (
        f", {len(ev):,} test texts" if split == "test" else " texts")]
    if split == "dev":
        notes.append("no test split: the accuracies are on the dev texts (also the test), which also chose C "
                     "and the epoch")
    return rows, Info(str(cfg.data), [("accuracy", f"{split} accuracy %", "pct")], split, notes)


# --- forecast -----------------------------------------------------------------------------------

def _forecast(cfg: CompareConfig, s: dict, out: Path, verbose: int):
    fc = forecast_config(cfg.data, **({"target": cfg.target} if cfg.target is not None else {}), seed=cfg.seed,
                         device=cfg.device, **s)
    p = prepare(fc)
    (xtr, ytr, _), (xva, yva, _), (xte, yte, starts) = (p.windows(part) for part in ("train", "val", "test"))
    zt, cols, n = p.z[:, p.targets], p.targets, LATENCY_BATCH["forecast"]
    y_units = p.scaler.inverse(yte, cols)

    def quality(pred):   # pred: z-scored (N, horizon, targets)
        units = p.scaler.inverse(pred, cols)
        return {"mae": mae(y_units, units), "rmse": rmse(y_units, units), "mse_z": mse(yte, pred)}

    rows = [Row("repeat the last value", "traditional", quality(B.repeat_last(zt, starts, p.horizon)), 0, 0.0,
                latency_ms(lambda: B.repeat_last(zt, starts[:n], p.horizon), len(starts[:n])), 0.0)]
    notes = [f"{len(xtr):,} training, {len(xva):,} validation, {len(xte):,} test windows; lookback {p.lookback}, "
             f"horizon {p.horizon}; target {', '.join(p.in_cols[t] for t in cols)}"]
    if p.season > 1 and starts.min() >= p.season:
        rows.append(Row(f"seasonal naive ({p.season} rows back)", "traditional",
                        quality(B.seasonal_naive(zt, starts, p.horizon, p.season)), 0, 0.0,
                        latency_ms(lambda: B.seasonal_naive(zt, starts[:n], p.horizon, p.season), len(starts[:n])),
                        0.0))
    else:
        notes.append(f"seasonal naive: not computed (season {p.season})")
    if verbose:
        print(f"fromzero: training ridge regression on {len(xtr):,} windows", file=sys.stderr)
    ridge, t = _timed(lambda: RidgeForecaster(len(p.in_cols), cols).fit(xtr, ytr, xva, yva))
    best = min(ridge.scores, key=ridge.scores.get)
    rows.append(Row("ridge regression on the lagged window", "traditional", quality(ridge.predict(xte)),
                    ridge.num_params(), t, latency_ms(lambda: ridge.predict(xte[:n]), len(xte[:n])),
                    ridge.nbytes() / 1e6, note=f"alpha={best:g} chosen on validation"))
    run = out / "forecaster"
    m, t = _timed(lambda: train_forecast(run, fc, verbose=verbose, overwrite=True))
    net = load_model(run).eval()
    x = torch.from_numpy(xte[:n])

    def infer():
        with torch.no_grad():
            return net(x)
    params, mb = torch_size(net)
    mm = m["test"]["model"]
    rows.append(Row(f"{fc.cell.upper()} forecaster, <= {_n(fc.epochs, 'epoch')} (fromzero train forecast)", "deep",
                    {"mae": mm["mae"], "rmse": mm["rmse"], "mse_z": mm["mse_scaled"]}, params, t,
                    latency_ms(infer, len(x)), mb, note=f"{_n(m['epochs'], 'epoch')} run"))
    return rows, Info(str(cfg.data), [("mae", "test MAE", ".4f"), ("rmse", "test RMSE", ".4f"),
                                      ("mse_z", "test MSE (z)", ".4f")], notes=notes + [
        "MAE and RMSE in the data's units, averaged over the targets; MSE (z) on z-scores (the ETTh1 papers' "
        "measure)"])


# --- lm -----------------------------------------------------------------------------------------

def _lm(cfg: CompareConfig, s: dict, out: Path, verbose: int):
    over = {k: v for k, v in s.items() if k != "preset"}
    run = out / "gpt"
    path = Path(cfg.data).expanduser()
    if path.is_file() and path.stat().st_size < 4096 and not path.read_bytes().strip():
        raise DataError(f"{cfg.data}: expected text to learn from, received an empty file")
    with _hint("use a smaller --block-size or more text",
               f"give more text (compare lm trains the {s['preset']!r} preset's GPT, block size included)"):
        _, t = _timed(lambda: pretrain(cfg.data, preset=s["preset"], out=run, overwrite=True, verbose=verbose,
                                       seed=cfg.seed, device=cfg.device, sample_tokens=0, plot=False,
                                       eval_tokens=0, **over))
    spec = read_json(run / "model.json")
    tok = load_tokenizer(run)
    corpus = load_corpus(cfg.data, tok)
    net = load_model(run).eval()
    x, _ = eval_batches(corpus.val, net.config.block_size, max(1, LATENCY_BATCH["lm"] // net.config.block_size))[0]

    def infer():
        with torch.no_grad():
            return net(x)
    params, mb = torch_size(net)
    val = float(spec["val_loss"])
    deep = Row(f"GPT {s['preset']}, {spec['step']} steps (fromzero pretrain gpt)", "deep",
               {"nats": val, "bits": bits(val)}, params, t, latency_ms(infer, x.numel()), mb)
    train, vtok = np.asarray(corpus.train), np.asarray(corpus.val)
    if verbose:
        print(f"fromzero: counting the {cfg.order}-grams of {len(train):,} characters", file=sys.stderr)
    lm, t = _timed(lambda: KneserNey(cfg.order).fit(train, tok.vocab_size))
    ce = lm.cross_entropy(vtok, before=train[-cfg.order:])
    flat = x.numpy().reshape(-1)
    hist = np.lib.stride_tricks.sliding_window_view(np.concatenate([np.full(cfg.order - 1, -1), flat]),
                                                    cfg.order - 1)[:len(flat)] if cfg.order > 1 else \
        np.empty((len(flat), 0), np.int64)
    rows = [Row(f"Kneser-Ney {cfg.order}-gram (characters)", "traditional", {"nats": ce, "bits": bits(ce)},
                lm.num_params(), t, latency_ms(lambda: lm.prob(hist, flat), len(flat)), lm.nbytes() / 1e6,
                note="params: stored n-gram counts"), deep]
    return rows, Info(str(cfg.data), [("nats", "val nats/char", ".4f"), ("bits", "val bits/char", ".4f")],
                      "validation", [f"{len(train):,} training and {len(vtok):,} validation characters (the "
                                     f"last 10%), vocabulary {tok.vocab_size}; the GPT's loss is on windows of "
                                     f"{net.config.block_size} characters, the n-gram scores each character "
                                     f"after the {cfg.order - 1} before it"])


TASKS = {"mnist": _mnist, "text": _text, "forecast": _forecast, "lm": _lm}
