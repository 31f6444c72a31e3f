"""Every engine at the edges of its inputs: the support boundary and the accepted numeric range."""

import warnings

import numpy as np
import pytest

import nadaraya as nw
from nadaraya import _checks

ENGINES_1D = ["dense", "stream", "sorted"]
ENGINES_ND = ["dense", "stream"]


def _boxcar_by_counting(q, k, v, h):
    """Boxcar pooling with the support test done in exact integer arithmetic: sum_j [|q - k_j| <= h] v_j / count."""
    q, k, h = (np.asarray(a, dtype=np.int64) for a in (q, k, h))
    diff = q[:, None, :] - k[None, :, :]
    inside = ((diff * diff).sum(-1) <= h * h) if h.ndim == 0 else (((diff / h) ** 2).sum(-1) <= 1)
    with np.errstate(invalid="ignore"):
        return (inside @ v) / inside.sum(1)


# ---------------------------------------------------------------- the support edge


@pytest.mark.parametrize("method", ENGINES_1D)
def test_boxcar_edge_key_counts_as_r_ksmooth_and_locfit_do(method):
    # R: ksmooth(c(4,7,10), c(0,1,5), "box", bandwidth = 6) and locfit(..., kern="rect", deg=0) give 0.5, 2, 3
    out = nw.attention_pool([4, 7, 10], [4, 7, 10], [0, 1, 5], kernel="boxcar", bandwidth=3.0, method=method)
    np.testing.assert_allclose(out, [0.5, 2.0, 3.0], rtol=1e-15)


@pytest.mark.parametrize("method", ENGINES_1D)
@pytest.mark.parametrize("h", [1, 3, 7, 10])
@pytest.mark.parametrize("offset", [0, 10**6])
def test_boxcar_on_integer_grids_is_exact(method, h, offset):
    rng = np.random.default_rng(h)
    keys = offset + rng.integers(0, 60, 300)
    queries = offset + np.arange(-5, 66)
    values = rng.normal(size=300)
    want = _boxcar_by_counting(queries[:, None], keys[:, None], values, h)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nw.EmptySupportWarning)
        got = nw.attention_pool(queries.astype(float), keys.astype(float), values, kernel="boxcar",
                                bandwidth=float(h), method=method)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-13, equal_nan=True)


@pytest.mark.parametrize("method", ENGINES_ND)
def test_boxcar_on_a_2d_integer_grid_is_exact(method):
    # 3-4-5 triangles put keys at exactly the bandwidth 5 in two dimensions
    g = np.stack(np.meshgrid(np.arange(12), np.arange(12)), -1).reshape(-1, 2)
    values = np.random.default_rng(0).normal(size=len(g))
    want = _boxcar_by_counting(g, g, values, 5)
    got = nw.attention_pool(g.astype(float), g.astype(float), values, kernel="boxcar", bandwidth=5.0, method=method)
    np.testing.assert_allclose(got, want, rtol=1e-13)


def test_boxcar_edge_weights_and_log_sums_agree_with_pooling():
    w = nw.attention_weights([4.0, 7.0], [4.0, 7.0, 10.0], kernel="boxcar", bandwidth=3.0)
    np.testing.assert_allclose(w, [[0.5, 0.5, 0.0], [1 / 3, 1 / 3, 1 / 3]], rtol=1e-15)
    ls = nw.log_kernel_sums([4.0, 7.0], [4.0, 7.0, 10.0], kernel="boxcar", bandwidth=3.0)
    np.testing.assert_allclose(ls, np.log([2.0, 3.0]), rtol=1e-15)


def test_widening_is_tiny_and_covers_scaled_rounding():
    # exact-inside pairs at the worst case for q / h - k / h: large coordinates, irrational ratios
    rng = np.random.default_rng(5)
    h = 0.1 * np.pi
    k = rng.uniform(1e3, 1e4, 2000)
    q = k + h  # |q - k| <= h up to one rounding of q; keep the pairs that are inside exactly
    exact = np.abs(q - k) <= h  # both are doubles: q - k is exact here (Sterbenz) when inside
    out = nw.attention_pool(q[exact], k[exact], np.ones(exact.sum()), kernel="boxcar", bandwidth=h, method="dense",
                            on_empty="raise")
    assert np.isfinite(out).all()
    assert _checks.closed_support_widening(1e4 / h, 1, np.float64) - 1 < 1e-10


# ---------------------------------------------------------------- the accepted numeric range


@pytest.mark.parametrize("kwargs", [dict(bandwidth=1e-300), dict(keys=[-1e308, 0.0, 1e308])])
def test_scaled_inputs_that_could_overflow_are_refused_with_the_range(kwargs):
    args = dict(queries=[0.5, 1.5], keys=[0.0, 1.0, 2.0]) | kwargs
    with pytest.raises(ValueError, match=r"within \+-6.7e\+153 per coordinate \(float64, d=1"):
        nw.attention_pool(args["queries"], args["keys"], [1.0, 2.0, 3.0], bandwidth=args.get("bandwidth", 1.0))


def test_float32_range_is_its_own():
    x = np.array([0.0, 1.0, 2.0], dtype=np.float32)
    with pytest.raises(ValueError, match=r"within \+-9.2e\+18 per coordinate \(float32, d=1"):
        nw.attention_pool(x, x, x, bandwidth=1e-20)


@pytest.mark.parametrize("method", ENGINES_1D)
@pytest.mark.parametrize("kernel", ["gaussian", "laplace"])
def test_unbounded_kernels_never_give_nan_inside_the_range(method, kernel):
    # keys 1e153 bandwidths apart (inside the range): every weight but the nearest key's underflows,
    # and the answer is the nearest key's value, never 0/0
    big = 1e153
    q = np.array([-big, -0.4 * big, 0.1, 0.6 * big, big])
    k = np.array([-big, 0.0, big])
    out = nw.attention_pool(q, k, [1.0, 2.0, 3.0], kernel=kernel, method=method)
    np.testing.assert_array_equal(out, [1.0, 2.0, 2.0, 3.0, 3.0])


def test_huge_data_with_a_matching_bandwidth_is_accepted():
    k = np.array([-1e308, 0.0, 1e308])
    out = nw.attention_pool(k, k, [1.0, 2.0, 3.0], bandwidth=1e160)
    np.testing.assert_array_equal(out, [1.0, 2.0, 3.0])
