"""Nearest-neighbour bandwidths, residual variance and standard errors against R locfit."""

import numpy as np
import pytest
from r_reference import fixture, loo_local_linear, xy

from nadaraya.kernels import square
from nadaraya.stats.localpoly import local_polynomial, smoother_norms
from nadaraya.stats.nn import kth_distance, neighbour_count, nn_bandwidths, varying_pooler

KERNELS = {"gauss": "gaussian", "tcub": "tricube"}
CASES = list(enumerate(fixture("locfit")["cases"]))
IDS = [f"{c['data']}-nn{c['nn']}-h{c['h']}-deg{c['deg']}-{c['kern']}" for _, c in CASES]


def _fit(case, Q):
    """The case's local fit at Q, its ||l||**2, and the per-query bandwidths (nadaraya's units)."""
    x, y = xy(case["data"])
    kern = KERNELS[case["kern"]]
    h0 = case["h"] / (2.5 if kern == "gaussian" else 1.0) if case["h"] > 0 else None
    X = x[:, None]
    hr = nn_bandwidths(Q, X, case["nn"], h0, kern) if case["nn"] > 0 else np.full(len(Q), h0)
    sq, factor = square(kern)
    h2 = hr * factor
    pool, pool2 = varying_pooler(Q, X, hr, kernel=kern), varying_pooler(Q, X, h2, kernel=sq)
    unit = np.array([np.median(hr)])
    fit = local_polynomial(Q, X, y[:, None], unit, order=case["deg"], pooler=pool)
    norm2 = smoother_norms(Q, X, unit, order=case["deg"], kernel=kern, pooler=pool, squared_pooler=pool2, fit=fit)
    return fit, norm2, y


@pytest.mark.parametrize("i,case", CASES, ids=IDS)
def test_fit_equals_locfit(i, case):
    x, _ = xy(case["data"])
    for Q, want in ((x[:, None], case["fit_data"]), (np.asarray(case["queries"])[:, None], case["fit_queries"])):
        fit, _, _ = _fit(case, Q)
        np.testing.assert_allclose(fit.fit[:, 0], want, rtol=1e-8, atol=1e-8 * np.abs(want).max())


@pytest.mark.parametrize("i,case", CASES, ids=IDS)
def test_residual_variance_and_standard_errors_equal_locfit(i, case):
    """sigma^2 = RSS / (n - 2 nu1 + nu2) and se = sigma ||l(x)||, as locfit's rv() and se.fit."""
    x, _ = xy(case["data"])
    fit, norm2, y = _fit(case, x[:, None])
    nu1 = float(np.sum(np.exp(-fit.log_sum) * fit.inv00))
    nu2 = float(np.sum(norm2))
    np.testing.assert_allclose([nu1, nu2], case["df"], rtol=1e-8)
    rv = np.sum((y - fit.fit[:, 0]) ** 2) / (len(y) - 2 * nu1 + nu2)
    np.testing.assert_allclose(rv, case["rv"], rtol=1e-8)
    np.testing.assert_allclose(np.sqrt(rv * norm2), case["se_data"], rtol=1e-7)
    _, norm2_q, _ = _fit(case, np.asarray(case["queries"])[:, None])
    np.testing.assert_allclose(np.sqrt(norm2_q), case["l_norm_queries"], rtol=1e-7)


def test_neighbour_count():
    assert neighbour_count(0.3, 50) == 15
    assert neighbour_count(0.7, 50) == 35  # floor(35.000000000000004)
    assert neighbour_count(1.5, 50) == 75  # above 1: locfit extrapolates the distance
    assert neighbour_count(7, 50) == 7
    with pytest.raises(ValueError, match="fewer than one neighbour"):
        neighbour_count(0.001, 50)
    with pytest.raises(TypeError, match="neighbours must be"):
        neighbour_count("a", 50)
    with pytest.raises(ValueError, match=">= 1"):
        neighbour_count(0, 50)


def test_kth_distance_counts_the_point_itself_and_ties():
    keys = np.array([[0.0], [0.0], [1.0], [3.0]])
    np.testing.assert_allclose(kth_distance([[0.0]], keys, 1), [0.0])
    np.testing.assert_allclose(kth_distance([[0.0]], keys, 2), [0.0])  # the duplicate
    np.testing.assert_allclose(kth_distance([[0.0]], keys, 3), [1.0])
    np.testing.assert_allclose(kth_distance([[0.0]], keys, 8), [3.0 * 2.0])  # k > n: max * (k / n)**(1/d)


def test_leave_one_out_with_varying_bandwidths_is_direct_exclusion():
    x, y = xy("mcycle")
    X = x[:, None]
    hr = nn_bandwidths(X, X, 0.2)
    fit = local_polynomial(X, X, y[:, None], 1.0, order=1, pooler=varying_pooler(X, X, hr), exclude_self=True)
    want = loo_local_linear(x, y, hr)
    np.testing.assert_allclose(fit.fit[:, 0], want, rtol=1e-9, atol=1e-9 * np.abs(y).max())
