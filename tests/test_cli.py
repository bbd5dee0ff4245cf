import csv
import dataclasses
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fromzero import load_model
from fromzero.cli import COMMANDS, PretrainArgs, build_parser, given, main, strip_nproc
from fromzero.datasets import load_mnist
from fromzero.recipes.configs import FinetuneConfig, ForecastConfig, GenerateConfig, MnistConfig, ScratchTrainConfig

ROOT = Path(__file__).resolve().parents[1]


def parse(*argv) -> dict:
    """The options a command line gives (what its command function receives)."""
    o = vars(build_parser().parse_args(list(argv)))
    o.pop("command")
    return o


def option_names(cmd) -> list[str]:
    """Every option and positional argument a command's dataclasses declare."""
    names = []
    for spec in cmd.options:
        for f in dataclasses.fields(spec[0] if isinstance(spec, tuple) else spec):
            m = f.metadata
            if "help" in m:
                flag = m.get("flag") or ("--no-" if f.default is True and "const" not in m and not m.get("explicit")
                                         else "--") + f.name.replace("_", "-")
                names.append(f.name if m.get("positional") else flag)
    return names


@pytest.mark.parametrize("name", list(COMMANDS))
def test_every_command_help_lists_its_options(name, capsys):
    with pytest.raises(SystemExit) as e:
        main([*name.split(), "--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and out.startswith(f"usage: fromzero {name}")
    for opt in option_names(COMMANDS[name]):
        assert re.search(rf"(^|\s){re.escape(opt)}\b", out), f"{name}: {opt}"


def test_help_imports_neither_torch_nor_the_models():
    code = ("import sys, contextlib, io\nfrom fromzero.cli import COMMANDS, main\n"
            "for argv in [[]] + [c.split() for c in COMMANDS]:\n"
            "    with contextlib.redirect_stdout(io.StringIO()):\n"
            "        try:\n            main([*argv, '--help'])\n"
            "        except SystemExit:\n            pass\n"
            "heavy = [m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy')\n"
            "         or m.startswith(('fromzero.models.gpt', 'fromzero.train', 'fromzero.recipes.gpt'))]\n"
            "print(heavy)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]"


def test_help_states_real_defaults(capsys):
    for argv, expected in [(["train", "mnist-cnn"], ["images per step (default: 128)", "(default: 10, --speedrun: 1)",
                                                   "(default: adam, --speedrun: muon)"]),
                           (["pretrain", "gpt"], ["(default: shakespeare-char: 0.003; other presets: tiny:",
                                                  "(default: shakespeare-char: 4; other presets: tiny: 2, "
                                                  "shakespeare-speedrun: 4, tang-char: 4, cpu-small: 6, cpu-medium: 6, gpt2: 12, "
                                                  "gpt2-medium: 24, gpt2-large: 36)",   # issue #16: every value
                                                  "(default: 1337)"]),
                           (["finetune"], ["0.0003 full, 0.002 LoRA, 0.0003 --scratch"]),
                           (["train", "forecast"], ["(default: ett: 64, melbourne: 32, a CSV file: 64)"])]:
        with pytest.raises(SystemExit):
            main([*argv, "--help"])
        out = " ".join(capsys.readouterr().out.split())
        unwrapped = out.replace("- ", "-")            # argparse may wrap a line after a hyphen
        for text in expected:
            assert text in out or text in unwrapped, (argv, text)


def test_help_facts_kept_elsewhere_match_their_source():
    """Help that names built-in data or the scratch presets says what those modules hold."""
    from fromzero.scratch.gpt_train import GPT_PRESET
    from fromzero.scratch.train import PRESETS
    from fromzero.text.data import BUILTIN as CORPORA
    from fromzero.timeseries.data import BUILTIN as SERIES

    shown = {f.name: f.metadata.get("shown", "") for f in dataclasses.fields(ForecastConfig)}
    for b in SERIES.values():
        assert f"{b.name} {b.lookback}" in shown["lookback"] and f"{b.name} {b.horizon}" in shown["horizon"]
        assert f"{b.name} {b.season}" in shown["season"] and f"{b.name} {b.target}" in shown["target"]
    data_help = {f.name: f.metadata["help"] for f in dataclasses.fields(PretrainArgs)}["data"]
    assert all(name in data_help for name in CORPORA)
    shown = {f.name: f.metadata.get("shown", "") for f in dataclasses.fields(ScratchTrainConfig)}
    for p in PRESETS.values():
        assert f"{p.model} {p.epochs}" in shown["epochs"] and f"{p.model} {p.width}" in shown["width"]
        assert shown["lr"].startswith(f"mlp/cnn {p.lr:g}") and shown["batch_size"].startswith(f"mlp/cnn {p.batch_size}")
    g = GPT_PRESET
    assert shown["lr"].endswith(f"gpt {g.lr:g}") and shown["batch_size"].endswith(f"gpt {g.batch_size}")
    for name in ("block_size", "n_layer", "n_head", "n_embd", "max_iters", "eval_interval"):
        assert shown[name] == str(getattr(g, name)), name


def test_options_reach_the_config():
    o = parse("train", "mnist-cnn", "--demo", "--epochs", "2", "--device", "cpu", "--limit", "64")
    assert o == {"demo": True, "epochs": 2, "device": "cpu", "limit": 64}  # only what was given
    cfg = given(MnistConfig, o, epochs=4, lr=2e-3)
    assert (cfg.epochs, cfg.lr, cfg.limit, cfg.batch_size) == (2, 2e-3, 64, 128)
    o = parse("finetune", "runs/gpt", "--scratch", "--no-merge", "--lora-rank", "4", "--warmup", "0.2")
    cfg = given(FinetuneConfig, o)
    assert (o["run"], cfg.init, cfg.merge, cfg.lora_rank, cfg.warmup) == ("runs/gpt", "scratch", False, 4, 0.2)
    o = parse("train", "forecast", "--layers", "2", "--skip", "false", "--time-features", "yes")
    assert o == {"n_layer": 2, "skip": False, "time_features": True}
    cfg = given(GenerateConfig, parse("generate", "runs/gpt", "--no-cache", "--top-p", "0.9", "--seed", "3"))
    assert (cfg.use_cache, cfg.top_p, cfg.seed, cfg.max_new_tokens) == (False, 0.9, 3, 500)
    cfg = given(ScratchTrainConfig, parse("scratch", "train", "--limit", "512", "--no-progress"))
    assert (cfg.train_limit, cfg.progress, cfg.model) == (512, False, "cnn")
    o = parse("pretrain", "gpt", "--strategy", "fsdp", "--activation-checkpointing", "--n-layer", "3", "--compile")
    assert o == {"strategy": "fsdp", "activation_checkpointing": True, "n_layer": 3, "compile": True}


def test_set_key_value():
    o = parse("pretrain", "gpt", "--set", "qk_norm=false", "--set", "pos-emb=learned", "--set", "lr=1e-3",
              "--set", "n_layer=3", "--set", "sample_prompt=a=b")
    assert o["set"] == [("qk_norm", False), ("pos_emb", "learned"), ("lr", 1e-3), ("n_layer", 3),
                        ("sample_prompt", "a=b")]
    with pytest.raises(SystemExit):
        parse("pretrain", "gpt", "--set", "qk_norm")


@pytest.mark.parametrize("argv, message", [
    (["train", "mnist-cnn", "--epochs", "0"], "argument --epochs: expected an integer >= 1, got '0'"),
    (["train", "mnist-cnn", "--lr", "fast"], "argument --lr: expected a number in (0, 10], got 'fast'"),
    (["finetune", "runs/gpt", "--pool", "max"], "argument --pool: invalid choice: 'max'"),
    (["train", "forecast", "--skip", "maybe"], "argument --skip: expected true or false, got 'maybe'"),
    (["train", "mnist-cnn", "--nproc", "0"], "argument --nproc: expected an integer >= 1, got '0'"),
])
def test_a_bad_value_is_a_usage_error_naming_the_option(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        main(argv)
    assert e.value.code == 2 and message in capsys.readouterr().err


def test_library_errors_exit_1_usage_errors_and_bare_groups_exit_2(capsys):
    assert main(["evaluate", "/nonexistent/run"]) == 1          # a file error
    assert capsys.readouterr().err.startswith("fromzero: error: ")
    assert main(["pretrain", "gpt", "--set", "n_layerz=3", "--out", "/nonexistent/x"]) == 2
    assert "unknown option(s) 'n_layerz'" in capsys.readouterr().err
    assert main(["train"]) == 2 and "mnist-cnn" in capsys.readouterr().out
    assert main([]) == 2 and "COMMAND" in capsys.readouterr().out


def test_strip_nproc():
    argv = ["pretrain", "gpt", "--nproc", "4", "--strategy", "fsdp", "--nproc=2"]
    assert strip_nproc(argv) == ["pretrain", "gpt", "--strategy", "fsdp"]


def test_every_command_in_the_docs_parses():
    lines = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for _, block in re.findall(r"^```(\w*)\n(.*?)^```", path.read_text(encoding="utf-8"), re.S | re.M):
            for line in block.replace("\\\n", " ").splitlines():
                if line.startswith("fromzero ") and not line.startswith("fromzero COMMAND"):
                    lines.append(line.split("  #")[0].strip())
    assert len(lines) >= 30
    for line in lines:
        assert callable(build_parser().parse_args(shlex.split(line)[1:]).command.run), line


# --- one real run through the command line -------------------------------------------------------

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    assert main(["train", "mnist-cnn", "--epochs", "1", "--limit", "1500", "--batch-size", "32", "--lr", "0.003",
                 "--out", str(out), "--device", "cpu", "--seed", "1"]) == 0
    return out


def test_train_writes_a_complete_run_directory(run_dir, capsys):
    names = {p.name for p in run_dir.iterdir()}
    assert {"model.safetensors", "model.json", "history.csv", "history.png", "metrics.json",
            "train_config.json", "checkpoints"} <= names
    spec = json.loads((run_dir / "model.json").read_text())
    assert spec["task"] == "image-classification" and spec["name"] == "model"
    rows = list(csv.DictReader(open(run_dir / "history.csv")))
    assert len(rows) == 1 and {"loss", "accuracy", "val_loss", "val_accuracy"} <= set(rows[0])
    assert (run_dir / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    acc = json.loads((run_dir / "metrics.json").read_text())["test_accuracy"]
    assert acc > 0.8  # 1,500 images, one epoch


def test_evaluate_matches_saved_metrics(run_dir, capsys):
    assert main(["evaluate", str(run_dir), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    acc = json.loads((run_dir / "metrics.json").read_text())["test_accuracy"]
    assert f"test accuracy: {acc * 100:.2f}%" in out


def test_predict_on_png_images(run_dir, tmp_path, capsys):
    x, y = load_mnist("test")
    digit = np.kron(x[0], np.ones((2, 2), np.uint8))  # a 56x56 greyscale image of a 7
    Image.fromarray(digit).save(tmp_path / "seven.png")
    Image.fromarray(np.stack([255 - digit] * 3, -1)).save(tmp_path / "seven_rgb_paper.png")
    model = load_model(run_dir)
    with torch.no_grad():
        expected = model(torch.from_numpy(x[:1]).float()[None] / 255).argmax().item()
    for name in ("seven.png", "seven_rgb_paper.png"):
        assert main(["predict", str(run_dir), str(tmp_path / name), "--top", "2", "--device", "cpu"]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        top = [l for l in lines if "%" in l]
        assert len(top) == 2 and top[0].split("\t")[0] == str(expected)
    assert expected == int(y[0])


def test_predict_rejects_non_images_and_tiny_images(run_dir, tmp_path, capsys):
    (tmp_path / "notes.png").write_text("not an image")
    assert main(["predict", str(run_dir), str(tmp_path / "notes.png")]) == 1
    assert "expected an image file" in capsys.readouterr().err
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(tmp_path / "small.png")
    assert main(["predict", str(run_dir), str(tmp_path / "small.png")]) == 1
    assert "at least 28x28 pixels, got 10x10" in capsys.readouterr().err


def test_resume_keeps_the_runs_own_recipe_and_may_change_the_target(tmp_path, capsys):
    out = str(tmp_path / "run")
    common = ["train", "mnist-cnn", "--limit", "128", "--batch-size", "64", "--out", out, "--device", "cpu"]
    assert main([*common, "--epochs", "2", "--stop-at-accuracy", "0.0001"]) == 0      # stops after epoch 1
    assert "target reached: val_accuracy" in capsys.readouterr().err
    assert main([*common, "--resume", "--speedrun", "--stop-at-accuracy", "0"]) == 0   # no target: epoch 2
    saved = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert (saved["epochs"], saved["optimizer"], saved["stop_at_accuracy"]) == (2, "adam", 0.0)
    assert len(list(csv.DictReader(open(tmp_path / "run" / "history.csv")))) == 2


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path):
    """`fromzero models | head -1`: the pipe closes before the table is written; no error line."""
    p = subprocess.Popen([sys.executable, "-m", "fromzero", "models"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env={**os.environ, "FROMZERO_CACHE": str(tmp_path)})
    p.stdout.close()            # closed before the command writes (it imports torch first)
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 141 and err == "", err
