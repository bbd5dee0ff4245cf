"""Property-based fuzzing of every file reader (issue #15): byte flips, truncations, insertions and
random bytes, drawn by Hypothesis (derandomized: CI sees the same cases every run).

The oracle, for every reader: it returns, or raises the project's own ``FromzeroError`` naming the
file, never another exception; and where the reader is pure Python/NumPy, its peak traced memory
stays under about twice the file size (``tracemalloc`` sees Python and NumPy allocations; torch,
safetensors, the Rust tokenizers and Pillow allocate natively, so the images are bounded by a pixel
limit checked before decoding instead, and the weights by their checks against the model).
For a file with a checksum or a fixed structure (IDX with its SHA-256, gzip, safetensors, state.pt,
the token cache) the result is also the unmutated file's data or the error: never a silently
different result.
"""
import gzip
import hashlib
import itertools
import json
import struct
import tracemalloc

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from torch import nn

from fromzero.checkpoint import load_checkpoint, load_model, load_weights, save_checkpoint, save_model, save_weights
from fromzero.datasets.idx import parse_idx, read_idx
from fromzero.errors import FromzeroError
from fromzero.io import read_json

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FEW = settings(FUZZ, max_examples=15)   # the readers that cost more per call
SLACK = 256 * 1024                      # interpreter noise under tracemalloc, whatever the file
_names = itertools.count()


@st.composite
def mutated(draw, good: bytes):
    """``good`` with a few bytes flipped, cut short, with bytes inserted, or random bytes instead.

    Positions come from a Hypothesis-seeded ``Random``: uniform over the file, where drawn integers
    would favour its first bytes (the header) and rarely reach the data.
    """
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "random"]))
    rnd = draw(st.randoms(use_true_random=False))
    b = bytearray(good)
    if kind == "flip":
        for _ in range(draw(st.integers(1, 4))):
            b[rnd.randrange(len(b))] ^= rnd.randrange(1, 256)
    elif kind == "truncate":
        del b[rnd.randrange(len(b)):]
    elif kind == "insert":
        at = rnd.randrange(len(b) + 1)
        b[at:at] = draw(st.binary(min_size=1, max_size=32))
    else:
        return draw(st.binary(max_size=2 * len(good)))
    return bytes(b)


def write(folder, data: bytes, suffix: str):
    path = folder / f"m{next(_names)}{suffix}"
    path.write_bytes(data)
    return path


def read(reader, path, limit: int | None = None):
    """``reader(path)``, or None for a FromzeroError naming the file; under ``limit`` traced bytes."""
    if limit is not None:
        tracemalloc.start()
    try:
        return reader(path)
    except FromzeroError as e:
        assert path.name in str(e), str(e)
        return None
    finally:
        if limit is not None:
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            assert peak <= limit, f"{peak:,} bytes traced reading a {path.stat().st_size:,}-byte file"


def bounded(path, extra: int = 0) -> int:
    return 2 * (path.stat().st_size + extra) + SLACK


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


# --- IDX (MNIST) ----------------------------------------------------------------------------------

IDX_DATA = np.random.default_rng(0).integers(0, 256, size=(30, 12, 12), dtype=np.uint8)
IDX = struct.pack(">HBB3I", 0, 8, 3, *IDX_DATA.shape) + IDX_DATA.tobytes()
IDX_GZ = gzip.compress(IDX, mtime=0)
IDX_SHA = hashlib.sha256(IDX).hexdigest()


@FUZZ
@given(data=mutated(IDX))
def test_idx_with_its_checksum_reads_the_same_or_fails_cleanly(folder, data):
    path = write(folder, data, ".idx")
    x = read(lambda p: read_idx(p, sha256=IDX_SHA), path, bounded(path))
    assert x is None or np.array_equal(x, IDX_DATA)


@FUZZ
@given(data=mutated(IDX_GZ))
def test_gzipped_idx_reads_the_same_or_fails_cleanly(folder, data):
    path = write(folder, data, ".gz")  # gzip's CRC-32 and length: no checksum of ours needed
    x = read(read_idx, path, bounded(path, len(IDX)))
    assert x is None or np.array_equal(x, IDX_DATA)


@FUZZ
@given(data=mutated(IDX))
def test_idx_without_checksum_is_consistent_with_its_header_or_fails_cleanly(folder, data):
    path = write(folder, data, ".idx")
    x = read(read_idx, path, bounded(path))
    if x is not None:  # any parse covers the file exactly: header + every value
        assert 4 + 4 * x.ndim + x.nbytes == len(data)


@FUZZ
@given(header=st.binary(min_size=4, max_size=20), tail=st.binary(max_size=16))
@example(header=struct.pack(">HBB4I", 0, 8, 4, *[2**16] * 4), tail=b"")  # 2**64 values: 0 in int64
def test_idx_headers_claiming_any_shape(header, tail):
    data = b"\x00\x00" + header[2:] + tail  # the zero bytes of a valid magic: the shape is what varies
    try:
        x = parse_idx(data, "claims.idx")
    except FromzeroError as e:
        assert "claims.idx" in str(e)
    else:
        assert 4 + 4 * x.ndim + x.nbytes == len(data)


