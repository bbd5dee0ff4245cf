"""``fromzero explain RUN INPUT...`` and ``fromzero explain --check RUN`` on saved runs.

An image classifier: for each image, a PNG (the input and its three maps) and a JSON (the class,
its probability, each map's 28x28 values). A GPT: for a prompt, a PNG of its attention weights
(every layer and head), an HTML page of its tokens coloured by how much each pushed toward the
predicted next token (Integrated Gradients), and a JSON of both. A fine-tuned text classifier:
for a text, the HTML page and JSON for the predicted class.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import torch

from ..checkpoint import load_model
from ..datasets import load_mnist
from ..device import resolve_device
from ..errors import DataError, FromzeroError
from ..generate import encode_prompt
from ..io import check_writable_dir, read_json
from ..recipes.images import load_image
from ..recipes.mnist import to_inputs
from ..recipes.finetune import encoding_note, start_token, unreadable
from ..recipes.forecast import input_window
from ..recipes.runs import check_run
from ..text.labelled import encode_texts, normalize_text
from ..text.tokenizer import load_tokenizer
from .attention import attention_maps, save_attention_grid
from .checks import COMPLETENESS_TOL, attention_check, image_checks
from .images import attribution_maps, save_overlay
from .series import save_heatmap, window_attributions
from .tokens import save_html, token_attributions, token_labels


def _stem(text: str, i: int) -> str:
    s = re.sub(r"[^\w.-]+", "_", Path(text).stem if Path(text).suffix else text)[:40]
    s = s.strip("_.").lstrip("-")        # "good." -> good.explain.html; no name that reads as an option
    return s or f"input-{i + 1}"


def explain_run(run_dir, inputs: list, out=None, device="cpu"):
    """Explain each input with the run's model and write its files into ``out`` (default
    RUN/explain): yields one summary per input, with the paths written, as each is done.

    Files are named after the input with an ``.explain`` part (``7.png`` -> ``7.explain.png``,
    ``7.explain.json``), made unique within the call, and never the path of an input.
    """
    spec = check_run(run_dir, "explain")
    if not inputs:
        raise FromzeroError("explain: expected at least one INPUT (an image file, a prompt for a GPT, a text for "
                            "a text classifier), or --check")
    if spec["task"] == "text-classification":
        tok = load_tokenizer(Path(run_dir))
        for i, x in enumerate(inputs, 1):
            if (e := "expected a sentence, got empty text" if not str(x).strip() else unreadable(spec, tok, x)):
                raise DataError(f"explain: text {i} of {len(inputs)} ({x!r}): {e}")
    out = check_writable_dir(Path(out) if out else Path(run_dir) / "explain")
    model = load_model(run_dir, resolve_device(device))
    image = spec["task"] == "image-classification"

    def names(paths):    # compared without case: "Good" and "good" are one file on macOS and Windows
        return {str(Path(p).resolve()).casefold() for p in paths}
    taken = names(x for x in inputs if image)
    for i, x in enumerate(inputs):
        if image and Path(x).is_dir():
            raise FromzeroError(f"{x}: a folder; explain takes image files (e.g. {Path(x) / '*.png'})")
        stem, k = _stem(str(x), i), 1
        while names(_paths(out, stem)) & taken:      # a/7.png, b/7.png; an input's own path
            k += 1
            stem = f"{_stem(str(x), i)}-{k}"
        taken |= names(_paths(out, stem))
        if image:
            yield _explain_image(model, spec, x, out, stem)
        elif spec["task"] == "forecast":
            yield _explain_forecast(model, spec, run_dir, x, out, stem)
        elif spec["task"] == "text-classification":
            yield _explain_text(model, spec, run_dir, x, out, stem)
        else:
            yield _explain_prompt(model, run_dir, x, out, stem)


def _paths(out: Path, stem: str) -> list[Path]:
    """Every file one input's explanation may write."""
    return [out / f"{stem}.explain.{ext}" for ext in ("png", "json", "html")] + \
        [out / f"{stem}.attention.png"]


