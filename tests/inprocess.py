"""Run the `fromzero` command line inside the test process: what `python -m fromzero ARGS` prints and
returns, without paying a new interpreter and torch import per command (~2 s each on CI's 2 cores).

The state a command may change is put back afterwards: the working directory, environment variables,
torch's thread count and the global RNGs. Commands run one at a time (the working directory is
process-wide).
"""
from __future__ import annotations

import contextlib
import io
import os
import random
import subprocess
import threading

import numpy as np
import torch

_LOCK = threading.Lock()


def run_cli(args, cwd, env: dict | None = None) -> subprocess.CompletedProcess:
    """``fromzero ARGS`` run in ``cwd`` with ``env`` set on top of os.environ; a CompletedProcess."""
    from fromzero.cli import main

    args = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with _LOCK, _restored(cwd, env or {}):
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(args)
            except SystemExit as e:          # argparse: --help (0) and usage errors (2)
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return subprocess.CompletedProcess(["fromzero", *args], code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _restored(cwd, env: dict):
    saved_env, saved_cwd, threads = dict(os.environ), os.getcwd(), torch.get_num_threads()
    rng = random.getstate(), np.random.get_state(), torch.get_rng_state()
    os.environ.update({k: str(v) for k, v in env.items()})
    os.chdir(cwd)
    try:
        yield
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        torch.set_num_threads(threads)
        random.setstate(rng[0])
        np.random.set_state(rng[1])
        torch.set_rng_state(rng[2])