# --- safetensors and state.pt: checksummed, fixed structure --------------------------------------

def small_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))


@pytest.fixture(scope="module")
def weights(folder):
    save_weights(folder / "good.safetensors", small_net())
    return (folder / "good.safetensors").read_bytes()


@settings(FUZZ, max_examples=30)
@given(data=st.data())
def test_safetensors_loads_the_same_weights_or_fails_cleanly(folder, weights, data):
    path = write(folder, data.draw(mutated(weights)), ".safetensors")
    model = nn.Sequential(nn.Linear(4, 3), nn.Linear(3, 2))
    # memory: the weights are checked against the model's shapes before torch allocates them
    if read(lambda p: load_weights(p, model) or True, path) is not None:
        for k, v in small_net().state_dict().items():
            assert torch.equal(model.state_dict()[k], v), k


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("ckpt")
    net = small_net()
    opt = torch.optim.AdamW(net.parameters())
    net(torch.ones(1, 4)).sum().backward()
    opt.step()
    state = {"step": 1, "optimizer": opt.state_dict(), "rng": torch.get_rng_state()}
    path = save_checkpoint(root, 1, net, state)
    return path, (path / "state.pt").read_bytes(), torch.load(path / "state.pt", weights_only=True)


@FEW
@given(data=st.data())
def test_state_pt_loads_the_same_state_or_fails_cleanly(folder, checkpoint, data):
    src, good, expected = checkpoint
    d = folder / f"ck{next(_names)}"
    d.mkdir()
    (d / "model.safetensors").write_bytes((src / "model.safetensors").read_bytes())
    (d / "state.sha256").write_bytes((src / "state.sha256").read_bytes())   # what save_checkpoint wrote beside it
    (d / "state.pt").write_bytes(data.draw(mutated(good)))
    try:
        state = load_checkpoint(d, small_net())
    except FromzeroError as e:
        assert "state.pt" in str(e)
        return
    assert state.keys() == expected.keys() and state["step"] == expected["step"]
    assert torch.equal(state["rng"], expected["rng"])
    for k, v in expected["optimizer"]["state"].items():
        for name, t in v.items():
            assert torch.equal(torch.as_tensor(state["optimizer"]["state"][k][name]), torch.as_tensor(t))


# --- JSON: model.json and any JSON file ----------------------------------------------------------

@pytest.fixture(scope="module")
def model_run(tmp_path_factory):
    from fromzero.models.cnn import build_model

    root = tmp_path_factory.mktemp("model")
    save_model(root, build_model())
    return root


@FUZZ
@given(data=st.data())
def test_model_json_builds_a_model_or_fails_cleanly(folder, model_run, data):
    good = (model_run / "model.json").read_bytes()
    d = folder / f"run{next(_names)}"
    d.mkdir()
    (d / "model.safetensors").write_bytes((model_run / "model.safetensors").read_bytes())
    (d / "model.json").write_bytes(data.draw(mutated(good)))
    try:
        read(read_json, d / "model.json", bounded(d / "model.json"))
        load_model(d)
    except FromzeroError as e:
        assert "model.json" in str(e) or "model.safetensors" in str(e), str(e)


# --- text: corpus and its token cache, labelled TSV/JSONL, tokenizer.json ------------------------

CORPUS = ("the quick brown fox jumps over the lazy dog\n" * 30).encode()


@pytest.fixture(scope="module")
def char_tok():
    from fromzero.text.tokenizer import CharTokenizer

    return CharTokenizer("abcdefghijklmnopqrstuvwxyz \n")


@FEW
@given(data=mutated(CORPUS))
def test_text_corpus_reads_or_fails_cleanly(folder, char_tok, data):
    from fromzero.text.data import load_corpus

    path = write(folder, data, ".txt")
    corpus = read(lambda p: load_corpus(p, char_tok, cache=folder / "cache"), path)
    if corpus is not None:  # at most a token per character, each in the vocabulary
        assert 2 <= len(corpus.tokens) <= len(data) and int(corpus.tokens.max()) < char_tok.vocab_size


@FEW
@given(data=st.data())
def test_token_cache_gives_the_same_tokens_or_fails_cleanly(folder, char_tok, data, capsys):
    from fromzero.text.data import load_corpus

    src = folder / f"c{next(_names)}.txt"
    src.write_bytes(CORPUS)
    cache = folder / f"cache{next(_names)}"
    expected = np.array(load_corpus(src, char_tok, cache=cache).tokens)
    target = data.draw(st.sampled_from(sorted((cache / "tokens").iterdir())))
    target.write_bytes(data.draw(mutated(target.read_bytes())))
    try:
        got = np.array(load_corpus(src, char_tok, cache=cache).tokens)
    except FromzeroError as e:
        assert target.name in str(e) or src.name in str(e), str(e)
    else:
        assert np.array_equal(got, expected)  # verified, or rebuilt from the source
    capsys.readouterr()


