"""The runs a server answers with: each loaded once, then called from the one model thread.

``load_served(run)`` checks the run (``fromzero.recipes.runs.check_run(run, "serve")``), loads its
model (and tokenizer) on the CPU and returns a ``Served``: which endpoint it answers, what the web
page needs to know about it, and the library function that answers (``predict_many`` of the run's
recipe, ``predict_run`` of a forecaster, ``generate_text``), bound to the loaded model.

Example:
    >>> served = load_served("runs/mnist-cnn")          # doctest: +SKIP
    >>> served.endpoint, served.info["classes"][:3]      # doctest: +SKIP
    ('predict', ['0', '1', '2'])
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..checkpoint import load_model
from ..errors import ConfigError, DataError
from ..generate import check_sampling, encode_prompt, generate_text
from ..recipes import finetune, forecast, images, rnn_text
from ..recipes.runs import check_run, gpt_run, run_kind
from ..text.tokenizer import load_tokenizer

# task -> the endpoint that answers with a run of it
ENDPOINTS = {"image-classification": "predict", "language-modeling": "generate",
             "text-classification": "classify", "rnn-text-classification": "classify", "forecast": "forecast"}


@dataclass
class Served:
    """A loaded run: ``answer(...)`` runs its model (call it from the model thread only)."""
    run: str
    endpoint: str                  # predict, generate, classify or forecast
    what: str                      # the run in words: "an image classifier"
    answer: Callable
    info: dict = field(default_factory=dict)   # for the page and GET /api/info: classes, columns, ...
    check: Callable | None = None  # validates a request before it is queued (cheap, no model)


def load_served(run: str) -> Served:
    """The run's model loaded once on the CPU, and the function that answers a request with it."""
    run = gpt_run(run)
    spec = check_run(run, "serve")
    task, what = spec["task"], run_kind(spec).what
    endpoint = ENDPOINTS[task]
    if task == "image-classification":
        model = load_model(run, "cpu")
        return Served(run, endpoint, what, lambda paths: images.predict_many(run, paths, "cpu", top=3, model=model),
                      {"classes": spec.get("classes") or [str(i) for i in range(10)]})
    if task == "text-classification":
        loaded = finetune.load_classifier(run, "cpu")
        return Served(run, endpoint, what, lambda texts: finetune.predict_many(run, texts, "cpu", 3, loaded),
                      {"classes": spec["classes"]})
    if task == "rnn-text-classification":
        model = load_model(run, "cpu")
        return Served(run, endpoint, what, lambda texts: rnn_text.predict_many(run, texts, "cpu", 3, model),
                      {"classes": spec["classes"]})
    if task == "forecast":
        model = load_model(run, "cpu")
        c = model.config
        return Served(run, endpoint, what, lambda path: forecast.predict_run(run, path, "cpu", model=model),
                      {"inputs": spec["inputs"], "targets": spec["targets"], "lookback": c.lookback,
                       "horizon": c.horizon})
    return _language_model(run, endpoint, what)


def _language_model(run: str, endpoint: str, what: str) -> Served:
    model, tok = load_model(run, "cpu"), load_tokenizer(Path(run))
    block = model.config.block_size

    def check(prompt: str, max_new_tokens: int, temperature: float, top_k, top_p):
        check_sampling(max_new_tokens, temperature, top_k, top_p)
        encode_prompt(tok, prompt, block)   # characters the tokenizer never saw: refused before queueing

    def answer(prompt: str, on_text, **sampling) -> str:
        return generate_text(model, prompt, tokenizer=tok, on_text=on_text, on_note=lambda note: None, **sampling)

    return Served(run, endpoint, what, answer, {"block_size": block, "vocab_size": tok.vocab_size}, check)


def load_all(runs: list) -> dict[str, Served]:
    """endpoint -> its run, for every RUN given; two runs for the same endpoint are refused."""
    if not runs:
        raise ConfigError("serve: expected at least one RUN (a run directory written by fromzero train, pretrain "
                          "or finetune)")
    served: dict[str, Served] = {}
    for run in runs:
        s = load_served(str(run))
        if s.endpoint in served:
            raise ConfigError(f"serve: {served[s.endpoint].run} and {run} both answer /api/{s.endpoint}; expected "
                              "at most one run of each kind (image classifier, language model, text classifier, "
                              "forecaster)")
        served[s.endpoint] = s
    return served


def with_file(data: bytes, name: str, fn):
    """``fn(path)`` on ``data`` written to a temporary file called ``name``; an error that names the
    temporary path names ``name`` instead (what the client sent)."""
    with tempfile.TemporaryDirectory(prefix="fromzero-serve-") as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        try:
            return fn(str(path))
        except DataError as e:
            raise DataError(str(e).replace(str(path), name)) from None

