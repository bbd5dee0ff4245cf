"""The ``fromzero`` command line, derived from the config dataclasses.

``COMMANDS`` is the one table: each command's options are the fields of its dataclasses (name,
type, default, choices, range and help are written once, in the field: ``config.opt``) and its
function runs it. Only options the user gave reach the function, which lays them over the
config's defaults or the preset's recipe. Building the parser imports neither torch nor a model:
each function imports its recipe when the command runs.

Exit status: 0 on success; 2 for a usage error (argparse's, or a ``ConfigError``: an option or
``--set`` value that is out of range, unknown or in conflict); 1 for any other error (a file, the
data, a run directory, a non-finite run, the disk); 130 when interrupted. An error is one line,
``fromzero: error: ...``; ``--debug`` (or ``FROMZERO_DEBUG=1``) prints the traceback too.
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import os
import shutil
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import __version__
from .config import add_options, make_config, opt
from .errors import ConfigError, DataError, FromzeroError
from .io import read_json
from .models.configs import GPT_PRESETS, RNN_PRESETS, GPTConfig, RNNLMConfig
from .recipes.configs import (FORECAST_RECIPES, GPT_RECIPES, MNIST_SPEEDRUN, RNN_RECIPES, CompareConfig,
                              FinetuneConfig, ForecastConfig, GenerateConfig, MnistConfig, ModelsConfig, PlanConfig,
                              PretrainConfig, ScratchTrainConfig, ServeConfig, TextRNNConfig, device_opt)
from .recipes.runs import audit_run, check_run, evaluate_run, gpt_run, is_text, prediction_inputs, predict_many


# --- the options of a command beyond its recipe's config -----------------------------------------

def _nproc():
    return opt(1, "run N processes on this machine (one per GPU): re-launches this command through torchrun; "
               "for several machines use torchrun itself (docs/distributed.md)", range=">= 1", metavar="N")


def _quiet(what: str = "no progress bar"):
    return opt(False, what)


def _run(what: str):
    return opt(None, what, positional=True)


def _key_value(text: str):
    """``KEY=VALUE`` -> (key, value); the value becomes a bool, int or float where it reads as one."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    k, v = text.split("=", 1)
    k = k.replace("-", "_")
    if v.lower() in ("true", "false"):
        return k, v.lower() == "true"
    for cast in (int, float):
        try:
            return k, cast(v)
        except ValueError:
            pass
    return k, v


@dataclass
class RunArgs:
    """What a training command does with a run already in its output directory (all of them share these)."""
    resume: bool = opt(False, "continue the run in the output directory from its newest checkpoint, with the options "
                       "it was started with: more --epochs/--max-iters or another --device may be given, other "
                       "options that differ are refused")
    overwrite: bool = opt(False, "start a new run in a non-empty output directory: the files of the run there are "
                          "deleted (without it, a non-empty output directory is refused)")


def _saved(o: dict, out) -> dict:
    """With --resume, the config the run in ``out`` was started with (the options given now go over it)."""
    if not o.get("resume"):
        return {}
    from .checkpoint import run_config  # lazy: --help must not import torch
    return run_config(out) or {}


@dataclass
class MnistArgs:
    out: str = opt("runs/mnist-cnn", "run directory to write")
    speedrun: bool = opt(False, "the speedrun recipe: 1 epoch of Muon with a linear decay, >= 99.0% test accuracy "
                         "(docs/speedrun.md; explicit options still win)")
    demo: bool = opt(False, "make demo's recipe: the same as --speedrun")
    nproc: int = _nproc()


@dataclass
class ForecastArgs:
    out: str | None = opt(None, "run directory", shown="runs/forecast-DATA")


@dataclass
class TextRNNArgs:
    out: str = opt("runs/text-rnn", "run directory")


@dataclass
class PretrainArgs:
    data: str = opt("shakespeare", "built-in corpus (shakespeare, tang-poems, movie-reviews) or a UTF-8 text "
                    "file or folder")
    preset: str = opt("shakespeare-char", "model size and its default training recipe", choices=tuple(GPT_PRESETS))
    out: str | None = opt(None, "run directory", shown="runs/gpt-PRESET")
    set: list = opt(None, "any other model or training field, e.g. --set beta2=0.95 --set plot=false",
                    metavar="KEY=VALUE", parse=_key_value)
    init: str | None = opt(None, "continue pre-training the GPT of RUN (its weights and tokenizer) on --data: "
                           "domain adaptation; RUN may be a Hugging Face GPT-2: hf:NAME or its folder", metavar="RUN")
    quiet: bool = _quiet("no progress bar and no samples")
    nproc: int = _nproc()


@dataclass
class PretrainLSTMArgs(PretrainArgs):
    preset: str = opt("shakespeare-char", "model size and its default training recipe", choices=tuple(RNN_PRESETS))
    out: str | None = opt(None, "run directory", shown="runs/lstm-PRESET")
    init: str | None = None


@dataclass
class FinetuneArgs:
    run: str = _run("pre-trained run directory (fromzero pretrain gpt), or a Hugging Face GPT-2: hf:NAME or its "
                    "folder")
    out: str | None = opt(None, "run directory to write", shown="runs/finetune-TASK")
    quiet: bool = _quiet()
    nproc: int = _nproc()


@dataclass
class GenerateArgs:
    run: str = _run("run directory (model.safetensors, model.json, tokenizer.json), or a Hugging Face GPT-2: "
                    "hf:NAME or its folder")


