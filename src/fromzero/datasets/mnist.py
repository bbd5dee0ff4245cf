"""MNIST and Fashion-MNIST: 28x28 greyscale images in 10 classes (NumPy only, no torch).

A ``data_dir`` (``--data-dir``) is a folder of the user's four IDX files: the only place looked
in, and its files are used as they are (28x28 images, labels 0-9; a note on stderr says when they
are not the dataset's own). Without it, files are looked for in the copy embedded in the package
(MNIST only) and in the cache folder (``$FROMZERO_CACHE`` or ``~/.cache/fromzero``).
When they are missing everywhere they are downloaded from the usual public mirrors; offline,
the error says which files to put where. Every such file's decompressed content is checked
against its SHA-256, and the parsed arrays are cached as ``.npy`` in the cache folder; a cached array is
checked against the same SHA-256 when read (and rebuilt from the source when it differs).
"""
from __future__ import annotations

import hashlib
import struct
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError, unknown_name
from ..io import EMBEDDED, atomic_open, atomic_write_bytes, cache_dir
from .idx import IMAGES_MAGIC, LABELS_MAGIC, parse_idx, read_bytes, read_idx


@dataclass(frozen=True)
class ImageDataset:
    name: str
    folder: str
    mirrors: tuple[str, ...]
    sha256: dict  # file name -> sha256 of the decompressed content
    classes: tuple[str, ...]


DATASETS = {
    "mnist": ImageDataset(
        "mnist", "mnist",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/",
         "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        {"train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
         "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
         "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
         "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"},
        tuple(str(i) for i in range(10))),
    "fashion-mnist": ImageDataset(
        "fashion-mnist", "fashion_mnist",
        ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
        {"train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
         "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
         "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
         "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"},
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")),
}
SPLITS = {"train": "train", "test": "t10k"}


def _find(stem: str, folders: list[Path]) -> Path | None:
    for folder in folders:
        for name in (stem + ".gz", stem):
            if (folder / name).is_file():
                return folder / name
    return None


def _download(ds: ImageDataset, stem: str, dest: Path, searched: list[Path]) -> Path:
    target = dest / f"{stem}.gz"
    errors = []
    for mirror in ds.mirrors:
        try:
            with urllib.request.urlopen(mirror + stem + ".gz", timeout=30) as r:
                atomic_write_bytes(target, r.read())
            return target
        except OSError as e:
            errors.append(f"{mirror}: {e}")
    where = ", ".join(str(f) for f in searched)
    raise DataError(
        f"{ds.name}: {stem}(.gz) not found in {where} and could not be downloaded "
        f"({'; '.join(errors)}). Offline? Put the four IDX files ({', '.join(ds.sha256)}, "
        f"gzip-compressed or raw) in a folder and pass it as data_dir (CLI: --data-dir).")