def _explain_image(model, spec, image, out: Path, stem: str) -> dict:
    x, inverted = load_image(image, size=spec["config"].get("inputs", [[1, 28, 28]])[0][-1])
    x = x.to(next(model.parameters()).device)
    model.eval()
    with torch.no_grad():
        p = torch.softmax(model(x).float(), -1)[0]
    target = int(p.argmax())
    label = spec.get("classes", [str(k) for k in range(len(p))])[target]
    maps = attribution_maps(model, x, torch.tensor([target], device=x.device))
    png, js = out / f"{stem}.explain.png", out / f"{stem}.explain.json"
    save_overlay(x[0], {k: v[0] for k, v in maps.items()}, png, f"{Path(image).name}: {label} ({p[target] * 100:.1f}%)")
    result = {"input": str(image), "class": label, "probability": float(p[target]), "inverted": inverted,
              "note": f"{image}: dark-on-light image: inverted to MNIST's light-on-dark" if inverted else None,
              "maps": {k: [[round(float(a), 6) for a in row] for row in v[0]] for k, v in maps.items()},
              "png": str(png), "json": str(js)}
    js.write_text(json.dumps(result))
    return result


def _explain_prompt(model, run_dir, prompt: str, out: Path, stem: str) -> dict:
    tok = load_tokenizer(Path(run_dir))
    ids, note = encode_prompt(tok, prompt, model.config.block_size)
    idx = torch.tensor([ids], device=next(model.parameters()).device)
    att = attention_maps(model, idx).cpu()
    tokens = token_labels(tok, ids)
    png, js, page = out / f"{stem}.attention.png", out / f"{stem}.explain.json", out / f"{stem}.explain.html"
    save_attention_grid(att, tokens, png, f"attention weights of {Path(run_dir).name} for {prompt[:40]!r}")
    with torch.no_grad():
        p = torch.softmax(model(idx)[0, -1].float(), -1)
    nxt = int(p.argmax())
    ig = token_attributions(model, idx, lambda out: out[:, -1, nxt])
    save_html(tokens, ig["attributions"], page, f"next token {tok.decode([nxt])!r} ({p[nxt] * 100:.1f}%): "
              "which tokens of the prompt pushed toward it")
    result = {"input": prompt, "tokens": tokens, "check": attention_check(att), "note": note,
              "next_token": tok.decode([nxt]), "probability": float(p[nxt]), **_ig_json(ig),
              "attention": [[[[round(float(a), 5) for a in row] for row in head] for head in layer] for layer in att],
              "png": str(png), "html": str(page), "json": str(js)}
    js.write_text(json.dumps(result, ensure_ascii=False))
    return result


def _explain_forecast(model, spec, run_dir, path, out: Path, stem: str) -> dict:
    x, series = input_window(run_dir, path, model)
    x = x.to(next(model.parameters()).device)
    names = list(spec["inputs"]) + [f"time feature {i + 1}" for i in range(x.shape[-1] - len(spec["inputs"]))]
    target = spec["targets"][0]
    r = window_attributions(model, x, target=0)
    png, js = out / f"{stem}.explain.png", out / f"{stem}.explain.json"
    save_heatmap(r["attributions"], names, png, f"{Path(path).name}: what drove the forecast of {target} "
                 f"(summed over {model.config.horizon} steps)")
    a = r["attributions"]
    gap = r["score"] - r["baseline_score"]
    result = {"input": str(path), "target": target, "variables": names,
              "attributions": [[round(float(v), 6) for v in row] for row in a],
              "by_variable": {n: round(float(v), 6) for n, v in zip(names, a.sum(0))},
              "completeness_error": abs(float(a.sum()) - gap) / max(abs(gap), 1e-6), "png": str(png), "json": str(js)}
    js.write_text(json.dumps(result))
    return result