@dataclass
class ExportArgs:
    run: str = _run("run directory of a GPT language model, an image classifier or a forecaster")
    format: str = opt("hf", "hf: a Hugging Face GPT-2 folder (config.json, model.safetensors, tokenizer.json) that "
                      "transformers loads (GPT only); onnx: an ONNX file with a dynamic batch axis (and the GPT's "
                      "sequence axis), checked with onnxruntime", choices=("hf", "onnx"))
    out: str | None = opt(None, "folder (hf) or file (onnx) to write", shown="RUN-hf, RUN/model.onnx")


@dataclass
class ServeArgs:
    run: list = opt(None, "run directories to serve, at most one of each kind: an image classifier (POST "
                    "/api/predict), a language model (/api/generate), a text classifier (/api/classify), a "
                    "forecaster (/api/forecast)", positional=True, metavar="RUN")


@dataclass
class EvaluateArgs:
    run: str = _run("run directory written by a train/pretrain/finetune command")
    data_dir: str | None = opt(None, "folder with the test data", shown="the embedded copy")
    device: str = device_opt()


@dataclass
class ExplainArgs:
    run: str = _run("run directory of an image classifier (fromzero train mnist-cnn), a GPT (fromzero pretrain gpt) "
                    "or a fine-tuned text classifier (fromzero finetune)")
    input: list = opt(None, "what to explain: image files for an image classifier, prompts for a GPT, texts for a "
                      "text classifier (quote each), CSV files for a forecaster (their last rows are the input "
                      "window)", positional=True, metavar="INPUT")
    out: str | None = opt(None, "folder for the PNG, HTML and JSON files", shown="RUN/explain")
    check: bool = opt(False, "run the sanity checks instead (model randomization, deletion, completeness; "
                      "attention rows) and exit with status 1 if one fails (the edge-detector control is meant "
                      "to fail randomization: it ignores the model)")
    examples: int | None = opt(None, "with --check: test images, or random token sequences for a text model",
                               range=">= 1", shown="100 images, 10 sequences")
    data_dir: str | None = opt(None, "with --check: folder with the test images", shown="the run's own, else the "
                               "embedded copy")
    device: str = device_opt()


@dataclass
class AuditArgs:
    run: str = _run("run directory of an image classifier (fromzero train mnist-cnn) or a fine-tuned text "
                    "classifier (fromzero finetune)")
    examples: int = opt(5000, "training examples (members) and as many test examples (non-members) to attack",
                        range=">= 1")
    data_dir: str | None = opt(None, "folder with the run's data", shown="the run's own, else the embedded copy")
    json: bool = opt(False, "print the result as JSON")
    device: str = device_opt()


@dataclass
class PredictArgs:
    run: str = _run("run directory of a classifier or a forecaster")
    input: list = opt(None, "what to predict on, one answer each. Image classifiers: image files (PNG, JPEG, "
                      "...), folders (their image files) or globs. Text classifiers: each INPUT is one text "
                      "(quote it); for a file of texts use --file. Forecasters: CSV files (or folders, globs) "
                      "whose last rows are the input window", positional=True, metavar="INPUT")
    file: list = opt(None, "text classifiers: a UTF-8 file of texts, one per line (blank lines skipped); "
                     "'-' reads standard input; may be given more than once", metavar="PATH")
    top: int = opt(3, "how many classes to show", range=">= 1")
    json: bool = opt(False, "print one JSON document on stdout: a list of {input, top: [[class, probability], "
                     "...]} (forecasters: {input, columns, forecast, times})")
    csv: bool = opt(False, "print CSV on stdout: input,rank,class,probability (forecasters: input,step,time and "
                    "a column per target)")
    device: str = device_opt()


def given(cls, o: dict, **base):
    """A ``cls`` from ``base`` and the options the user gave that are fields of ``cls``."""
    names = {f.name for f in dataclasses.fields(cls)}
    return make_config(cls, {**base, **{k: v for k, v in o.items() if k in names}}, source=cls.__name__)


def _only(o: dict, *classes) -> dict:
    """The options the user gave that are fields of ``classes``."""
    names = {f.name for c in classes for f in dataclasses.fields(c)}
    return {k: v for k, v in o.items() if k in names}


def strip_nproc(argv: list[str]) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N``: the command each of the N processes runs."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--nproc":
            skip = True
        elif not a.startswith("--nproc="):
            out.append(a)
    return out


def _is_main() -> bool:
    from .distributed import is_main  # lazy: --help must not import torch
    return is_main()


# --- what each command runs ----------------------------------------------------------------------

def train_mnist(o: dict) -> None:
    from .recipes.mnist import train_mnist  # lazy: --help must not import torch

    a, r = given(MnistArgs, o), given(RunArgs, o)
    recipe = MNIST_SPEEDRUN if (a.demo or a.speedrun) and not r.resume else {}   # a resumed run keeps its own
    base = {**_saved(o, a.out), **recipe}
    m = train_mnist(a.out, given(MnistConfig, o, **base), resume=r.resume, overwrite=r.overwrite)
    if _is_main():
        print(f"test accuracy: {m['accuracy'] * 100:.2f}%  (test loss {m['loss']:.4f})\nrun saved to {a.out}")


def train_forecast(o: dict) -> None:
    from .recipes.forecast import forecast_config, metrics_table, train_forecast  # lazy: --help must not import torch

    r, options = given(RunArgs, o), _only(o, ForecastConfig)
    out = given(ForecastArgs, o).out or f"runs/forecast-{Path(options.get('data', 'ett')).stem}"
    cfg = forecast_config(**{**_saved(o, out), **options})
    m = train_forecast(out, cfg, resume=r.resume, overwrite=r.overwrite)
    print(metrics_table(m))
    print(f"run saved to {out} (forecast plot: {Path(out) / 'forecast.png'})")


