import json

import pytest

from fromzero.errors import DataError
from fromzero.text.tokenizer import (BPETokenizer, CharTokenizer, load_tokenizer, save_tokenizer,
                                     tokenizer_fingerprint)

CORPUS = ["First Citizen:\nBefore we proceed any further, hear me speak.\n",
          "秦川雄帝宅，函谷壯皇居。\n綺殿千尋起，離宮百雉餘。\n"] * 20
SAMPLES = ["hear me speak", "函谷壯皇居。", "", "Before 秦川\n"]


@pytest.fixture(scope="module", params=["char", "bpe"])
def tok(request):
    if request.param == "char":
        return CharTokenizer.train(CORPUS)
    return BPETokenizer.train(CORPUS, vocab_size=320)


@pytest.mark.parametrize("text", SAMPLES)
def test_round_trip(tok, text):
    ids = tok.encode(text)
    assert all(0 <= i < tok.vocab_size for i in ids)
    assert tok.decode(ids) == text
    assert (len(ids) == 0) == (text == "")


def test_save_and_load_give_the_same_tokenizer(tok, tmp_path):
    path = save_tokenizer(tok, tmp_path)
    assert path.name == "tokenizer.json"
    json.loads(path.read_text(encoding="utf-8"))          # plain JSON, never a pickle
    back = load_tokenizer(tmp_path)
    assert type(back) is type(tok) and back.vocab_size == tok.vocab_size
    for text in SAMPLES:
        assert back.encode(text) == tok.encode(text)
    assert tokenizer_fingerprint(back) == tokenizer_fingerprint(tok)


def test_char_tokenizer_vocabulary_is_the_sorted_character_set():
    tok = CharTokenizer.train(["cab", "ba", "中"])
    assert tok.chars == ["a", "b", "c", "中"]
    assert tok.encode("中abc") == [3, 0, 1, 2]
    assert tok.encode_array("cab").dtype.kind == "i"


def test_char_tokenizer_names_unknown_characters():
    tok = CharTokenizer.train(["abc"])
    with pytest.raises(DataError) as e:
        tok.encode("abz€")
    assert "'z'" in str(e.value) and "U+20AC" in str(e.value)


def test_bpe_encodes_unseen_text_through_bytes():
    tok = BPETokenizer.train(["hello hello world"] * 10, vocab_size=280)
    text = "ünïcode ✓ 漢字"
    assert tok.unknown(text) == [] and tok.decode(tok.encode(text)) == text
    assert tok.start_id is not None


def test_bad_tokenizer_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_tokenizer(tmp_path / "nope.json")
    (tmp_path / "t.json").write_text("{not json")
    with pytest.raises(DataError, match="could not parse"):
        load_tokenizer(tmp_path / "t.json")
    (tmp_path / "u.json").write_text('{"type": "wordpiece"}')
    with pytest.raises(DataError, match="unknown tokenizer format"):
        load_tokenizer(tmp_path / "u.json")
