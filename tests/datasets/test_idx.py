import gzip
import hashlib
import struct

import numpy as np
import pytest

from fromzero.datasets import load_mnist, read_idx
from fromzero.datasets import mnist as mnist_mod
from fromzero.datasets.idx import IMAGES_MAGIC, LABELS_MAGIC, parse_idx
from fromzero.errors import DataError


def idx_bytes(arr: np.ndarray, magic_type=0x08) -> bytes:
    return struct.pack(">HBB", 0, magic_type, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) \
        + arr.astype(np.uint8).tobytes()


def test_reads_raw_and_gzip(tmp_path):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    (tmp_path / "a").write_bytes(idx_bytes(arr))
    (tmp_path / "a.gz").write_bytes(gzip.compress(idx_bytes(arr)))
    np.testing.assert_array_equal(read_idx(tmp_path / "a", magic=IMAGES_MAGIC), arr)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz", magic=IMAGES_MAGIC), arr)


def test_corrupt_magic_names_file_and_numbers(tmp_path):
    data = bytearray(idx_bytes(np.zeros((2, 3, 4), np.uint8)))
    data[3] = 1  # claims 1 dimension: the labels magic
    (tmp_path / "bad").write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"bad: expected IDX magic number 0x00000803, got 0x00000801"):
        read_idx(tmp_path / "bad", magic=IMAGES_MAGIC)


def test_not_idx_at_all():
    with pytest.raises(DataError, match="not an IDX file"):
        parse_idx(b"\x89PNG\r\n\x1a\n" + b"x" * 20, "img.png")


def test_truncated_data(tmp_path):
    data = idx_bytes(np.zeros((10, 28, 28), np.uint8))[:-100]
    (tmp_path / "t.gz").write_bytes(gzip.compress(data))
    with pytest.raises(DataError, match=r"t.gz: truncated: shape \(10, 28, 28\) needs 7856 bytes, got 7756"):
        read_idx(tmp_path / "t.gz", magic=IMAGES_MAGIC)


