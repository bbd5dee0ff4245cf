"""`fromzero predict` on many inputs, and every command checking the kind of run it is given
(issue #16, findings 5 and 6). The runs are the small ones of tests/compat/old_runs, copied."""
import csv
import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fromzero.cli import main
from fromzero.errors import CheckpointError, ConfigError
from fromzero.recipes.runs import check_run, expand_paths, read_texts

OLD = Path(__file__).resolve().parent / "compat" / "old_runs"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for name in ("mnist", "ft", "textrnn", "forecast", "gpt", "lstm"):
        shutil.copytree(OLD / name, root / name)
    shutil.copy(OLD / "melbourne-tail.csv", root / "tail.csv")
    return root


@pytest.fixture(scope="module")
def images(runs):
    """A folder of two digit images (and a file that is no image), a third image beside it, and a
    dark-on-light one."""
    digit = np.asarray(Image.open(OLD / "digit.png").convert("L"))
    folder = runs / "imgs"
    folder.mkdir()
    Image.fromarray(digit).save(folder / "a.png")
    Image.fromarray(digit).save(folder / "b.jpg")
    (folder / "notes.txt").write_text("not an image")
    Image.fromarray(digit).save(runs / "c.png")
    Image.fromarray(255 - digit).save(runs / "paper.png")
    return folder


def count_loads(monkeypatch, module: str) -> list:
    """Each call of ``load_model`` in the recipe ``module`` appends to the returned list."""
    import importlib

    mod = importlib.import_module(module)
    calls, real = [], mod.load_model

    def counted(*a, **k):
        calls.append(a[0])
        return real(*a, **k)
    monkeypatch.setattr(mod, "load_model", counted)
    return calls


def predict(capsys, *argv) -> tuple[int, str, str]:
    code = main(["predict", *map(str, argv), "--device", "cpu"])
    out, err = capsys.readouterr()
    return code, out, err


# --- finding 5: predict on many inputs -----------------------------------------------------------

def test_a_folder_two_files_and_a_glob_give_one_answer_each_with_one_model_load(runs, images, capsys, monkeypatch):
    loads = count_loads(monkeypatch, "fromzero.recipes.images")
    code, out, err = predict(capsys, runs / "mnist", images, runs / "c.png", runs / "paper.png",
                             str(runs / "imgs" / "*.png"))
    assert code == 0 and len(loads) == 1
    blocks = out.strip().split("\n\n")
    assert [b.splitlines()[0] for b in blocks] == [str(images / "a.png"), str(images / "b.jpg"),
                                                   str(runs / "c.png"), str(runs / "paper.png"),
                                                   str(images / "a.png")]
    assert all(len([x for x in b.splitlines() if x.endswith("%")]) == 3 for b in blocks)
    assert "2 image file(s); skipped 1 other file(s) (.txt)" in err


