"""Saved runs: what kind each is, which commands take it, and evaluate/predict with any of them.

``model.json`` names the run's task; ``KINDS`` says, for each task, what the run is in words, the
recipe module that reads it and the commands that take it. ``check_run(run_dir, command)`` is the
one check every command that takes a RUN makes first, with one message format::

    runs/x is a text classifier: use fromzero predict or evaluate (fromzero generate takes a language model)

Each recipe module in ``KINDS`` defines ``evaluate_run(run_dir, data_dir=None, device="auto")``
and, for the kinds ``predict`` takes, ``predict_many(run_dir, inputs, device="auto", top=...)``:
one model load for a list of inputs, one result per input (a dict with ``"input"`` and either the
answer or ``"error"``). The recipe is imported when a run of its task is used (the table holds
module names), so this module stays torch-free, in the ground layer.
"""
from __future__ import annotations

import glob
import importlib
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import CheckpointError, ConfigError, DataError
from ..io import decode_error, read_json


@dataclass(frozen=True)
class RunKind:
    what: str                 # the run in words: "a text classifier"
    recipe: str               # the module that evaluates and predicts with it
    commands: tuple           # the commands that take it as RUN


_LM = "fromzero.recipes.gpt"
# (task, model family or None for any) -> the kind; a family entry wins over the task's own.
KINDS = {("image-classification", None): RunKind("an image classifier", "fromzero.recipes.images",
                                                 ("predict", "evaluate", "explain", "audit-privacy", "export",
                                                  "serve", "train mnist-cnn --init")),
         ("forecast", None): RunKind("a forecaster", "fromzero.recipes.forecast",
                                     ("predict", "evaluate", "explain", "export", "serve")),
         ("language-modeling", "gpt"): RunKind("a GPT language model", _LM,
                                               ("generate", "evaluate", "explain", "finetune", "export",
                                                "pretrain gpt --init", "serve")),
         ("language-modeling", None): RunKind("a language model", _LM, ("generate", "evaluate", "serve")),
         ("rnn-text-classification", None): RunKind("a text classifier", "fromzero.recipes.rnn_text",
                                                    ("predict", "evaluate", "serve")),
         ("text-classification", None): RunKind("a text classifier", "fromzero.recipes.finetune",
                                                ("predict", "evaluate", "explain", "audit-privacy",
                                                 "serve"))}
# task -> recipe module
TASKS = {task: kind.recipe for (task, family), kind in KINDS.items() if family is None}
# what a command needs, in words (for the end of the message)
NEEDS = {"generate": "a language model", "finetune": "a GPT language model, written by fromzero pretrain gpt",
         "pretrain gpt --init": "a GPT language model, written by fromzero pretrain gpt",
         "train mnist-cnn --init": "the tutorial's CNN, written by fromzero train mnist-cnn",
         "export": "a GPT language model, an image classifier or a forecaster",
         "predict": "a classifier or a forecaster",
         "audit-privacy": "an image classifier or a fine-tuned text classifier",
         "explain": "an image classifier, a GPT language model, a fine-tuned text classifier or a forecaster"}


def _or(words) -> str:
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def run_kind(spec: dict) -> RunKind | None:
    """The kind of the run whose model.json is ``spec`` (None: a task fromzero does not know)."""
    task = spec.get("task")
    return KINDS.get((task, spec.get("name"))) or KINDS.get((task, None))


HF_PREFIX = "hf:"


def is_hf_source(source) -> bool:
    """``hf:NAME``, or a folder with a Hugging Face ``config.json`` and no fromzero ``model.json``:
    a GPT-2 checkpoint that ``fromzero.hub.import_gpt2`` turns into a run."""
    s = str(source)
    if s.startswith(HF_PREFIX):
        return True
    p = Path(s)
    return p.is_dir() and (p / "config.json").is_file() and not (p / "model.json").is_file()


def gpt_run(source) -> str:
    """The run folder of a RUN argument that takes a GPT: itself, or for ``hf:NAME`` or a Hugging
    Face GPT-2 folder, fromzero's run of it (converted once, then cached)."""
    if not is_hf_source(source):
        return source
    hub = importlib.import_module("fromzero.hub")   # layer 6, and torch: only for a Hugging Face source
    return str(hub.import_gpt2(source))


