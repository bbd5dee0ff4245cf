"""Every text reader normalizes (no BOM, LF line ends, NFC), cuts Project Gutenberg's header and
licence, and says what it removed; a task folder says which file gave which split."""
import doctest
import json

import pytest

from fromzero.cli import build_parser
from fromzero.errors import DataError
from fromzero.recipes.gpt import evaluate_run, pretrain
from fromzero.text import data as textdata
from fromzero.text import normalize as norm
from fromzero.text.data import iter_text, load_corpus, train_tokenizer
from fromzero.text.labelled import load_task, normalize_text, read_labelled
from fromzero.text.normalize import Report, normalize, normalize_corpus
from fromzero.text.tokenizer import CharTokenizer

E_ACUTE = "e\u0301"          # "e" + combining acute: NFC makes it "é"
RAW = "\ufeffcaf" + E_ACUTE + " one\r\ntwo\rthree\r\n"
CLEAN = "café one\ntwo\nthree\n"

HEADER = ("The Project Gutenberg eBook of A Short Tale\r\n\r\n"
          "This eBook is for the use of anyone anywhere in the United States and most other parts\r\n"
          "of the world at no cost and with almost no restrictions whatsoever.\r\n\r\n"
          "Title: A Short Tale\r\nAuthor: Nobody\r\nRelease date: May 1, 2024 [eBook #99999]\r\n"
          "Language: English\r\n\r\n"
          "*** START OF THE PROJECT GUTENBERG EBOOK A SHORT TALE ***\r\n")
