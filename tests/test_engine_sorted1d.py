"""The sorted 1-D engine against the dense NumPy reference."""

import subprocess
import sys
import warnings

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nadaraya as nw
from conftest import rtol_for
from nadaraya.engines import dense, sorted1d, stream
from nadaraya.engines.state import finalize, merge
from nadaraya.kernels import Kernel

SORTED = list(sorted1d.KERNELS)
EXACT = [k for k in SORTED if k != "gaussian"]
COMPACT = [k for k in SORTED if nw.KERNELS[k].compact]
UNBOUNDED = [k for k in SORTED if not nw.KERNELS[k].compact]
GAUSS_TOL = 1e-10


def _problem(rng, b, m, n, k, dtype, *, spread=4.0, scale=1.0, exclude_self=False, ties=True):
    """(b, m, 1) queries, (b, n, 1) unsorted keys with duplicates, (b, n, k) values; divided by ``scale``."""
    keys = rng.uniform(0.0, spread, size=(b, n, 1))
    if ties and n >= 8:
        keys[:, 1] = keys[:, 0]  # duplicated keys
        keys[:, 5] = keys[:, 3]
        keys[:, 7] = keys[:, 3]
    queries = keys.copy() if exclude_self else rng.uniform(-0.5, spread + 0.5, size=(b, m, 1))
    values = rng.normal(size=(b, n, k))
    return tuple(np.ascontiguousarray(a / s, dtype=dtype) for a, s in ((queries, scale), (keys, scale), (values, 1.0)))


def _dense(q, k, v, kernel, exclude_self=False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return dense.pool(q, k, v, nw.KERNELS[kernel] if isinstance(kernel, str) else kernel, exclude_self)


def _sorted(q, k, v, kernel, exclude_self=False, **options):
    kern = nw.KERNELS[kernel] if isinstance(kernel, str) else kernel
    return sorted1d.pool(q, k, v, kern, exclude_self, **options)


def _assert_agree(got, want, values, atol_rel, err_msg=""):
    """Equal within ``atol_rel * max|values|``, with NaN in the same places."""
    assert got.shape == want.shape, err_msg
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"NaN pattern differs {err_msg}")
    scale = float(np.abs(values).max()) or 1.0
    np.testing.assert_allclose(got, want, rtol=0, atol=atol_rel * scale, equal_nan=True, err_msg=err_msg)


def _tolerance(kernel, dtype):
    if np.dtype(dtype) == np.float32:
        return rtol_for(dtype)
    return GAUSS_TOL if kernel == "gaussian" else rtol_for(dtype)


# ---------------------------------------------------------------- agreement with the reference
# (the shared contract, tests/engine_contract.py, runs the generic cases; here: what is particular to sorting)






@pytest.mark.parametrize("kernel", SORTED)
def test_ties_unsorted_and_far_queries(kernel):
    """Heavily duplicated keys in decreasing order; queries far outside the data."""
    rng = np.random.default_rng(3)
    keys = np.repeat(np.arange(10.0, 0.0, -1.0), 6)[None, :, None]  # 10 distinct keys, 6 copies each
    values = rng.normal(size=(1, keys.shape[1], 2))
    queries = np.concatenate([rng.uniform(0.0, 11.0, 50), [-1e3, -40.0, 50.0, 1e4], keys[0, ::7, 0]])[None, :, None]
    got = _sorted(queries, keys, values, kernel)
    _assert_agree(got, _dense(queries, keys, values, kernel), values, _tolerance(kernel, np.float64), kernel)
    far = got[0, 50:54]
    if kernel in COMPACT:
        assert np.all(np.isnan(far))
    elif kernel == "gaussian":  # far away: the mean of the nearest key's copies
        np.testing.assert_allclose(far[:2], np.broadcast_to(values[0, -6:].mean(0), (2, 2)), atol=1e-12)
        np.testing.assert_allclose(far[2:], np.broadcast_to(values[0, :6].mean(0), (2, 2)), atol=1e-12)
    elif kernel == "laplace":  # exp(-|u|) weighs the keys alike from any distance beyond the data
        np.testing.assert_allclose(far[0], far[1], atol=1e-12)
        np.testing.assert_allclose(far[2], far[3], atol=1e-12)
    loo = _sorted(keys, keys, values, kernel, True)
    _assert_agree(loo, _dense(keys, keys, values, kernel, True), values, _tolerance(kernel, np.float64), kernel)




