"""Images for ``fromzero predict`` (issue #15, finding 11): transparency is background, 16-bit
images keep their grey levels, and an input unlike the training digits is flagged on stderr."""
import numpy as np
import pytest
import torch
from PIL import Image

from fromzero.checkpoint import save_model
from fromzero.cli import main
from fromzero.datasets import load_mnist
from fromzero.models.cnn import build_model
from fromzero.recipes.images import load_image
from fromzero.recipes.mnist import to_inputs

ONE_LEVEL = 1 / 255 + 1e-6


@pytest.fixture(scope="module")
def digit():
    return load_mnist("test")[0][0]  # (28, 28) uint8, a 7: light on dark


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    torch.manual_seed(0)
    return save_model(tmp_path_factory.mktemp("img") / "run", build_model(),
                      extra={"task": "image-classification"})


def rgba(rgb: int, alpha: np.ndarray) -> Image.Image:
    return Image.fromarray(np.dstack([np.full_like(alpha, rgb)] * 3 + [alpha]), "RGBA")


@pytest.mark.parametrize("hidden", [0, 255])  # the colour stored under the transparent pixels
def test_black_digit_on_transparent_background_is_an_mnist_digit(tmp_path, digit, hidden):
    im = rgba(0, digit)  # black ink, its coverage in alpha (a canvas export)
    arr = np.asarray(im).copy()
    arr[digit == 0, :3] = hidden
    Image.fromarray(arr, "RGBA").save(tmp_path / "d.png")
    x, inverted = load_image(tmp_path / "d.png")
    assert inverted  # black on (implicit) white paper
    torch.testing.assert_close(x[0], to_inputs(digit[None])[0], atol=ONE_LEVEL, rtol=0)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_white_digit_on_transparent_background_is_an_mnist_digit(tmp_path, digit, mode):
    rgba(255, digit).convert(mode).save(tmp_path / "d.png")
    x, inverted = load_image(tmp_path / "d.png")
    assert not inverted
    torch.testing.assert_close(x[0], to_inputs(digit[None])[0], atol=ONE_LEVEL, rtol=0)


def test_transparent_margin_continues_the_paper(tmp_path, digit):
    # opaque white paper with a dark digit, inside a transparent margin stored as black
    paper = np.full((36, 36), 255, np.uint8)
    paper[4:32, 4:32] = 255 - digit
    alpha = np.zeros((36, 36), np.uint8)
    alpha[2:34, 2:34] = 255
    rgb = np.where(alpha > 0, paper, 0).astype(np.uint8)
    Image.fromarray(np.dstack([rgb] * 3 + [alpha]), "RGBA").save(tmp_path / "margin.png")
    Image.fromarray(paper).save(tmp_path / "opaque.png")  # the same paper, no margin
    x, inverted = load_image(tmp_path / "margin.png")
    y, _ = load_image(tmp_path / "opaque.png")
    assert inverted
    torch.testing.assert_close(x, y, atol=ONE_LEVEL, rtol=0)


def test_16_bit_png_is_scaled_not_binarized(tmp_path, digit):
    Image.fromarray(digit.astype(np.uint16) * 257).save(tmp_path / "d16.png")  # full 16-bit range
    assert Image.open(tmp_path / "d16.png").mode.startswith("I")
    x, _ = load_image(tmp_path / "d16.png")
    torch.testing.assert_close(x[0], to_inputs(digit[None])[0], atol=1e-6, rtol=0)
    Image.fromarray(digit.astype(np.uint16) * 64).save(tmp_path / "dim.png")  # a dim 16-bit scan
    x, _ = load_image(tmp_path / "dim.png")
    torch.testing.assert_close(x[0], to_inputs(digit[None])[0] * (64 * 255 / 65535), atol=1e-6, rtol=0)


def test_32_bit_integer_image_with_16_bit_values(tmp_path, digit):
    Image.fromarray(digit.astype(np.int32) * 257, "I").save(tmp_path / "d.tiff")
    x, _ = load_image(tmp_path / "d.tiff")
    torch.testing.assert_close(x[0], to_inputs(digit[None])[0], atol=1e-6, rtol=0)


def _predict(run, path, capsys):
    assert main(["predict", str(run), str(path), "--device", "cpu"]) == 0
    out, err = capsys.readouterr()
    assert len([line for line in out.splitlines() if line.endswith("%")]) == 3  # format unchanged
    assert "warning" not in out
    return err


def test_no_warning_for_a_digit(tmp_path, run, digit, capsys):
    Image.fromarray(digit).save(tmp_path / "d.png")
    Image.fromarray(255 - digit).save(tmp_path / "paper.png")
    assert _predict(run, tmp_path / "d.png", capsys) == ""
    assert "warning: " not in _predict(run, tmp_path / "paper.png", capsys)  # only the note: inverted


@pytest.mark.parametrize("image, why", [
    (np.zeros((28, 28), np.uint8), "nearly uniform"),                          # an all-zero input
    (np.full((28, 28), 200, np.uint8), "nearly uniform"),                      # blank paper
    (np.zeros((28, 28, 4), np.uint8), "nearly uniform"),                       # nothing drawn at all
    (np.kron(np.indices((14, 14)).sum(0) % 2 * 255, np.ones((2, 2))).astype(np.uint8), "mostly bright"),
])
def test_warning_on_stderr_for_inputs_unlike_the_training_digits(tmp_path, run, capsys, image, why):
    Image.fromarray(image).save(tmp_path / "odd.png")
    err = _predict(run, tmp_path / "odd.png", capsys)
    assert err.startswith("warning: ") and why in err and "odd.png" in err
