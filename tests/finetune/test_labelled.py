import json

import pytest

from fromzero.errors import DataError
from fromzero.text import labelled
from fromzero.text.labelled import load_task, normalize_text, read_labelled


def test_tsv_csv_and_jsonl_read_the_same_examples(tmp_path):
    (tmp_path / "a.tsv").write_text('text\tlabel\na "quoted" film\tpos\n\nbad, really\tneg\n')
    (tmp_path / "a.csv").write_text('label,text\npos,"a ""quoted"" film"\nneg,"bad, really"\n')
    (tmp_path / "a.jsonl").write_text('{"text": "a \\"quoted\\" film", "label": "pos"}\n\n'
                                      '{"label": "neg", "text": "bad, really"}\n')
    for name in ("a.tsv", "a.csv", "a.jsonl"):
        d = read_labelled(tmp_path / name)
        assert d.texts == ['a "quoted" film', "bad, really"] and d.labels == ["pos", "neg"], name
    assert read_labelled(tmp_path / "a.tsv").lines == [2, 4]           # blank line skipped, lines kept


def test_jsonl_integer_labels_become_strings(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"text": "x", "label": 1}\n{"text": "y", "label": 0}\n')
    assert read_labelled(tmp_path / "d.jsonl").labels == ["1", "0"]


@pytest.mark.parametrize("name,content,match", [
    ("m.tsv", "sentence\tlabel\nok\t1\n", r"m\.tsv:1: missing column\(s\) 'text'; the header has 'sentence', 'label'"),
    ("m.csv", "text,polarity\nok,1\n", r"m\.csv:1: missing column\(s\) 'label'"),
    ("e.tsv", "text\tlabel\nfine\t1\n   \t0\n", r"e\.tsv:3: empty text"),
    ("e.csv", "text,label\nfine,1\n\"\",0\n", r"e\.csv:3: empty text"),
    ("l.tsv", "text\tlabel\nfine\t1\nfine\t\n", r"l\.tsv:3: empty label"),
    ("t.tsv", "text\tlabel\nfine\t1\ntab\tinside\t0\n", r"t\.tsv:3: expected 2 fields .*got 3 \(a tab inside"),
    ("j.jsonl", '{"text": "ok", "label": 1}\n{"text": "ok"}\n', r"j\.jsonl:2: missing key\(s\) 'label'"),
    ("j2.jsonl", '{"text": "ok", "label": 1}\n{"text": "ok", "label": 1.5}\n',
     r"j2\.jsonl:2: label must be a string or an integer, got float 1.5"),
    ("j3.jsonl", '{"text": "ok", "label": 1}\n{"text": "", "label": 1}\n', r"j3\.jsonl:2: empty text"),
    ("j4.jsonl", '{"text": "ok", "label": 1}\n{"text": "ok", "label": 1\n', r"j4\.jsonl:2: not a JSON object"),
    ("j5.jsonl", '{"text": ["a"], "label": 1}\n', r"j5\.jsonl:1: text must be a string, got list"),
    ("h.tsv", "text\tlabel\n", r"h\.tsv: no examples"),
    ("z.txt", "text\tlabel\n", r"unknown format '\.txt'"),
])
def test_bad_files_name_the_file_and_line(tmp_path, name, content, match):
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=match):
        read_labelled(tmp_path / name)


def test_non_utf8_names_the_line(tmp_path):
    (tmp_path / "b.tsv").write_bytes(b"text\tlabel\nok\t1\ncaf\xe9\t0\n")
    with pytest.raises(DataError, match=r"b\.tsv:3: not UTF-8"):
        read_labelled(tmp_path / "b.tsv")


def test_bad_label_values(tmp_path):
    (tmp_path / "s.tsv").write_text("text\tlabel\nfine\t1\nmeh\t2\n")
    with pytest.raises(DataError, match=r"s\.tsv:3: bad label value '2'; expected one of: '0', '1'"):
        read_labelled(tmp_path / "s.tsv", classes=["0", "1"])
    folder = tmp_path / "task"
    folder.mkdir()
    (folder / "train.tsv").write_text("text\tlabel\na\t0\nb\t1\nc\t0\n")
    (folder / "dev.tsv").write_text("text\tlabel\na\t0\nb\tpositive\n")
    with pytest.raises(DataError, match=r"dev\.tsv:3: label 'positive' is not one of the task's labels: '0', '1'"):
        load_task(folder)
    (folder / "dev.tsv").write_text("text\tlabel\na\t0\nb\t1\n")
    (folder / "train.tsv").write_text("text\tlabel\na\t1\nb\t1\n")
    with pytest.raises(DataError, match="at least 2 classes"):
        load_task(folder)


