"""fromzero compare end to end on tiny user files of each kind (a folder of IDX files, a labelled
TSV, a CSV series, a text file), and its errors. The built-in data sets are run by docs/choosing.md."""
import gzip
import json
import struct

import numpy as np
import pytest

from inprocess import run_cli

pytest.importorskip("sklearn")


def write_idx(path, array, magic):
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


def image_folder(tmp_path):
    """80 training and 40 test 28x28 images: class k is a bright bar in row 2k + 4."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "digits"
    folder.mkdir()
    for prefix, n in (("train", 80), ("t10k", 40)):
        y = np.arange(n) % 10
        x = rng.integers(0, 40, (n, 28, 28))
        for i, k in enumerate(y):
            x[i, 2 * k + 4, 4:24] = 255
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", x, 0x803)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", y, 0x801)
    return folder


def labelled_folder(tmp_path):
    folder = tmp_path / "reviews"
    folder.mkdir()
    good, bad = ["a great fine film", "good and warm", "lovely great acting"], ["a bad dull film", "awful and cold",
                                                                               "boring bad acting"]
    for name, n in (("train.tsv", 20), ("test.tsv", 6)):
        rows = [f"{good[i % 3]} {i}\tpositive\n{bad[i % 3]} {i}\tnegative\n" for i in range(n)]
        (folder / name).write_text("text\tlabel\n" + "".join(rows))
    return folder


def series_csv(tmp_path):
    t = np.arange(400)
    y = np.sin(2 * np.pi * t / 24) + 0.1 * np.random.default_rng(0).normal(size=400)
    times = np.datetime64("2024-01-01T00") + t.astype("timedelta64[h]")
    path = tmp_path / "load.csv"
    path.write_text("date,y,other\n" + "".join(f"{d},{v:.4f},{i % 7}\n" for d, v, i in zip(times, y, t)))
    return path


def text_file(tmp_path):
    path = tmp_path / "story.txt"
    words = ["the cat sat on the mat.", "a dog ran in the fog.", "we sing of the king."]
    path.write_text("\n".join(words[i % 3] for i in range(150)))
    return path


@pytest.mark.parametrize("task, make, extra, models, metrics", [
    ("mnist", image_folder, [], ["logistic", "random forest", "CNN"], ["accuracy"]),
    ("text", labelled_folder, [], ["TF-IDF", "BiLSTM"], ["accuracy"]),
    ("forecast", series_csv, ["--target", "y", "--lookback", "48", "--horizon", "6"],
     ["repeat", "seasonal naive (24", "ridge", "LSTM"],
     ["mae", "rmse", "mse_z"]),
    ("lm", text_file, ["--order", "4"], ["Kneser-Ney 4-gram", "GPT tiny"], ["nats", "bits"]),
])
def test_compare_on_a_user_file(tmp_path, task, make, extra, models, metrics):
    data, out = make(tmp_path), tmp_path / "out"
    out.mkdir()
    (out / "table.json").write_text('{"kind": "fromzero compare"}')     # an earlier comparison: replaced
    (out / "old.txt").write_text("")
    args = ["compare", task, "--data", data, "--budget", "tiny", "--out", out, "--quiet", *extra]
    r = run_cli([*args, "--overwrite"], tmp_path)
    assert r.returncode == 0, r.stderr
    assert not (out / "old.txt").exists()
    table = json.loads((out / "table.json").read_text())
    assert [row["model"].startswith(m) for row, m in zip(table["rows"], models)] == [True] * len(models)
    assert [row["kind"] for row in table["rows"]][-1] == "deep" and len(table["rows"]) == len(models)
    assert [m[0] for m in table["metrics"]] == metrics
    for row in table["rows"]:
        assert set(row["quality"]) == set(metrics) and all(np.isfinite(v) for v in row["quality"].values())
        assert row["params"] >= 0 and row["train_s"] >= 0 and row["latency_ms"] > 0
    header = (out / "table.csv").read_text().splitlines()[0].split(",")
    assert header == ["model", "kind", *metrics, "params", "train_s", "latency_ms", "size_mb", "note"]
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    printed = r.stdout.splitlines()
    assert printed[0].split()[0] == "model" and "params" in printed[0] and set(printed[1]) <= {"-", " "}
    assert sum(line.startswith(tuple(models)) for line in printed) == len(models)
    if task == "forecast":    # the user's window, not the CSV default (lookback 96 cut to a quarter, horizon 1)
        assert "lookback 48, horizon 6" in table["notes"][0], table["notes"]
    if task == "mnist":       # the bars are learnable: the linear model finds them
        assert table["rows"][0]["quality"]["accuracy"] > 0.9
    if task == "lm":          # the n-gram model on a text of three repeated lines: nearly certain
        assert table["rows"][0]["quality"]["nats"] < 0.5 < table["rows"][1]["quality"]["nats"]
        r = run_cli(args, tmp_path)                                        # again, without --overwrite
        assert r.returncode == 1 and "--overwrite" in r.stderr


def test_compare_errors(tmp_path):
    def fails(*args):
        r = run_cli(["compare", *map(str, args), "--budget", "tiny", "--quiet"], tmp_path)
        assert r.returncode != 0 and r.stderr.startswith("fromzero: error:")
        return r.returncode, r.stderr

    code, err = fails("cats")
    assert code == 2 and "task" in err and "mnist" in err and "cats" in err
    code, err = fails("text", "--data", tmp_path / "nope.tsv")
    assert code == 1 and "nope.tsv" in err
    (tmp_path / "plain.tsv").write_text("text\nno labels here\n")
    code, err = fails("text", "--data", tmp_path / "plain.tsv")
    assert code == 1 and "plain.tsv" in err and "'label'" in err
    csv = series_csv(tmp_path)
    code, err = fails("forecast", "--data", csv, "--target", "price")
    assert code == 1 and "price" in err
    code, err = fails("mnist", "--data", tmp_path)
    assert code == 1 and "train-images-idx3-ubyte" in err
    code, err = fails("mnist", "--target", "y")         # an option of another task: refused, not ignored
    assert "--target is an option of compare forecast, not of compare mnist" in err
    code, err = fails("lm", "--trees", "3", "--horizon", "2")
    assert "--trees is an option of compare mnist" in err and "--horizon is an option of compare forecast" in err
    code, err = fails("forecast", "--order", "6", "--text-column", "text")   # refused at their default values too
    assert "--order is an option of compare lm" in err and "--text-column is an option of compare text" in err
    code, err = fails("text", "--epochs", "1", "--limit", "5")
    assert "--limit is an option of compare mnist, not of compare text" in err and "--epochs" not in err
    code, err = fails("forecast", "--data", csv, "--target", "y,y")   # a column twice would weigh twice
    assert "expected each column once, got y more than once" in err
    code, err = fails("forecast", "--data", csv, "--target", "")
    assert "--target: expected column names" in err
    code, err = fails("mnist", "--data", csv)
    assert "load.csv: expected mnist, fashion-mnist or a folder with the four IDX files, but it is a file" in err
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    code, err = fails("lm", "--data", text_file(tmp_path), "--out", mine)
    assert code == 1 and "other files" in err and (mine / "notes.txt").is_file()


def test_compare_errors_speak_of_compare_and_leave_no_out_folder(tmp_path):
    def fails(*args):
        out = tmp_path / "out"
        r = run_cli(["compare", *map(str, args), "--budget", "tiny", "--quiet", "--out", out], tmp_path)
        assert r.returncode == 1 and r.stderr.startswith("fromzero: error:"), r.stderr
        assert not out.exists()                      # created by the failed call, so removed
        return r.stderr

    (tmp_path / "empty.txt").write_text("")
    err = fails("lm", "--data", tmp_path / "empty.txt")
    assert "empty.txt" in err and "empty file" in err and "vocab_size" not in err
    (tmp_path / "tiny.txt").write_text("hello")
    err = fails("lm", "--data", tmp_path / "tiny.txt")
    assert "more text" in err and "--block-size" not in err
    (tmp_path / "two.tsv").write_text("text\tlabel\ngood film\tpos\nbad film\tneg\n")
    err = fails("text", "--data", tmp_path / "two.tsv")
    assert "too few rows" in err and "1 training example" in err