TSV = b"text\tlabel\n" + b"".join(b"a fine film number %d\t%d\n" % (i, i % 2) for i in range(30))
JSONL = b"".join(json.dumps({"text": f"film {i}", "label": i % 2}).encode() + b"\n" for i in range(30))


@FUZZ
@given(data=st.one_of(mutated(TSV).map(lambda b: (b, ".tsv")), mutated(JSONL).map(lambda b: (b, ".jsonl"))))
def test_labelled_tsv_and_jsonl_read_or_fail_cleanly(folder, data):
    from fromzero.text.labelled import read_labelled

    path = write(folder, *data)
    rows = read(read_labelled, path, bounded(path))
    if rows is not None:
        assert len(rows.texts) == len(rows.labels) >= 1


@pytest.fixture(scope="module")
def tokenizer_files(tmp_path_factory):
    from fromzero.text.tokenizer import make_tokenizer, save_tokenizer

    root = tmp_path_factory.mktemp("tok")
    out = {}
    for kind in ("char", "bpe"):
        tok = make_tokenizer(kind, ["the quick brown fox jumps over the lazy dog " * 20], vocab_size=300)
        save_tokenizer(tok, root / f"{kind}.json")
        out[kind] = (root / f"{kind}.json").read_bytes()
    return out


@FUZZ
@given(data=st.data())
def test_tokenizer_json_loads_or_fails_cleanly(folder, tokenizer_files, data):
    from fromzero.text.tokenizer import load_tokenizer

    kind = data.draw(st.sampled_from(["char", "bpe"]))
    path = write(folder, data.draw(mutated(tokenizer_files[kind])), f".{kind}.json")
    # memory traced for the pure-Python character tokenizer; BPE files are parsed by Rust
    tok = read(load_tokenizer, path, bounded(path) if kind == "char" else None)
    if tok is not None:
        ids = tok.encode("the fox")
        assert all(0 <= i < tok.vocab_size for i in ids)


# --- time series CSV ------------------------------------------------------------------------------

CSV = b"date,a,b\n" + b"".join(b"2020-01-%02d,%d.5,%d\n" % (d, d, 2 * d) for d in range(1, 29))


@FUZZ
@given(data=mutated(CSV))
def test_csv_reads_or_fails_cleanly(folder, data):
    from fromzero.timeseries.data import read_csv

    path = write(folder, data, ".csv")
    series = read(read_csv, path, bounded(path))
    if series is not None:
        assert series.values.ndim == 2 and len(series.values) == len(series)


# --- images ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def images():
    import io

    from PIL import Image

    digit = np.random.default_rng(0).integers(0, 256, size=(28, 28), dtype=np.uint8)
    out = {}
    for fmt, im in (("png", Image.fromarray(digit)), ("jpeg", Image.fromarray(digit)),
                    ("bmp", Image.fromarray(digit)), ("png", Image.fromarray(digit.astype(np.uint16) * 257))):
        buf = io.BytesIO()
        im.save(buf, fmt)
        out[f"{im.mode}.{fmt}"] = buf.getvalue()
    return out


@FUZZ
@given(data=st.data())
def test_images_load_or_fail_cleanly(folder, images, data):
    from fromzero.recipes.images import load_image

    name = data.draw(st.sampled_from(sorted(images)))
    path = write(folder, data.draw(mutated(images[name])), "." + name.split(".")[-1])
    # memory: Pillow decodes natively; load_image refuses more than MAX_PIXELS before decoding
    got = read(load_image, path)
    if got is not None:
        x, _ = got
        assert x.shape == (1, 1, 28, 28) and torch.isfinite(x).all() and 0 <= x.min() <= x.max() <= 1


def test_model_json_of_the_wrong_structure(tmp_path):
    from fromzero.models.cnn import build_model

    save_model(tmp_path, build_model())
    spec = json.loads((tmp_path / "model.json").read_text())
    bad_specs = [{}, {"name": "model"}, {"name": "nope", "config": {}}, {"name": "model", "config": {}},
                 {"name": "model", "config": {"inputs": [[1, 28, 28]], "nodes": [{"class": "Evil"}]}},
                 {"name": "sequential", "config": {"input_shape": [3], "layers": [
                     {"class": "Dense", "config": {"units": -1}}]}},
                 {"name": "sequential", "config": {"input_shape": [3], "layers": [
                     {"class": "Dense", "config": {"unitz": 3}}]}},
                 dict(spec, config=dict(spec["config"], nodes=spec["config"]["nodes"][:-1]))]
    for bad in bad_specs:
        (tmp_path / "model.json").write_text(json.dumps(bad))
        with pytest.raises(FromzeroError):
            load_model(tmp_path)