@pytest.mark.parametrize("kernel", COMPACT)
def test_empty_support_is_nan(kernel):
    """No key with |q - k| < 1 (<= 1 for boxcar): NaN, exactly where the reference has it."""
    keys = np.array([[[0.0], [2.0], [2.0], [10.0]]])
    v = np.arange(8.0).reshape(1, 4, 2)
    q = np.array([[[-1.0], [-0.5], [1.0], [1.5], [5.0], [11.0], [11.5], [9.0]]])
    got = _sorted(q, keys, v, kernel)
    want = _dense(q, keys, v, kernel)
    _assert_agree(got, want, v, 1e-15, kernel)
    closed = kernel == "boxcar"
    assert np.isnan(got[0, 0]).all() != closed  # exactly one bandwidth away from the key 0
    assert np.isnan(got[0, 4]).all() and np.isnan(got[0, 7]).all() != closed
    assert not np.isnan(got[0, 1]).any()
    # leave-one-out: isolated keys have no neighbour left; the duplicated pair keeps each other
    loo = _sorted(keys, keys, v, kernel, True)
    _assert_agree(loo, _dense(keys, keys, v, kernel, True), v, 1e-15, kernel)
    assert np.isnan(loo[0, [0, 3]]).all() and not np.isnan(loo[0, [1, 2]]).any()


@pytest.mark.parametrize("kernel", COMPACT)
def test_float32_window_matches_reference(kernel):
    """Keys and queries on a float32 grid: boundary hits (|q - k| = h) decided as the reference does."""
    keys = (np.arange(0, 40, dtype=np.float32) * np.float32(0.25))[None, :, None]
    q = (np.arange(-8, 170, dtype=np.float32) * np.float32(0.0625))[None, :, None]
    v = np.cos(keys.astype(np.float64)).astype(np.float32)
    for h in (np.float32(0.25), np.float32(0.5), np.float32(0.1)):
        got = _sorted(q / h, keys / h, v, kernel)
        _assert_agree(got, _dense(q / h, keys / h, v, kernel), v, rtol_for(np.float32), f"{kernel} h={h}")


# ---------------------------------------------------------------- larger problems: the trees and expansions


@pytest.mark.parametrize("kernel", SORTED)
@pytest.mark.parametrize("exclude_self", [False, True])
def test_large_problem(kernel, exclude_self):
    """Windows of hundreds of keys (tree nodes, not just direct sums); a subsample of queries checked."""
    rng = np.random.default_rng(11)
    n = 20_000
    x = np.sort(rng.uniform(0.0, 5.0, n))[rng.permutation(n)]
    y = np.stack([2 * np.sin(x) + x**0.8 + rng.normal(0, 0.5, n), rng.normal(size=n)], axis=1)
    q = x if exclude_self else np.concatenate([rng.uniform(-0.5, 5.5, 40_000), x[:1000]])
    h = 0.05
    Q, K = (q / h)[None, :, None], (x / h)[None, :, None]
    got, stats = sorted1d._pool_stats(Q, K, y[None], nw.KERNELS[kernel], exclude_self)
    if kernel == "gaussian" and not exclude_self:
        assert stats[0]["boxed"] > q.size // 2  # the box expansions were used
    idx = rng.choice(q.size, 400, replace=False)
    if exclude_self:  # the reference's leave-one-out needs the full square problem: check rows by hand
        want = np.stack([_dense((q[i : i + 1] / h)[None, :, None], (np.delete(x, i) / h)[None, :, None],
                                np.delete(y, i, axis=0)[None], kernel)[0, 0] for i in idx[:60]])
        _assert_agree(got[0, idx[:60]], want, y, _tolerance(kernel, np.float64), kernel)
    else:
        want = _dense((q[idx] / h)[None, :, None], (x / h)[None, :, None], y[None], kernel)
        _assert_agree(got[:, idx], want, y, _tolerance(kernel, np.float64), kernel)


@pytest.mark.parametrize("kernel", ["gaussian", "laplace", "epanechnikov", "cosine"])
@pytest.mark.parametrize("exclude_self", [False, True])
def test_partials_on_the_tree_and_box_paths(kernel, exclude_self):
    """Partials (log-normaliser, sums) of large problems, whose Gaussian queries mostly take box expansions."""
    rng = np.random.default_rng(21)
    n = 6000
    x = rng.uniform(0.0, 5.0, n)
    y = np.stack([np.sin(3 * x), rng.normal(size=n)], axis=1)
    q = x if exclude_self else rng.uniform(-0.5, 5.5, 20_000)
    Q, K, V = (q / 0.2)[None, :, None], (x / 0.2)[None, :, None], y[None]
    kern = nw.KERNELS[kernel]
    if kernel == "gaussian" and not exclude_self:
        assert sorted1d._pool_stats(Q, K, V, kern)[1][0]["boxed"] > q.size // 2
    got = sorted1d.partials(Q, K, V, kern, exclude_self, tol=1e-13)
    want = stream.partials(Q, K, V, kern, exclude_self)
    with np.errstate(divide="ignore"):
        lse_got, lse_want = got.max_score + np.log(got.denominator), want.max_score + np.log(want.denominator)
    np.testing.assert_allclose(lse_got, lse_want, rtol=1e-12, atol=1e-12)
    _assert_agree(finalize(got), finalize(want), y, 1e-12, kernel)
    half = n // 2  # two shards of keys merge to the whole (no leave-one-out across shards here)
    if not exclude_self:
        a = sorted1d.partials(Q, K[:, :half], V[:, :half], kern, tol=1e-13)
        b = stream.partials(Q, K[:, half:], V[:, half:], kern)  # engines mix: partials share one meaning
        _assert_agree(finalize(merge(a, b)), finalize(want), y, 1e-12, kernel)


