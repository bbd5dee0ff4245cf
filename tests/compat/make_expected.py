"""Write tests/compat/old_runs/: run directories saved by fromzero BEFORE the redesign of issue
#14, and what that code computed and printed for them (tests/compat/test_old_runs.py checks that
the current code still loads, evaluates, generates from, predicts with and resumes them, with the
same numbers).

Run it with the OLD source on the path, from the repository root:

    git worktree add /tmp/base a539749          # the last commit before the redesign
    PYTHONPATH=/tmp/base/src python tests/compat/make_expected.py

It trains each run as small as the old command line allows (one thread, on the CPU, bf16 off),
keeps the files that a run directory's readers need (and the newest checkpoint of the runs the
test resumes), then runs the old `fromzero evaluate/generate/predict` and the resumes on them and
stores what they printed and computed in old_runs/expected.json and old_runs/expected.safetensors.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from safetensors.torch import save_file

HERE = Path(__file__).resolve().parent
OUT = HERE / "old_runs"
# One thread and a private cache: the same numbers on every machine that has this torch.
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
# The runs, made by the old command line (`model` is made through the Python API below: the old
# `train mnist-cnn` has no --resume, so a small Sequential run stands for Trainer resume).
TRAIN = {
    "mnist": ["train", "mnist-cnn", "--epochs", "1", "--limit", "256", "--device", "cpu"],
    "gpt": ["pretrain", "gpt", "--data", "shakespeare", "--preset", "tiny", "--n-embd", "16", "--n-head", "2",
            "--max-iters", "10", "--eval-interval", "5", "--threads", "1", "--amp", "off",
            "--device", "cpu", "--quiet"],
    "lstm": ["pretrain", "lstm", "--data", "shakespeare", "--preset", "tiny", "--max-iters", "10",
             "--eval-interval", "5", "--device", "cpu", "--quiet"],
    "ft": ["finetune", "{gpt}", "--task", "sst2", "--epochs", "1", "--device", "cpu", "--quiet"],
    "ftlora": ["finetune", "{gpt}", "--task", "sst2", "--epochs", "1", "--lora-rank", "2", "--no-merge",
               "--device", "cpu", "--quiet"],
    "forecast": ["train", "forecast", "--data", "melbourne", "--epochs", "1", "--hidden", "8",
                 "--device", "cpu"],
    "textrnn": ["train", "text-rnn", "--epochs", "1", "--units", "8", "--embed-dim", "8", "--device", "cpu"],
}
KEEP = {"model.json", "model.safetensors", "tokenizer.json", "vocab.json", "scaler.json", "pretrain.json",
        "finetune.json", "metrics.json"}
WITH_CHECKPOINT = {"gpt", "lstm", "model"}       # the runs test_old_runs resumes
PROMPT = "ROMEO:"
SENTENCE = "A gorgeous, witty, seductive movie."
# Each check: (kind, fromzero arguments with {run} and {fixtures}); its output is stored verbatim.
# (The `model` run stands for Trainer resume only: `mnist` covers the image commands.)
EVALUATE = ["mnist", "gpt", "lstm", "ft", "ftlora", "forecast", "textrnn"]
GENERATE = {k: ["generate", "{run}", "--prompt", PROMPT, "--seed", "1", "--max-new-tokens", "20", "--device", "cpu"]
            for k in ("gpt", "lstm")}
PREDICT = {"mnist": ["predict", "{run}", "{fixtures}/digit.png", "--device", "cpu"],
           "ft": ["predict", "{run}", SENTENCE, "--device", "cpu"],
           "textrnn": ["predict", "{run}", SENTENCE, "--device", "cpu"],
           "forecast": ["predict", "{run}", "{fixtures}/melbourne-tail.csv", "--device", "cpu"]}
RESUME = {k: ["pretrain", k, "--resume", "--out", "{run}", "--max-iters", "15", "--device", "cpu", "--quiet"]
          for k in ("gpt", "lstm")}


def cli(args, cwd=None) -> str:
    """Run the fromzero CLI (whichever `fromzero` is on the path) and return its stdout."""
    r = subprocess.run([sys.executable, "-m", "fromzero", *args], capture_output=True, text=True, env=ENV,
                       cwd=cwd, timeout=1800)
    if r.returncode:
        sys.exit(f"fromzero {' '.join(args)} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


def history(path: Path) -> list[dict]:
    """The rows of history.csv without the timing columns (which differ from run to run)."""
    import csv

    with open(path, newline="") as f:
        return [{k: float(v) for k, v in row.items() if k in ("epoch", "step", "loss", "val_loss", "lr")}
                for row in csv.DictReader(f)]


def fill(args, **names):
    return [a.format(**names) for a in args]


def copy_run(src: Path, dst: Path, checkpoint: bool) -> None:
    """The files a reader of the run needs (no history.png/csv, no train_config.json duplicates)."""
    dst.mkdir(parents=True)
    for f in sorted(src.iterdir()):
        if f.is_file() and (f.name in KEEP or f.name.endswith("_config.json")):
            shutil.copy2(f, dst / f.name)
    if checkpoint:
        newest = sorted((src / "checkpoints").glob("step-*"))[-1]
        shutil.copytree(newest, dst / "checkpoints" / newest.name)


def make_model_run(out: Path) -> None:
    """A small image classifier saved through the old Python API, with its training checkpoint."""
    from fromzero import Sequential, save_model
    from fromzero.datasets import load_mnist
    from fromzero.layers import Conv2D, Dense, Flatten, Input, MaxPool2D
    from fromzero.recipes.mnist import to_inputs

    torch.manual_seed(0)
    x, y = load_mnist("train")
    model = Sequential([Input((1, 28, 28)), Conv2D(4, (3, 3), (1, 1), "same", activation="relu"),
                        MaxPool2D((2, 2), (2, 2)), Flatten(), Dense(10)], name="small_cnn")
    model.compile(**MODEL_COMPILE)
    model.fit(to_inputs(x[:256]), torch.from_numpy(y[:256]), epochs=1, verbose=0, run_dir=out, **MODEL_FIT)
    save_model(out, model, extra={"task": "image-classification", "dataset": "mnist",
                                  "classes": [str(i) for i in range(10)], "input": "greyscale 28x28, [0, 1]"})


MODEL_COMPILE = dict(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"], lr=1e-3,
                     device="cpu")
MODEL_FIT = dict(batch_size=64, seed=0)


def resume_model_run(run: Path) -> dict:
    """Resume the small classifier's training from its checkpoint for one more epoch (the old Trainer)."""
    from fromzero import Trainer, load_model
    from fromzero.datasets import load_mnist
    from fromzero.recipes.mnist import to_inputs

    x, y = load_mnist("train")
    model = load_model(run)
    trainer = Trainer(model, run_dir=run, verbose=0, plot=False, **MODEL_COMPILE)
    trainer.fit((to_inputs(x[:256]), torch.from_numpy(y[:256])), epochs=2, resume=True, **MODEL_FIT)
    keys = ("epoch", "step", "loss", "accuracy", "lr")          # not the timings
    return {"step": trainer.step, "epoch": trainer.epoch,
            "history": [{k: v for k, v in e.items() if k in keys} for e in trainer.history.epochs],
            "weights": {k: float(v.double().abs().sum()) for k, v in model.state_dict().items()}}


