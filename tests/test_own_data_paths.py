"""A user's own files, as the cold review of issue #16 used them: runs trained on a file named by a
relative path evaluate from any folder; `train text-rnn` takes other column names; a prompt that is
refused prints nothing on stdout; a forecaster's folder of inputs gives its CSV files only."""
import json
import math
import struct

import numpy as np

from inprocess import run_cli

WORDS = "good great fine bad awful poor the movie was very quite".split()


def labelled(path, n=120, text="text", label="label"):
    rows = [f"the movie was {WORDS[i % 3] if i % 2 else WORDS[3 + i % 3]} {WORDS[6 + i % 5]}\t"
            f"{'pos' if i % 2 else 'neg'}" for i in range(n)]
    path.write_text(f"{text}\t{label}\n" + "\n".join(rows) + "\n", encoding="utf-8")


def series(path, n=160):
    path.write_text("date,y\n" + "".join(f"2020-01-{1 + d // 24:02d}T{d % 24:02d}:00,{math.sin(d / 3):.4f}\n"
                                         for d in range(n)), encoding="utf-8")


def ok(r):
    assert r.returncode == 0, f"{' '.join(r.args)}:\n{r.stderr[-2000:]}"
    return r


def test_runs_on_relative_user_files_evaluate_from_another_folder(tmp_path):
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir(), elsewhere.mkdir()
    (work / "book.txt").write_text("to be or not to be, that is the question.\n" * 200, encoding="utf-8")
    (work / "reviews").mkdir()
    labelled(work / "reviews" / "train.tsv")
    labelled(work / "reviews" / "test.tsv", n=20)
    series(work / "load.csv")
    ok(run_cli(["pretrain", "gpt", "--data", "book.txt", "--out", "runs/lm", "--n-layer", "1", "--n-head", "2",
                "--n-embd", "16", "--max-iters", "2", "--eval-interval", "2", "--eval-tokens", "256",
                "--batch-size", "4", "--block-size", "16", "--quiet"], work))
    ok(run_cli(["train", "text-rnn", "--data", "reviews", "--out", "runs/rnn", "--epochs", "1",
                "--units", "4", "--embed-dim", "4"], work))
    ok(run_cli(["train", "forecast", "--data", "load.csv", "--out", "runs/fc", "--epochs", "1", "--hidden", "4",
                "--lookback", "8"], work))
    assert json.loads((work / "runs/lm/pretrain.json").read_text())["data"] == str(work / "book.txt")
    for run in ("lm", "rnn", "fc"):
        r = ok(run_cli(["evaluate", work / "runs" / run], elsewhere))
        assert "loss" in r.stdout or "mse" in r.stdout, r.stdout


def idx_folder(folder, n=64):
    """The four IDX files of a tiny image task: a bar whose height says the class."""
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix in ("train", "t10k"):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = np.zeros((n, 28, 28), np.uint8)
        for i, c in enumerate(y):
            x[i, 2 * c:2 * c + 6, 4:24] = 255
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(struct.pack(">HBBIII", 0, 8, 3, n, 28, 28) + x.tobytes())
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">HBBI", 0, 8, 1, n) + y.tobytes())


def test_an_image_run_on_a_users_idx_folder_trains_and_evaluates_on_it_from_anywhere(tmp_path):
    """--data-dir is the user's data: trained and tested on (never MNIST's files), and `evaluate`
    of the run, from another folder, tests on the same folder's test files."""
    work, elsewhere = tmp_path / "work", tmp_path / "elsewhere"
    work.mkdir(), elsewhere.mkdir()
    idx_folder(work / "bars")
    r = ok(run_cli(["train", "mnist-cnn", "--data-dir", "bars", "--epochs", "1", "--out", "runs/bars"], work))
    assert "using them as your own data (64 images)" in r.stderr
    saved = json.loads((work / "runs/bars/metrics.json").read_text())
    assert json.loads((work / "runs/bars/train_config.json").read_text())["data_dir"] == str(work / "bars")
    r = ok(run_cli(["evaluate", work / "runs" / "bars"], elsewhere))
    assert f"test accuracy: {saved['test_accuracy'] * 100:.2f}%" in r.stdout, (r.stdout, saved)


def test_text_rnn_reads_other_column_names(tmp_path):
    labelled(tmp_path / "q.tsv", text="question", label="kind")
    r = ok(run_cli(["train", "text-rnn", "--data", "q.tsv", "--text-column", "question", "--label-column", "kind",
                    "--out", "runs/q", "--epochs", "1", "--units", "4", "--embed-dim", "4"], tmp_path))
    assert json.loads((tmp_path / "runs/q/model.json").read_text())["text_column"] == "question"
    ok(run_cli(["evaluate", "runs/q", "--data-dir", "q.tsv"], tmp_path))
    bad = run_cli(["train", "text-rnn", "--data", "q.tsv", "--out", "runs/q2", "--epochs", "1"], tmp_path)
    assert bad.returncode == 1 and "text" in bad.stderr and "question" in bad.stderr, (r.stderr, bad.stderr)


def test_a_refused_prompt_prints_nothing_and_a_forecast_folder_gives_its_csv_files(tmp_path):
    (tmp_path / "book.txt").write_text("abc abc abc\n" * 300, encoding="utf-8")
    ok(run_cli(["pretrain", "gpt", "--data", "book.txt", "--out", "lm", "--n-layer", "1", "--n-head", "2",
                "--n-embd", "16", "--max-iters", "2", "--eval-interval", "2", "--eval-tokens", "256",
                "--batch-size", "4", "--block-size", "16", "--quiet"], tmp_path))
    r = run_cli(["generate", "lm", "--prompt", "Zebra", "--max-new-tokens", "3"], tmp_path)
    assert r.returncode == 1 and r.stdout == "" and "never seen" in r.stderr, (r.stdout, r.stderr)
    assert ok(run_cli(["generate", "lm", "--prompt", "ab", "--max-new-tokens", "3"], tmp_path)).stdout.startswith("ab")
    series(tmp_path / "load.csv")
    ok(run_cli(["train", "forecast", "--data", "load.csv", "--out", "fc", "--epochs", "1", "--hidden", "4",
                "--lookback", "8"], tmp_path))
    (tmp_path / "inputs").mkdir()
    series(tmp_path / "inputs" / "a.csv")
    (tmp_path / "inputs" / "notes.txt").write_text("not a series\n")
    r = ok(run_cli(["predict", "fc", "inputs", "--json"], tmp_path))
    answers = json.loads(r.stdout)
    assert [a["input"] for a in answers] == ["inputs/a.csv"], r.stdout
    assert "skipped 1 other file" in r.stderr, r.stderr
