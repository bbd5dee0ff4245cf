"""fromzero.scaling: the Chinchilla fit recovers a known law; the compute-optimal split is the
minimiser; laws round-trip through JSON; bad points are refused with what was expected."""
import math

import numpy as np
import pytest

from fromzero.errors import ConfigError, DataError
from fromzero.scaling import ScalingLaw, default_law, fit_scaling_law

TRUE = ScalingLaw(E=1.3, A=40.0, alpha=0.38, B=300.0, beta=0.42)


def grid_points():
    N, D = np.meshgrid(np.geomspace(2e4, 1e6, 5), np.geomspace(2e5, 2e7, 4))   # 20 runs, like the benchmark's
    return N.ravel(), D.ravel()


def test_fit_recovers_law_from_noisy_losses():
    """0.3% multiplicative noise (about the seed-to-seed spread of a small run's validation loss):
    exponents within 0.05, E within 5%, and the extrapolation to a 2x larger model within 1%."""
    N, D = grid_points()
    noisy = TRUE.loss(N, D) * np.exp(0.003 * np.random.default_rng(0).standard_normal(N.size))
    law = fit_scaling_law(N, D, noisy, starts=1)
    assert law.alpha == pytest.approx(TRUE.alpha, abs=0.05) and law.beta == pytest.approx(TRUE.beta, abs=0.05)
    assert law.E == pytest.approx(TRUE.E, rel=0.05)
    assert math.log(law.A) == pytest.approx(math.log(TRUE.A), abs=0.5)     # A within a factor 1.65
    assert math.log(law.B) == pytest.approx(math.log(TRUE.B), abs=0.5)
    assert law.loss(2e6, 2e7) == pytest.approx(TRUE.loss(2e6, 2e7), rel=0.01)
    assert law.meta["points"] == 20


@pytest.mark.parametrize("C", [1e12, 3e15, 1e19])
def test_compute_optimal_is_the_constrained_minimiser(C):
    n_opt, d_opt = TRUE.compute_optimal(C)
    assert 6 * n_opt * d_opt == pytest.approx(C, rel=1e-12)
    n = np.geomspace(n_opt / 100, n_opt * 100, 200_001)        # brute force along D = C / (6N)
    losses = TRUE.loss(n, C / (6 * n))
    n_bf = n[np.argmin(losses)]
    assert n_bf == pytest.approx(n_opt, rel=1e-3)
    assert TRUE.loss(n_opt, d_opt) <= losses.min() + 1e-12
    assert TRUE.tokens_per_parameter(C) == pytest.approx(d_opt / n_opt)


def test_compute_optimal_follows_the_exponents():
    """N* grows as C^(beta/(alpha+beta)): ten times the compute, 10^0.525 times the parameters here."""
    (n1, d1), (n2, d2) = TRUE.compute_optimal(1e15), TRUE.compute_optimal(1e16)
    s = TRUE.alpha + TRUE.beta
    assert n2 / n1 == pytest.approx(10 ** (TRUE.beta / s)) and d2 / d1 == pytest.approx(10 ** (TRUE.alpha / s))


def test_save_load_round_trip(tmp_path):
    law = ScalingLaw(E=1.1, A=12.5, alpha=0.3, B=77.0, beta=0.25, meta={"corpus": "x", "grid": ["2x2x32"]})
    law.save(tmp_path / "law.json")
    back = ScalingLaw.load(tmp_path / "law.json")
    assert back == law and back.meta == law.meta
    assert back.loss(1e5, 1e6) == law.loss(1e5, 1e6)


def test_load_names_missing_keys(tmp_path):
    (tmp_path / "bad.json").write_text('{"E": 1.0, "A": 2.0, "alpha": 0.3}')
    with pytest.raises(DataError, match=r"bad.json.*missing B, beta"):
        ScalingLaw.load(tmp_path / "bad.json")


def test_default_law_is_shipped_and_sensible():
    law = default_law()
    assert law.alpha > 0 and law.beta > 0 and law.E > 0
    assert law.meta["corpus"] == "shakespeare" and law.meta["N"] == "non-embedding parameters"
    with pytest.raises(DataError, match="expected one of .*shakespeare"):
        default_law("no-such-corpus")


@pytest.mark.parametrize("N, D, L, message", [
    ([1e4, 0, 1e5, 2e5, 4e5, 8e5], [1e6] * 3 + [2e6] * 3, [2.0] * 6, r"N must be positive"),
    ([1e4, 2e4, 4e4, 8e4, 1.6e5, 3.2e5], [1e6] * 3 + [2e6] * 3, [2.0, 2.0, -1.0, 2.0, 2.0, 2.0], r"L must be positive"),
    ([1e4, 2e4, 4e4, 8e4, 1.6e5, 3.2e5], [1e6] * 6 + [2e6], [2.0] * 6, r"same length, got 6, 7 and 6"),
    ([1e4, 2e4, 4e4], [1e6, 2e6, 4e6], [2.0, 1.9, 1.8], r"at least 6 .* points, got 3"),
    ([1e4] * 6, [1e6, 2e6] * 3, [2.0] * 6, r"N must take at least 2 different values"),
])
def test_bad_points_are_refused(N, D, L, message):
    with pytest.raises(DataError, match=message):
        fit_scaling_law(N, D, L)


def test_bad_law_and_inputs_are_refused():
    with pytest.raises(ConfigError, match=r"alpha=-0.3"):
        ScalingLaw(E=1.0, A=1.0, alpha=-0.3, B=1.0, beta=0.3)
    with pytest.raises(DataError, match=r"C_flops: expected positive"):
        TRUE.compute_optimal(0)
    with pytest.raises(DataError, match=r"D: expected positive"):
        TRUE.loss(1e5, np.array([1e6, -1.0]))
