"""The README's shell blocks, and every command of the docs, run as written (with tiny sizes, for time).

README.md: each line of each ```bash block (English and Chinese sections alike) is run in the
order shown, as a new user types it on a fresh clone: ``make TARGET`` as what ``make -n TARGET``
runs, ``source .venv/bin/activate`` by checking that it puts the Makefile's ``fromzero`` on the
PATH, and ``fromzero ...`` with the options in RUN appended to make it tiny. docs/*.md: each
``fromzero ...`` line likewise. A line is either run or listed in SKIPPED with the reason, so a
line added to the docs fails test_every_documented_line_is_run_or_skipped until it is in one of
the two tables.

The commands run in this process (tests/inprocess.py), one after another in a scratch folder whose
``examples/`` is the repository's: torch is imported once for all of them.
"""
import os
import re
import shlex
import subprocess
from pathlib import Path

import numpy as np
import pytest

import fromzero.datasets
from inprocess import run_cli

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]

# Options that shrink a language-model pre-training to 2 steps of a 1-layer model; the preset (and
# so the default run directory) stays the documented one.
TINY_LM = "--max-iters 2 --eval-interval 2 --eval-tokens 256 --batch-size 4 --block-size 32 --quiet"
TINY_GPT = f"--n-layer 1 --n-head 2 --n-embd 32 {TINY_LM}"
TINY_LSTM = f"--n-layer 1 --n-embd 8 --n-hidden 16 {TINY_LM}"
TINY_FORECAST = "--epochs 1 --hidden 8"
TINY_MNIST = "--epochs 1 --limit 256"
TINY_DP = f"{TINY_MNIST} --batch-size 32"   # sampling rate 1/8: calibrating the noise at 1/2 takes seconds
# documented line (without its comment) -> options appended to it ("" = runs as written)
RUN = {
    # README.md
    "make demo": TINY_MNIST,                 # appended to the fromzero command that `make -n demo` shows
    "fromzero evaluate runs/demo": "",
    "fromzero predict runs/demo examples/digit-7.png": "",
    "fromzero train mnist-cnn --epochs 10 --batch-size 128": TINY_MNIST,
    "fromzero evaluate runs/mnist-cnn": "",
    "fromzero predict runs/mnist-cnn examples/digit-7.png": "",
    "fromzero predict runs/mnist-cnn examples/ --csv": "",
    "fromzero pretrain gpt --data shakespeare --out runs/gpt": TINY_GPT,
    'fromzero generate runs/gpt --prompt "ROMEO:"': "--max-new-tokens 5",
    "fromzero finetune runs/gpt --task sst2 --lora-rank 8": "--epochs 1 --data-dir sst2-small",
    "fromzero train forecast --data ett --target OT": f"{TINY_FORECAST} --lookback 24 --horizon 4",
    "fromzero train forecast --data sales.csv --target units": TINY_FORECAST,
    "fromzero scratch train --model cnn": "--epochs 1 --limit 256 --width 4 --no-progress",
    "fromzero scratch train --model gpt": "--max-iters 2 --eval-interval 2 --n-layer 1 --n-head 2 --n-embd 16 "
                                          "--block-size 16 --batch-size 4 --no-progress",
    "fromzero explain runs/mnist-cnn examples/digit-7.png": "",
    "fromzero train mnist-cnn --dp-epsilon 3 --out runs/mnist-dp": TINY_DP,
    "fromzero audit-privacy runs/mnist-dp": "--examples 64",
    "fromzero COMMAND --help": "",      # every command's --help (see commands())
    "fromzero pretrain gpt --data tang-poems --preset tang-char --out runs/tang --threads 1": TINY_GPT,
    'fromzero generate runs/tang --prompt "春風" --max-new-tokens 120 --seed 1': "--max-new-tokens 5",
    # docs/challenges.md
    "fromzero train mnist-cnn --out runs/mnist": TINY_MNIST,
    "fromzero audit-privacy runs/mnist": "--examples 64",
    "fromzero train mnist-cnn --dp-epsilon 3 --dp-delta 1e-5 --dp-max-grad-norm 0.5 --out runs/mnist-dp2":
        TINY_DP,
    "fromzero explain runs/mnist examples/digit-7.png": "",
    "fromzero export runs/mnist-cnn --format onnx": "",
    'fromzero explain runs/gpt "ROMEO: But soft"': "",
    # docs/distributed.md
    "fromzero pretrain gpt --preset shakespeare-char": TINY_GPT,
    # docs/serve.md
    "fromzero train mnist-cnn --out runs/mnist-cnn": TINY_MNIST,
    # docs/speedrun.md
    "fromzero train mnist-cnn --speedrun --out runs/mnist-speedrun": TINY_MNIST,
    "fromzero pretrain gpt --preset shakespeare-speedrun": TINY_GPT,
    # docs/finetune.md
    "fromzero pretrain gpt --data movie-reviews --preset cpu-small --tokenizer bpe --bpe-vocab-size 8192 "
    "--n-layer 4 --n-head 4 --n-embd 256 --out runs/gpt-movies": f"{TINY_GPT} --bpe-vocab-size 300",
    "fromzero finetune runs/gpt-movies --task sst2 --out runs/sst2": "--epochs 1 --data-dir sst2-small",
    "fromzero finetune runs/gpt-movies --task my_reviews.csv --out runs/mine": "--epochs 1",
    "fromzero evaluate runs/sst2": "--data-dir sst2-small",
    'fromzero predict runs/sst2 "A gorgeous, witty, seductive movie."': "",
    'fromzero explain runs/sst2 "A gorgeous, witty, seductive movie."': "",
    # docs/gpt.md
    "fromzero pretrain gpt --data shakespeare --preset shakespeare-char --out runs/shakespeare": TINY_GPT,
    'fromzero generate runs/shakespeare --prompt "ROMEO:" --max-new-tokens 300 --seed 0': "--max-new-tokens 5",
    'fromzero generate RUN --prompt "ROMEO:" --max-new-tokens 500 --temperature 0.8 --top-k 200 --seed 0':
        "--max-new-tokens 5",
    'fromzero generate RUN --prompt "..." --top-p 0.9': "--max-new-tokens 5",
    'fromzero generate RUN --prompt "..." --temperature 0': "--max-new-tokens 5",
    "fromzero pretrain gpt --data shakespeare --preset shakespeare-char --out runs/shakespeare --threads 1":
        TINY_GPT,
    # docs/rnn.md
    "fromzero pretrain lstm --data shakespeare": TINY_LSTM,
    'fromzero generate runs/lstm-shakespeare-char --prompt "ROMEO:" --max-new-tokens 300': "--max-new-tokens 5",
    "fromzero train text-rnn --data sst2": "--epochs 1 --units 8 --embed-dim 8 --data sst2-small",
    "fromzero evaluate runs/text-rnn": "",
    'fromzero predict runs/text-rnn "a gorgeous, witty, seductive movie."': "",
    "fromzero train forecast --data ett --out runs/forecast-ett": f"{TINY_FORECAST} --lookback 24 --horizon 4",
    "fromzero train forecast --data melbourne --out runs/forecast-melbourne": TINY_FORECAST,
    "fromzero train forecast --data sales.csv --target units --lookback 28 --horizon 7 --split 0.7,0.1,0.2":
        TINY_FORECAST,
    "fromzero predict runs/forecast-sales sales.csv": "",
    # docs/choosing.md (the zoo: arithmetic and cached measurements only, nothing measured)
    "fromzero models": "",
    "fromzero models --batch-size 8 --gpus 4": "",
}
# A placeholder in a command -> what it stands for here (a run made by an earlier command).
PLACEHOLDERS = {"RUN": "runs/shakespeare"}
# The run directory of a command that writes one without --out (its documented default).
MAKES = {"fromzero train mnist-cnn --epochs 10 --batch-size 128": "runs/mnist-cnn",
         "fromzero finetune runs/gpt --task sst2 --lora-rank 8": "runs/finetune-sst2",
         "fromzero pretrain gpt --preset shakespeare-char": "runs/gpt-shakespeare-char",
         "fromzero pretrain gpt --preset shakespeare-speedrun": "runs/gpt-shakespeare-speedrun",
         "fromzero pretrain lstm --data shakespeare": "runs/lstm-shakespeare-char",
         "fromzero train text-rnn --data sst2": "runs/text-rnn",
         "fromzero train forecast --data ett --target OT": "runs/forecast-ett",
         "fromzero train forecast --data sales.csv --target units": "runs/forecast-sales",
         "fromzero train forecast --data sales.csv --target units --lookback 28 --horizon 7 --split 0.7,0.1,0.2":
             "runs/forecast-sales"}
