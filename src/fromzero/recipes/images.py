"""Image classification runs: evaluate on the test split, predict on image files."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..checkpoint import load_model

from ..io import read_json
from ..datasets import load_mnist
from ..device import resolve_device
from ..errors import DataError
from ..privacy.audit import example_losses, membership_inference
from ..train import Trainer
from .mnist import to_inputs


def evaluate_run(run_dir, data_dir=None, device="auto") -> dict:
    """Test-set loss and accuracy of a saved image-classification run: on ``data_dir``'s test files,
    else on those of the folder the run trained on (its ``--data-dir``), else the dataset's own."""
    spec = read_json(Path(run_dir) / "model.json")
    cfg_file = Path(run_dir) / "train_config.json"
    trained_on = read_json(cfg_file).get("data_dir") if cfg_file.is_file() else None
    model = load_model(run_dir)
    x, y = load_mnist("test", data_dir or trained_on, spec.get("dataset", "mnist"))
    trainer = Trainer(model, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      device=device, verbose=0)
    return trainer.evaluate((to_inputs(x), torch.from_numpy(y)))


def audit_run(run_dir, n: int = 5000, data_dir=None, device="auto", seed: int = 0) -> dict:
    """The membership-inference attack (``fromzero.privacy.audit``) on a saved image run: ``n``
    of its training images (members) against ``n`` test images (non-members)."""
    run_dir = Path(run_dir)
    spec, cfg = read_json(run_dir / "model.json"), read_json(run_dir / "train_config.json")
    model = load_model(run_dir).to(resolve_device(device))
    dev = next(model.parameters()).device
    name = spec.get("dataset", "mnist")
    xtr, ytr = load_mnist("train", data_dir or cfg.get("data_dir"), name)
    xtr, ytr = xtr[:cfg.get("limit")], ytr[:cfg.get("limit")]   # what the run trained on
    xte, yte = load_mnist("test", data_dir or cfg.get("data_dir"), name)
    g = torch.Generator().manual_seed(seed)
    k = min(n, len(xtr), len(xte))
    i, j = torch.randperm(len(xtr), generator=g)[:k], torch.randperm(len(xte), generator=g)[:k]
    losses = [example_losses(model, to_inputs(x[idx.numpy()]).to(dev), torch.from_numpy(y[idx.numpy()]).long().to(dev))
              for x, y, idx in ((xtr, ytr, i), (xte, yte, j))]
    metrics = read_json(run_dir / "metrics.json") if (run_dir / "metrics.json").is_file() else {}
    return {**membership_inference(*(l.cpu() for l in losses)), "epsilon": metrics.get("epsilon"),
            "members": f"training images ({name})", "non_members": f"test images ({name})"}


# Bigger than any photo worth classifying; a header that claims more is refused before decoding.
MAX_PIXELS = 1 << 26
# Every MNIST training image, light-on-dark in [0, 1], has a mean in [0.025, 0.40] and a brightest
# pixel above 0.99: outside these the input looks nothing like what the model learnt from.
MAX_MEAN, MIN_CONTRAST = 0.4, 0.25