def test_folder_and_file_tasks(tmp_path):
    rows = "".join(f"text {i}\t{i % 3 * 5}\n" for i in range(40))       # labels 0, 5, 10
    (tmp_path / "all.tsv").write_text("text\tlabel\n" + rows)
    t = load_task(tmp_path / "all.tsv")
    assert t.labels == ["0", "5", "10"]                                  # numeric order, not "0" "10" "5"
    assert (len(t.train), len(t.dev), t.test) == (36, 4, None)           # 10% held out for selection
    assert not set(t.train.texts) & set(t.dev.texts)
    folder = tmp_path / "f"
    folder.mkdir()
    (folder / "train.jsonl").write_text("".join(json.dumps({"text": f"t{i}", "label": "ab"[i % 2]}) + "\n"
                                                for i in range(10)))
    (folder / "validation.csv").write_text("text,label\nx,a\ny,b\n")
    (folder / "test.tsv").write_text("text\tlabel\nz\tb\n")
    t = load_task(folder)
    assert (len(t.train), len(t.dev), len(t.test), t.classes) == (10, 2, 1, ["a", "b"])
    with pytest.raises(DataError, match="not a built-in task"):
        load_task(tmp_path / "nothing")


def test_builtin_sst2_is_verified(tmp_path, monkeypatch):
    t = load_task("sst2")
    assert (len(t.train), len(t.dev), len(t.test)) == (6920, 872, 1821)
    assert t.classes == ["negative", "positive"] and t.train.labels.count("1") == 3610
    copy = tmp_path / "sst2"
    copy.mkdir()
    for f in ("train.tsv", "dev.tsv", "test.tsv"):
        (copy / f).write_bytes((labelled.EMBEDDED / "sst2" / f).read_bytes())
    with open(copy / "dev.tsv", "a") as f:
        f.write("an extra line\t1\n")
    monkeypatch.setattr(labelled, "EMBEDDED", tmp_path)
    with pytest.raises(DataError, match=r"dev\.tsv has sha256 .* expected bbdb730c"):
        load_task("sst2")
    assert len(load_task("sst2", data_dir=copy).dev) == 873              # a user's folder is not checked


def test_normalize_matches_sst_style():
    assert normalize_text("It's a GREAT film (really), isn't it?", "ptb") == \
        "it 's a great film -lrb- really -rrb- , is n't it ?"
    assert normalize_text("As Is", None) == "As Is"


def test_labels_that_differ_only_in_case_get_a_warning(tmp_path, capsys):
    """Issue #16's cold review: 'pos' and 'Pos' silently became two classes."""
    rows = "".join(f"text {i}\t{['pos', 'neg', 'Pos', 'NEG '][i % 4]}\n" for i in range(40))
    (tmp_path / "t.tsv").write_text("text\tlabel\n" + rows)
    t = load_task(tmp_path / "t.tsv", verbose=True)
    err = capsys.readouterr().err
    assert len(t.labels) == 4                                   # kept apart, as written
    assert "differ only in case" in err and "'NEG' and 'neg'" in err and "'Pos' and 'pos'" in err
    (tmp_path / "n.tsv").write_text("text\tlabel\n" + "".join(f"t {i}\t{['1', '01', '0', '2.0', '2'][i % 5]}\n"
                                                             for i in range(50)))
    load_task(tmp_path / "n.tsv", verbose=True)
    assert "'1' and '01'" in capsys.readouterr().err.replace("'01' and '1'", "'1' and '01'")
    (tmp_path / "u.tsv").write_text("text\tlabel\n" + rows.replace("Pos", "pos").replace("NEG", "neg"))
    load_task(tmp_path / "u.tsv", verbose=True)
    assert "differ only in case" not in capsys.readouterr().err


def test_a_text_longer_than_csvs_default_field_limit_is_read(tmp_path):
    """Issue #16's cold review: a 200,000-character text gave "malformed CSV" (the csv module's 131,072 limit)."""
    long = "word " * 40_000
    (tmp_path / "t.tsv").write_text(f"text\tlabel\n{long}\tpos\nshort\tneg\n")
    (tmp_path / "t.csv").write_text(f"text,label\n\"{long}\",pos\nshort,neg\n")
    for name in ("t.tsv", "t.csv"):
        d = read_labelled(tmp_path / name)
        assert [len(t) for t in d.texts] == [len(long.strip()), 5] and d.labels == ["pos", "neg"]
