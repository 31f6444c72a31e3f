"""Simultaneous bands: the tube constant and critical value against locfit's kappa0/scb, and coverage."""

import numpy as np
import pytest
from r_reference import fixture, xy

from nadaraya.stats.tube import (critical_value, kappa0, simulated_critical_value, tail_probability,
                                 weights_and_derivative)

CASES = list(enumerate(fixture("tube")["cases"]))


@pytest.mark.parametrize("i,case", CASES, ids=[f"{c['data']}-deg{c['deg']}" for _, c in CASES])
def test_critical_value_equals_locfit(i, case):
    x, _ = xy(case["data"])
    h = case["h"] / 2.5  # locfit's Gaussian has sd h / 2.5
    k = kappa0(x, h, order=case["deg"])
    np.testing.assert_allclose(k, case["const_fine"][0], rtol=1e-6)  # locfit's quadrature on lfgrid(1000)
    assert case["const"][1] == case["const_fine"][1] == 1.0
    assert critical_value(k, 0.05) == pytest.approx(case["crit_fine"], abs=1e-6)
    assert critical_value(k, 0.01) == pytest.approx(case["crit99"], abs=1e-6)
    # locfit's default grid, lfgrid(20), integrates kappa0 coarsely: within 1e-4 for smooth fits,
    # 0.007 for the wiggly ones (our quadrature is converged; see const_fine)
    assert critical_value(k, 0.05) == pytest.approx(case["crit"], abs=1e-2)


def test_tail_probability_in_one_dimension():
    for c in (2.0, 2.7, 3.5):
        want = 5.0 / np.pi * np.exp(-c * c / 2) + 2 * (1 - __import__("scipy").stats.norm.cdf(c))
        assert tail_probability(c, 5.0) == pytest.approx(want, rel=1e-13)


def test_weights_derivative_is_exact():
    x, _ = xy("mcycle")
    for order in range(4):
        l, dl = weights_and_derivative([20.0], x, 2.0, order=order)
        up, _ = weights_and_derivative([20.0 + 1e-5], x, 2.0, order=order)
        down, _ = weights_and_derivative([20.0 - 1e-5], x, 2.0, order=order)
        np.testing.assert_allclose(dl, (up - down) / 2e-5, atol=1e-8 * np.abs(dl).max())
        assert l.sum() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("order", [0, 1])
def test_coverage_of_the_whole_curve(order):
    """400 data sets: the band covers the estimator's mean on the whole interval about 95 % of the time."""
    rng = np.random.default_rng(2024)
    n, h, sigma = 80, 0.08, 0.3
    x = np.sort(rng.uniform(0, 1, n))
    grid = np.linspace(0, 1, 300)
    L, _ = weights_and_derivative(grid, x, h, order=order)
    c = critical_value(kappa0(x, h, order=order), 0.05)
    m = np.sin(2 * np.pi * x)
    target = L @ m  # E f(x): the tube band ignores the smoothing bias
    scale = sigma * np.linalg.norm(L, axis=1)
    eps = rng.normal(0, sigma, (n, 400))
    covered = np.all(np.abs(L @ (m[:, None] + eps) - target[:, None]) <= c * scale[:, None], axis=0)
    assert 0.92 <= covered.mean() <= 0.985, covered.mean()
    pointwise = np.all(np.abs(L @ eps) <= 1.96 * scale[:, None], axis=0).mean()
    assert pointwise < 0.8  # pointwise bands are far from simultaneous


def test_simulated_critical_value_matches_the_tube_in_one_dimension():
    """On a fine grid the simulated maximum has the tube's critical value (to simulation error)."""
    x, _ = xy("cars")
    L, _ = weights_and_derivative(np.linspace(x.min(), x.max(), 400), x, 3.0, order=1)
    sim = simulated_critical_value(L, 0.05, draws=20000, seed=1)
    assert sim == pytest.approx(critical_value(kappa0(x, 3.0, order=1), 0.05), abs=0.03)


def test_bad_alpha():
    with pytest.raises(ValueError, match="alpha"):
        critical_value(3.0, 1.5)