def train_text_rnn(o: dict) -> None:
    from .recipes.rnn_text import train_text_rnn  # lazy: --help must not import torch

    out, r = given(TextRNNArgs, o).out, given(RunArgs, o)
    m = train_text_rnn(out, given(TextRNNConfig, o, **_saved(o, out)), resume=r.resume, overwrite=r.overwrite)
    print(f"dev accuracy: {m['dev_accuracy'] * 100:.2f}%")
    if "test_accuracy" in m:
        print(f"test accuracy: {m['test_accuracy'] * 100:.2f}%  (test loss {m['test_loss']:.4f})")
    print(f"run saved to {out}")


def pretrain(o: dict, family: str = "gpt") -> None:
    from .recipes.gpt import pretrain  # lazy: --help must not import torch

    a, r = given(PretrainArgs if family == "gpt" else PretrainLSTMArgs, o), given(RunArgs, o)
    model_cls = GPTConfig if family == "gpt" else RNNLMConfig
    over = {**_only(o, PretrainConfig, model_cls), **dict(a.set or [])}
    own = {f.name for cls in (PretrainArgs, RunArgs) for f in dataclasses.fields(cls)}
    if bad := sorted(set(dict(a.set or [])) & own):  # --set reaches config fields, not the command's options
        raise ConfigError(f"--set {', '.join(bad)}: an option of its own, not a training or model field: "
                          f"use --{bad[0].replace('_', '-')}")
    if a.init:
        a.init = o["init"] = gpt_run(a.init)
        check_run(a.init, "pretrain gpt --init")
    # data and preset only when given: on --resume the run's own are used, and any given must equal them
    run = pretrain(o.get("data"), preset=o.get("preset"), out=a.out or f"runs/{family}-{a.preset}",
                   resume=r.resume, overwrite=r.overwrite, init=a.init, family=family,
                   verbose=0 if a.quiet else 1, **over)
    if _is_main():
        spec = read_json(run / "model.json")
        print(f"validation loss {spec.get('val_loss'):.4f} after {spec.get('step')} steps; run saved to {run}")
        print(f"generate with: fromzero generate {run} --prompt \"...\"")


def finetune(o: dict) -> None:
    from .recipes.finetune import finetune  # lazy: --help must not import torch

    a, r = given(FinetuneArgs, o), given(RunArgs, o)
    a.run = gpt_run(a.run)
    check_run(a.run, "finetune")
    out = a.out or f"runs/finetune-{Path(o.get('task', FinetuneConfig.task)).stem}"
    cfg = given(FinetuneConfig, o, **{k: v for k, v in _saved(o, out).items() if k != "base_run"})
    m = finetune(a.run, out=out, verbose=0 if a.quiet else 1, resume=r.resume, overwrite=r.overwrite,
                 **dataclasses.asdict(cfg))
    if not _is_main():  # a distributed run: rank 0 reports
        return
    line = f"dev accuracy {m['dev_accuracy'] * 100:.2f}%"
    if "test_accuracy" in m:
        line += f", test accuracy {m['test_accuracy'] * 100:.2f}%"
    print(f"{line} (best of {m['evals']} evaluations: #{m['best_eval']}); {m['trainable_params']:,} of "
          f"{m['total_params']:,} parameters trained ({m['trainable_share'] * 100:.2f}%)")
    print(f"run saved to {out}; try: fromzero predict {out} \"a sentence\"")


def generate(o: dict) -> None:
    o["run"] = gpt_run(o["run"])
    check_run(given(GenerateArgs, o).run, "generate")   # before torch loads: a wrong run fails at once
    from .device import resolve_device  # lazy: --help must not import torch
    from .generate import generate_text

    cfg = given(GenerateConfig, o)
    echoed = []

    def write(piece):   # the prompt goes out with the first piece: a refused prompt prints nothing
        if not echoed:
            echoed.append(sys.stdout.write(cfg.prompt))
        sys.stdout.write(piece)
        sys.stdout.flush()

    generate_text(given(GenerateArgs, o).run, on_text=write,
                  **{**dataclasses.asdict(cfg), "device": resolve_device(cfg.device)})
    write("\n")


def evaluate(o: dict) -> None:
    a = given(EvaluateArgs, o)
    result = evaluate_run(a.run, data_dir=a.data_dir, device=a.device)
    split = result.pop("split", "test")  # what the numbers were measured on; a note on stderr says more
    if note := result.pop("note", None):
        print(f"fromzero: {note}", file=sys.stderr)
    for k, v in result.items():
        print(f"{split} {k}: {v * 100:.2f}%" if k == "accuracy" else f"{split} {k}: {v}" if isinstance(v, str)
              else f"{split} {k}: {v:.4f}")