@pytest.mark.parametrize("tol", [1e-6, 1e-10, 1e-13])
def test_gaussian_within_tol(tol):
    """The stated bound: within tol of the reference (relative to max|values|), clusters and gaps included."""
    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(0, 2, 6000), np.repeat(rng.uniform(4, 6, 20), 100) + rng.normal(0, 1e-3, 2000)])
    y = np.sin(3 * x)[:, None] + rng.normal(0, 0.3, (x.size, 1))
    q = np.concatenate([np.linspace(-1, 7, 3000), rng.uniform(0, 6, 3000)])
    for h in (0.01, 0.1):
        Q, K, V = (q / h)[None, :, None], (x / h)[None, :, None], y[None]
        got = _sorted(Q, K, V, "gaussian", tol=tol)
        idx = rng.choice(q.size, 500, replace=False)
        _assert_agree(got[:, idx], _dense(Q[:, idx], K, V, "gaussian"), y, max(tol, 1e-12), f"tol={tol} h={h}")


def test_gaussian_loose_tol_is_cheaper_and_within_it():
    rng = np.random.default_rng(6)
    q, keys, v = _problem(rng, 1, 5000, 5000, 1, np.float64, spread=200.0)
    want = _dense(q, keys, v, "gaussian")
    out, stats = sorted1d._pool_stats(q, keys, v, nw.KERNELS["gaussian"], tol=1e-6)
    _assert_agree(out, want, v, 1e-6)
    assert stats[0]["order"] < sorted1d._pool_stats(q, keys, v, nw.KERNELS["gaussian"])[1][0]["order"]


@pytest.mark.parametrize("kernel", ["epanechnikov", "tricube", "cosine"])
@pytest.mark.parametrize("ratio", [0.0, np.inf])
def test_certificate_fallback_path(monkeypatch, kernel, ratio):
    """Every query summed directly (ratio 0) or never (inf): the same numbers either way."""
    monkeypatch.setattr(sorted1d.compact, "CERTIFICATE_RATIO", ratio)
    rng = np.random.default_rng(8)
    q, keys, v = _problem(rng, 1, 300, 3000, 2, np.float64, spread=30.0)
    out, stats = sorted1d._pool_stats(q, keys, v, nw.KERNELS[kernel])
    assert (stats[0]["fallbacks"] > 0) == (ratio == 0.0)
    _assert_agree(out, _dense(q, keys, v, kernel), v, 1e-12, kernel)


def test_keys_crowded_at_the_edge_of_the_support():
    """Hundreds of keys within 1e-3 .. 1e-9 of |q - k| = 1: the expansion cancels, the result stays exact."""
    rng = np.random.default_rng(9)
    q = np.arange(0.5, 200, 4.0)
    gaps = 10.0 ** rng.uniform(-9, -3, (q.size, 300))
    x = (q[:, None] + np.where(rng.random(gaps.shape) < 0.5, -1, 1) * (1 - gaps)).ravel()
    v = rng.normal(size=(1, x.size, 1))
    for kernel in ("biweight", "tricube", "epanechnikov"):
        got = _sorted(q[None, :, None], x[None, :, None], v, kernel)
        # long-double reference with the kernel in factored form (the dense engine's log1p form loses digits here)
        xl = x.astype(np.longdouble)
        for i in range(0, q.size, 7):
            u = np.abs(np.longdouble(q[i]) - xl)
            inside = (q[i] - x) ** 2 < 1
            ui = u[inside]
            a = (1 - ui) * (1 + ui)
            w = {"biweight": a**2, "epanechnikov": a, "tricube": ((1 - ui) * (1 + ui + ui**2)) ** 3}[kernel]
            ref = float((w @ v[0, inside, 0].astype(np.longdouble)) / w.sum())
            assert abs(got[0, i, 0] - ref) <= 1e-13 * np.abs(v).max(), (kernel, i)