ACTIVATE = "source .venv/bin/activate"   # checked, not run: see test_activation_puts_fromzero_on_the_path
MULTI = "several processes, GPUs or machines (tests/distributed runs 1 vs 2 processes on the CPU)"
SKIPPED = {
    "fromzero compare mnist --budget full --threads 1": "tests/test_compare.py runs compare mnist end to end (tiny)",
    "fromzero compare lm --threads 1": "tests/test_compare.py runs compare lm end to end (tiny)",
    "fromzero compare text --threads 1": "a BiLSTM epoch over all of SST-2 even at --budget tiny: "
                                         "tests/test_compare.py runs compare text on a small TSV folder",
    "fromzero compare forecast --budget full --threads 1": "an LSTM epoch over all 8,449 ETTh1 windows even at "
                                                           "--budget tiny: tests/test_compare.py runs compare "
                                                           "forecast on a small CSV",
    "fromzero train mnist-cnn --dataset fashion-mnist --data-dir ../shared/datasets/fashion_mnist --speedrun "
    "--epochs 2 --out runs/fashion": "Fashion-MNIST is not embedded (read from ../shared/datasets or downloaded): "
                                     "tests/privacy/test_init.py trains the run that --init starts from",
    "fromzero train mnist-cnn --init runs/fashion --dp-epsilon 3 --dp-delta 1e-5 --optimizer sgd --lr 0.4 "
    "--batch-size 2048 --epochs 16 --out runs/mnist-dp-public": "starts from the Fashion-MNIST run above: "
                                                                "tests/privacy/test_init.py runs --init on tiny runs",
    "fromzero compare mnist --data path/to/fashion_mnist": "a placeholder folder of IDX files: tests/test_compare.py "
                                                          "writes one",
    "fromzero compare text --data path/to/cr --threads 1": "a placeholder folder (the CR data set is not shipped): "
                                                          "tests/test_compare.py writes a labelled folder",
    "fromzero compare forecast --data path/to/daily-min-temperatures.csv --threads 1":
        "a placeholder file: tests/test_compare.py writes a CSV series",
    'fromzero generate hf:gpt2 --prompt "Hello"': "downloads GPT-2 (no network in tests): tests/hub loads a "
                                                   "transformers GPT2LMHeadModel from a folder instead",
    'fromzero generate hf:gpt2 --prompt "The meaning of life is"': "downloads GPT-2: as above",
    'fromzero generate path/to/gpt2-folder --prompt "Hello"': "a placeholder path: tests/hub/test_hub.py runs "
                                                             "generate on a Hugging Face folder",
    "fromzero finetune hf:gpt2 --task sst2 --batch-size 16": "downloads GPT-2 and fine-tunes 124M parameters",
    "fromzero export runs/gpt2-style --format hf --out runs/gpt-hf": "a placeholder run: tests/hub exports a "
                                                                    "learned-position GPT and loads it in transformers",
    ACTIVATE: "checked by test_activation_puts_fromzero_on_the_path",
    "make test": "the test suite itself, which is running this test",
    "fromzero serve runs/mnist-cnn runs/gpt": "a server never exits: tests/serve runs the app on tiny runs of "
                                             "every kind (tests/serve/test_api.py, test_page.py in Chromium)",
    "fromzero serve runs/mnist-cnn runs/gpt runs/sst2": "a server never exits: as above (tests/serve)",
    "fromzero serve runs/mnist-cnn --host 0.0.0.0 --port 8080 --queue 32 --timeout 10":
        "a server never exits: as above (tests/serve)",
    'fromzero generate RUN --prompt "..." --compile': "compiles the decode step (~45 s on 2 cores): "
                                                      "tests/test_generate.py compiles it on a tiny model",
    "fromzero explain runs/mnist --check": "the checks need a well-trained model (exit status 1 when one fails): "
                                           "tests/explain runs them on a CNN trained for them",
    "fromzero models --measure --threads 1": "measures training throughput (a few steps of each preset, ~1 "
                                             "min): tests/test_zoo.py measures the tiny GPT and checks the cache",
    "fromzero plan gpt --data shakespeare --time 10m --memory 4GB": "measures the machine first (a calibration "
                                                                    "run and each candidate's throughput): "
                                                                    "tests/test_plan.py plans from a seeded cache",
    "fromzero plan gpt --data shakespeare --time 2m --preset shakespeare-char --threads 1": "as above "
                                                                                            "(tests/test_plan.py)",
    "fromzero plan mnist-cnn --time 5m": "as above (tests/test_plan.py plans the CNN with a fake throughput)",
    "fromzero train mnist-cnn --nproc 2 --strategy ddp": "2 processes: " + MULTI,
    "fromzero pretrain gpt --preset gpt2 --data corpus/ --nproc 8": "8 processes of GPT-2 on a user's corpus: " + MULTI,
    "torchrun --standalone --nproc-per-node 8 -m fromzero pretrain gpt --preset gpt2 --data corpus/":
        "torchrun with 8 processes of GPT-2 on a user's corpus: " + MULTI,
    "torchrun --nnodes 2 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint node0.example:29500 "
    "--rdzv-id gpt2-run1 -m fromzero pretrain gpt --preset gpt2-large --data /shared/corpus "
    "--out /shared/runs/gpt2-large --strategy fsdp": "2 machines: " + MULTI,
    'srun torchrun --nnodes "$SLURM_NNODES" --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint '
    '"$head:29500" --rdzv-id "$SLURM_JOB_ID" -m fromzero pretrain gpt --preset gpt2-large '
    "--data /shared/corpus --out /shared/runs/gpt2-large --strategy fsdp --resume": "a SLURM job: " + MULTI,
}