def predict(o: dict) -> None:
    """Answers on stdout (a table, --json or --csv); notes, warnings and each bad input on stderr.
    Every input is predicted with one model load; any bad input makes the exit status 1 at the end."""
    a = given(PredictArgs, o)
    if a.json and a.csv:
        raise ConfigError("predict: --json and --csv both given: choose one output format")
    spec = check_run(a.run, "predict")
    inputs, notes, errors = prediction_inputs(a.run, spec, list(a.input or []), a.file)
    if not inputs and not errors:
        raise ConfigError("predict: expected at least one INPUT" + (" (or --file PATH)" if is_text(spec) else ""))
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    results = predict_many(a.run, inputs, device=a.device, top=a.top) if inputs else []
    for r in results:
        if r.get("warning"):
            print(f"warning: {r['warning']}", file=sys.stderr)
        for n in r.get("notes", ()):
            print(f"note: {n}", file=sys.stderr)
    errors += [r["error"] for r in results if "error" in r]
    good = [r for r in results if "error" not in r]
    if len(errors) == 1 and not good:
        raise DataError(errors[0])
    for e in errors:
        print(f"fromzero: error: {e}", file=sys.stderr)
    print(format_json(good) if a.json else format_csv(good) if a.csv else
          format_table(good, headed=len(good) + len(errors) > 1), end="")
    if errors:
        raise DataError(f"predict: {len(errors)} of {len(errors) + len(good)} inputs could not be used "
                        "(each is named above)")


def format_table(results: list[dict], headed: bool | None = None) -> str:
    """One block per input (headed by the input when there are several, or when ``headed``): classes
    and probabilities, or a forecaster's table."""
    blocks = []
    for r in results:
        if "forecast" in r:   # the recipe's own table, or one built from the numbers
            rows = r.get("lines") or ["step\t" + "\t".join(r["columns"])] + [
                f"t+{h + 1}\t" + "\t".join(f"{v:.4f}" for v in row) for h, row in enumerate(r["forecast"])]
        else:
            rows = [f"{label}\t{p * 100:6.2f}%" for label, p in r["top"]]
        head = len(results) > 1 if headed is None else headed
        blocks.append((f"{r['input']}\n" if head else "") + "".join(f"{x}\n" for x in rows))
    return "\n".join(blocks)


def format_json(results: list[dict]) -> str:
    keys = ("input", "top", "columns", "forecast", "times")
    rows = [json.dumps({k: r[k] for k in keys if k in r}, ensure_ascii=False) for r in results]
    return "[" + ",\n ".join(rows) + "]\n"   # one JSON document, an input per line


def format_csv(results: list[dict]) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    if results and "forecast" in results[0]:
        w.writerow(["input", "step", "time", *results[0]["columns"]])
        for r in results:
            times = r.get("times") or [""] * len(r["forecast"])
            w.writerows([r["input"], h + 1, t, *(f"{v:.6f}" for v in row)]
                        for h, (row, t) in enumerate(zip(r["forecast"], times)))
    else:
        w.writerow(["input", "rank", "class", "probability"])
        for r in results:
            w.writerows([r["input"], k + 1, label, f"{p:.6f}"] for k, (label, p) in enumerate(r["top"]))
    return out.getvalue()


def explain(o: dict) -> None:
    a = given(ExplainArgs, o)
    a.run = gpt_run(a.run)
    check_run(a.run, "explain")
    from .explain.checks import COMPLETENESS_TOL  # lazy: --help must not import torch
    from .explain.runs import check_explanations, explain_run  # lazy: --help must not import torch

    if a.check:
        if a.input:
            raise ConfigError("explain --check: expected only RUN, got INPUT arguments too")
        if "out" in o:
            print("note: --out applies to INPUTs; --check writes no files", file=sys.stderr)
        r = check_explanations(a.run, a.examples, data_dir=a.data_dir, device=a.device)
        print(format_checks(r))
        failed = [k for k, v in _check_results(r) if not v["passed"] and "control" not in k]
        if failed:
            raise DataError(f"explain --check: {len(failed)} check(s) failed: {', '.join(failed)}")
        return
    if not a.input:
        raise ConfigError("explain: expected at least one INPUT (an image file, a prompt for a GPT, a text for a "
                          "text classifier), or --check")
    if "examples" in o or "data_dir" in o:
        print("note: --examples and --data-dir apply to --check only", file=sys.stderr)
    for r in explain_run(a.run, list(a.input), a.out, device=a.device):   # each printed as soon as it is done
        if "by_variable" in r:
            top = sorted(r["by_variable"].items(), key=lambda kv: -abs(kv[1]))[:5]
            what = f"forecast of {r['target']}; variables that moved it most: " + \
                ", ".join(f"{k} {v:+.3f}" for k, v in top)
        else:
            what = f"{r['class']} ({r['probability'] * 100:.1f}%)" if "class" in r else \
                f"next token {r['next_token']!r} ({r['probability'] * 100:.1f}%)"
        if "token_attributions" in r:
            ranked = sorted(zip(r["tokens"], r["token_attributions"]), key=lambda t: -t[1])
            top = [(t, v) for t, v in ranked[:5] if v > 0]
            what += "; tokens that pushed toward it most: " + (", ".join(f"{t!r} {v:+.3f}" for t, v in top) or "none")
        if r.get("note"):
            print(r["note"] if r["note"].startswith("note:") else f"note: {r['note']}", file=sys.stderr)
        if r.get("completeness_error", 0) > COMPLETENESS_TOL:
            print(f"warning: {r['input']!r}: the attributions add up to the score change only within "
                  f"{100 * r['completeness_error']:.1f}% (checked: {100 * COMPLETENESS_TOL:g}%"
                  f"{', with ' + str(r['ig_steps']) + ' points on the path' if 'ig_steps' in r else ''}); "
                  f"read them as approximate", file=sys.stderr)
        print(f"{r['input']}: {what}" + "".join(f"\n  {r[k]}" for k in ("png", "html", "json") if k in r),
              flush=True)


