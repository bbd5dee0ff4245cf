"""benchmarks/long_texts.py: the readings of a text longer than the context cover it as described."""
import importlib.util
from pathlib import Path

import numpy as np

_spec = importlib.util.spec_from_file_location(
    "long_texts", Path(__file__).resolve().parents[2] / "benchmarks" / "long_texts.py")
long_texts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(long_texts)


def test_each_reading_keeps_the_start_token_and_fits_the_context():
    start, T = 0, 9                                   # 8 text tokens per sequence
    short, long = np.array([start, 1, 2, 3]), np.array([start, *range(1, 22)])   # 3 and 21 text tokens
    seqs, owner = long_texts.readings([short, long], T)
    assert [s.tolist() for s in seqs["head"]] == [short.tolist(), [0, *range(1, 9)]]
    assert seqs["head+tail"][1].tolist() == [0, 1, 2, 3, 4, 18, 19, 20, 21]
    assert seqs["head+tail"][0].tolist() == short.tolist()
    windows = [s for s, i in zip(seqs["windows"], owner) if i == 1]
    assert all(len(w) == T and w[0] == start for w in windows)
    assert windows[0][1:].tolist() == list(range(1, 9)) and windows[-1][1:].tolist() == list(range(14, 22))
    assert sorted({t for w in windows for t in w[1:].tolist()}) == list(range(1, 22))    # every token read
    assert owner.tolist().count(0) == 1
