"""The global bandwidth search: mtcars, where cross-validation smooths a feature out."""

import numpy as np
import pytest
from r_reference import dataset

from nadaraya.stats.criteria import loo_mse
from nadaraya.stats.search import global_search

kr = pytest.importorskip("statsmodels.nonparametric.kernel_regression")


def _mtcars():
    d = dataset("mtcars")
    return np.c_[d["wt"], d["hp"], d["qsec"]].astype(float), d["mpg"].astype(float)


def _search(X, y, order):
    n = len(y)
    sd = X.std(axis=0, ddof=1)
    reference = 1.06 * X.std(axis=0) * n ** (-1 / (4 + X.shape[1]))  # statsmodels' normal reference
    return global_search(lambda h: loo_mse(X, y, h, order=order), 1.06 * sd * n ** -0.2,
                         lower=sd * 0.5 / n, upper=sd * 100, n_grid=16, reference_start=reference)


@pytest.mark.slow
def test_mtcars_local_linear_beats_statsmodels_cv_ls():
    """Issue 12 item 2: nadaraya's old search stopped at 6.068; statsmodels' cv_ls finds 5.384."""
    X, y = _mtcars()
    ref = kr.KernelReg(y, X, "ccc", reg_type="ll", bw="cv_ls")
    theirs = loo_mse(X, y, ref.bw, order=1)
    res = _search(X, y, 1)
    assert round(res.value, 3) <= 5.384 and res.value <= theirs + 1e-12
    assert res.bandwidth[2] > 1e3 * X[:, 2].std()  # qsec: smoothed out (a global linear term)


@pytest.mark.slow
def test_mtcars_local_constant_reaches_the_infimum():
    X, y = _mtcars()
    res = _search(X, y, 0)
    assert res.value == pytest.approx(5.01117, rel=1e-6)
    assert np.isinf(res.bandwidth[2])  # qsec smoothed out exactly: the infimum is at h = inf
    assert loo_mse(X, y, res.bandwidth, order=0) == pytest.approx(res.value, rel=1e-13)


def test_an_irrelevant_feature_goes_to_infinity():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (60, 2))
    y = np.sin(6 * X[:, 0]) + rng.normal(0, 0.1, 60)  # X[:, 1] is noise
    res = global_search(lambda h: loo_mse(X, y, h), [0.2, 0.2], lower=[1e-3, 1e-3], upper=[30, 30], n_grid=12)
    assert np.isfinite(res.bandwidth[0]) and 0.02 < res.bandwidth[0] < 0.3
    assert res.bandwidth[1] > 10


def test_two_local_minima_the_global_one_is_found():
    f = lambda h: min((np.log(h[0]) + 2) ** 2 + 0.5, (np.log(h[0]) - 2) ** 2)  # noqa: E731
    res = global_search(f, [np.exp(-2.0)], lower=[1e-3], upper=[1e3], allow_infinite=False)
    assert res.bandwidth[0] == pytest.approx(np.exp(2.0), rel=1e-4)


def test_the_scale_of_the_descent_joins_log_h_and_reaches_infinity():
    from nadaraya.stats.search._local import _Scale

    sc = _Scale(np.array([0.0, 1.0]), True)
    h = np.array([[0.5, 2.0], [1.0, np.e], [3.0, 30.0], [1e3, 1e3]])
    np.testing.assert_allclose(sc.h(sc.w(h)), h, rtol=1e-9)  # 1 - 2 (w - top) loses digits near 1e4
    np.testing.assert_allclose(sc.w(np.array([0.5, 2.0])), np.log([0.5, 2.0]))  # log h below the top
    np.testing.assert_allclose(sc.h(sc.upper), 1e4 * np.exp(sc.top), rtol=1e-6)  # 1 / h**2 almost 0 at the top
    w, e = np.array([0.2, 1.3]), 1e-7  # d log h / dw, and the same slope on both sides of the top
    np.testing.assert_allclose(sc.dlogh(w), (np.log(sc.h(w + e)) - np.log(sc.h(w - e))) / (2 * e), rtol=1e-6)
    np.testing.assert_allclose(sc.dlogh(sc.top + 1e-12), 1.0)


def test_a_gradient_and_differences_find_the_same_optimum_in_fewer_evaluations():
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 1, (300, 3))
    y = np.sin(2 * np.pi * X[:, 0]) + 0.5 * X[:, 1] + rng.normal(0, 0.3, 300)
    from nadaraya import bandwidth as bw

    def gradient(h):
        fin = np.isfinite(h)
        g = np.zeros(3)
        value, g[fin] = bw._loo_gaussian_value_and_grad(X[:, fin], y[:, None], h[fin], None, "auto")
        return value, g

    kw = dict(lower=[1e-3] * 3, upper=[30.0] * 3, n_screen=5, n_check=0, reference_path=0)
    plain = global_search(lambda h: loo_mse(X, y, h), [0.15] * 3, **kw)
    fast = global_search(lambda h: loo_mse(X, y, h), [0.15] * 3, gradient=gradient, **kw)
    assert np.isinf(plain.bandwidth[2]) and np.isinf(fast.bandwidth[2])  # the noise feature is smoothed out
    assert fast.value == pytest.approx(plain.value, rel=1e-10)
    np.testing.assert_allclose(fast.bandwidth[:2], plain.bandwidth[:2], rtol=1e-4)
    assert fast.evaluations < plain.evaluations < 150


def test_a_finite_optimum_past_the_box_is_found():
    """Past the start the descent goes on in 1 / h**2, where a criterion is smooth: an optimum at h = 500, past
    ``upper``, is found (and not taken for infinity)."""
    f = lambda h: 1e6 * (1 / h[0] ** 2 - 1 / 500.0**2) ** 2 + (np.log(h[1]) - 1) ** 2  # noqa: E731
    res = global_search(f, [20.0, 1.0], lower=[1e-2, 1e-2], upper=[1e2, 1e2], n_check=0)
    np.testing.assert_allclose(res.bandwidth, [500.0, np.e], rtol=1e-5)


def test_the_budget_is_kept():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (60, 3))
    y = np.sin(6 * X[:, 0]) + rng.normal(0, 0.1, 60)
    res = global_search(lambda h: loo_mse(X, y, h), [0.2] * 3, lower=[1e-3] * 3, upper=[30] * 3, max_evaluations=40)
    assert res.evaluations <= 40 + 3 and np.isfinite(res.value)  # (+ the FLAT check of each coordinate)


@pytest.mark.parametrize("smooth", [True, False])
def test_a_start_where_the_criterion_is_undefined_is_widened(smooth):
    """A compact kernel's leave-one-out error is +inf while some point's support is empty: from such a start
    (and with every single feature smoothed out still undefined) the search widens the start and finds the
    optimum."""
    def f(h):
        finite = h[np.isfinite(h)]
        if np.any(finite < 1.0) or finite.size < h.size:
            return np.inf
        return float(np.sum((np.log(h) - np.log([3.0, 5.0, 7.0])) ** 2))

    res = global_search(f, [0.05] * 3, lower=[1e-3] * 3, upper=[100.0] * 3, smooth=smooth, n_grid=16)
    assert np.isfinite(res.value)
    np.testing.assert_allclose(res.bandwidth, [3.0, 5.0, 7.0], rtol=1e-2 if not smooth else 1e-4)