def shell_lines(text: str) -> list[tuple[str, int]]:
    """(line without its comment, line number) for each line of each ```bash block of markdown ``text``."""
    found = []
    for block in re.finditer(r"^```bash\n(.*?)^```", text, re.S | re.M):
        first = text.count("\n", 0, block.start()) + 2
        body = block.group(1)
        for m in re.finditer(r"^(?:.*\\\n)*.*$", body, re.M):    # a line, with its continuations
            line = " ".join(re.sub(r"(^|\s)#.*$", "", m.group(0).replace("\\\n", " ")).split())
            if line:
                found.append((line, first + body.count("\n", 0, m.start())))
    return found


def documented_lines() -> dict[str, str]:
    """The README's shell lines and the docs' fromzero lines, in order -> where each is first shown."""
    found = {}
    for doc in DOCS:
        for line, no in shell_lines(doc.read_text(encoding="utf-8")):
            if doc == README or line.startswith("fromzero ") or " -m fromzero " in line:
                found.setdefault(line, f"{doc.relative_to(ROOT)}:{no}")
    return found


DOCUMENTED = documented_lines()
TO_RUN = [c for c in DOCUMENTED if c in RUN]


def test_every_documented_line_is_run_or_skipped():
    missing = {c: where for c, where in DOCUMENTED.items() if c not in RUN and c not in SKIPPED}
    assert not missing, ("lines in the README's shell blocks or commands in the docs that this test neither "
                         "runs nor skips: add each to RUN (with options that make it tiny) or to SKIPPED (with "
                         f"the reason): {missing}")
    stale = sorted(c for c in [*RUN, *SKIPPED] if c not in DOCUMENTED)
    assert not stale, f"RUN/SKIPPED name lines that no README/docs block shows any more: {stale}"