def test_json_and_csv_output_parse(runs, images, capsys):
    code, out, _ = predict(capsys, runs / "mnist", images, "--json", "--top", "2")
    doc = json.loads(out)
    assert code == 0 and [d["input"] for d in doc] == [str(images / "a.png"), str(images / "b.jpg")]
    assert all(len(d["top"]) == 2 and 0 < d["top"][0][1] <= 1 for d in doc)
    code, out, _ = predict(capsys, runs / "mnist", images, "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 6 and list(rows[0]) == ["input", "rank", "class", "probability"]
    assert [r["rank"] for r in rows[:3]] == ["1", "2", "3"] and float(rows[0]["probability"]) > 0
    assert main(["predict", str(runs / "mnist"), str(images), "--json", "--csv"]) == 2


def test_the_inversion_note_goes_to_stderr_not_stdout(runs, images, capsys):
    code, out, err = predict(capsys, runs / "mnist", runs / "paper.png")
    assert code == 0 and all(line.endswith("%") for line in out.splitlines())
    assert "dark-on-light image: inverted" in err and "paper.png" in err
    code, out, err = predict(capsys, runs / "mnist", runs / "paper.png", "--json")
    assert json.loads(out)[0]["input"] == str(runs / "paper.png") and "inverted" in err


def test_a_bad_input_among_many_is_an_error_line_and_exit_1_the_rest_answered(runs, images, capsys):
    code, out, err = predict(capsys, runs / "mnist", runs / "c.png", runs / "missing.png",
                             images / "notes.txt", "--csv")
    assert code == 1
    assert {r["input"] for r in csv.DictReader(io.StringIO(out))} == {str(runs / "c.png")}
    assert "missing.png: image file not found" in err and "notes.txt: expected an image file" in err
    assert "2 of 3 inputs could not be used" in err
    # one bad input alone: the one-line error, as before
    code, out, err = predict(capsys, runs / "mnist", runs / "missing.png")
    assert code == 1 and out == "" and err.strip() == f"fromzero: error: {runs / 'missing.png'}: image file not found"


def test_a_folder_without_images_and_a_glob_without_match_are_errors(runs, tmp_path, capsys):
    (tmp_path / "only.txt").write_text("x")
    code, _, err = predict(capsys, runs / "mnist", tmp_path)
    assert code == 1 and "no image file(s) in this folder" in err and ".txt" in err
    code, _, err = predict(capsys, runs / "mnist", str(tmp_path / "*.png"))
    assert code == 1 and "no file matches this pattern" in err


def test_text_classifier_reads_one_text_per_line_with_one_model_load(runs, tmp_path, capsys, monkeypatch):
    loads = count_loads(monkeypatch, "fromzero.recipes.rnn_text")
    (tmp_path / "texts.txt").write_bytes("\ufeffa great movie\r\n\r\nboring and dull\r\n".encode())
    code, out, _ = predict(capsys, runs / "textrnn", "what a film", "--file", tmp_path / "texts.txt", "--json")
    assert code == 0 and len(loads) == 1
    assert [d["input"] for d in json.loads(out)] == ["what a film", "a great movie", "boring and dull"]
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"one\ntwo\n")))
    code, out, _ = predict(capsys, runs / "ft", "--file", "-", "--csv")
    assert code == 0 and [r["input"] for r in csv.DictReader(io.StringIO(out))][::2] == ["one", "two"]


def test_text_sentences_are_inputs_and_a_file_name_among_them_gets_a_note(runs, tmp_path, capsys):
    (tmp_path / "reviews.txt").write_text("a good film\n")
    code, out, err = predict(capsys, runs / "ft", "a good film", tmp_path / "reviews.txt")
    assert code == 0 and out.split("\n\n")[0].splitlines()[0] == "a good film"
    assert f"--file {tmp_path / 'reviews.txt'}" in err


def test_each_empty_text_among_many_is_named(runs, capsys):
    code, out, err = predict(capsys, runs / "ft", "a good film", "", "  ")
    assert code == 1 and "text 2 of 3 ('')" in err and "text 3 of 3 ('  ')" in err
    assert "%" in out                                   # the good one is answered


def test_explain_names_an_empty_text_before_loading_and_files_get_one_dot(runs, tmp_path, capsys, monkeypatch):
    """Issue #16's cold review: `explain RUN ""` was accepted; "good." gave good..explain.html."""
    loads = count_loads(monkeypatch, "fromzero.explain.runs")
    code = main(["explain", str(runs / "ft"), "a good film", "", "--out", str(tmp_path / "x"), "--device", "cpu"])
    assert code == 1 and "text 2 of 2 ('')" in capsys.readouterr().err and loads == []
    code = main(["explain", str(runs / "ft"), "a good film.", "A good film", "--out", str(tmp_path / "x"),
                 "--device", "cpu"])
    assert code == 0 and sorted(p.name for p in (tmp_path / "x").iterdir()) == \
        ["A_good_film-2.explain.html", "A_good_film-2.explain.json",      # not one file on a case-blind disk
         "a_good_film.explain.html", "a_good_film.explain.json"]


def test_a_failed_command_leaves_no_empty_out_folder(runs, tmp_path, capsys):
    """Issue #16's cold review: a command that failed left the empty --out folder it had made."""
    code = main(["explain", str(runs / "mnist"), str(tmp_path / "missing.png"), "--out", str(tmp_path / "new" / "x"),
                 "--device", "cpu"])
    assert code == 1 and "missing.png" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
    (tmp_path / "kept").mkdir()                                 # a folder that was there before stays
    assert main(["explain", str(runs / "mnist"), str(tmp_path / "missing.png"), "--out", str(tmp_path / "kept")]) == 1
    assert (tmp_path / "kept").is_dir()


