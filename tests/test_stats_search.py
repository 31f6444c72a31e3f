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
