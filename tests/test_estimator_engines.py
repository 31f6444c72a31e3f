"""The estimator on every engine: ``method=`` reaches fit, predict, standard errors, bands and the hat diagonal.

The fitted state needs the kernel's square (the smoother norms, ``nu2 = tr H'H``):
every engine that runs the user's kernel runs its square
(:func:`nadaraya.kernels.square`), so a named engine is the only engine a fit and
a prediction use, and each agrees with the dense reference.
"""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

import nadaraya as nw  # noqa: E402
from nadaraya import engines  # noqa: E402

#: The fast engines each dimension has, besides the dense reference.
METHODS = {1: ("stream", "sorted", "tree"), 2: ("stream", "tree")}
CASES = [(d, method, kernel) for d in METHODS for method in METHODS[d] for kernel in sorted(nw.KERNELS)]


def _data(d, seed=5):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (300, d))
    y = np.sin(6 * X).sum(axis=1) + rng.normal(0, 0.2, 300)
    return X, y, rng.uniform(-0.05, 1.05, (40, d))


def _results(model, X, y, Q):
    """What a user reads off a fit: predictions and standard errors, a band, the hat diagonal, the state."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nw.EmptySupportWarning)  # compact kernels may leave an edge query empty
        model.fit(X, y)
        pred, std = model.predict(Q, return_std=True)
        lower, upper = model.predict_interval(Q)
    return dict(pred=pred, std=std, lower=lower, upper=upper, hat=model.hat_diagonal(),
                residuals=model.residuals_, sigma2=model.residual_variance_, loo=model.loo_mse_, edf=model.edf_)


@pytest.mark.parametrize("order", [0, 1])
@pytest.mark.parametrize("d, method, kernel", CASES, ids=[f"d{d}-{m}-{k}" for d, m, k in CASES])
def test_every_engine_fits_every_kernel_as_the_dense_reference_does(d, method, kernel, order):
    X, y, Q = _data(d)
    want = _results(nw.NadarayaWatsonRegressor(kernel=kernel, bandwidth=0.15, order=order, method="dense"), X, y, Q)
    got = _results(nw.NadarayaWatsonRegressor(kernel=kernel, bandwidth=0.15, order=order, method=method), X, y, Q)
    for name, value in want.items():
        np.testing.assert_allclose(got[name], value, rtol=0, atol=1e-10, err_msg=f"{name} ({method}, {kernel})")
    assert np.isfinite(want["sigma2"]) and np.all(np.isfinite(want["hat"]))


@pytest.mark.parametrize("kernel", sorted(nw.KERNELS))
@pytest.mark.parametrize("d, method", [(1, "sorted"), (2, "tree")])
def test_a_named_engine_is_the_only_engine_a_fit_uses(monkeypatch, d, method, kernel):
    """No pass of the fit's state, the standard errors or the hat diagonal falls back to a quadratic engine
    (the stream or dense engines) when the user named a fast one."""
    used = set()
    get = engines.get

    def spy(name):
        used.add(name)
        return get(name)

    monkeypatch.setattr(engines, "get", spy)
    X, y, Q = _data(d, seed=6)
    for order in (0, 1):
        _results(nw.NadarayaWatsonRegressor(kernel=kernel, bandwidth=0.2, order=order, method=method), X, y, Q)
    assert used == {method}


def test_effective_neighbours_on_a_named_engine_equal_the_dense_ones():
    X, y, Q = _data(1, seed=7)
    for kernel in sorted(nw.KERNELS):
        want = nw.NadarayaWatsonRegressor(kernel=kernel, bandwidth=0.2, method="dense").fit(X, y)
        got = nw.NadarayaWatsonRegressor(kernel=kernel, bandwidth=0.2, method="sorted").fit(X, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an empty support: 1 / NaN
            np.testing.assert_allclose(got.effective_neighbours(Q), want.effective_neighbours(Q), rtol=1e-11,
                                       err_msg=kernel)


@pytest.mark.parametrize("d, method", [(1, "dense"), (1, "stream"), (1, "sorted"), (1, "tree"), (2, "tree")])
@pytest.mark.parametrize("kernel", ["gaussian", "tricube"])
def test_predictions_are_the_same_with_and_without_standard_errors(d, method, kernel):
    """One engine pass gives the predictions either way (the standard errors add a pass of the square)."""
    X, y, Q = _data(d, seed=8)
    for order in (0, 1):
        model = nw.NadarayaWatsonRegressor(kernel=kernel, bandwidth=0.2, order=order, method=method).fit(X, y)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", nw.EmptySupportWarning)
            np.testing.assert_array_equal(model.predict(Q, return_std=True)[0], model.predict(Q))