def fixed_input(kind: str, run: Path, model) -> torch.Tensor:
    """A small fixed input of the right shape for each kind of model."""
    g = torch.Generator().manual_seed(0)
    if kind in ("mnist", "model"):
        from fromzero.datasets import load_mnist
        from fromzero.recipes.mnist import to_inputs
        return to_inputs(load_mnist("test")[0][:8])
    if kind in ("gpt", "lstm"):
        return torch.randint(0, model.config.vocab_size, (2, 16), generator=g)
    if kind in ("ft", "ftlora"):
        idx = torch.randint(0, model.gpt.config.vocab_size, (3, 12), generator=g)
        idx[1, 7:] = -1                                 # right padding
        return idx
    if kind == "forecast":
        c = model.config
        return torch.randn(4, c.lookback, c.n_series + c.n_covariates, generator=g)
    if kind == "textrnn":
        max_len = json.loads((run / "train_config.json").read_text())["max_len"]
        vocab = len(json.loads((run / "vocab.json").read_text()))
        return torch.randint(0, vocab, (4, max_len), generator=g)
    raise ValueError(kind)


def digit_png(path: Path) -> int:
    """The first MNIST test image as an 8-bit greyscale PNG; returns its label."""
    from PIL import Image

    from fromzero.datasets import load_mnist

    x, y = load_mnist("test")
    Image.fromarray(x[0]).save(path, optimize=True)
    return int(y[0])


