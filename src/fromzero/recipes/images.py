"""Image classification runs: evaluate on the test split, predict on image files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from ..checkpoint import load_model

from ..io import read_json
from ..datasets import load_mnist
from ..device import resolve_device
from ..errors import DataError
from ..train import Trainer
from .mnist import to_inputs


def evaluate_run(run_dir, data_dir=None, device="auto") -> dict:
    """Test-set loss and accuracy of a saved image-classification run."""
    spec = read_json(Path(run_dir) / "model.json")
    model = load_model(run_dir)
    x, y = load_mnist("test", data_dir, spec.get("dataset", "mnist"))
    trainer = Trainer(model, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                      device=device, verbose=0)
    return trainer.evaluate((to_inputs(x), torch.from_numpy(y)))


def load_image(path, size: int = 28) -> tuple[torch.Tensor, bool]:
    """An image file -> (1, 1, size, size) float tensor in [0, 1], white digit on black.

    Any size of 28x28 or larger, greyscale or colour; it is converted to greyscale and resized.
    Dark-on-light images (a digit drawn on white paper) are inverted to MNIST's light-on-dark;
    the second value tells whether that happened.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: image file not found")
    try:
        with Image.open(path) as im:
            im.load()
            w, h = im.size
            grey = im.convert("L")
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise DataError(f"{path}: expected an image file (PNG, JPEG, ...), could not read it: {e}") from None
    if w < size or h < size:
        raise DataError(f"{path}: expected an image of at least {size}x{size} pixels, got {w}x{h}")
    arr = np.asarray(grey.resize((size, size), Image.Resampling.LANCZOS), dtype=np.float32) / 255.0
    inverted = bool(arr.mean() > 0.5)
    if inverted:
        arr = 1.0 - arr
    return torch.from_numpy(arr)[None, None], inverted


def predict_run(run_dir, image, device="auto", top: int = 3) -> dict:
    """Top classes and probabilities for one image file."""
    spec = read_json(Path(run_dir) / "model.json")
    model = load_model(run_dir, resolve_device(device))
    x, inverted = load_image(image, size=spec["config"].get("inputs", [[1, 28, 28]])[0][-1])
    with torch.no_grad():
        probs = torch.softmax(model(x.to(next(model.parameters()).device)).float(), -1)[0].cpu()
    classes = spec.get("classes") or [str(i) for i in range(len(probs))]
    p, i = probs.topk(min(top, len(probs)))
    return {"top": [(classes[k], float(v)) for v, k in zip(p, i.tolist())], "inverted": inverted}
