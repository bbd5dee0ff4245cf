"""The traditional baselines: the Kneser-Ney n-gram model against a by-the-formula reference and a
hand computation; the ridge and seasonal-naive forecasters on series where the answer is known."""
import math
from collections import Counter

import numpy as np
import pytest

from fromzero.baselines.ngram import KneserNey, bits
from fromzero.errors import ConfigError, DataError
from fromzero.timeseries.baselines import repeat_last, seasonal_naive
from fromzero.timeseries.windows import make_windows, window_starts

pytest.importorskip("sklearn")
from fromzero.baselines.classic import count_params, fit_pixel_logistic  # noqa: E402
from fromzero.baselines.lagged import RidgeForecaster  # noqa: E402


def reference_kn(x, V, order):
    """Interpolated Kneser-Ney written from the formula with Counters, one probability at a time."""
    grams = [Counter(tuple(x[i:i + k]) for i in range(len(x) - k + 1)) for k in range(1, order + 1)]
    cont = [Counter(g[1:] for g in grams[k]) for k in range(1, order)]   # distinct left extensions
    counts = [cont[k] if k < order - 1 else grams[k] for k in range(order)]

    def disc(c):
        n1, n2 = sum(v == 1 for v in c.values()), sum(v == 2 for v in c.values())
        return n1 / (n1 + 2 * n2) if n1 and n2 else 0.5

    D = [disc(c) for c in counts]

    def p(w, h):
        k = len(h)
        if k == 0:
            c = counts[0]
            total, types = sum(c.values()), sum(v > 0 for v in c.values())
            return (max(c.get((w,), 0) - D[0], 0) + D[0] * types / V) / total
        c = counts[k]
        seen = {g: v for g, v in c.items() if g[:-1] == tuple(h) and v > 0}
        total = sum(seen.values())
        if total == 0:
            return p(w, h[1:])
        return (max(seen.get((*h, w), 0) - D[k], 0) + D[k] * len(seen) * p(w, h[1:])) / total

    return lambda h, w: p(w, list(h)[len(h) - (order - 1):] if order > 1 else [])


def test_probabilities_match_the_formula_and_sum_to_one():
    rng = np.random.default_rng(0)
    x = rng.choice(5, size=300, p=[0.4, 0.3, 0.15, 0.1, 0.05])   # token 5 of V = 6 never occurs
    V, order = 6, 3
    lm, ref = KneserNey(order).fit(x, V), reference_kn(list(x), V, order)
    for ctx in ([0, 1], [4, 4], [5, 5], [5, 0], [2], []):    # seen, rare, unseen character, short
        p = lm.probs(ctx)
        assert p.sum() == pytest.approx(1.0, abs=1e-12) and (p > 0).all()
        full = list(ctx) if len(ctx) == order - 1 else ctx
        if len(full) == order - 1:
            np.testing.assert_allclose(p, [ref(full, w) for w in range(V)], rtol=1e-12)
    assert lm.probs([0, 1])[5] < lm.probs([0, 1])[4]        # the unseen character: least likely, not 0


def test_cross_entropy_by_hand():
    # order 1 on "a a b", vocabulary {a, b, c}: counts 2, 1, 0; n1 = n2 = 1 so D = 1/3, 3 tokens, 2 types:
    # P(a) = (2 - 1/3)/3 + (1/3 * 2/3) / 3 = 17/27, P(b) = 8/27, P(c) = 2/27
    lm = KneserNey(1).fit([0, 0, 1], 3)
    np.testing.assert_allclose(lm.probs([]), [17 / 27, 8 / 27, 2 / 27])
    expected = -(math.log(17 / 27) + math.log(8 / 27) + math.log(2 / 27)) / 3
    assert lm.cross_entropy([0, 1, 2]) == pytest.approx(expected)
    assert bits(expected) == pytest.approx(expected / math.log(2))


def test_cross_entropy_uses_the_history_and_the_text_before():
    x = np.array([0, 1, 2] * 50)
    lm, ref = KneserNey(3).fit(x, 4), reference_kn(list(x), 4, 3)
    val = [0, 1, 2, 0]
    # each token after the 2 before it; the first ones after the end of `before`
    want = -np.mean([math.log(ref(h, w)) for h, w in (([1, 2], 0), ([2, 0], 1), ([0, 1], 2), ([1, 2], 0))])
    assert lm.cross_entropy(val, before=x) == pytest.approx(want)
    assert lm.cross_entropy(val) > lm.cross_entropy(val, before=x)     # no history for the first two


def test_ngram_refuses_bad_input():
    with pytest.raises(ConfigError, match="order"):
        KneserNey(0)
    with pytest.raises(DataError, match=r"\[0, 3\)"):
        KneserNey(2).fit([0, 5], 3)


def ar_series(n=1200, seed=0):
    rng = np.random.default_rng(seed)
    z = np.zeros(n)
    for t in range(2, n):
        z[t] = 1.5 * z[t - 1] - 0.75 * z[t - 2] + rng.normal()
    return z[:, None]


def test_ridge_beats_repeat_last_on_an_ar_series():
    z = ar_series()
    L, H = 16, 4
    parts = {"train": (0, 800), "val": (800, 1000), "test": (1000, 1200)}
    w = {k: (*make_windows(z, window_starts(v, L, H), L, H), window_starts(v, L, H)) for k, v in parts.items()}
    f = RidgeForecaster(n_series=1, targets=[0]).fit(w["train"][0], w["train"][1], w["val"][0], w["val"][1])
    x, y, starts = w["test"]
    ridge = np.mean((f.predict(x) - y) ** 2)
    repeat = np.mean((repeat_last(z, starts, H) - y) ** 2)
    assert ridge < 0.6 * repeat
    assert f.num_params() == L * H + H and set(f.scores) and f.nbytes() > 0


def test_seasonal_naive_is_exact_on_a_periodic_series():
    z = np.tile([3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0], 30)[:, None]
    starts = window_starts((100, 210), 14, 10)
    _, y = make_windows(z, starts, 14, 10)
    np.testing.assert_array_equal(seasonal_naive(z, starts, 10, season=7), y)
    assert np.abs(repeat_last(z, starts, 10) - y).max() > 0


def test_count_params_of_logistic_regression():
    x = np.random.default_rng(0).integers(0, 256, (30, 28, 28), dtype=np.uint8)
    m = fit_pixel_logistic(x, np.arange(30) % 3)
    assert count_params(m) == 3 * 784 + 3


def test_ridge_with_one_target_and_horizon_one_scores_each_alpha_right():
    # scikit-learn predicts (N,) for a one-column target; the validation error must not broadcast to N x N.
    rng = np.random.default_rng(1)
    t = np.arange(1200)
    z = (np.sin(2 * np.pi * t / 7) + 0.5 * np.sin(2 * np.pi * t / 30) + 0.05 * rng.normal(size=len(t)))[:, None]
    L, H = 14, 1
    parts = {"train": (0, 800), "val": (800, 1000), "test": (1000, 1200)}
    w = {k: (*make_windows(z, window_starts(v, L, H), L, H), window_starts(v, L, H)) for k, v in parts.items()}
    f = RidgeForecaster(n_series=1, targets=[0]).fit(w["train"][0], w["train"][1], w["val"][0], w["val"][1])
    assert min(f.scores, key=f.scores.get) <= 10
    x, y, starts = w["test"]
    ridge = np.mean((f.predict(x) - y) ** 2)
    assert ridge < 0.5 * np.mean((seasonal_naive(z, starts, H, season=7) - y) ** 2)
    assert ridge < 0.5 * np.mean((repeat_last(z, starts, H) - y) ** 2)
