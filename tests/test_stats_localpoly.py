"""Local polynomials of order 0-3 and their derivatives against exact weighted least squares (R lm.wfit)."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from r_reference import fixture, xy

from nadaraya import attention_pool
from nadaraya.stats.localpoly import exponents, local_polynomial, smoother_norms


def _lstsq(q, x, y, h, order, exclude=None, kernel=lambda u: np.exp(-0.5 * u**2)):
    """Direct weighted least squares at each query: the reference."""
    out = []
    E = exponents(x.shape[1], order)
    for i, q0 in enumerate(q):
        k = kernel(np.sqrt((((x - q0) / h) ** 2).sum(1)))
        if exclude is not None:
            k[i] = 0.0
        V = np.prod((x - q0)[:, None, :] ** E[None], axis=2)
        out.append(np.linalg.lstsq(V * np.sqrt(k)[:, None], y * np.sqrt(k), rcond=None)[0])
    return np.array(out)


CASES = [(c["data"], c["h"], i) for i, c in enumerate(fixture("locpoly")["cases"])]


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
@pytest.mark.parametrize("data,h,case", CASES)
def test_derivatives_equal_exact_locpoly(data, h, case, degree):
    """``derivative(k) = k! beta_k`` equals KernSmooth locpoly(degree, drv=k) without binning (R lm.wfit), 1e-8."""
    ref = fixture("locpoly")["cases"][case]
    x, y = xy(data)
    q = np.asarray(ref["queries"])[:, None]
    fit = local_polynomial(q, x[:, None], y[:, None], h, order=degree)
    for k in range(degree + 1):
        want = np.asarray(ref["fits"][f"degree{degree}"][f"drv{k}"])
        got = fit.derivative(k)[:, 0] if k else fit.fit[:, 0]
        np.testing.assert_allclose(got, want, rtol=1e-8, atol=1e-8 * np.abs(want).max(), err_msg=f"drv={k}")


@pytest.mark.parametrize("data,h,case", CASES)
def test_kernsmooth_itself_agrees_at_its_grid(data, h, case):
    """KernSmooth's binned locpoly (truncation lifted, 4001 bins) is within its binning error of the exact fit."""
    ks = fixture("locpoly")["cases"][case]["kernsmooth_deg3_drv1"]
    x, y = xy(data)
    fit = local_polynomial(np.asarray(ks["x"])[:, None], x[:, None], y[:, None], h, order=3)
    np.testing.assert_allclose(fit.derivative(1)[:, 0], ks["y"], rtol=1e-4, atol=1e-4 * np.abs(ks["y"]).max())


def test_leave_one_out_equals_direct_exclusion():
    x, y = xy("mcycle")
    for order in range(4):
        fit = local_polynomial(x[:, None], x[:, None], y[:, None], 2.0, order=order, exclude_self=True)
        want = _lstsq(x[:, None], x[:, None], y, 2.0, order, exclude=True)[:, 0]
        np.testing.assert_allclose(fit.fit[:, 0], want, rtol=1e-9, atol=1e-9 * np.abs(y).max(), err_msg=f"{order}")


def test_order_zero_is_attention_pooling():
    x, y = xy("cars")
    fit = local_polynomial(x[:, None], x[:, None], y[:, None], 1.7, order=0, exclude_self=True)
    np.testing.assert_allclose(fit.fit[:, 0], attention_pool(x, x, y, bandwidth=1.7, exclude_self=True), rtol=1e-13)


@pytest.mark.parametrize("order", [1, 2])
def test_two_features_and_a_compact_kernel(order):
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (120, 2))
    y = np.sin(3 * x[:, 0]) + x[:, 1] ** 2 + rng.normal(0, 0.1, 120)
    q = rng.uniform(0.1, 0.9, (15, 2))
    h = np.array([0.3, 0.45])
    fit = local_polynomial(q, x, y[:, None], h, order=order, kernel="epanechnikov")
    want = _lstsq(q, x, y, h, order, kernel=lambda u: np.clip(1 - u**2, 0, None))
    np.testing.assert_allclose(fit.coef[:, :, 0], want, rtol=1e-9, atol=1e-10)


def test_infinite_bandwidth_drops_the_feature_from_the_kernel_only():
    """h = inf: the kernel ignores the feature; a local-linear fit keeps it as a global linear term."""
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 1, (80, 2))
    y = np.sin(4 * x[:, 0]) + 2 * x[:, 1]
    fit = local_polynomial(x, x, y[:, None], [0.2, np.inf], order=1)
    want = _lstsq(x, x, y, np.array([0.2, np.inf]), 1)
    np.testing.assert_allclose(fit.coef[:, :, 0], want, rtol=1e-10, atol=1e-12)
    linear = local_polynomial(x, x, (1 + 3 * x[:, 0] + 2 * x[:, 1])[:, None], [0.2, np.inf], order=1)
    np.testing.assert_allclose(linear.coef[:, 1:, 0], np.broadcast_to([3.0, 2.0], (80, 2)), rtol=1e-10)


def test_all_bandwidths_infinite_is_least_squares():
    x, y = xy("cars")
    fit = local_polynomial(x[:5, None], x[:, None], y[:, None], np.inf, order=1)
    slope, icept = np.polyfit(x, y, 1)
    np.testing.assert_allclose(fit.fit[:, 0], icept + slope * x[:5], rtol=1e-12)


def test_smoother_norms_equal_the_weight_matrix():
    x, y = xy("faithful")
    q = np.linspace(40, 100, 9)[:, None]
    for order in (0, 1, 2):
        E = exponents(1, order)
        want = []
        for q0 in q[:, 0]:
            k = np.exp(-0.5 * ((x - q0) / 3.0) ** 2)
            V = (x - q0)[:, None] ** E[:, 0]
            want.append(np.sum((np.linalg.pinv((V * k[:, None]).T @ V) @ (V * k[:, None]).T)[0] ** 2))
        np.testing.assert_allclose(smoother_norms(q, x[:, None], 3.0, order=order), want, rtol=1e-10)


def test_derivative_beyond_the_order_is_refused():
    x, y = xy("cars")
    fit = local_polynomial(x[:3, None], x[:, None], y[:, None], 2.0, order=1)
    with pytest.raises(ValueError, match="order >= 2"):
        fit.derivative(2)


def test_ties_in_x():
    """cars has many tied speeds: the fit at a tied value is the one least-squares fit."""
    x, y = xy("cars")
    assert len(np.unique(x)) < len(x)
    fit = local_polynomial(x[:, None], x[:, None], y[:, None], 1.0, order=2)
    np.testing.assert_allclose(fit.coef[:, :, 0], _lstsq(x[:, None], x[:, None], y, 1.0, 2), rtol=1e-9, atol=1e-9)


@given(st.integers(0, 3), st.floats(0.05, 2.0), st.integers(0, 2**31 - 1))
def test_polynomials_of_the_order_are_reproduced(order, h, seed):
    """A local polynomial of order p reproduces every polynomial of degree <= p exactly."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-1, 1, 40))
    c = rng.normal(size=order + 1)
    y = np.polyval(c, x)
    q = rng.uniform(-1, 1, 5)
    fit = local_polynomial(q[:, None], x[:, None], y[:, None], h, order=order)
    np.testing.assert_allclose(fit.fit[:, 0], np.polyval(c, q), rtol=1e-7, atol=1e-7 * np.abs(c).sum())