def commands() -> list[str]:
    """The top-level commands (what `fromzero COMMAND --help` stands for), as the docs use them."""
    return sorted({c.split()[1] for c in DOCUMENTED if c.startswith("fromzero ") and c.split()[1] != "COMMAND"})


def make_commands(target: str) -> list[list[str]]:
    """The fromzero argument lists that ``make TARGET`` runs (read with ``make -n``: nothing runs)."""
    r = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"make -n {target}: {r.stderr}"
    return [shlex.split(line)[1:] for line in r.stdout.splitlines() if line.split()[:1]
            and line.split()[0].endswith("/bin/fromzero")]


def argvs(cmd: str) -> list[list[str]]:
    """The argument lists that running documented line ``cmd`` means here."""
    tiny = shlex.split(RUN[cmd])
    if cmd.startswith("make "):
        return [[*a, *tiny] for a in make_commands(cmd.split()[1])]
    words = [PLACEHOLDERS.get(w, w) for w in shlex.split(cmd)][1:] + tiny
    if words[0] == "COMMAND":
        return [["--help"]] + [[c, *words[1:]] for c in commands()]
    return [words]


def out_dir(argv: list[str], cmd: str) -> str | None:
    return argv[argv.index("--out") + 1] if "--out" in argv else MAKES.get(cmd)