def test_a_text_of_unknown_characters_is_named_not_answered_as_empty(runs, capsys):
    """Issue #16's cold review: with a character base, "好" was answered exactly as "" would be."""
    from fromzero.recipes.finetune import _load
    _, _, tok = _load(runs / "ft", "cpu")
    alien = next(c for c in "好ЖΩ¤€" if tok.unknown(c))
    code, out, err = predict(capsys, runs / "ft", f"{alien} {alien}", "a good film")
    assert code == 1 and f"text 1 of 2 ('{alien} {alien}'): none of its characters is in the base model's" in err
    assert out.startswith("a good film\n") and "%" in out             # the answer is headed by its text
    assert main(["explain", str(runs / "ft"), alien, "--device", "cpu"]) == 1
    assert "none of its characters" in capsys.readouterr().err


def test_texts_after_an_option_are_inputs_too(runs, capsys):
    (runs / "t1.txt").write_text("one\ntwo\n")
    (runs / "t2.txt").write_text("three\n")
    """Issue #16's cold review: `predict RUN --json "a text"` was "unrecognized arguments"."""
    code, out, _ = predict(capsys, runs / "ft", "--json", "a good film", "--top", "1", "a dull film")
    assert code == 0 and [d["input"] for d in json.loads(out)] == ["a good film", "a dull film"]
    assert [len(d["top"]) for d in json.loads(out)] == [1, 1]
    code = main(["predict", str(runs / "ft"), "--device", "cpu", "--json", "a good film", "--", "-1 star", "--top"])
    out = capsys.readouterr().out                                          # after `--`, every argument is a text
    assert code == 0 and [d["input"] for d in json.loads(out)] == ["a good film", "-1 star", "--top"]
    code, out, _ = predict(capsys, runs / "ft", "--file", runs / "t1.txt", "--file", runs / "t2.txt", "--json")
    assert code == 0 and [d["input"] for d in json.loads(out)] == ["one", "two", "three"]   # every --file
    code, out, err = predict(capsys, runs / "ft", "--file", runs / "t1.txt", "--file", runs / "nope.txt", "--json")
    assert code == 1 and "--file" in err and "nope.txt: no such file" in err           # one bad file: its own error
    assert [d["input"] for d in json.loads(out)] == ["one", "two"]                    # the others are answered
    with pytest.raises(SystemExit) as e:                     # argparse's error, as before
        predict(capsys, runs / "ft", "a good film", "--no-such-option")
    assert e.value.code == 2 and "unrecognized arguments: --no-such-option" in capsys.readouterr().err


def test_empty_text_file_and_empty_text_are_errors(runs, tmp_path, capsys):
    (tmp_path / "empty.txt").write_text("\n  \n")
    code, _, err = predict(capsys, runs / "textrnn", "--file", tmp_path / "empty.txt")
    assert code == 1 and "no text in it" in err
    code, _, err = predict(capsys, runs / "textrnn", "   ")
    assert code == 1 and "empty text" in err
    code, _, err = predict(capsys, runs / "textrnn")
    assert code == 2 and "expected at least one INPUT" in err
    code, _, err = predict(capsys, runs / "mnist", "--file", tmp_path / "empty.txt")
    assert code == 2 and "--file is for text classifiers" in err


