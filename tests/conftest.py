import os

import pytest
import torch


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    """Each test: its own cache folder, a fixed seed, 1 thread (tests are small; CI has 2 cores)."""
    monkeypatch.setenv("FROMZERO_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    torch.manual_seed(0)


# One thread per test process: the tests' models are small, `make test` runs one process per core
# (pytest-xdist), and more threads than free cores make OpenMP's spin-waits fight (an LSTM step
# measured 100x slower with 2 threads on a busy 2-core machine than with 1).
torch.set_num_threads(1)


@pytest.fixture(scope="session")
def mnist_small():
    """2,000 training and 500 test images of the embedded MNIST, as model inputs."""
    from fromzero.datasets import load_mnist
    from fromzero.recipes.mnist import to_inputs

    xtr, ytr = load_mnist("train")
    xte, yte = load_mnist("test")
    return (to_inputs(xtr[:2000]), torch.from_numpy(ytr[:2000]),
            to_inputs(xte[:500]), torch.from_numpy(yte[:500]))
