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


def test_estimator_with_ordered_features_equals_kernelreg(tmp_path):
    """Through the estimator (order 0) at given lambdas, 1e-10; and the search never does worse than statsmodels."""
    import nadaraya as nw

    wt, cyl, gear, mpg = _mtcars()
    X = np.c_[wt, cyl, gear]
    bw = np.array([0.5, 0.3, 0.6])
    model = nw.NadarayaWatsonRegressor(bandwidth=bw, ordered=[1, 2]).fit(X, mpg)
    want, _ = kr.KernelReg(mpg, X, "coo", reg_type="lc", bw=bw).fit(X)
    np.testing.assert_allclose(model.predict(X), want, rtol=1e-10)
    np.testing.assert_allclose(model.bandwidth_, bw, rtol=1e-12)
    searched = nw.NadarayaWatsonRegressor(ordered=[1, 2]).fit(X, mpg)
    lam = searched.bandwidth_[1:]
    assert np.all((lam >= 0) & (lam <= 1))
    # statsmodels' cv_ls leaves the kernel's domain here (lambda_gear = 5.8 > 1); within [0, 1] its own
    # leave-one-out error (statsmodels' cv_loo) on a grid is never below ours
    ref = kr.KernelReg(mpg, X, "coo", reg_type="lc", bw=np.array([0.3, 0.5, 0.5]))
    grid = [float(np.ravel(ref.cv_loo(np.array([h, a, b]), ref.est["lc"]))[0])
            for h in np.geomspace(0.1, 1.0, 7) for a in np.linspace(0, 0.95, 6) for b in np.linspace(0, 0.95, 6)]
    assert searched.loo_mse_ <= np.nanmin(grid) + 1e-12  # lambda = 0 is 0/0 for statsmodels at some points
    fresh, _ = kr.KernelReg(mpg, X, "coo", reg_type="lc", bw=np.clip(searched.bandwidth_, 0, 1 - 1e-12)).fit(X)
    np.testing.assert_allclose(searched.predict(X), fresh, rtol=1e-9)
    searched.save(tmp_path / "m.npz")
    back = nw.NadarayaWatsonRegressor.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.predict(X), searched.predict(X))
    with pytest.raises(ValueError, match="not seen in fit"):
        model.predict(np.c_[wt[:2], [5.0, 6.0], gear[:2]])


def test_ordered_on_the_command_line(tmp_path):
    import csv
    import subprocess
    import sys

    wt, cyl, gear, mpg = _mtcars()
    with open(tmp_path / "mt.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["wt", "cyl", "gear", "mpg"])
        w.writerows(zip(wt, cyl, gear, mpg))
    run = lambda *a: subprocess.run([sys.executable, "-m", "nadaraya", *a], capture_output=True, text=True,  # noqa: E731
                                    cwd=tmp_path)
    res = run("fit", "mt.csv", "--x", "wt,cyl,gear", "--y", "mpg", "--ordered", "cyl,gear", "--bandwidth", "0.5,0.3,0.6",
              "--model", "m.npz")
    assert res.returncode == 0, res.stderr
    assert "cyl=0.3 (lambda)" in res.stdout
    res = run("predict", "m.npz", "mt.csv", "--out", "p.csv")
    assert res.returncode == 0, res.stderr
    with open(tmp_path / "p.csv") as fh:
        got = [float(r[-1]) for r in list(csv.reader(fh))[1:]]
    X = np.c_[wt, cyl, gear]
    want, _ = kr.KernelReg(mpg, X, "coo", reg_type="lc", bw=np.array([0.5, 0.3, 0.6])).fit(X)
    np.testing.assert_allclose(got, want, rtol=1e-10)
    res = run("fit", "mt.csv", "--x", "wt", "--y", "mpg", "--ordered", "cyl", "--model", "n.npz")
    assert res.returncode == 2 and "--ordered columns must be among --x" in res.stderr
