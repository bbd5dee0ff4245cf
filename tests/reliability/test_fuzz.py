"""Fuzz the file readers with random and truncated bytes: every failure is a FromzeroError.

Readers of other families (text, CSV/TSV, tokenizer files) are fuzzed in test_fuzz_readers_*
next to them when they exist; this file covers the core's readers.
"""
import gzip
import json
import struct

import numpy as np
import pytest
import torch
from torch import nn

from fromzero.checkpoint import load_model, load_weights, save_model, save_weights
from fromzero.io import read_json
from fromzero.datasets.idx import parse_idx, read_idx
from fromzero.errors import FromzeroError
from fromzero.models.cnn import build_model

RNG = np.random.default_rng(1234)


def mutations(good: bytes, n: int = 60):
    """Truncations at every scale, flipped bytes, random garbage, and the empty file."""
    yield b""
    for cut in sorted({1, 2, 3, 4, 7, 8, 15, 16, len(good) // 2, len(good) - 1}):
        if 0 < cut < len(good):
            yield good[:cut]
    for _ in range(n):
        b = bytearray(good)
        for i in RNG.integers(0, len(b), size=int(RNG.integers(1, 8))):
            b[i] = int(RNG.integers(0, 256))
        yield bytes(b)
    for size in (1, 5, 17, 100, 1000):
        yield RNG.integers(0, 256, size=size, dtype=np.uint8).tobytes()


def idx_file():
    arr = RNG.integers(0, 256, size=(3, 5, 5), dtype=np.uint8)
    return struct.pack(">HBB3I", 0, 8, 3, 3, 5, 5) + arr.tobytes()


def test_fuzz_idx(tmp_path):
    good = idx_file()
    for i, data in enumerate(list(mutations(good)) + list(mutations(gzip.compress(good)))):
        path = tmp_path / f"f{i}.gz"
        path.write_bytes(data)
        try:
            read_idx(path)
        except FromzeroError as e:
            assert str(path) in str(e)
        try:
            parse_idx(data, "x")
        except FromzeroError:
            pass


def test_fuzz_json(tmp_path):
    good = json.dumps({"name": "model", "config": {"a": [1, 2]}}).encode()
    for i, data in enumerate(mutations(good)):
        path = tmp_path / f"c{i}.json"
        path.write_bytes(data)
        try:
            read_json(path)
        except FromzeroError as e:
            assert str(path) in str(e)


def test_fuzz_safetensors(tmp_path):
    save_weights(tmp_path / "good.safetensors", nn.Linear(3, 2))
    good = (tmp_path / "good.safetensors").read_bytes()
    for i, data in enumerate(mutations(good, n=80)):
        path = tmp_path / f"w{i}.safetensors"
        path.write_bytes(data)
        try:
            load_weights(path, nn.Linear(3, 2))
        except FromzeroError as e:
            assert str(path) in str(e)


def test_fuzz_model_json_structure(tmp_path):
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


def _fuzz(tmp_path, good: bytes, suffix: str, reader, n: int = 40):
    """Every mutation either reads or raises a FromzeroError naming the file."""
    for i, data in enumerate(mutations(good, n=n)):
        path = tmp_path / f"m{i}{suffix}"
        path.write_bytes(data)
        try:
            reader(path)
        except FromzeroError as e:
            assert path.name in str(e), str(e)


def test_fuzz_text_corpus(tmp_path):
    from fromzero.text.data import load_corpus
    from fromzero.text.tokenizer import CharTokenizer

    tok = CharTokenizer("abcdefghij \n")
    good = ("abc def ghij\n" * 40).encode()
    _fuzz(tmp_path, good, ".txt", lambda p: load_corpus(p, tok, cache=tmp_path / "cache"), n=25)


def test_fuzz_csv(tmp_path):
    from fromzero.timeseries.data import read_csv

    good = b"date,a,b\n" + b"".join(b"2020-01-%02d,%d.5,%d\n" % (d, d, 2 * d) for d in range(1, 29))
    _fuzz(tmp_path, good, ".csv", read_csv)


def test_fuzz_labelled_tsv_and_jsonl(tmp_path):
    from fromzero.text.labelled import read_labelled

    tsv = b"text\tlabel\n" + b"".join(b"a fine film number %d\t%d\n" % (i, i % 2) for i in range(30))
    _fuzz(tmp_path, tsv, ".tsv", read_labelled)
    jsonl = b"".join(json.dumps({"text": f"film {i}", "label": i % 2}).encode() + b"\n" for i in range(30))
    _fuzz(tmp_path, jsonl, ".jsonl", read_labelled)


def test_fuzz_tokenizer_files(tmp_path):
    from fromzero.text.tokenizer import load_tokenizer, make_tokenizer, save_tokenizer

    for kind in ("char", "bpe"):
        tok = make_tokenizer(kind, ["the quick brown fox jumps over the lazy dog " * 20], vocab_size=300)
        save_tokenizer(tok, tmp_path / f"{kind}.json")
        good = (tmp_path / f"{kind}.json").read_bytes()
        _fuzz(tmp_path, good, f".{kind}.json", load_tokenizer, n=30)