def inputs(work: Path) -> None:
    """The user's files that the docs' commands read; the README's inputs are the repository's."""
    (work / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    sst2 = Path(fromzero.__file__).parent / "_data" / "sst2"
    (work / "sst2-small").mkdir()           # the first lines of each split: a task that trains in seconds
    for split, n in (("train", 320), ("dev", 64), ("test", 64)):
        lines = (sst2 / f"{split}.tsv").read_text(encoding="utf-8").splitlines(keepends=True)[:n + 1]
        (work / "sst2-small" / f"{split}.tsv").write_text("".join(lines), encoding="utf-8")
    rows = [line.split("\t") for line in (sst2 / "train.tsv").read_text(encoding="utf-8").splitlines()[1:241]]
    (work / "my_reviews.csv").write_text(
        "text,label\n" + "".join(f'"{t}",{"positive" if y == "1" else "negative"}\n' for t, y in rows),
        encoding="utf-8")
    (work / "sales.csv").write_text("date,units\n" + "".join(
        f"2023-{1 + d // 28:02d}-{1 + d % 28:02d},{100 + 10 * (d % 7) + d % 5}\n" for d in range(336)),
        encoding="utf-8")


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Run every line of RUN once, in the docs' order, in this process; {line: [CompletedProcess, ...]}."""
    work = tmp_path_factory.mktemp("readme")
    inputs(work)
    env, done = {"FROMZERO_CACHE": work / ".cache", "MPLBACKEND": "Agg"}, {}
    for cmd in TO_RUN:
        done[cmd] = []
        for argv in argvs(cmd):
            out = out_dir(argv, cmd)
            # documented runs may share a directory: a later one replaces an earlier one (a new run
            # into a non-empty directory is refused without --overwrite); a first one runs as written
            again = ["--overwrite"] if out and (work / out).is_dir() and "--overwrite" not in argv else []
            done[cmd].append(run_cli([*argv, *again], cwd=work, env=env))
    return done


@pytest.mark.parametrize("cmd", TO_RUN)
def test_documented_line_runs(results, cmd):
    assert results[cmd], f"`{cmd}` ({DOCUMENTED[cmd]}) runs no fromzero command"
    for r in results[cmd]:
        assert r.returncode == 0, f"`{shlex.join(r.args)}` ({DOCUMENTED[cmd]}) failed:\n{r.stderr[-3000:]}"
        assert r.stdout.strip(), f"`{shlex.join(r.args)}` printed nothing"


def readme_lines() -> list[str]:
    return [line for line, _ in shell_lines(README.read_text(encoding="utf-8"))]


def test_readme_first_steps_read_what_make_demo_writes():
    """After `make demo`, the README's next commands use the run it wrote and inputs that a fresh clone has."""
    lines = readme_lines()
    demo = make_commands("demo")
    assert len(demo) == 1 and "--out" in demo[0], demo
    assert "--overwrite" in demo[0], "make demo must run again as written: it replaces its own run"
    out = demo[0][demo[0].index("--out") + 1]
    after = lines[lines.index("make demo") + 1:]
    assert f"fromzero evaluate {out}" in after, f"the README's first steps do not evaluate {out} (make demo's run)"
    assert any(c.startswith(f"fromzero predict {out} ") for c in after), \
        f"the README's first steps do not predict with {out} (make demo's run)"
    for line in lines:     # every file a README predict command reads is in the repository
        words = shlex.split(line)
        if words[:2] == ["fromzero", "predict"] and " " not in words[3] and Path(words[3]).suffix:
            assert (ROOT / words[3]).is_file(), f"README: `{line}` reads {words[3]}, which a fresh clone lacks"


def test_readme_activates_the_environment_before_its_first_fromzero_command():
    for section in README.read_text(encoding="utf-8").split("## 中文说明"):  # English, then Chinese
        lines = [line for line, _ in shell_lines(section)]
        first = next(i for i, line in enumerate(lines) if line.startswith("fromzero "))
        assert ACTIVATE in lines[:first], f"no `{ACTIVATE}` before `{lines[first]}` in this README section"


def test_activation_puts_fromzero_on_the_path():
    """`source .venv/bin/activate` names the Makefile's environment, whose bin/ holds the fromzero that
    `make demo` runs; where that environment exists, activating it finds that fromzero first."""
    venv = re.search(r"^VENV\s*\?=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M).group(1)
    assert ACTIVATE == f"source {venv}/bin/activate"
    r = subprocess.run(["make", "-n", "demo"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert f"\n{venv}/bin/fromzero " in "\n" + r.stdout, r.stdout
    if not (ROOT / venv / "bin" / "activate").is_file():
        pytest.skip(f"no {venv} here (tests run from another environment)")
    found = subprocess.run(["bash", "-c", f"{ACTIVATE} && command -v fromzero"], cwd=ROOT, capture_output=True,
                           text=True, timeout=60, env={k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"})
    assert Path(found.stdout.strip()) == ROOT / venv / "bin" / "fromzero", found


def test_example_digit_is_the_mnist_test_image():
    from PIL import Image

    x, y = fromzero.datasets.load_mnist("test")
    assert y[0] == 7
    assert np.array_equal(np.asarray(Image.open(ROOT / "examples" / "digit-7.png")), x[0])


def test_readme_tutorial_program_runs(monkeypatch, capsys):
    text = README.read_text(encoding="utf-8")
    code = re.search(r"```python\n(import torch\nfrom fromzero import Model.*?)```", text, re.S).group(1)
    real = fromzero.datasets.load_mnist

    def small(split, *a, **k):
        x, y = real(split, *a, **k)
        return x[:600], y[:600]
    monkeypatch.setattr(fromzero.datasets, "load_mnist", small)
    code = code.replace("epochs=10", "epochs=1")
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)
    assert "Total params: 421,642" in capsys.readouterr().out
    model = scope["model"]
    assert model.evaluate(scope["x_test"], scope["y_test"])["accuracy"] > 0.3


def test_readme_shows_the_two_commands_first():
    head = README.read_text(encoding="utf-8").split("```")[1]
    assert "make demo" in head and "make test" in head