def melbourne_tail(path: Path) -> None:
    """The last 40 rows of the embedded Melbourne series (a forecaster's predict input)."""
    import fromzero

    src = Path(fromzero.__file__).parent / "_data" / "melbourne" / "daily-min-temperatures.csv"
    lines = src.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join([lines[0], *lines[-40:]]) + "\n", encoding="utf-8")


def main() -> None:
    import fromzero

    src = Path(fromzero.__file__).resolve().parent
    if src.is_relative_to(HERE.parents[1]):
        sys.exit(f"fromzero is imported from this repository ({src}); put the OLD source first on "
                 "PYTHONPATH (see the docstring)")
    torch.set_num_threads(1)
    commit = subprocess.run(["git", "-C", str(src), "rev-parse", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ENV["FROMZERO_CACHE"] = str(tmp / "cache")
        runs = tmp / "runs"
        for kind, args in TRAIN.items():
            print("training", kind, flush=True)
            cli([*fill(args, gpt=str(runs / "gpt")), "--out", str(runs / kind)])
        make_model_run(runs / "model")
        if OUT.exists():
            shutil.rmtree(OUT)
        OUT.mkdir()
        for kind in [*TRAIN, "model"]:
            copy_run(runs / kind, OUT / kind, kind in WITH_CHECKPOINT)
        label = digit_png(OUT / "digit.png")
        melbourne_tail(OUT / "melbourne-tail.csv")

        from fromzero import load_model

        tensors, expected = {}, {"commit": commit, "digit_label": label, "prompt": PROMPT,
                                 "sentence": SENTENCE, "train": TRAIN, "evaluate": {}, "generate": {},
                                 "predict": {}, "resume": {}}
        for kind in [*TRAIN, "model"]:
            model = load_model(OUT / kind)
            x = fixed_input(kind, OUT / kind, model)
            with torch.no_grad():
                y = model(x)
            tensors[f"{kind}.input"], tensors[f"{kind}.output"] = x.contiguous(), y.contiguous()
        # The checks run from inside old_runs/, on relative paths, as test_old_runs runs them.
        for kind in EVALUATE:
            expected["evaluate"][kind] = cli(["evaluate", kind, "--device", "cpu"], cwd=OUT)
        for kind, args in GENERATE.items():
            expected["generate"][kind] = {"args": args, "stdout": cli(fill(args, run=kind), cwd=OUT)}
        for kind, args in PREDICT.items():
            expected["predict"][kind] = {"args": args, "stdout": cli(fill(args, run=kind, fixtures="."), cwd=OUT)}
        for kind, args in RESUME.items():
            run = tmp / "resume" / kind
            shutil.copytree(OUT / kind, run)
            stdout = cli(fill(args, run=str(run)))
            spec = json.loads((run / "model.json").read_text())
            expected["resume"][kind] = {"args": args, "step": spec["step"], "val_loss": spec["val_loss"],
                                        "history": history(run / "history.csv"),
                                        "stdout": stdout.replace(str(run), "{run}")}
        run = tmp / "resume" / "model"
        shutil.copytree(OUT / "model", run)
        expected["resume"]["model"] = resume_model_run(run)
    save_file(tensors, str(OUT / "expected.safetensors"))
    (OUT / "expected.json").write_text(json.dumps(expected, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    total = sum(f.stat().st_size for f in OUT.rglob("*") if f.is_file())
    print(f"wrote {OUT} ({total / 1e6:.2f} MB) from fromzero at {src} (commit {commit})")


if __name__ == "__main__":
    main()