def test_truncated_gzip_stream(tmp_path):
    gz = gzip.compress(idx_bytes(np.zeros((10, 28, 28), np.uint8)))
    (tmp_path / "t.gz").write_bytes(gz[: len(gz) // 2])
    with pytest.raises(DataError, match="t.gz: corrupt or truncated gzip"):
        read_idx(tmp_path / "t.gz")


def test_wrong_checksum(tmp_path):
    (tmp_path / "l").write_bytes(idx_bytes(np.array([1, 2, 3], np.uint8)))
    with pytest.raises(DataError, match=r"l: the decompressed content has sha256 [0-9a-f]{64}, expected 0{64}"):
        read_idx(tmp_path / "l", magic=LABELS_MAGIC, sha256="0" * 64)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="file not found"):
        read_idx(tmp_path / "nope.gz")


def test_embedded_mnist_is_the_real_one():
    x, y = load_mnist("test")
    assert x.shape == (10000, 28, 28) and x.dtype == np.uint8
    assert np.bincount(y).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    xtr, ytr = load_mnist("train")
    assert xtr.shape == (60000, 28, 28)
    assert abs(xtr.mean() - 33.32) < 0.01


def test_cache_is_used_and_matches(tmp_path, monkeypatch):
    monkeypatch.setenv("FROMZERO_CACHE", str(tmp_path))
    a = load_mnist("test")
    assert list((tmp_path / "npy").glob("t10k-images*.npy"))
    b = load_mnist("test")
    np.testing.assert_array_equal(a[0], b[0])


def _fake_dataset(folder, n=5):
    rng = np.random.default_rng(0)
    sums = {}
    for prefix in ("train", "t10k"):
        imgs = idx_bytes(rng.integers(0, 255, (n, 28, 28)).astype(np.uint8))
        labels = struct.pack(">HBB", 0, 8, 1) + struct.pack(">I", n) + bytes(range(n))
        for stem, data in ((f"{prefix}-images-idx3-ubyte", imgs), (f"{prefix}-labels-idx1-ubyte", labels)):
            (folder / f"{stem}.gz").write_bytes(gzip.compress(data))
            sums[stem] = hashlib.sha256(data).hexdigest()
    return sums


def test_fashion_mnist_through_the_same_reader(tmp_path, monkeypatch):
    sums = _fake_dataset(tmp_path)
    ds = mnist_mod.DATASETS["fashion-mnist"]
    monkeypatch.setitem(mnist_mod.DATASETS, "fashion-mnist", mnist_mod.ImageDataset(
        ds.name, ds.folder, (), sums, ds.classes))
    x, y = load_mnist("train", data_dir=tmp_path, name="fashion-mnist", download=False)
    assert x.shape == (5, 28, 28) and y.tolist() == [0, 1, 2, 3, 4]


def test_a_users_folder_is_read_as_it_is_never_replaced_by_the_builtin_copy(tmp_path, monkeypatch, capsys):
    """--data-dir holds the user's own IDX files: used (with a note), never the embedded or cached
    MNIST instead (which a cached array of MNIST's once shadowed), and refused when not 28x28 / 0-9."""
    monkeypatch.setenv("FROMZERO_CACHE", str(tmp_path / "cache"))
    load_mnist("test")                                      # MNIST's own arrays now sit in the cache
    (tmp_path / "own").mkdir()
    _fake_dataset(tmp_path / "own", n=5)
    x, y = load_mnist("test", data_dir=tmp_path / "own", download=False)
    assert x.shape == (5, 28, 28) and y.tolist() == [0, 1, 2, 3, 4]
    assert "are not mnist's (their SHA-256 differs): using them as your own data (5 images)" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"empty: expected t10k-images-idx3-ubyte or t10k-images-idx3-ubyte.gz there"):
        load_mnist("test", data_dir=tmp_path / "empty")
    small = tmp_path / "small"
    small.mkdir()
    (small / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((3, 16, 16), np.uint8)))
    (small / "t10k-labels-idx1-ubyte").write_bytes(struct.pack(">HBBI", 0, 8, 1, 3) + bytes([0, 1, 2]))
    with pytest.raises(DataError, match=r"expected 28x28 greyscale images, received shape \(3, 16, 16\)"):
        load_mnist("test", data_dir=small)
    (small / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(np.zeros((3, 28, 28), np.uint8)))
    (small / "t10k-labels-idx1-ubyte").write_bytes(struct.pack(">HBBI", 0, 8, 1, 3) + bytes([0, 1, 12]))
    with pytest.raises(DataError, match=r"expected labels 0-9 \(one per image\), received values 0..12"):
        load_mnist("test", data_dir=small)
    gz = tmp_path / "gz"                                    # errors name the files as they are on disk
    gz.mkdir()
    (gz / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(np.zeros((3, 16, 16), np.uint8))))
    (gz / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(struct.pack(">HBBI", 0, 8, 1, 3) + bytes(3)))
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: expected 28x28 greyscale images"):
        load_mnist("test", data_dir=gz)
    with pytest.raises(DataError, match=r"expected a folder holding IDX files .*, but it is a file"):
        load_mnist("test", data_dir=gz / "t10k-images-idx3-ubyte.gz")


def test_offline_message_says_where_to_put_files(tmp_path, monkeypatch):
    monkeypatch.setenv("FROMZERO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(mnist_mod.urllib.request, "urlopen",
                        lambda *a, **k: (_ for _ in ()).throw(OSError("network unreachable")))
    with pytest.raises(DataError, match=r"Offline\? Put the four IDX files .* --data-dir"):
        load_mnist("train", name="fashion-mnist")


def test_unknown_names():
    with pytest.raises(ValueError, match="unknown dataset 'kmnist'; expected one of: fashion-mnist, mnist"):
        load_mnist("train", name="kmnist")
    with pytest.raises(ValueError, match="unknown split 'valid'"):
        load_mnist("valid")