def test_custom_kernels():
    """Any Kernel with ``poly`` (compact) or ``exp_abs`` works, not only the registry's."""
    matern = Kernel(
        "matern32", np.inf, exp_abs=(1.0, 1.0), _score=lambda t, o: o.log1p(o.sqrt(t)) - o.sqrt(t)
    )
    bump = Kernel(
        "bump", 2.0, poly=(4.0, 0.0, -1.0),
        _score=lambda t, o: o.where(t < 4.0, o.log1p(-o.where(t < 4.0, t, 0.0) / 4.0), -np.inf),
    )
    rng = np.random.default_rng(10)
    for kern in (matern, bump):
        assert sorted1d.supports(kern, 1)
        for exclude_self in (False, True):
            q, keys, v = _problem(rng, 2, 60, 60, 2, np.float64, spread=8.0, exclude_self=exclude_self)
            for scale in (1.0, 1e-6):
                got = _sorted(q / scale, keys / scale, v, kern, exclude_self)
                _assert_agree(got, _dense(q / scale, keys / scale, v, kern, exclude_self), v, 1e-12, kern.name)


@settings(max_examples=30, deadline=None)
@given(
    kernel=st.sampled_from(EXACT),
    n=st.integers(1, 40),
    step=st.sampled_from([0.0, 0.125, 0.3, 1.0]),
    h=st.sampled_from([0.05, 0.5, 2.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_property_exact_kernels(kernel, n, step, h, seed):
    """Keys on a coarse grid (many exact ties and boundary hits) or random; equal to the reference."""
    rng = np.random.default_rng(seed)
    keys = (np.round(rng.uniform(0, 3, n) / step) * step if step else rng.uniform(0, 3, n))[None, :, None] / h
    q = np.concatenate([keys[0, :, 0], rng.uniform(-1, 4, 20) / h])[None, :, None]
    v = rng.normal(size=(1, n, 1))
    _assert_agree(_sorted(q, keys, v, kernel), _dense(q, keys, v, kernel), v, 1e-12, kernel)


# ---------------------------------------------------------------- contract


def test_supports():
    assert set(sorted1d.KERNELS) == set(nw.KERNELS)  # every registry kernel has a 1-D path
    for name in sorted1d.KERNELS:
        assert sorted1d.supports(nw.KERNELS[name], 1)
        assert not sorted1d.supports(nw.KERNELS[name], 2)
    sech = Kernel("sech", np.inf, _score=lambda t, o: -o.log1p(t))
    assert not sorted1d.supports(sech, 1)


def test_public_api_sorted_equals_dense():
    rng = np.random.default_rng(12)
    x = rng.uniform(0, 5, 300)
    y = np.stack([np.sin(x), np.cos(x)], axis=1)
    for kernel in SORTED:
        for exclude_self, queries in ((False, rng.uniform(-1, 6, 200)), (True, x)):
            kw = dict(kernel=kernel, bandwidth=0.3, exclude_self=exclude_self, on_empty="ignore")
            got = nw.attention_pool(queries, x, y, method="sorted", **kw)
            want = nw.attention_pool(queries, x, y, method="dense", **kw)
            _assert_agree(got, want, y, _tolerance(kernel, np.float64), kernel)
    # batched (b, m) inputs and float32
    xb = rng.uniform(0, 5, (3, 100)).astype(np.float32)
    yb = np.sin(xb)
    kw = dict(kernel="epanechnikov", bandwidth=0.4, batched=True, exclude_self=True)
    got = nw.attention_pool(xb, xb, yb, method="sorted", **kw)
    want = nw.attention_pool(xb, xb, yb, method="dense", **kw)
    assert got.dtype == np.float32 and got.shape == (3, 100)
    _assert_agree(got, want, yb, rtol_for(np.float32))
    with pytest.raises(ValueError, match="sorted"):
        nw.attention_pool(rng.normal(size=(5, 2)), rng.normal(size=(5, 2)), np.ones(5), method="sorted")


def test_num_threads_restored_and_inputs_untouched():
    rng = np.random.default_rng(13)
    q, keys, v = _problem(rng, 1, 50, 50, 1, np.float64)
    copies = [a.copy() for a in (q, keys, v)]
    before = numba.get_num_threads()
    a = _sorted(q, keys, v, "gaussian", num_threads=1)
    assert numba.get_num_threads() == before
    b = _sorted(q, keys, v, "gaussian", num_threads=10_000)  # more than exist: capped
    assert numba.get_num_threads() == before
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)
    for orig, now in zip(copies, (q, keys, v)):
        np.testing.assert_array_equal(orig, now)


def test_nothing_compiled_at_import():
    code = (
        "import numba; from nadaraya.engines.sorted1d import _common, compact, exponential, gaussian; "
        "fns = [f for m in (_common, compact, exponential, gaussian) for f in vars(m).values() "
        "if isinstance(f, numba.core.registry.CPUDispatcher)]; "
        "assert len(fns) > 20 and all(not f.signatures for f in fns); "
        "assert numba.get_num_threads() == numba.config.NUMBA_NUM_THREADS"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