def read_spec(run_dir) -> dict:
    """The run's model.json; a clear error for a missing folder or a folder that is no run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir}: run directory not found"
                              + (" (it is a file)" if run_dir.exists() else ""))
    if not (run_dir / "model.json").is_file():
        if (run_dir / "run.json").is_file():
            raise CheckpointError(f"{run_dir}: no model.json yet: the run has not finished (continue it with "
                                  "--resume)")
        raise CheckpointError(f"{run_dir}: no model.json: not a fromzero run (a run directory is written by "
                              "fromzero train, pretrain or finetune)")
    spec = read_json(run_dir / "model.json")
    if not isinstance(spec, dict):
        raise CheckpointError(f"{run_dir / 'model.json'}: expected a JSON object (the model's name, config and "
                              f"task), got {type(spec).__name__}")
    return spec


def check_run(run_dir, command: str) -> dict:
    """The run's model.json after checking that ``fromzero COMMAND`` takes this kind of run.

    A run of another kind is a ``ConfigError`` (a usage error, exit status 2) that says what the run
    is and which commands take it; a folder that is no run is a ``CheckpointError``.

    Example:
        >>> check_run("runs/sst2", "generate")  # doctest: +SKIP
        ConfigError: runs/sst2 is a text classifier: use fromzero predict or evaluate (fromzero generate
        takes a language model)
    """
    spec = read_spec(run_dir)
    kind = run_kind(spec)
    if kind is None:
        known = sorted({task for task, _ in KINDS})
        raise CheckpointError(f"{run_dir}: model.json has task {spec.get('task')!r}; expected one of: "
                              f"{', '.join(known)}")
    if command not in kind.commands:
        cmds = [c for c in kind.commands if " --" not in c]   # "pretrain gpt --init" reads badly in a list
        need = NEEDS.get(command)
        raise ConfigError(f"{run_dir} is {kind.what}: use fromzero {_or(cmds)}"
                          + (f" (fromzero {command} takes {need})" if need else ""))
    return spec


def recipe_for(run_dir, command: str = "evaluate"):
    """The recipe module of a saved run, after ``check_run``."""
    return importlib.import_module(run_kind(check_run(run_dir, command)).recipe)


def evaluate_run(run_dir, **kwargs) -> dict:
    """Evaluate a saved run on its task's test data (``fromzero evaluate RUN``)."""
    return recipe_for(run_dir, "evaluate").evaluate_run(run_dir, **kwargs)


def audit_run(run_dir, **kwargs) -> dict:
    """The membership-inference attack on a saved run (``fromzero audit-privacy RUN``)."""
    return recipe_for(run_dir, "audit-privacy").audit_run(run_dir, **kwargs)


def predict_many(run_dir, inputs: list, **kwargs) -> list[dict]:
    """Predict with a saved run on each of ``inputs`` with one model load (``fromzero predict RUN INPUT...``).

    One result per input, in order: ``{"input": ..., "top": [(class, p), ...]}`` for a classifier,
    ``{"input": ..., "columns": [...], "forecast": [[...], ...]}`` for a forecaster, or
    ``{"input": ..., "error": "..."}`` when that input could not be read; ``"notes"`` (a list of
    lines for stderr) may come with any of them.
    """
    if not inputs:
        raise DataError("predict: expected at least one input, got none")
    return recipe_for(run_dir, "predict").predict_many(run_dir, list(inputs), **kwargs)


def predict_run(run_dir, inputs, **kwargs) -> dict:
    """Predict with a saved run on one input (``fromzero predict RUN INPUT``); a bad input raises."""
    result = predict_many(run_dir, [inputs], **kwargs)[0]
    if "error" in result:
        raise DataError(result["error"])
    return result


# --- turning the command line's INPUT arguments into texts and files ------------------------------

def classify_texts(texts: list[str], proba, top: int = 3, unreadable=None) -> list[dict]:
    """A text classifier's ``predict_many``: ``[{"input": text, "top": [(class, p), ...]}, ...]``, an
    empty text ``{"input": text, "error": ...}``; ``proba(texts) -> (class names, probabilities (N,
    n_classes))`` scores the others in one call (one model load). ``unreadable(text)``, if given,
    says why the model cannot read a text (None when it can): that text is an error too."""
    def error(t):
        return "expected a sentence, got empty text" if not t.strip() else unreadable(t) if unreadable else None
    results = [{"input": t} if (e := error(t)) is None else
               {"input": t, "error": f"predict: text {i} of {len(texts)} ({t!r}): {e}"}
               for i, t in enumerate(texts, 1)]
    good = [r["input"] for r in results if "error" not in r]
    if good:
        classes, probs = proba(good)
        rows = iter(probs)
        for r in results:
            if "error" not in r:
                p, i = next(rows).topk(min(top, len(classes)))
                r["top"] = [(classes[k], float(v)) for v, k in zip(p, i.tolist())]
    return results