def _check_results(r: dict):
    for kind in ("randomization", "deletion"):
        for method, v in r.get(kind, {}).items():
            yield f"{kind} {method}" + (" (control: ignores the model)" if method == "edges" else ""), v
    for kind in ("completeness", "attention"):
        if kind in r:
            yield kind, r[kind]


def format_checks(r: dict) -> str:
    """The sanity checks as lines: each check, its measure, PASS or FAIL (the edge-detector control
    is expected to fail randomization: it ignores the model)."""
    lines = [f"sanity checks of {r['run']} on " + (f"{r['images']} test images" if "images" in r
                                                   else f"{r['sequences']} random token sequences")]
    for name, v in _check_results(r):
        if name.startswith("randomization"):
            m = f"Spearman {v['spearman']:.3f} (must be < 0.5: the map changes when the weights are random)"
        elif name.startswith("deletion"):
            m = (f"probability drop {v['top_drop']:.3f} for the top 10% pixels vs {v['random_drop']:.3f} for "
                 f"random ones: {v['ratio']:.1f}x (must be >= 2x, and the drop >= 0.05)")
        elif name == "completeness":
            m = (f"Integrated Gradients sum vs f(input) - f(baseline): max error "
                 f"{v['max_relative_error'] * 100:.2f}% (<= 1%)")
        else:
            m = f"rows sum to 1 (max error {v['max_row_error']:.1e}), above the diagonal {v['max_above_diagonal']:g}"
        verdict = "PASS" if v["passed"] else "FAIL" + (" as expected" if "control" in name else "")
        lines.append(f"  {verdict}  {name}: {m}")
    return "\n".join(lines)


def export(o: dict) -> None:
    a = given(ExportArgs, o)
    a.run = gpt_run(a.run)
    spec = check_run(a.run, "export")
    if a.format == "onnx":
        from .export import export_onnx  # lazy: --help must not import torch

        r = export_onnx(a.run, a.out)
        shapes = ", ".join("x".join(map(str, s)) for s in r["checked_shapes"])
        print(f"exported {a.run} to {r['path']} (input {r['input']!r}, dynamic batch"
              + (" and length" if r["input"] == "tokens" else "") + f"); onnxruntime matches PyTorch within "
              f"{r['max_abs_error']:.1e} on inputs {shapes}")
        return
    if spec.get("name") != "gpt":
        raise ConfigError(f"{a.run}: export --format hf writes GPT-2 folders and takes a GPT language model; "
                          "use --format onnx for this run")
    from .hub import export_gpt2  # lazy: --help must not import torch

    out = export_gpt2(a.run, a.out or f"{a.run.rstrip('/')}-hf")
    print(f"exported {a.run} as a Hugging Face GPT-2 folder: {out}\n"
          f"load it with: transformers.AutoModelForCausalLM.from_pretrained({str(out)!r})")


def audit_privacy(o: dict) -> None:
    a = given(AuditArgs, o)

    r = audit_run(a.run, n=a.examples, data_dir=a.data_dir, device=a.device)
    if a.json:
        print(json.dumps(r))
        return
    eps = f"trained with differential privacy, ε = {r['epsilon']:.3g}" if r.get("epsilon") is not None \
        else "trained without differential privacy"
    print(f"membership inference (loss threshold, Yeom et al. 2018) on {a.run} ({eps}):\n"
          f"  {r['examples_per_group']} {r['members']} vs {r['examples_per_group']} {r['non_members']}\n"
          f"  mean loss: members {r['member_loss']:.4f}, non-members {r['non_member_loss']:.4f}\n"
          f"  attack ROC AUC {r['auc']:.4f} (0.5 = no better than a coin toss), advantage (best TPR - FPR) "
          f"{r['advantage']:.4f}")


def serve(o: dict) -> None:
    runs = list(given(ServeArgs, o).run or [])
    if not runs:
        raise ConfigError("serve: expected at least one RUN (a run directory written by fromzero train, pretrain or "
                          "finetune)")
    for run in runs:   # before fastapi and torch load: a wrong run fails at once
        check_run(gpt_run(run), "serve")
    try:
        from .serve.app import run_server  # lazy: fastapi, uvicorn and torch load only when serving
    except ModuleNotFoundError as e:
        raise ConfigError(f"serve needs {e.name}: pip install 'fromzero[serve]'") from None
    run_server(runs, given(ServeConfig, o))


def scratch_train(o: dict) -> None:
    from .scratch.gpt_train import train_gpt  # lazy: --help must not import numpy
    from .scratch.train import options_for, train_mnist  # lazy: as above

    cfg = given(ScratchTrainConfig, o)
    kwargs = options_for(cfg.model, dataclasses.asdict(cfg), o)
    if cfg.model == "gpt":
        r = train_gpt(**kwargs)
        c = r["config"]
        print(f"scratch gpt ({r['model'].n_params():,} parameters, {c.max_iters} steps): validation loss "
              f"{r['val_loss']:.4f}, trained in {r['train_time_s']:.1f} s ({r['tokens_per_s']:,.0f} tokens/s)")
        print(f"sample:\n{r['sample']}")
        return
    r = train_mnist(**kwargs)
    cfg = r["config"]
    print(f"scratch {cfg.model} ({r['model'].n_params():,} parameters, {cfg.epochs} epochs): "
          f"test accuracy {r['test_accuracy'] * 100:.2f}%, trained in {r['train_time_s']:.1f} s "
          f"({r['samples_per_s']:,.0f} images/s)")


