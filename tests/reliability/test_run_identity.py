"""A run directory has an identity and one writer (issue #15, findings 1, 2, 6 and 8's --resume part).

run.json names the run; checkpoints carry its id; --resume continues only that run; a new run into a
non-empty directory is refused unless --overwrite; run.lock keeps a second writer out; the --nproc
launcher takes its workers down with it; every training command has --resume, and options that
conflict with the resumed run are refused, never recorded.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

from fromzero import cli
from fromzero.checkpoint import (LOCK_FILE, RunLock, checkpoint_run_id, list_checkpoints, open_run,
                                 save_checkpoint)
from fromzero.errors import CheckpointError
from fromzero.train import Trainer

SCRIPT = Path(__file__).with_name("identity_script.py")
OLD = Path(__file__).resolve().parents[1] / "compat" / "old_runs"
ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MPLBACKEND="Agg")


def script(run_dir, out, *extra, wait=True):
    args = [sys.executable, str(SCRIPT), str(run_dir), str(out), *map(str, extra)]
    if not wait:
        return subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(args, env=ENV, capture_output=True, text=True, timeout=300)


def steps(run_dir):
    return [int(p.name[5:]) for p in list_checkpoints(run_dir)]


# --- finding 1: resume never continues another run ------------------------------------------------

def test_a_second_run_is_refused_and_resume_continues_only_its_own_run(tmp_path):
    run = tmp_path / "run"
    assert script(run, tmp_path / "a.json", "--seed", 1).returncode == 0           # run A: 40 steps
    a_steps = steps(run)
    assert a_steps == [35, 40]
    b = script(run, tmp_path / "b.json", "--seed", 2)                               # run B, no --resume
    assert b.returncode != 0 and "is not empty" in b.stderr and str(run) in b.stderr, b.stderr
    assert steps(run) == a_steps                                                    # A untouched
    b = script(run, tmp_path / "b.json", "--seed", 2, "--overwrite", "--kill-at", 15)
    assert b.returncode == -signal.SIGKILL
    assert steps(run) == [5, 10]                                                    # B's own, A's gone
    b = script(run, tmp_path / "b.json", "--seed", 2, "--resume")
    assert b.returncode == 0, b.stderr
    assert "from step 10" in b.stderr                                               # not A's 40
    assert json.loads((tmp_path / "b.json").read_text())["step"] == 40
    assert steps(run) == [35, 40] and {checkpoint_run_id(p) for p in list_checkpoints(run)} == {
        json.loads((run / "run.json").read_text())["run_id"]}                       # B's, run to the end


def test_checkpoints_of_another_run_are_neither_resumed_nor_rotated(tmp_path):
    m = nn.Linear(2, 2)
    for step in (30, 40):
        save_checkpoint(tmp_path, step, m, {"step": step, "run_id": "aaaa"}, keep=2)
    with open_run(tmp_path, "trainer", overwrite=True) as run:   # a new run, its files deleted...
        pass
    for step in (1, 2, 3):                                       # ...but say A's came back (a copy)
        save_checkpoint(tmp_path, step + 40, m, {"step": step, "run_id": "aaaa"}, keep=5)
        save_checkpoint(tmp_path, step, m, {"step": step, "run_id": run.run_id}, keep=2)
    assert [checkpoint_run_id(p) for p in list_checkpoints(tmp_path)].count("aaaa") == 3   # never deleted by B
    assert steps(tmp_path) == [2, 3, 41, 42, 43]
    t = Trainer(nn.Linear(2, 2), verbose=0, run_dir=tmp_path)
    assert t.checkpointer.latest().name == "step-00000003"       # B's newest, not A's higher step


def test_trainer_api_refuses_a_used_directory_and_overwrites_on_request(tmp_path):
    x, y = torch.randn(16, 2), torch.randint(0, 2, (16,))
    first = Trainer(nn.Linear(2, 2), verbose=0, run_dir=tmp_path, plot=False)
    first.fit((x, y), epochs=1, batch_size=8)
    first.fit((x, y), epochs=1, batch_size=8)                  # the same trainer: the same run, again
    with pytest.raises(CheckpointError, match="is not empty"):
        Trainer(nn.Linear(2, 2), verbose=0, run_dir=tmp_path, plot=False).fit((x, y), epochs=1, batch_size=8)
    old = json.loads((tmp_path / "run.json").read_text())["run_id"]
    Trainer(nn.Linear(2, 2), verbose=0, run_dir=tmp_path, plot=False).fit((x, y), epochs=1, batch_size=8,
                                                                          overwrite=True)
    assert json.loads((tmp_path / "run.json").read_text())["run_id"] != old
    assert steps(tmp_path) == [2]                              # the old run's checkpoints are gone



def test_overwrite_puts_the_previous_run_back_when_the_new_one_fails_before_its_first_checkpoint(tmp_path):
    """--overwrite with a typo in a file name (issue #16's cold review): the failed new run must not
    have cost the old one. The old run's files are replaced only once the new run has a checkpoint."""
    x, y = torch.randn(16, 2), torch.randint(0, 2, (16,))
    Trainer(nn.Linear(2, 2), verbose=0, run_dir=tmp_path, plot=False).fit((x, y), epochs=1, batch_size=8)
    (tmp_path / "notes.txt").write_text("mine")                 # not a run file: never touched
    before = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    with pytest.raises(FileNotFoundError):
        with open_run(tmp_path, "trainer", overwrite=True) as run:
            assert not (tmp_path / "checkpoints").exists() and (tmp_path / ".previous-run").is_dir()
            raise FileNotFoundError("data/typo.txt")            # the new run's input: not there
    after = {p.relative_to(tmp_path): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before and run.run_id != json.loads((tmp_path / "run.json").read_text())["run_id"]
    Trainer(nn.Linear(2, 2), verbose=0, run_dir=tmp_path, plot=False).fit((x, y), epochs=2, batch_size=8,
                                                                          overwrite=True)
    new_id = json.loads((tmp_path / "run.json").read_text())["run_id"]
    assert {checkpoint_run_id(p) for p in list_checkpoints(tmp_path)} == {new_id}    # replaced, once it checkpointed
    assert not (tmp_path / ".previous-run").exists()
    assert (tmp_path / "notes.txt").read_text() == "mine"

# --- finding 2: one writer per run directory; the launcher takes its workers down ----------------

def test_a_second_training_into_the_same_directory_fails_at_once(tmp_path):
    run, go = tmp_path / "run", tmp_path / "go"
    first = script(run, tmp_path / "a.json", "--seed", 1, "--wait-at", 3, go, wait=False)
    try:
        for _ in range(1200):                                  # until the first holds the directory
            if Path(f"{go}.ready").exists() or first.poll() is not None:
                break
            time.sleep(0.05)
        assert Path(f"{go}.ready").exists(), first.communicate()[1]
        second = script(run, tmp_path / "b.json", "--seed", 1, "--resume")
        assert second.returncode != 0
        assert f"{run} is in use by pid {first.pid}" in second.stderr, second.stderr
    finally:
        go.write_text("")
        _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert not (run / LOCK_FILE).exists()                      # released at the end


def test_a_stale_lock_is_taken_over_with_a_notice(tmp_path, capsys):
    pid = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                             text=True).stdout)                 # a process that has ended
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))
    with RunLock(tmp_path):
        assert json.loads((tmp_path / LOCK_FILE).read_text())["pid"] == os.getpid()
        other = subprocess.run([sys.executable, "-c", "import sys; from fromzero.checkpoint import RunLock; "
                                "RunLock(sys.argv[1]).acquire()", str(tmp_path)], capture_output=True, text=True,
                               env=ENV)
        assert other.returncode != 0 and f"{tmp_path} is in use by pid {os.getpid()}" in other.stderr, other.stderr
    assert f"stale lock of pid {pid}" in capsys.readouterr().err
    assert not (tmp_path / LOCK_FILE).exists()


