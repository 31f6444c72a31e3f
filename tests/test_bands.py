"""Coverage of the regressor's confidence bands, by a seeded simulation (issue 20).

The design of docs/guide/bands.md's table (``tools/band_coverage.py`` prints it):
``y = sin(2 pi x) + N(0, 0.3^2)`` at n = 200 equally spaced x on [0, 1], a local-linear
fit with the Gaussian kernel at h = 0.025, bands at 100 equally spaced queries on [0, 1],
alpha = 0.05. Draw i is row i of ``default_rng(0)``'s stream; the 200 draws are the
columns of one multi-output fit (each column is fitted as on its own).

Pointwise coverage: the fraction of (query, draw) pairs whose pointwise band covers the
truth. Simultaneous coverage: the fraction of draws whose simultaneous band covers it at
every query. Over 200 draws a true coverage of 0.95 has a binomial standard deviation of
0.015, so the default's bounds are wide: [0.88, 0.99] simultaneous, [0.92, 0.975] pointwise.
"""

import copy

import numpy as np
import pytest

pytest.importorskip("sklearn")

from nadaraya.estimator import NadarayaWatsonRegressor  # noqa: E402

N, H, SD, DRAWS, M, ALPHA = 200, 0.025, 0.3, 200, 100, 0.05


def _truth(x):
    return np.sin(2 * np.pi * x)


@pytest.fixture(scope="module")
def simulation():
    x, q = np.linspace(0, 1, N), np.linspace(0, 1, M)
    Y = _truth(x)[:, None] + np.random.default_rng(0).normal(0.0, SD, (DRAWS, N)).T  # (n, draws)
    model = NadarayaWatsonRegressor(bandwidth=H, order=1).fit(x[:, None], Y)
    return x, q, Y, model


def _coverage(model, q):
    """(pointwise, simultaneous) coverage of the truth by ``model``'s bands at the queries q."""
    f, Q = _truth(q)[:, None], q[:, None]
    lo, hi = model.predict_interval(Q, alpha=ALPHA)
    pointwise = np.mean((lo <= f) & (f <= hi))
    lo, hi = model.predict_interval(Q, alpha=ALPHA, simultaneous=True)
    return pointwise, np.mean(np.all((lo <= f) & (f <= hi), axis=0))


def test_the_default_band_delivers_its_nominal_coverage(simulation):
    _, q, _, model = simulation
    pointwise, simultaneous = _coverage(model, q)
    assert 0.92 <= pointwise <= 0.975
    assert 0.88 <= simultaneous <= 0.99


def test_the_local_variance_under_covers_at_this_bandwidth(simulation):
    """The guide's table: the local variance's noise (about 16 degrees of freedom here) and its
    in-sample residuals' shrinkage narrow the band; the maximum over the curve finds its dips."""
    _, q, _, model = simulation
    local = copy.deepcopy(model).set_params(variance="local")  # the same fit, read with the local variance
    pointwise, simultaneous = _coverage(local, q)
    assert pointwise < 0.935
    assert simultaneous < 0.9


def test_each_draw_is_fitted_as_on_its_own(simulation):
    x, q, Y, model = simulation
    single = NadarayaWatsonRegressor(bandwidth=H, order=1).fit(x[:, None], Y[:, 3])
    for a, b in zip(model.predict_interval(q[:, None], simultaneous=True), single.predict_interval(q[:, None],
                                                                                                   simultaneous=True)):
        np.testing.assert_allclose(a[:, 3], b, rtol=1e-10, atol=1e-12)