@dataclass
class CompareArgs:
    out: str | None = opt(None, "folder for the table (table.csv, table.json), chart.png and the fromzero model's "
                          "run (not for mnist: its CNN is not saved)", shown="runs/compare-TASK")
    overwrite: bool = opt(False, "replace an earlier comparison in --out (a folder holding anything else is "
                          "always refused)")
    quiet: bool = _quiet("no progress bars or notes")


def compare(o: dict) -> None:
    from .recipes.compare import compare  # lazy: --help must not import torch or scikit-learn
    from .recipes.compare_report import format_table

    a, c = given(CompareArgs, o), given(CompareConfig, o)
    table = compare(out=a.out, overwrite=a.overwrite, verbose=0 if a.quiet else 1, **dataclasses.asdict(c))
    print(format_table(table))
    print(f"table and chart saved to {a.out or f'runs/compare-{c.task}'} (table.csv, table.json, chart.png)")


def models(o: dict) -> None:
    from .zoo import format_table, json_table, zoo_table  # lazy: --help must not import torch

    cfg = given(ModelsConfig, o)
    rows = zoo_table(**dataclasses.asdict(cfg))
    print(json.dumps(json_table(rows, cfg), indent=1) if cfg.json else format_table(rows, cfg))


def plan(o: dict) -> None:
    from .recipes.plan import describe, plan  # lazy: --help must not import torch

    cfg = given(PlanConfig, o)
    p = plan(cfg.task, cfg.data, cfg.time, cfg.memory, cfg.device, cfg.threads or None, cfg.preset or None)
    print(json.dumps(p.as_dict(), indent=1) if cfg.json else describe(p))


# --- the command table ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Command:
    help: str
    description: str
    options: list          # dataclasses, or (dataclass, presets: name -> field values, example preset)
    run: Callable[[dict], None]


GROUPS = {"train": "train a shipped model (mnist-cnn, forecast, text-rnn)",
          "pretrain": "pre-train a language model on text (gpt, lstm)",
          "scratch": "the tutorial's formulas in plain NumPy (no PyTorch)"}