def _children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p.name))
            except (OSError, ValueError, IndexError):
                pass
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        state = (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0])
        return state != "Z"
    except (ProcessLookupError, FileNotFoundError):
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_killing_the_launcher_stops_its_workers(tmp_path, sig):
    run = tmp_path / "run"
    launcher = subprocess.Popen([sys.executable, "-m", "fromzero", "train", "mnist-cnn", "--nproc", "2", "--limit",
                                 "512", "--epochs", "1000", "--batch-size", "8", "--device", "cpu", "--out", str(run)],
                                env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        workers = []
        for _ in range(2400):                                  # until both workers train (rank 0 holds the lock)
            workers = _children(launcher.pid)
            if len(workers) == 2 and (run / LOCK_FILE).exists():
                break
            assert launcher.poll() is None, launcher.communicate()[1]
            time.sleep(0.05)
        assert len(workers) == 2
        os.kill(launcher.pid, sig)
        launcher.wait(timeout=60)
        for _ in range(600):                                   # a few seconds at most, in practice
            if not any(map(_alive, workers)):
                break
            time.sleep(0.05)
        assert not any(map(_alive, workers)), f"workers still running after the launcher got {sig.name}"
    finally:
        for pid in [launcher.pid, *workers]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# --- finding 6 (and 8): --resume on every training command; conflicting options refused ----------

def fromzero(*args) -> int:
    try:
        return cli.main([str(a) for a in args])
    except SystemExit as e:   # argparse: an unknown option
        return e.code


def labelled(folder: Path, n: int = 64) -> Path:
    folder.mkdir(exist_ok=True)
    for split in ("train", "dev", "test"):
        rows = [f"{'a good fine film' if i % 2 else 'a dull bad plot'} {i % 7}\t{i % 2}" for i in range(n)]
        (folder / f"{split}.tsv").write_text("text\tlabel\n" + "\n".join(rows) + "\n")
    return folder


def series(path: Path) -> Path:
    path.write_text("t,value\n" + "".join(f"{i},{(i * 37) % 11 + i / 50:.3f}\n" for i in range(160)))
    return path


COMMANDS = {
    "mnist-cnn": lambda tmp: ["train", "mnist-cnn", "--limit", 64, "--batch-size", 32],
    "text-rnn": lambda tmp: ["train", "text-rnn", "--data", labelled(tmp / "task"), "--units", 4, "--embed-dim", 4],
    "forecast": lambda tmp: ["train", "forecast", "--data", series(tmp / "series.csv"), "--hidden", 4,
                             "--lookback", 8],
    "finetune": lambda tmp: ["finetune", OLD / "gpt", "--task", labelled(tmp / "task"), "--batch-size", 16,
                             "--quiet"],
}


@pytest.fixture
def small_mnist(monkeypatch):
    """The command line as it is, on 64 training and 64 test images (the data path has its own tests)."""
    import fromzero.recipes.mnist as recipe
    real = recipe.load_mnist
    monkeypatch.setattr(recipe, "load_mnist", lambda split, *a: tuple(v[:64] for v in real(split, *a)))


@pytest.mark.parametrize("command", COMMANDS)
def test_every_training_command_resumes(tmp_path, capsys, small_mnist, command):
    out = tmp_path / "run"
    assert fromzero(*COMMANDS[command](tmp_path), "--epochs", 1, "--device", "cpu", "--out", out) == 0
    done = steps(out)[-1]
    capsys.readouterr()
    assert fromzero(*COMMANDS[command](tmp_path)[:2], "--resume", "--epochs", 2, "--out", out) == 0
    assert f"from step {done}" in capsys.readouterr().err
    assert steps(out)[-1] > done
    config = json.loads((out / "run.json").read_text())["config"]
    assert config["epochs"] == 2 and config["device"] == "cpu"     # recorded as trained


def test_resume_with_an_option_that_conflicts_is_refused_and_not_recorded(tmp_path, capsys):
    run = tmp_path / "gpt"
    shutil.copytree(OLD / "gpt", run)                               # a run from before run ids
    before = (run / "pretrain.json").read_bytes()
    assert fromzero("pretrain", "gpt", "--out", run, "--resume", "--lr", 1e6, "--quiet") == 2
    err = capsys.readouterr().err
    assert "lr 0.003 -> 1000000.0" in err, err
    assert (run / "pretrain.json").read_bytes() == before           # nothing recorded
    assert fromzero("pretrain", "gpt", "--out", run, "--resume", "--max-iters", 12, "--quiet") == 0
    assert "from step 10" in capsys.readouterr().err                # more steps: applied
    assert json.loads((run / "pretrain.json").read_text())["config"]["max_iters"] == 12


def test_model_fit_resumes(tmp_path):
    from fromzero import Sequential
    from fromzero import layers as L

    def model():
        torch.manual_seed(0)
        m = Sequential([L.Input((4,)), L.Dense(3)])
        m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        return m
    x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    model().fit(x, y, epochs=1, batch_size=8, verbose=0, run_dir=tmp_path)
    again = model()
    history = again.fit(x, y, epochs=2, batch_size=8, verbose=0, run_dir=tmp_path, resume=True)
    assert again.trainer.step == 8 and len(history.epochs) == 2
