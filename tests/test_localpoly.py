"""The estimator's pure pieces: local polynomials of any order against dense weighted least squares."""

import numpy as np
import pytest

pytest.importorskip("sklearn")

from nadaraya.estimator import NadarayaWatsonRegressor  # noqa: E402
from nadaraya.estimator._localpoly import SYSTEMS, Smoother, centering, local_fit, monomials, polynomial_system  # noqa: E402
from nadaraya.kernels import KERNELS  # noqa: E402


def _problem(d, order, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 5, (120, d))
    Y = np.c_[np.sin(X).sum(1), np.cos(X[:, 0])]
    w = rng.uniform(0.5, 2, 120)
    sm = Smoother(X, w, KERNELS["gaussian"], "auto", order, d, centering(X, d, w))
    return sm, X, Y, w, rng.uniform(0, 5, (9, d)), np.full(d, 0.8)


def test_monomials_are_ordered_by_degree_with_the_slopes_first():
    assert monomials(2, 2) == ((0, 0), (1, 0), (0, 1), (2, 0), (1, 1), (0, 2))
    assert len(monomials(3, 3)) == 20


@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("order", [1, 2, 3])
def test_local_polynomial_equals_dense_weighted_least_squares(d, order):
    sm, X, Y, w, Q, h = _problem(d, order)
    fit, slopes = local_fit(sm, Q, Y, h, slopes=True, order=order)
    for i, q in enumerate(Q):
        k = w * np.exp(-0.5 * (((X - q) / h) ** 2).sum(1))
        D = np.stack([np.prod((X - q) ** np.array(e), axis=1) for e in monomials(d, order)], axis=1)
        beta = np.linalg.lstsq(np.sqrt(k)[:, None] * D, np.sqrt(k)[:, None] * Y, rcond=None)[0]
        np.testing.assert_allclose(fit[i], beta[0], rtol=0, atol=1e-11)
        np.testing.assert_allclose(slopes[i], beta[1 : 1 + d], rtol=0, atol=1e-10)


def test_the_general_builder_at_order_1_is_the_hand_expanded_one(monkeypatch):
    sm, X, Y, w, Q, h = _problem(2, 1)
    hand = local_fit(sm, Q, Y, h, slopes=True)
    monkeypatch.setitem(SYSTEMS, 1, polynomial_system(1))
    general = local_fit(sm, Q, Y, h, slopes=True)
    for a, b in zip(hand, general):  # the general one pools about the queries' cell: rounding differs
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_a_bandwidth_search_leaves_the_estimator_as_it_was():
    rng = np.random.default_rng(4)
    X, y = rng.uniform(0, 5, (60, 1)), rng.normal(size=60)
    model = NadarayaWatsonRegressor(bandwidth=0.3, order=1).fit(X, y)
    before = {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in vars(model).items()}
    seen = []

    def progress(step, total, h, value):  # called during the search: the estimator is not touched
        seen.append({k: vars(model).get(k) for k in ("h_", "X_", "bandwidth_")})

    model.set_params(bandwidth="loo")
    before["bandwidth"] = "loo"
    model.fit(X[:40], y[:40], progress=progress)
    assert seen
    for state in seen:
        np.testing.assert_array_equal(state["h_"], before["h_"])
        np.testing.assert_array_equal(state["X_"], before["X_"])
    assert model.X_.shape == (40, 1) and model.h_[0] != before["h_"][0]  # fit then assigned the new state


@pytest.mark.parametrize("order", [2, 3])
def test_orders_two_and_three_stay_exact_far_from_the_data_centre(order):
    """Moments are pooled about each cell of queries, not the data's mean: at a bandwidth of 2 % of the
    range the fit and its slope keep 1e-10 (one centre for all lost up to 1e-7)."""
    rng = np.random.default_rng(7)
    x = np.sort(rng.uniform(0, 10, 300))
    X, Y, w = x[:, None], np.c_[np.sin(x), np.cos(3 * x)], rng.uniform(0.5, 2, x.size)
    sm = Smoother(X, w, KERNELS["gaussian"], "auto", order, 1, centering(X, 1, w))
    h = np.array([0.2])
    Q = np.linspace(0, 10, 41)[:, None]
    fit, slopes = local_fit(sm, Q, Y, h, slopes=True)
    for i, q0 in enumerate(Q[:, 0]):
        k = w * np.exp(-0.5 * ((x - q0) / h[0]) ** 2)
        D = np.stack([((x - q0) / h[0]) ** e for e in range(order + 1)], axis=1)
        beta = np.linalg.lstsq(np.sqrt(k)[:, None] * D, np.sqrt(k)[:, None] * Y, rcond=None)[0]
        np.testing.assert_allclose(fit[i], beta[0], rtol=0, atol=1e-11)
        np.testing.assert_allclose(slopes[i, 0], beta[1] / h[0], rtol=0, atol=1e-10)
