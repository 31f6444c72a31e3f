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
    for a, b in zip(hand, general):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-14)


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