COMMANDS: dict[str, Command] = {
    "train mnist-cnn": Command(
        "the tutorial's CNN on MNIST (section 1.4), bugs fixed",
        "Train the tutorial's CNN (conv32-pool-conv64-pool-dense128-dense10) on MNIST and print the test accuracy.",
        [MnistArgs, RunArgs, (MnistConfig, {"": {}, "--speedrun": MNIST_SPEEDRUN}, None)], train_mnist),
    "train forecast": Command(
        "an LSTM/GRU forecaster on a time series (ett, melbourne or a CSV file)",
        "Train an LSTM/GRU to forecast one or more columns of a time series and compare it with naive baselines "
        "(repeat the last value, seasonal naive, calendar mean) on the same test windows. Built-in series (ett: "
        "ETTh1, hourly electricity-transformer loads; melbourne: daily minimum temperatures) use their standard "
        "split and setup (docs/rnn.md).",
        [(ForecastConfig, {**FORECAST_RECIPES, "a CSV file": {}}, None), ForecastArgs, RunArgs], train_forecast),
    "train text-rnn": Command(
        "a bidirectional LSTM/GRU sentence classifier (SST-2 sentiment), from scratch",
        "Train Embedding -> bidirectional LSTM/GRU -> max over positions -> Dense on labelled sentences (early "
        "stopping on the dev accuracy), then print the test accuracy.",
        [TextRNNConfig, TextRNNArgs, RunArgs], train_text_rnn),
    "pretrain gpt": Command(
        "a GPT (decoder-only Transformer)",
        "Pre-train a GPT through fromzero's Trainer: validation loss, a text sample, tokens/s and MFU at each "
        "evaluation; resumable checkpoints. Presets: " + ", ".join(GPT_PRESETS) + ".",
        [PretrainArgs, RunArgs, (GPTConfig, GPT_PRESETS, PretrainArgs.preset),
         (PretrainConfig, GPT_RECIPES, PretrainArgs.preset)], pretrain),
    "pretrain lstm": Command(
        "a character-level LSTM/GRU language model (the GPT's pipeline)",
        "Pre-train a recurrent language model (embedding, stacked LSTM or GRU, linear head) with the same data, "
        "trainer, evaluation and generation as `fromzero pretrain gpt`. Presets: " + ", ".join(RNN_PRESETS)
        + " (about the GPT preset's parameter count).",
        [PretrainLSTMArgs, RunArgs, (RNNLMConfig, RNN_PRESETS, None), (PretrainConfig, RNN_RECIPES, None)],
        lambda o: pretrain(o, family="lstm")),
    "finetune": Command(
        "fine-tune a pre-trained GPT on a labelled text task (sst2, or your file)",
        "Load a run written by `fromzero pretrain gpt` (weights and tokenizer), add a classification head "
        "(mean-pooled hidden states -> linear), and train it on a labelled task through the Trainer: the whole "
        "model, some of it (--freeze), or LoRA adapters (--lora-rank). The weights with the best dev accuracy "
        "are kept; dev and test accuracy go to metrics.json. Then: fromzero evaluate OUT; fromzero predict OUT "
        "\"a sentence\".",
        [FinetuneArgs, RunArgs, FinetuneConfig], finetune),
    "generate": Command(
        "generate text with a pre-trained language model",
        "Load a run directory written by `fromzero pretrain` and stream text after a prompt (KV-cached sampling).",
        [GenerateArgs, GenerateConfig], generate),
    "evaluate": Command(
        "evaluate a saved run on its test data",
        "Load a run directory and print its test loss and metrics.", [EvaluateArgs], evaluate),
    "predict": Command(
        "predict with a saved classifier or forecaster, on one input or many",
        "Load a run directory once and print, for each input, the top classes and probabilities (a forecaster: "
        "the steps after the file's last rows); a block per input, headed by the input when there are several, "
        "or --json / --csv. Images may be 28x28 or larger, greyscale or colour; they are converted to greyscale "
        "and resized. Answers go to stdout; notes, warnings and errors to stderr. An input that cannot be used "
        "is an error line of its own, the others are still answered, and the exit status is then 1. Language "
        "models: use fromzero generate.",
        [PredictArgs], predict),
    "explain": Command(
        "explain a model's answer: attribution maps of images, attention and token attributions of text",
        "Image classifier: for each image file, a PNG with the input and three attribution maps (gradient saliency, "
        "Integrated Gradients, Grad-CAM; Captum) and a JSON of the class, its probability and the maps. GPT: for "
        "each prompt, a PNG of the attention weights of every layer and head, an HTML page of the prompt's tokens "
        "coloured by how much each pushed toward the predicted next token (Integrated Gradients on the embeddings), "
        "and a JSON. Fine-tuned text classifier: the HTML page and JSON for the predicted class. Forecaster: for each "
        "CSV file, a heat map of which past steps and variables moved the forecast (Integrated Gradients) and a "
        "JSON. --check runs the "
        "sanity checks (Adebayo et al. 2018 model randomization, Petsiuk et al. 2018 deletion, Integrated Gradients' "
        "completeness; attention rows) on test data (docs/challenges.md).", [ExplainArgs], explain),
    "export": Command(
        "write a model for other tools: a GPT in the Hugging Face layout, or ONNX",
        "--format onnx: write the model of a run (image classifier, forecaster or GPT) as an ONNX file with a "
        "dynamic batch axis (and the GPT's sequence axis); onnxruntime runs it on three batch sizes (the GPT: "
        "three lengths) and must match PyTorch within 1e-4, or the export fails. --format hf: write the GPT of a run "
        "as a Hugging Face GPT-2 folder (config.json, model.safetensors and, for a BPE "
        "tokenizer, tokenizer.json) that transformers.AutoModelForCausalLM.from_pretrained loads. The GPT needs "
        "GPT-2's shape: learned positions and no QK-norm (pretrain gpt --set pos_emb=learned --set "
        "qk_norm=false), LayerNorm; a model without biases gets zero biases. The other way, every command that "
        "takes a GPT run also takes hf:NAME (downloaded once "
        "through huggingface_hub's cache) or a Hugging Face GPT-2 folder (docs/hub.md).", [ExportArgs], export),
    "audit-privacy": Command(
        "measure what a trained classifier leaks about its training data",
        "Run a membership-inference attack (Yeom et al. 2018: guess 'trained on it' when the loss is low) on a "
        "saved image classifier or fine-tuned text classifier: its training examples against as many test "
        "examples. Prints the attack's ROC AUC "
        "(0.5: nothing leaks through the loss) and advantage; a run trained with --dp-epsilon also shows its ε "
        "(docs/challenges.md).", [AuditArgs], audit_privacy),
    "serve": Command(
        "serve runs over HTTP: a JSON API and a web page (draw a digit, stream text, ...)",
        "Load each RUN once and serve it on HTTP (FastAPI + uvicorn): POST /api/predict (an image), /api/generate "
        "(text as server-sent events), /api/classify (a sentence), /api/forecast (a CSV file); a page for people "
        "at / (English / 中文) and the OpenAPI page at /docs. One thread runs the models: requests queue "
        "(--queue; 503 when full) and each has --timeout; bodies over --max-body get 413, prompts over "
        "--max-chars and more than --max-new-tokens tokens get 422 (docs/serve.md). Ctrl-C stops it.",
        [ServeArgs, ServeConfig], serve),
    "compare": Command(
        "traditional models beside the fromzero model: quality, size, training time, latency",
        "Train scikit-learn's (or NumPy's) traditional models and the matching fromzero model on the same split "
        "and print one table: quality, parameters, training time, inference latency per sample and size; "
        "table.csv, table.json and chart.png go to --out. mnist: logistic regression and a random forest on the "
        "pixels vs the tutorial's CNN; text: TF-IDF + logistic regression vs a BiLSTM; forecast: repeat-last, "
        "seasonal naive and ridge on lagged windows vs the LSTM forecaster; lm: a Kneser-Ney character n-gram "
        "model vs a GPT (docs/choosing.md). Needs scikit-learn: pip install 'fromzero[compare]'.",
        [CompareConfig, CompareArgs], compare),
    "models": Command(
        "the model zoo: every preset's task, size, FLOPs, training memory and measured speed",
        "Print every preset and family (GPT and LSTM presets, the MNIST CNN, the forecaster, the text RNN) with its "
        "task, parameters, training FLOPs per token or per sample, the training memory at its recipe's batch (or "
        "--batch-size, --block-size): parameters, gradients, optimizer state, activations, per GPU under FSDP "
        "with --gpus N, and the training throughput measured on this machine (--measure measures the rows not "
        "yet measured, once; the results are cached). docs/choosing.md explains the columns.",
        [ModelsConfig], models),
    "plan": Command(
        "recommend a preset, batch, steps and precision for a time or memory budget, and the command",
        "Given a task (gpt: a language model on --data; mnist-cnn), and a budget (--time, --memory or both), "
        "recommend a preset, batch size, steps or epochs and precision from this machine's measured throughput "
        "(measured once and cached), the data's size and the fitted scaling law; say what to expect (loss or "
        "accuracy range, wall time, peak memory) and print the exact command to run (docs/choosing.md).",
        [PlanConfig], plan),
    "scratch train": Command(
        "train an MLP or a CNN on MNIST, or a character GPT, with the NumPy ops",
        "Train a NumPy-only MLP (784-256-10) or CNN (conv5x5-relu-maxpool-dense) on MNIST, or a GPT (pre-LN "
        "Transformer, --model gpt) on the characters of Tiny Shakespeare or --data FILE, with hand-written "
        "backprop and Adam; prints the test accuracy, or the validation loss and a sample. Tip: on a busy "
        "machine, OPENBLAS_NUM_THREADS=1 is often much faster.", [ScratchTrainConfig], scratch_train),
}


