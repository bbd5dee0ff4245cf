import unicodedata

import numpy as np
import pytest
import torch

from fromzero.errors import DataError
from fromzero.text import data as textdata
from fromzero.text.data import RandomWindows, corpus_files, eval_batches, load_corpus, train_tokenizer
from fromzero.text.tokenizer import CharTokenizer


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FROMZERO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _folder(tmp_path):
    d = tmp_path / "corpus"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("hello world\n" * 50, encoding="utf-8")
    (d / "sub" / "b.txt").write_text("床前明月光\n" * 50, encoding="utf-8")
    (d / ".hidden").write_text("ignored", encoding="utf-8")
    return d


def test_folder_corpus_is_tokenized_into_a_cached_memmap(tmp_path, cache):
    d = _folder(tmp_path)
    tok = train_tokenizer(d)
    assert "床" in tok.chars and "i" not in tok.chars      # the hidden file ("ignored") is skipped
    corpus = load_corpus(d, tok)
    assert isinstance(corpus.tokens, np.memmap) and corpus.tokens.dtype == np.uint16
    text = "hello world\n" * 50 + "\n\n" + "床前明月光\n" * 50
    assert tok.decode(corpus.tokens.tolist()) == text
    assert len(corpus.train) == int(len(text) * 0.9) and len(corpus.train) + len(corpus.val) == len(text)
    mtime = corpus.path.stat().st_mtime_ns
    again = load_corpus(d, tok)                           # second load: the cached array
    assert again.path == corpus.path and again.path.stat().st_mtime_ns == mtime


def test_changing_a_file_re_encodes(tmp_path, cache):
    d = _folder(tmp_path)
    tok = train_tokenizer(d)
    first = load_corpus(d, tok)
    (d / "a.txt").write_text("hello\n" * 10, encoding="utf-8")
    second = load_corpus(d, tok)
    assert second.path != first.path and len(second.tokens) < len(first.tokens)


def test_large_vocabulary_uses_uint32(tmp_path, cache):
    chars = (chr(c) for c in range(0x20000, 0x31000))   # NFC maps the compatibility ideographs there
    text = "".join(c for c in chars if unicodedata.is_normalized("NFC", c))[:66000]   # 66,000 distinct
    f = tmp_path / "big.txt"
    f.write_text(text, encoding="utf-8")
    tok = train_tokenizer(f)
    assert tok.vocab_size == 66000
    corpus = load_corpus(f, tok)
    assert corpus.tokens.dtype == np.uint32 and tok.decode(corpus.tokens[:5].tolist()) == text[:5]


def test_builtin_corpora_are_verified(tmp_path, monkeypatch, cache):
    assert corpus_files("shakespeare")[0].name == "input.txt"
    fake = tmp_path / "_data"
    (fake / "shakespeare").mkdir(parents=True)
    (fake / "shakespeare" / "input.txt").write_text("tampered")
    monkeypatch.setattr(textdata, "EMBEDDED", fake)
    with pytest.raises(DataError, match="sha256"):
        corpus_files("shakespeare")


def test_missing_and_bad_data_are_clear_errors(tmp_path, cache):
    with pytest.raises(DataError, match="not a built-in corpus"):
        corpus_files(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no files"):
        corpus_files(tmp_path / "empty")
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("café".encode("latin-1"))
    with pytest.raises(DataError, match="not UTF-8"):
        train_tokenizer(bad)
    (tmp_path / "empty.txt").write_text("")          # issue #16's cold review: "GPTConfig: vocab_size ... got 0"
    with pytest.raises(DataError, match=r"empty\.txt'?: no text in it \(empty\.txt: 0 bytes\)"):
        train_tokenizer(tmp_path / "empty.txt")
    (tmp_path / "blank.txt").write_text("\n  \n\t\n" * 100)
    with pytest.raises(DataError, match="no text in it"):
        train_tokenizer(tmp_path / "blank.txt")
    small = tmp_path / "small.txt"
    small.write_text("abcdefgh")
    tok = train_tokenizer(small)
    with pytest.raises(DataError, match="block_size"):
        RandomWindows(load_corpus(small, tok).train, batch_size=2, block_size=64)


def test_random_windows_are_shifted_pairs_and_resume_the_same_stream():
    tokens = np.arange(1000, dtype=np.uint16)
    s = RandomWindows(tokens, batch_size=4, block_size=16, seed=7)
    it = iter(s)
    x, y = next(it)
    assert x.dtype == torch.int64 and x.shape == (4, 16)
    assert torch.equal(x[:, 1:], y[:, :-1]) and torch.equal(y - x, torch.ones_like(x))
    for _ in range(3):
        next(it)
    state = s.state_dict()
    expected = [next(it) for _ in range(3)]
    resumed = RandomWindows(tokens, batch_size=4, block_size=16, seed=0)
    resumed.load_state_dict(state)
    got = [b for b, _ in zip(resumed, range(3))]
    for (a, _), (b, _) in zip(expected, got):
        assert torch.equal(a, b)
    other = RandomWindows(tokens, batch_size=4, block_size=16, seed=8)
    assert not torch.equal(next(iter(other))[0], x)


def test_eval_batches_cover_each_token_once():
    tokens = np.arange(1001, dtype=np.uint16)
    batches = eval_batches(tokens, block_size=10, batch_size=32)
    ys = torch.cat([y for _, y in batches]).flatten()
    assert torch.equal(ys, torch.arange(1, 1001))
    capped = eval_batches(tokens, block_size=10, batch_size=32, max_tokens=200)
    assert sum(len(x) for x, _ in capped) == 20
    first = eval_batches(tokens, 10)[0][0]
    assert torch.equal(first, eval_batches(tokens, 10)[0][0])


def test_char_tokenizer_refuses_text_it_was_not_trained_on(tmp_path, cache):
    f = tmp_path / "t.txt"
    f.write_text("new text")
    with pytest.raises(DataError, match="never saw"):
        load_corpus(f, CharTokenizer.train(["abc"]))


def test_a_bpe_text_starts_after_the_token_that_precedes_every_line_of_a_corpus(tmp_path, cache):
    """A classifier's texts (and an empty prompt) start after ``start_id``: it must be a token the
    pre-trained model has seen before each sentence, the newline, not ``<|endoftext|>``, which comes
    once per file boundary and stays almost untrained."""
    from fromzero.text.tokenizer import BPETokenizer

    d = tmp_path / "bpe-corpus"
    d.mkdir()
    lines = ["a fine film .", "the battery died .", "it works well ."]
    (d / "a.txt").write_text("\n".join(lines * 20) + "\n", encoding="utf-8")
    (d / "b.txt").write_text("\n".join(lines[::-1] * 20) + "\n", encoding="utf-8")
    tok = train_tokenizer(d, kind="bpe", vocab_size=300)
    assert isinstance(tok, BPETokenizer)
    ids = load_corpus(d, tok).tokens.tolist()
    assert ids.count(tok.eot_id) == 1                    # the file separator: once, between the two files
    assert ids.count(tok.start_id) == 2 * 3 * 20         # every line ends with it...
    after = [ids[i + 1] for i in range(len(ids) - 1) if ids[i] == tok.start_id]
    assert sorted(set(after)) == sorted({tok.encode(t)[0] for t in lines} | {tok.eot_id})   # ...and a line follows
    assert tok.decode([tok.start_id]) == "\n" and tok.encode("\n") == [tok.start_id]