def test_forecaster_takes_many_csv_files_with_one_model_load(runs, capsys, monkeypatch):
    loads = count_loads(monkeypatch, "fromzero.recipes.forecast")
    code, out, _ = predict(capsys, runs / "forecast", runs / "tail.csv", runs / "tail.csv", "--json")
    doc = json.loads(out)
    assert code == 0 and len(loads) == 1 and len(doc) == 2
    assert doc[0]["columns"] == ["Temp"] and doc[0]["forecast"] == doc[1]["forecast"]
    code, out, _ = predict(capsys, runs / "forecast", runs / "tail.csv", "--csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and list(rows[0])[:3] == ["input", "step", "time"] and "Temp" in rows[0]


def test_paths_expand_helpers(tmp_path):
    for name in ("b.PNG", "a.png", "c.txt"):
        (tmp_path / name).write_text("x")
    files, notes, errors = expand_paths([tmp_path], (".png",), "images")
    assert files == [str(tmp_path / "a.png"), str(tmp_path / "b.PNG")] and errors == []
    assert "skipped 1 other file(s) (.txt)" in notes[0]
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe")
    with pytest.raises(Exception, match="not UTF-8"):
        read_texts(tmp_path / "bad.txt")
    (tmp_path / "latin1.txt").write_bytes("a good film\n\nd\u00e9j\u00e0 vu\n".encode("latin-1"))
    with pytest.raises(Exception, match=r"latin1\.txt:3: not UTF-8 text .*CP1252"):   # the line, and what to do
        read_texts(tmp_path / "latin1.txt")


# --- finding 6: every command checks the run kind ----------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["generate", "{ft}", "--max-new-tokens", "3"],
     "{ft} is a text classifier: use fromzero predict, evaluate, explain, audit-privacy or serve (fromzero generate "
     "takes a language model)"),
    (["generate", "{forecast}"], "{forecast} is a forecaster: use fromzero predict, evaluate, explain, export or serve"),
    (["predict", "{gpt}", "hello"], "{gpt} is a GPT language model: use fromzero generate, evaluate, explain, finetune, export or serve"),
    (["predict", "{lstm}", "hello"], "{lstm} is a language model: use fromzero generate, evaluate or serve"),
    (["finetune", "{textrnn}"], "{textrnn} is a text classifier: use fromzero predict, evaluate or serve"),
    (["finetune", "{lstm}"], "{lstm} is a language model: use fromzero generate, evaluate or serve"),
    (["pretrain", "gpt", "--init", "{mnist}"], "{mnist} is an image classifier: use fromzero predict, evaluate, explain, audit-privacy, export or serve"),
    (["train", "mnist-cnn", "--init", "{gpt}", "--out", "{gpt}-x"],
     "--init {gpt} is a GPT language model: use fromzero generate, evaluate, explain, finetune, export or serve "
     "(fromzero train mnist-cnn --init takes the tutorial's CNN, written by fromzero train mnist-cnn)"),
])
def test_a_command_given_the_wrong_kind_of_run_says_which_commands_fit(runs, capsys, argv, message):
    paths = {p.name: str(p) for p in runs.iterdir()}
    code = main([a.format(**paths) for a in argv])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("fromzero: error: " + message.format(**paths)) and "Traceback" not in err


@pytest.mark.parametrize("command", ["evaluate", "predict", "generate", "finetune"])
def test_a_folder_that_is_no_run(tmp_path, capsys, command):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.png").write_bytes(b"")
    argv = [command, str(tmp_path / "data")] + (["x.png"] if command == "predict" else [])
    assert main(argv) == 1
    assert f"{tmp_path / 'data'}: no model.json: not a fromzero run" in capsys.readouterr().err
    assert main([command, str(tmp_path / "none")] + argv[2:]) == 1
    assert "run directory not found" in capsys.readouterr().err


def test_an_unfinished_run_is_named_as_such(tmp_path):
    (tmp_path / "run.json").write_text("{}")
    with pytest.raises(CheckpointError, match="no model.json yet: the run has not finished"):
        check_run(tmp_path, "evaluate")


def test_the_library_generate_checks_the_run_too(runs):
    from fromzero.generate import generate_text

    with pytest.raises(ConfigError, match="is a text classifier: use fromzero predict, evaluate, explain, "
                                          "audit-privacy or serve"):
        generate_text(runs / "ft", "hi", max_new_tokens=2)


def test_resume_refuses_a_run_of_another_kind(runs, tmp_path, capsys):
    shutil.copytree(runs / "ft", tmp_path / "ft")
    assert main(["train", "mnist-cnn", "--out", str(tmp_path / "ft"), "--resume", "--device", "cpu"]) == 1
    assert "holds a text-classification run; it cannot be continued as `train mnist-cnn`" in capsys.readouterr().err