def _ig_json(ig: dict) -> dict:
    a = ig["attributions"]
    gap = ig["score"] - ig["baseline_score"]
    return {"token_attributions": [round(float(v), 6) for v in a], "ig_steps": ig["steps"],
            "completeness_error": abs(float(a.sum()) - gap) / max(abs(gap), 1e-6)}


def _explain_text(model, spec, run_dir, text: str, out: Path, stem: str) -> dict:
    tok = load_tokenizer(Path(run_dir))
    stats: dict = {}
    ids = encode_texts(tok, [normalize_text(text, spec.get("normalize"))],
                       spec.get("max_length") or model.gpt.config.block_size, stats=stats,
                       start=start_token(spec, tok))[0]
    idx = torch.as_tensor(ids, device=next(model.parameters()).device)[None]
    model.eval()
    with torch.no_grad():
        p = torch.softmax(model(idx)[0].float(), -1)
    target = int(p.argmax())
    label = spec["classes"][target]
    ig = token_attributions(model, idx, lambda out: out[:, target])
    tokens = token_labels(tok, ids)
    page, js = out / f"{stem}.explain.html", out / f"{stem}.explain.json"
    save_html(tokens, ig["attributions"], page, f"{label} ({p[target] * 100:.1f}%): which tokens pushed toward it")
    result = {"input": text, "class": label, "probability": float(p[target]), "tokens": tokens,
              "note": encoding_note("input", stats), **_ig_json(ig), "html": str(page), "json": str(js)}
    js.write_text(json.dumps(result, ensure_ascii=False))
    return result


def check_explanations(run_dir, examples: int | None = None, data_dir=None, device="cpu") -> dict:
    """The sanity checks (``fromzero.explain.checks``) on a saved run: an image classifier's maps on
    ``examples`` test images; a GPT's attention (and a text model's token attributions: their
    completeness) on ``examples`` random token sequences."""
    spec = check_run(run_dir, "explain")
    if spec["task"] == "forecast":
        raise FromzeroError("explain --check: the checks cover image classifiers and text models; for a forecaster, "
                            "each explanation's JSON gives its completeness_error")
    model = load_model(run_dir, resolve_device(device))
    dev = next(model.parameters()).device
    if spec["task"] == "image-classification":
        examples = examples or 100
        cfg = read_json(Path(run_dir) / "train_config.json") if (Path(run_dir) / "train_config.json").is_file() else {}
        x, _ = load_mnist("test", data_dir or cfg.get("data_dir"), spec.get("dataset", "mnist"))
        return {"run": str(run_dir), **image_checks(model, to_inputs(x[:examples]).to(dev))}
    examples = examples or 10
    gpt = getattr(model, "gpt", model)                  # a fine-tuned classifier's backbone
    g = torch.Generator().manual_seed(0)
    T = min(gpt.config.block_size, 64)
    worst_att = {"max_row_error": 0.0, "max_above_diagonal": 0.0, "passed": True}
    errors = []
    for _ in range(examples):
        idx = torch.randint(0, gpt.config.vocab_size, (1, T), generator=g).to(dev)
        c = attention_check(attention_maps(gpt, idx))
        worst_att = {k: max(worst_att[k], c[k]) for k in ("max_row_error", "max_above_diagonal")} | \
            {"passed": worst_att["passed"] and c["passed"]}
        with torch.no_grad():
            out = model(idx)
        k = int((out[0] if model is not gpt else out[0, -1]).argmax())    # the answer, fixed on the path
        score = (lambda out: out[:, k]) if model is not gpt else (lambda out: out[:, -1, k])
        errors.append(_ig_json(token_attributions(model, idx, score))["completeness_error"])
    return {"run": str(run_dir), "sequences": examples, "attention": worst_att,
            "completeness": {"max_relative_error": max(errors), "mean_relative_error": sum(errors) / len(errors),
                             "passed": max(errors) <= COMPLETENESS_TOL}}
