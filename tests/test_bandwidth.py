import warnings

import numpy as np
import pytest

import nadaraya as nw
from nadaraya import bandwidth as bw

statsmodels = pytest.importorskip("statsmodels")
from statsmodels.nonparametric.kernel_regression import KernelReg  # noqa: E402

from nadaraya.estimator import NadarayaWatsonRegressor  # noqa: E402


def _data(d, n=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, d))
    y = np.sin(3 * X[:, 0]) + X.sum(1) + rng.normal(0, 0.2, n)
    return X, y, rng.uniform(0, 1, (15, d)), rng.uniform(0.15, 0.5, d)


@pytest.mark.parametrize("d", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("order", [0, 1])
def test_predictions_equal_statsmodels_kernelreg(d, order):
    X, y, Q, h = _data(d, seed=d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = KernelReg(y, X, var_type="c" * d, reg_type=["lc", "ll"][order], bw=h)
        expected, mfx = sm.fit(Q)
    model = NadarayaWatsonRegressor(bandwidth=h, order=order).fit(X, y)
    np.testing.assert_allclose(model.predict(Q), expected, rtol=1e-10)
    if order == 1:
        np.testing.assert_allclose(model.derivative(Q), mfx, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("d", [1, 3])
@pytest.mark.parametrize("order", [0, 1])
def test_leave_one_out_objective_equals_statsmodels(d, order):
    X, y, _, h = _data(d, seed=10 + d)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = KernelReg(y, X, var_type="c" * d, reg_type=["lc", "ll"][order], bw=h)
        expected = sm.cv_loo(h, sm.est[["lc", "ll"][order]])
    if order == 0:
        got = bw.loo_objective(X, y, h)
    else:
        model = NadarayaWatsonRegressor(bandwidth=h, order=1).fit(X, y)
        got = model.loo_mse_
    assert got == pytest.approx(expected, rel=1e-10)


def test_rules_of_thumb():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 2)) * [1.0, 3.0]
    sd = x.std(axis=0, ddof=1)
    iqr = np.subtract(*np.percentile(x, [75, 25], axis=0)) / 1.349
    np.testing.assert_allclose(bw.scott(x), 1.059 * np.minimum(sd, iqr) * 500 ** (-1 / 6))
    np.testing.assert_allclose(bw.silverman(x), (4 / 4) ** (1 / 6) * np.minimum(sd, iqr) * 500 ** (-1 / 6))
    x1 = x[:, :1]
    np.testing.assert_allclose(bw.silverman(x1), 0.9 * min(sd[0], iqr[0]) * 500 ** (-0.2))
    with pytest.raises(ValueError, match="X column 1 is constant"):
        bw.scott(np.c_[x1, np.ones(500)])


def test_loo_search_never_returns_a_non_positive_bandwidth_and_brackets_the_minimum():
    # statsmodels issue #599: an unconstrained search can step to h <= 0
    data = nw.make_dataset(n_train=100, seed=1)
    seen = []
    h = nw.select_bandwidth(data.x_train, data.y_train, progress=lambda *a: seen.append(a))
    assert h[0] > 0 and len(seen) == 24
    grid = np.geomspace(1e-3, 10, 200)
    values = [bw.loo_objective(data.x_train, data.y_train, g) for g in grid]
    assert bw.loo_objective(data.x_train, data.y_train, h) <= min(values) + 1e-9


def test_per_feature_search_uses_the_analytic_gradient():
    rng = np.random.default_rng(2)
    X = rng.uniform(0, 1, (80, 2))
    y = np.sin(6 * X[:, 0]) + rng.normal(0, 0.1, 80)  # the second feature is noise: its bandwidth should grow
    h = np.array([0.1, 0.3])
    value, grad = bw._loo_gaussian_value_and_grad(X, y[:, None], h, None, "auto")
    assert value == pytest.approx(bw.loo_objective(X, y, h), rel=1e-12)
    eps = 1e-6
    for j in range(2):
        up, down = np.log(h), np.log(h)
        up[j] += eps
        down[j] -= eps
        fd = (bw.loo_objective(X, y, np.exp(up)) - bw.loo_objective(X, y, np.exp(down))) / (2 * eps)
        assert grad[j] == pytest.approx(fd, rel=1e-5, abs=1e-9)
    search = bw.search_bandwidth(X, y)
    assert search.bandwidth[1] > search.bandwidth[0]
    scalar = bw.search_bandwidth(X, y, per_feature=False)
    assert search.objective <= scalar.objective


def test_weighted_gradient_matches_finite_differences():
    rng = np.random.default_rng(3)
    X = rng.uniform(0, 1, (50, 2))
    y = np.c_[np.sin(4 * X[:, 0]), X[:, 1]] + rng.normal(0, 0.1, (50, 2))
    w = rng.uniform(0.5, 2, 50)
    h = np.array([0.2, 0.25])
    _, grad = bw._loo_gaussian_value_and_grad(X, y, h, w, "auto")
    f = lambda lh: bw.loo_objective(X, y, np.exp(lh), sample_weight=w)  # noqa: E731
    eps = 1e-6
    fd = [(f(np.log(h) + eps * e) - f(np.log(h) - eps * e)) / (2 * eps) for e in np.eye(2)]
    np.testing.assert_allclose(grad, fd, rtol=1e-5)


def test_bad_method():
    with pytest.raises(ValueError, match="bandwidth method must be one of loo, scott, silverman"):
        nw.select_bandwidth([0.0, 1.0, 2.0], [0.0, 1.0, 2.0], method="cv")


@pytest.mark.parametrize("weights, match", [(-1.0, "be finite and non-negative"), (0.0, "not be all zero")])
def test_negative_or_zero_sample_weights_are_refused(weights, match):
    data = nw.make_dataset(n_train=60, seed=2)
    w = np.ones(60)
    w[0 if weights < 0 else slice(None)] = weights
    with pytest.raises(ValueError, match=f"sample_weight must {match}"):
        nw.select_bandwidth(data.x_train, data.y_train, sample_weight=w)
    with pytest.raises(ValueError, match=f"sample_weight must {match}"):
        bw.loo_objective(data.x_train, data.y_train, 0.3, sample_weight=w)


def test_values_whose_spread_overflows_are_refused_naming_the_column():
    x = np.c_[np.arange(6.0), [1e308, -1e308, 0.0, 1.0, 2.0, 3.0]]  # issue 9 item 7: sd overflows to inf
    match = "X column 1 has values too large for automatic bandwidth selection: its standard deviation overflows"
    for choose in (bw.scott, bw.silverman, lambda x: nw.select_bandwidth(x, x[:, 0]),
                   lambda x: NadarayaWatsonRegressor(bandwidth="silverman").fit(x, x[:, 0])):
        with pytest.raises(ValueError, match=match):
            choose(x)