def load_image(path, size: int = 28) -> tuple[torch.Tensor, bool]:
    """An image file -> (1, 1, size, size) float tensor in [0, 1], white digit on black.

    Any size of 28x28 or larger, greyscale or colour, 8 or 16 bits; it is converted to greyscale
    and resized. Transparent pixels are background: they take the colour that contrasts with the
    drawing. Dark-on-light images (a digit drawn on white paper) are inverted to MNIST's
    light-on-dark; the second value tells whether that happened.

    Example:
        >>> x, inverted = load_image("digit.png")   # x: (1, 1, 28, 28)  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file not found")
    try:
        with Image.open(path) as im:
            w, h = im.size
            if w * h > MAX_PIXELS:
                raise DataError(f"{path}: expected an image of at most {MAX_PIXELS:,} pixels, got {w}x{h}")
            im.load()
            grey = _greyscale(im)
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError,
            SyntaxError, struct.error, EOFError, IndexError, TypeError, ZeroDivisionError) as e:
        if isinstance(e, DataError):
            raise
        raise DataError(f"{path}: expected an image file (PNG, JPEG, ...), could not read it: {e}") from None
    if w < size or h < size:
        raise DataError(f"{path}: expected an image of at least {size}x{size} pixels, got {w}x{h}")
    if grey.mode == "F":  # 16 or 32 bits, already in [0, 1]: resized without rounding to 8 bits
        arr = np.asarray(grey.resize((size, size), Image.Resampling.LANCZOS), dtype=np.float32).clip(0, 1)
    else:
        arr = np.asarray(grey.resize((size, size), Image.Resampling.LANCZOS), dtype=np.float32) / 255.0
    inverted = bool(arr.mean() > 0.5)
    if inverted:
        arr = 1.0 - arr
    return torch.from_numpy(np.ascontiguousarray(arr))[None, None], inverted


def _greyscale(im: Image.Image) -> Image.Image:
    """Mode "L" (8 bits), or "F" in [0, 1] for deeper images; transparency composited away."""
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        a = np.asarray(im).astype(np.float64)
        # 16-bit files open as I;16 (or I in older Pillow): full scale is 65535, not 255
        top = 1.0 if im.mode == "F" and a.max(initial=0) <= 1 else (
            65535.0 if a.max(initial=0) <= 65535 else float(a.max()))
        return Image.fromarray((a / top).clip(0, 1).astype(np.float32), "F")
    transparent = "A" in im.getbands() or "a" in im.getbands() or "transparency" in im.info
    if not transparent:
        return im.convert("L")
    rgba = im.convert("RGBA")
    grey, alpha = rgba.convert("L"), rgba.getchannel("A")
    g, a = np.asarray(grey), np.asarray(alpha)
    opaque = a >= 128
    if opaque.all():
        return grey
    # The opaque pixels decide: few of them are the drawing, and the background must contrast with
    # them (a black digit on nothing is a black digit on white); many of them hold their own
    # background (paper with a transparent margin), which the transparent pixels continue.
    bright = bool(opaque.any() and g[opaque].mean() >= 127.5)
    drawing = opaque.mean() <= 0.5
    background = 0 if bright == drawing else 255
    return Image.composite(grey, Image.new("L", grey.size, background), alpha)


def unlike_training_data(x: torch.Tensor) -> str | None:
    """Why a preprocessed image (light-on-dark in [0, 1]) looks nothing like an MNIST digit, or None."""
    lo, hi, mean = float(x.min()), float(x.max()), float(x.mean())
    if hi - lo < MIN_CONTRAST:
        return (f"the image is nearly uniform after preprocessing (pixel values {lo:.2f} to {hi:.2f}): "
                "there is no digit to see, the prediction means nothing")
    if mean > MAX_MEAN:
        return (f"the image is mostly bright after preprocessing (mean {mean:.2f}; training digits "
                f"have at most {MAX_MEAN}): expected a light digit on a dark background, or a dark "
                "digit on a light one, filling part of the image")
    return None


def predict_many(run_dir, images: list, device="auto", top: int = 3, batch_size: int = 256,
                 model=None) -> list[dict]:
    """Top classes and probabilities for each image file, with one model load (``model``: the run's
    model, already loaded, as ``fromzero serve`` keeps it).

    One dict per image, in order: ``{"input", "top": [(class, p), ...], "inverted"}``, with
    ``"notes"`` (the image was inverted) and ``"warning"`` (it looks nothing like the training
    digits) for stderr; an image that cannot be read gives ``{"input", "error"}`` instead.
    """
    spec = read_json(Path(run_dir) / "model.json")
    model = model if model is not None else load_model(run_dir, resolve_device(device))
    size = spec["config"].get("inputs", [[1, 28, 28]])[0][-1]
    results, xs = [], []
    for image in images:
        try:
            x, inverted = load_image(image, size=size)
        except DataError as e:
            results.append({"input": str(image), "error": str(e)})
            continue
        r = {"input": str(image), "inverted": inverted}
        if inverted:
            r["notes"] = [f"{image}: dark-on-light image: inverted to MNIST's light-on-dark"]
        why = unlike_training_data(x)
        if why:
            r["warning"] = f"{image}: {why}"
        results.append(r)
        xs.append(x)
    probs = _probabilities(model, torch.cat(xs), batch_size) if xs else None
    classes = spec.get("classes") or [str(i) for i in range(probs.shape[1] if probs is not None else 0)]
    rows = iter(range(len(xs)))
    for r in results:
        if "error" not in r:
            p, i = probs[next(rows)].topk(min(top, probs.shape[1]))
            r["top"] = [(classes[k], float(v)) for v, k in zip(p, i.tolist())]
    return results


@torch.no_grad()
def _probabilities(model, x: torch.Tensor, batch_size: int) -> torch.Tensor:
    device = next(model.parameters()).device
    return torch.cat([torch.softmax(model(x[i:i + batch_size].to(device)).float(), -1).cpu()
                      for i in range(0, len(x), batch_size)])


def predict_run(run_dir, image, device="auto", top: int = 3) -> dict:
    """Top classes and probabilities for one image file (``predict_many`` for many)."""
    r = predict_many(run_dir, [image], device, top)[0]
    if "error" in r:
        raise DataError(r["error"])
    return r
