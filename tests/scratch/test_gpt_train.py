import numpy as np
import pytest

from fromzero.errors import ConfigError, DataError
from fromzero.scratch.chars import CharVocab, read_text, split
from fromzero.scratch.gpt_train import GPT_PRESET, lr_at, train_gpt

TINY = dict(block_size=8, n_layer=1, n_head=2, n_embd=16, batch_size=8, lr=1e-2, sample_chars=0,
            progress=False, log=None)


def test_a_tiny_gpt_learns_a_repetitive_text(tmp_path):
    path = tmp_path / "abc.txt"
    path.write_text("the cat sat on the mat. " * 60, encoding="utf-8")
    r = train_gpt(str(path), max_iters=60, eval_interval=30, **TINY)
    first, last = r["history"][0], r["history"][-1]
    assert len(r["history"]) == 2 and last["step"] == 60
    assert last["val_loss"] < first["val_loss"] < np.log(r["vocab"].size), r["history"]
    assert last["val_loss"] < 1.0  # an untrained model is at log(13) = 2.6
    text = r["vocab"].decode(r["model"].generate(r["vocab"].encode("the ")[None], 8, rng=0)[0])
    assert text.startswith("the ") and len(text) == 12


def test_training_is_reproducible(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("abcdefgh" * 40, encoding="utf-8")
    a = train_gpt(str(path), max_iters=3, eval_interval=3, **TINY)
    b = train_gpt(str(path), max_iters=3, eval_interval=3, **TINY)
    assert a["history"][0]["val_loss"] == b["history"][0]["val_loss"]


def test_bad_text_files_are_data_errors_naming_the_file(tmp_path):
    with pytest.raises(DataError, match=r"'nope.txt': expected 'shakespeare' \(built in\) or a UTF-8 text file"):
        read_text("nope.txt")
    with pytest.raises(DataError, match="expected a UTF-8 text file, received a folder"):
        read_text(str(tmp_path))
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(DataError, match="empty.txt: expected text to learn from, received an empty file"):
        read_text(str(empty))
    latin = tmp_path / "latin.txt"
    latin.write_bytes("abc\ncaf\u00e9".encode("latin-1"))
    with pytest.raises(DataError, match=r"latin.txt:2: not UTF-8 text \(byte 7 of the file is 0xe9: "
                                        r".*it may be CP1252"):
        read_text(str(latin))
    utf16 = tmp_path / "utf16.txt"
    utf16.write_text("to be or not", encoding="utf-16")
    with pytest.raises(DataError, match=r"utf16.txt:1: not UTF-8 text .* it may be UTF-16: convert it"):
        read_text(str(utf16))
    short = tmp_path / "short.txt"
    short.write_text("\ufeffto be\r\nor not", encoding="utf-8")
    assert read_text(str(short)) == "to be\nor not"  # no byte-order mark, LF line ends
    with pytest.raises(DataError, match="short.txt: expected at least 650 characters for --block-size 64 "
                                        r"\(the last 10% validates and needs a window of 65\), received 12"):
        train_gpt(str(short), max_iters=1, progress=False, log=None)


def test_the_text_is_normalized_as_every_text_reader_does(tmp_path, capsys):
    book = tmp_path / "book.txt"
    book.write_text("\ufeffThe Project Gutenberg eBook\r\n*** START OF THE PROJECT GUTENBERG EBOOK X ***\r\n"
                    "Cafe\u0301 au lait\r\nline two\r\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\r\nlicence\r\n",
                    encoding="utf-8")
    assert read_text(str(book)) == "Caf\u00e9 au lait\nline two\n"     # NFC, LF, no header or licence
    err = capsys.readouterr().err
    assert err.startswith(f"fromzero: --data {book}: 1 file, 22 characters; removed: a BOM, 6 CR, the Project "
                          "Gutenberg header") and "1 character NFC-composed" in err
    assert "licence\n" in read_text(str(book), strip_gutenberg=False)
    assert "removed: a BOM, 6 CR, 1 character NFC-composed\n" in capsys.readouterr().err
    assert read_text("shakespeare") and capsys.readouterr().err == ""   # nothing to remove: no notice
    book.write_text("*** START OF THE PROJECT GUTENBERG EBOOK X ***\n*** END OF THE PROJECT GUTENBERG EBOOK X ***\n")
    with pytest.raises(DataError, match="book.txt: expected text to learn from, received only a Project Gutenberg "
                                        r"header and licence \(--no-strip-gutenberg keeps them\)"):
        read_text(str(book))


def test_split_and_vocabulary():
    text = "hello world"
    v = CharVocab.from_text(text)
    ids = v.encode(text)
    assert v.decode(ids) == text and v.size == len(set(text))
    train, val = split(np.arange(100), block_size=9)
    assert len(train) == 90 and len(val) == 10 and val[0] == 90
    with pytest.raises(DataError, match="received 'z', which it never contains"):
        v.encode("z")


def test_schedule_and_settings():
    cfg = GPT_PRESET
    assert lr_at(0, cfg) == pytest.approx(cfg.lr / cfg.warmup)
    assert lr_at(cfg.warmup, cfg) == pytest.approx(cfg.lr)
    assert lr_at(cfg.max_iters, cfg) == pytest.approx(cfg.lr * cfg.min_lr_ratio)
    with pytest.raises(ConfigError, match="received n_head=3 not dividing n_embd=16"):
        train_gpt(n_head=3, n_embd=16, progress=False)
    with pytest.raises(ConfigError, match="received lr=-1"):
        train_gpt(lr=-1, progress=False)


def test_embedded_text_is_the_one_fromzero_text_reads():
    from fromzero.text.data import corpus_files

    text = read_text("shakespeare")
    assert text == corpus_files("shakespeare")[0].read_text(encoding="utf-8")
    assert text.startswith("First Citizen:") and CharVocab.from_text(text).size == 65


def test_cli_scratch_train_errors(capsys, tmp_path):
    from fromzero.cli import main

    short = tmp_path / "short.txt"
    short.write_text("tiny", encoding="utf-8")
    assert main(["scratch", "train", "--model", "gpt", "--data", str(short), "--no-progress"]) == 1
    assert "expected at least 650 characters for --block-size 64" in capsys.readouterr().err
    assert main(["scratch", "train", "--model", "gpt", "--data", str(tmp_path / "missing.txt")]) == 1
    assert "missing.txt" in capsys.readouterr().err
    assert main(["scratch", "train", "--model", "gpt", "--width", "8"]) == 2
    assert "received --width (an option of mlp/cnn)" in capsys.readouterr().err
    assert main(["scratch", "train", "--model", "cnn", "--n-layer", "2"]) == 2
    assert "received --n-layer (an option of gpt)" in capsys.readouterr().err
    assert main(["scratch", "train", "--model", "mlp", "--no-strip-gutenberg"]) == 2
    assert "received --no-strip-gutenberg (an option of gpt)" in capsys.readouterr().err
