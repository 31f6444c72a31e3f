"""The Wang–van Ryzin ordered kernel against statsmodels KernelReg (var_type 'o')."""

import numpy as np
import pytest
from r_reference import dataset

from nadaraya.stats import ordered
from nadaraya.stats.localpoly import attention_pooler, local_polynomial

kr = pytest.importorskip("statsmodels.nonparametric.kernel_regression")
skern = pytest.importorskip("statsmodels.nonparametric.kernels")


def _mtcars():
    d = dataset("mtcars")
    return d["wt"].astype(float), d["cyl"].astype(float), d["gear"].astype(float), d["mpg"].astype(float)


def _embedded(wt, cyl, gear, bw):
    lc, lg = ordered.levels(cyl), ordered.levels(gear)
    Z = np.c_[wt, ordered.embed(cyl, lc), ordered.embed(gear, lg)]
    h = np.r_[bw[0], [ordered.bandwidth(bw[1])] * (len(lc) - 1), [ordered.ONE_HOT_BANDWIDTH] * len(lc),
              [ordered.bandwidth(bw[2])] * (len(lg) - 1), [ordered.ONE_HOT_BANDWIDTH] * len(lg)]
    return Z, h


@pytest.mark.parametrize("lam", [0.0, 0.05, 0.3, 0.8, 1.0])
def test_kernel_equals_statsmodels(lam):
    codes = np.array([3.0, 4.0, 5.0, 8.0])
    for b in codes:
        np.testing.assert_allclose(ordered.wang_ryzin(lam, codes, b), skern.wang_ryzin(lam, codes, b), rtol=1e-15)


@pytest.mark.parametrize("bw", [[0.5, 0.3, 0.6], [0.3, 0.05, 0.9], [1.0, 0.0, 1.0], [0.4, 1.0, 0.5]])
def test_local_constant_fit_equals_kernelreg(bw):
    """Ordered codes in a Gaussian embedding give statsmodels' product kernel, to 1e-10 (raw codes 4, 6, 8)."""
    wt, cyl, gear, mpg = _mtcars()
    X = np.c_[wt, cyl, gear]
    Z, h = _embedded(wt, cyl, gear, np.asarray(bw))
    fit = local_polynomial(Z, Z, mpg[:, None], np.where(np.isfinite(h), 1.0, np.inf), order=0,
                           pooler=attention_pooler(Z, Z, h))
    # statsmodels is 0/0 at lambda = 1 (the common factor 1 - lambda); compare with lambda just below 1
    theirs = np.where(np.asarray(bw) == 1.0, 1 - 1e-12, np.asarray(bw))
    want, _ = kr.KernelReg(mpg, X, "coo", reg_type="lc", bw=theirs).fit(X)
    np.testing.assert_allclose(fit.fit[:, 0], want, rtol=1e-10)


def test_local_linear_with_the_codes_as_regressors_equals_kernelreg():
    """statsmodels' 'll' also puts the ordered codes in the local-linear design: so does this pooling."""
    wt, cyl, gear, mpg = _mtcars()
    X = np.c_[wt, cyl, gear]
    bw = np.array([0.5, 0.3, 0.6])
    Z, h = _embedded(wt, cyl, gear, bw)
    fit = local_polynomial(X, X, mpg[:, None], np.ones(3), order=1, pooler=attention_pooler(Z, Z, h),
                           scale=np.array([0.5, 1.0, 1.0]))
    want, _ = kr.KernelReg(mpg, X, "coo", reg_type="ll", bw=bw).fit(X)
    np.testing.assert_allclose(fit.fit[:, 0], want, rtol=1e-10)


def test_bandwidth_round_trip_and_bounds():
    for lam in (0.0, 1e-3, 0.5, 0.999, 1.0):
        assert ordered.smoothing(ordered.bandwidth(lam)) == pytest.approx(lam, abs=1e-15)
    with pytest.raises(ValueError, match=r"lie in \[0, 1\]"):
        ordered.bandwidth(1.2)


def test_unseen_codes_and_non_numbers_are_refused():
    with pytest.raises(ValueError, match="not seen in fit"):
        ordered.embed([1.0, 7.0], [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="must hold numbers"):
        ordered.levels(["low", "high"])