def _cached_array(npy: Path, magic: int, sha256: str) -> np.ndarray | None:
    """The array cached in ``npy`` if it is exactly the IDX file of SHA-256 ``sha256`` (its header
    rebuilt from the array's shape), else None: the cache is checked against the source's digest."""
    try:
        arr = np.load(npy, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if arr.dtype != np.uint8 or not 1 <= arr.ndim <= 4:
        return None
    h = hashlib.sha256(struct.pack(f">I{arr.ndim}I", magic, *arr.shape))
    h.update(np.ascontiguousarray(arr).data)
    return arr if h.hexdigest() == sha256 else None


def _load_array(ds: ImageDataset, stem: str, data_dir, download: bool) -> tuple[np.ndarray, bool]:
    """The array of ``stem`` and whether it is ``ds``'s own file (its SHA-256 matches).

    A ``data_dir`` is the only place looked in: its files are the user's, used as they are (a
    file identical to ``ds``'s is recognised by its digest). Otherwise the embedded copy, the
    cache and the mirrors give ``ds``'s files, each checked against its SHA-256."""
    magic = IMAGES_MAGIC if "images" in stem else LABELS_MAGIC
    sha = ds.sha256[stem]
    if data_dir is not None:
        folder = Path(data_dir)
        if not folder.is_dir():
            raise DataError(f"data_dir {data_dir}: expected a folder holding IDX files "
                            f"({', '.join(ds.sha256)}, gzip-compressed or raw), but "
                            f"{'it is a file' if folder.is_file() else 'it does not exist'}")
        path = _find(stem, [folder])
        if path is None:
            raise DataError(f"{folder}: expected {stem} or {stem}.gz there (the four IDX files "
                            f"{', '.join(ds.sha256)}), not found")
        data = read_bytes(path)
        return parse_idx(data, str(path), magic), hashlib.sha256(data).hexdigest() == sha
    folders = [EMBEDDED / ds.folder, cache_dir() / ds.folder]
    path = _find(stem, folders)
    if path is None:
        if not download:
            raise DataError(f"{ds.name}: {stem}(.gz) not found in "
                            f"{', '.join(str(f) for f in folders)}")
        path = _download(ds, stem, cache_dir() / ds.folder, folders)
    npy = cache_dir() / "npy" / f"{stem}-{sha[:16]}.npy"
    if npy.is_file():
        cached = _cached_array(npy, magic, sha)
        if cached is not None:
            return cached, True
        print(f"fromzero: the cached array {npy} does not match {ds.name}'s checksum; "
              f"rebuilding it from {path}", file=sys.stderr)
    arr = read_idx(path, magic=magic, sha256=sha)
    try:
        with atomic_open(npy) as f:
            np.save(f, arr)
    except OSError:
        pass  # a read-only cache is not an error
    return arr, True


def load_mnist(split: str = "train", data_dir=None, name: str = "mnist",
               download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST (or Fashion-MNIST with ``name="fashion-mnist"``).

    Args:
        split: ``"train"`` (60,000 images) or ``"test"`` (10,000 images).
        data_dir: a folder with the IDX files (``train-images-idx3-ubyte[.gz]`` ...), optional.
        name: ``"mnist"`` or ``"fashion-mnist"``.
        download: fetch missing files from the public mirrors.

    Returns:
        ``(images, labels)``: uint8 arrays of shape (N, 28, 28) and int64 of shape (N,).

    Example:
        >>> x, y = load_mnist("test")
        >>> x.shape, y[:5].tolist()
        ((10000, 28, 28), [7, 2, 1, 0, 4])
    """
    if name not in DATASETS:
        raise unknown_name("dataset", name, DATASETS)
    if split not in SPLITS:
        raise unknown_name("split", split, SPLITS)
    ds = DATASETS[name]
    prefix = SPLITS[split]
    stems = f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"
    (images, own_x), (labels, own_y) = (_load_array(ds, stem, data_dir, download) for stem in stems)
    # the user's files by the names they have on disk (with .gz where compressed)
    files = [_find(stem, [Path(data_dir)]) for stem in stems] if data_dir is not None else None
    where = str(files[0]) if files else f"{ds.name} {split}"
    if len(images) != len(labels):
        raise DataError(f"{where}: {len(images)} images but {len(labels)} labels")
    if not (own_x and own_y):  # the user's own images: the models take 28x28 and 10 classes
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataError(f"{where}: expected 28x28 greyscale images, received shape "
                            f"{tuple(images.shape)}")
        if labels.ndim != 1 or len(labels) and not 0 <= int(labels.min()) <= int(labels.max()) <= 9:
            raise DataError(f"{files[1]}: expected labels 0-9 (one per image), received "
                            f"values {int(labels.min())}..{int(labels.max())}")
        print(f"fromzero: {data_dir}: {split} files are not {ds.name}'s (their SHA-256 differs): "
              f"using them as your own data ({len(images):,} images)", file=sys.stderr)
    return images, labels.astype(np.int64)