BODY = "CHAPTER I\r\n\r\nIt was a dark and stormy night; the rain fell in torrents.\r\n" * 20
LICENCE = ("\r\n*** END OF THE PROJECT GUTENBERG EBOOK A SHORT TALE ***\r\n\r\n"
           "Updated editions will replace the previous one--the old editions will be renamed.\r\n"
           "START: FULL LICENSE\r\nTHE FULL PROJECT GUTENBERG LICENSE\r\n" + "Section 1. General Terms.\r\n" * 30)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("FROMZERO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_module_doctests():
    assert doctest.testmod(norm).failed == 0


def test_normalize_strips_bom_and_cr_and_composes():
    report = Report()
    assert normalize(RAW, report) == CLEAN
    assert (report.boms, report.cr, report.nfc) == (1, 3, 1)
    assert normalize("\u212b") == "\u00c5"                    # the angstrom sign: a singleton


def test_corpus_reader_gives_the_tokenizer_normalized_text(tmp_path, cache, capsys):
    f = tmp_path / "raw.txt"
    f.write_bytes(RAW.encode("utf-8") * 40)
    tok = train_tokenizer(f)
    assert not {"\r", "\ufeff", "\u0301"} & set(tok.chars)
    corpus = load_corpus(f, tok)
    assert tok.decode(corpus.tokens.tolist()) == CLEAN * 40
    err = capsys.readouterr().err
    assert "1 file" in err and "removed: 40 BOMs, 120 CR, 40 characters NFC-composed" in err
    load_corpus(f, tok)                                     # from the cache: the same notice
    assert "removed: 40 BOMs, 120 CR" in capsys.readouterr().err


def test_nothing_removed_prints_nothing(tmp_path, cache, capsys):
    f = tmp_path / "clean.txt"
    f.write_text(CLEAN * 40, encoding="utf-8")
    load_corpus(f, train_tokenizer(f))
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("chunk", [1, 2, 3, 7])
def test_chunks_cut_inside_a_crlf_or_an_accent_change_nothing(tmp_path, chunk):
    f = tmp_path / "raw.txt"
    f.write_bytes((RAW * 5).encode("utf-8"))
    assert "".join(iter_text([f], chunk_chars=chunk)) == CLEAN * 5
    gutenberg = tmp_path / "g.txt"
    gutenberg.write_text(HEADER + BODY[:300] + LICENCE, encoding="utf-8", newline="")
    assert "".join(iter_text([gutenberg], chunk_chars=chunk)) == normalize(BODY[:300]) + "\n"


def test_gutenberg_header_and_licence_are_cut_and_counted(tmp_path, cache, capsys):
    f = tmp_path / "pg99999.txt"
    f.write_bytes(("\ufeff" + HEADER + BODY + LICENCE).encode("utf-8"))
    tok = train_tokenizer(f)
    assert tok.decode(load_corpus(f, tok).tokens.tolist()) == normalize(BODY) + "\n"
    header, licence = len(normalize(HEADER)), len(normalize(LICENCE)) - 1
    err = capsys.readouterr().err
    assert (f"the Project Gutenberg header ({header:,} characters) and licence ({licence:,} characters)"
            in err and "a BOM" in err and "--no-strip-gutenberg" in err)
    kept = train_tokenizer(f, strip_gutenberg=False)
    text = kept.decode(load_corpus(f, kept, strip_gutenberg=False).tokens.tolist())
    assert text == normalize(HEADER + BODY + LICENCE) and "Gutenberg" not in capsys.readouterr().err
    for family in ("gpt", "lstm"):
        args = vars(build_parser().parse_args(["pretrain", family, "--no-strip-gutenberg"]))
        assert args["strip_gutenberg"] is False


def test_older_gutenberg_markers():
    old = ("The Project Gutenberg Etext of Old Book\n**Welcome To The World of Free Plain Vanilla "
           "Electronic Texts**\n*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*\n"
           "The book.\nEnd of The Project Gutenberg Etext of Old Book\nmore small print\n")
    text, report = normalize_corpus(old)
    assert text == "The book.\n" and report.gutenberg == 1
    plain = "A book that mentions *** END OF THE PROJECT GUTENBERG EBOOK in passing.\n"
    assert normalize_corpus(plain) == (plain, Report(files=1, chars=len(plain)))   # no START: untouched


def test_bpe_trained_on_crlf_text_has_no_cr_token(tmp_path, cache):
    f = tmp_path / "crlf.txt"
    f.write_bytes(("the cat sat on the mat\r\n\r\nthe dog sat on the log\r\n" * 200).encode("utf-8"))
    tok = train_tokenizer(f, "bpe", vocab_size=300)       # before: tokens "\r\n" and "\r\n\r"
    with_cr = [t for t in range(tok.vocab_size) if "\r" in tok.tk.decode([t])]
    assert len(with_cr) <= 1 and all(len(tok.tk.id_to_token(t)) == 1 for t in with_cr)   # the bare byte only
    assert all("\r" not in tok.decode([t]) for t in range(tok.vocab_size))        # generate never prints one
    assert tok.decode(tok.encode("the cat\r\nsat")) == "the cat\nsat"             # a prompt is normalized
    assert "\r" not in train_tokenizer(f).chars


def test_not_utf8_names_the_byte_and_suggests_an_encoding(tmp_path):
    latin = tmp_path / "latin1.txt"
    latin.write_bytes(b"first line\nna\xefve caf\xe9\n")
    with pytest.raises(DataError, match=r"latin1\.txt:2: not UTF-8 text \(byte 13 of the file is 0xef.*CP1252.*iconv"):
        list(textdata._read_utf8(latin, chunk_bytes=4))              # the offset in the file, not in a chunk
    gbk = tmp_path / "gbk.tsv"
    gbk.write_bytes("text\tlabel\n很好的酒店\t1\n".encode("gbk"))
    with pytest.raises(DataError, match=r"gbk\.tsv:2: not UTF-8 text \(byte 11 .*GB18030 -t UTF-8 \S*gbk\.tsv > "
                                        r"\S*gbk\.utf8\.tsv"):                   # a name the loader still takes
        read_labelled(gbk)
    utf16 = tmp_path / "notepad.txt"
    utf16.write_text("Unicode text from Notepad\n", encoding="utf-16")
    with pytest.raises(DataError, match=r"notepad\.txt:1: not UTF-8 text \(byte 0 of the file is 0xff.*UTF-16"):
        train_tokenizer(utf16)
    split = tmp_path / "split.txt"
    split.write_text("ab你好\n", encoding="utf-8")
    assert "".join(textdata._read_utf8(split, chunk_bytes=3)) == "ab你好\n"   # a character cut by a chunk is fine


def test_labelled_readers_normalize(tmp_path):
    rows = [("caf" + E_ACUTE + " is good", "1"), ("two\r\nlines", "0")]
    (tmp_path / "a.tsv").write_bytes(("\ufefftext\tlabel\r\ncaf" + E_ACUTE + " is good\t1\r\nbad\t0\r\n").encode())
    (tmp_path / "a.csv").write_bytes(("\ufefftext,label\r\n" + "".join(f'"{t}",{lab}\r\n' for t, lab in rows)).encode())
    (tmp_path / "a.jsonl").write_bytes(("\ufeff" + "".join(json.dumps({"text": t, "label": lab}) + "\r\n"
                                                          for t, lab in rows)).encode())
    assert read_labelled(tmp_path / "a.tsv").texts == ["café is good", "bad"]
    for name in ("a.csv", "a.jsonl"):
        assert read_labelled(tmp_path / name).texts == ["café is good", "two\nlines"], name
    assert normalize_text("caf" + E_ACUTE + "\r\n", None) == "café\n"            # what predict is given


def test_a_task_folder_says_which_files_it_used(tmp_path, capsys):
    rows = "".join(f"text {i}\t{i % 2}\n" for i in range(20))
    (tmp_path / "all.tsv").write_text("text\tlabel\n" + "other\t0\nthing\t1\n" * 30)
    (tmp_path / "train.tsv").write_text("text\tlabel\n" + rows)
    (tmp_path / "test.tsv").write_text("text\tlabel\na\t0\nb\t1\n")
    (tmp_path / "notes.txt").write_text("not a split")
    task = load_task(tmp_path)
    assert len(task.train) + len(task.dev) == 20 and "other" not in task.train.texts
    assert task.sources == {"train": "train.tsv", "dev": "10% of train.tsv", "test": "test.tsv"}
    assert task.ignored == ["all.tsv"]
    err = capsys.readouterr().err
    assert "train train.tsv (18), dev 10% of train.tsv (2), test test.tsv (2); not used: all.tsv" in err
    (tmp_path / "dev.tsv").write_bytes(b"text\tlabel\r\nc\t0\r\nd\t1\r\n")
    task = load_task(tmp_path)
    assert task.sources["dev"] == "dev.tsv" and len(task.dev) == 2
    assert "removed: 3 CR" in capsys.readouterr().err


def test_a_prompt_is_normalized_as_the_corpus_was():
    tok = CharTokenizer.train([normalize(RAW)])
    prompt = "caf" + E_ACUTE + "\r\ntwo"
    assert tok.unknown(prompt) == [] and tok.decode(tok.encode(prompt)) == "café\ntwo"


def test_pretrain_and_evaluate_follow_strip_gutenberg(tmp_path, cache, capsys):
    f = tmp_path / "pg99999.txt"
    f.write_text(HEADER + BODY + LICENCE, encoding="utf-8", newline="")
    tiny = dict(preset="tiny", verbose=0, n_layer=1, n_head=2, n_embd=16, block_size=16, max_iters=1,
                eval_interval=1, eval_tokens=64, batch_size=2, plot=False, device="cpu", peak_flops=1e12,
                sample_tokens=0)
    pretrain(f, out=tmp_path / "cut", **tiny)
    assert "Project Gutenberg header" in capsys.readouterr().err
    run = pretrain(f, out=tmp_path / "kept", strip_gutenberg=False, **tiny)
    assert "Gutenberg" not in capsys.readouterr().err
    evaluate_run(run, device="cpu")                        # the run's own setting: nothing cut
    assert "Gutenberg" not in capsys.readouterr().err


def test_the_encoding_guess_survives_a_cut_character_and_knows_japanese_and_latin1():
    """Issue #16's second cold review: a GB18030 file whose 4,000-byte window cut a character was
    called CP1252, and the suggested iconv wrote mojibake that trained without complaint."""
    from fromzero.io import guess_encoding

    zh = ("今天天气很好，酒店的服务非常好，房间也很干净。" * 100).encode("gb18030")
    assert {guess_encoding(zh[cut:cut + 2001]) for cut in range(4)} == {"GB18030"}
    ja = ("今日はとても良い天気ですね。ホテルの部屋はきれいでした。" * 50).encode("shift_jis")
    assert guess_encoding(ja[1:2000]) == "SHIFT_JIS"
    assert guess_encoding("café naïve".encode("cp1252")) == "CP1252"
    assert guess_encoding(b"abc \x81 def \xe9") == "ISO-8859-1"        # 0x81 is undefined in CP1252


def test_the_iconv_suggestion_is_quoted_for_the_shell(tmp_path):
    odd = tmp_path / "my file's (1).txt"
    odd.write_bytes(b"caf\xe9\n")
    with pytest.raises(DataError) as e:
        train_tokenizer(odd)
    cmd = str(e.value).split("e.g. ")[1].split(", check")[0]
    import shlex
    assert shlex.split(cmd)[-3:] == [str(odd), ">", str(tmp_path / "my file's (1).utf8.txt")]