def build_parser() -> argparse.ArgumentParser:
    """The parser of every command in ``COMMANDS``; the parsed namespace holds the given options only."""
    parser = argparse.ArgumentParser(prog="fromzero",
                                     description="Build and train AI models from zero, on plain PyTorch.")
    parser.add_argument("--version", action="version", version=f"fromzero {__version__}")
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help=f"on an error, show the full traceback "
                        f"(also {DEBUG_ENV}=1); by default an error is one line")
    subs = {(): parser.add_subparsers(metavar="COMMAND")}
    for name, cmd in COMMANDS.items():
        *group, leaf = name.split()
        if tuple(group) not in subs:  # a group such as `train`: its own help and sub-commands
            g = subs[()].add_parser(group[0], help=GROUPS[group[0]], description=GROUPS[group[0]] + ".")
            g.set_defaults(command=g)
            subs[tuple(group)] = g.add_subparsers(metavar="TARGET" if group[0] == "train" else "COMMAND")
        p = subs[tuple(group)].add_parser(leaf, help=cmd.help, description=cmd.description)
        p.set_defaults(command=cmd)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        seen: set = set()
        for spec in cmd.options:
            cls, presets, example = spec if isinstance(spec, tuple) else (spec, None, None)
            add_options(p, cls, presets, example, seen)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    o, extra = parser.parse_known_args(argv)
    o = vars(o)
    after = []
    if "--" in extra:       # `predict RUN -- "-1 star"`: after `--`, every argument is an INPUT
        cut = extra.index("--")
        extra, after = extra[:cut], extra[cut + 1:]
    if (extra or after) and isinstance(o.get("input"), list) and not any(a.startswith("-") for a in extra):
        o["input"] += extra + after   # `predict RUN --json "a text"`: INPUTs after an option are INPUTs too
    elif extra or after:
        parser.parse_args(argv)   # argparse's own "unrecognized arguments" error (exit status 2)
    debug = o.pop("debug", False) or os.environ.get(DEBUG_ENV, "") not in ("", "0")
    cmd = o.pop("command", parser)
    if not isinstance(cmd, Command):  # `fromzero` or a group alone
        cmd.print_help()
        return 2
    if o.get("nproc", 1) > 1:
        from . import distributed as dist  # lazy: --help must not import torch
        if not dist.launched():  # --nproc N: this command again, as N processes (torchrun)
            return dist.launch(o["nproc"], strip_nproc(argv))
    try:
        run_command(cmd, o)
        return 0
    except KeyboardInterrupt:
        print("fromzero: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `fromzero models | head`: the reader has gone; stop quietly, as cat does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush cannot fail
        return 141  # 128 + SIGPIPE, what a shell reports for a command stopped by a closed pipe
    except Exception as e:  # one line each; the traceback only with --debug or FROMZERO_DEBUG=1
        if debug:
            traceback.print_exc()
        print(f"fromzero: error: {error_line(e, debug)}", file=sys.stderr)
        return exit_code(e)


DEBUG_ENV = "FROMZERO_DEBUG"   # FROMZERO_DEBUG=1: what --debug does


def run_command(cmd: Command, o: dict) -> None:
    """``cmd.run(o)``; an ``--out`` folder it made is removed again when it fails with nothing written there."""
    made = Path(o["out"]) if o.get("out") and not Path(o["out"]).exists() else None
    while made is not None and made.parent != made and not made.parent.exists():
        made = made.parent                                   # the first folder of the path it made
    try:
        cmd.run(o)
        if "fromzero.distributed" in sys.modules:   # a torchrun rank: leave the process group together
            sys.modules["fromzero.distributed"].finish()
    except BaseException:
        if made is not None and made.is_dir() and not any(p.is_file() for p in made.rglob("*")):
            shutil.rmtree(made, ignore_errors=True)
        raise


def exit_code(e: BaseException) -> int:
    """2 for a usage error (the command line asks for something invalid: an option out of range,
    an unknown ``--set`` key, options that conflict: a ``ConfigError``; argparse's own errors exit
    2 too), 1 for every other failure (a file, the data, a run directory, a non-finite run, the disk)."""
    return 2 if isinstance(e, ConfigError) else 1


def error_line(e: BaseException, debug: bool = False) -> str:
    """The one line that reports ``e``: the project's message, or the system's naming the file."""
    if isinstance(e, FromzeroError):
        return str(e)
    if isinstance(e, OSError) and e.strerror:  # a read-only, full or missing folder, a file in the way
        return f"{e.filename}: {e.strerror}" if e.filename else e.strerror
    if isinstance(e, MemoryError):
        return "out of memory"
    return (f"unexpected {type(e).__name__}: {e}"
            + ("" if debug else f" (a bug in fromzero: --debug or {DEBUG_ENV}=1 shows where)"))


if __name__ == "__main__":
    sys.exit(main())