def only_answer(results: list[dict]) -> dict:
    """The one result of ``predict_many`` on one input; its error raised as a ``DataError``."""
    if "error" in results[0]:
        raise DataError(results[0]["error"])
    return results[0]


def read_texts(path) -> list[str]:
    """The texts of a UTF-8 file, one per line (``-``: standard input); a BOM and CR line ends are
    dropped, blank lines skipped. An empty file, or one that is not UTF-8 text, is a ``DataError``."""
    name = "standard input" if str(path) == "-" else str(path)
    try:
        if str(path) == "-":
            data = sys.stdin.buffer.read()
        else:
            data = Path(path).read_bytes()
        text = data.decode("utf-8-sig")
    except FileNotFoundError:
        raise DataError(f"{name}: no such file (expected a text file, one text per line)") from None
    except IsADirectoryError:
        raise DataError(f"{name}: a folder; expected a text file, one text per line") from None
    except UnicodeDecodeError as e:
        raise decode_error(name, data, e) from None
    texts = [line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line.strip()]
    if not texts:
        raise DataError(f"{name}: no text in it (expected one text per line)")
    return texts


# --- turning the command line's INPUT arguments into files ---------------------------------------

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pnm",
                    ".pbm")
TABLE_EXTENSIONS = (".csv", ".tsv")   # a folder's series; a file named on its own may be any


def expand_paths(args, extensions: tuple, what: str) -> tuple[list[str], list[str], list[str]]:
    """Files, folders and globs -> (files, notes, errors).

    A folder gives its files whose extension is in ``extensions`` (sorted; not its subfolders) and a
    note counting what it skipped; a glob (``*``, ``?``, ``[``) is expanded here too, for shells
    that pass it on unexpanded; any other argument is a file, read (or found missing) later. A
    folder without such files, or a glob that matches no file, is an error line of its own.
    """
    files, notes, errors = [], [], []
    for arg in args:
        arg = str(arg)
        p = Path(arg)
        if p.is_dir():
            entries = sorted(q for q in p.iterdir() if q.is_file())
            hits = [q for q in entries if q.suffix.lower() in extensions]
            skipped = sorted({q.suffix.lower() or q.name for q in entries if q not in hits})
            if not hits:
                errors.append(f"{arg}: no {what} in this folder (expected {', '.join(extensions)}"
                              + (f"; it holds {len(entries)} other file(s): {', '.join(skipped[:8])})"
                                 if entries else "; it is empty)"))
                continue
            files += [str(q) for q in hits]
            notes.append(f"{arg}: {len(hits)} {what}" + (f"; skipped {len(entries) - len(hits)} other file(s) "
                                                         f"({', '.join(skipped[:8])})" if skipped else ""))
        elif not p.exists() and any(c in arg for c in "*?["):
            matches = sorted(m for m in glob.glob(arg) if Path(m).is_file())
            if not matches:
                errors.append(f"{arg}: no file matches this pattern")
            files += matches
        else:
            files.append(arg)
    return files, notes, errors


def is_text(spec: dict) -> bool:
    """Whether the run whose model.json is ``spec`` classifies texts."""
    return spec.get("task") in ("text-classification", "rnn-text-classification")


def prediction_inputs(run_dir, spec: dict, args: list, file=None) -> tuple[list, list, list]:
    """(inputs, notes, errors): what ``fromzero predict RUN ARGS... [--file FILE]...`` predicts on.

    Text classifiers: each argument is a text, then the lines of ``file`` (``read_texts``; a path or
    a list of them); an
    argument that names an existing file gets a note pointing to ``--file``. Image classifiers and
    forecasters: ``expand_paths`` of the arguments (image files, or CSV files).
    """
    if is_text(spec):
        notes = [f"{t!r} is read as a text, not as the file of that name (for one text per line: --file {t})"
                 for t in args if " " not in t and Path(t).is_file()]
        texts, errors = list(args), []
        for f in [file] if isinstance(file, (str, Path)) else list(file or []):
            try:
                texts += read_texts(f)
            except DataError as e:          # one file that cannot be read is an error of its own
                errors.append(f"--file {e}")
        return texts, notes, errors
    if file:
        raise ConfigError(f"predict: --file is for text classifiers; {run_dir} is {run_kind(spec).what}: give it "
                          "files, folders or globs as INPUT")
    if spec.get("task") == "image-classification":
        return expand_paths(args, IMAGE_EXTENSIONS, "image file(s)")
    return expand_paths(args, TABLE_EXTENSIONS, "CSV file(s)")
