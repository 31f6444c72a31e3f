"""What is particular to the k-d tree engine (the shared contract, tests/engine_contract.py, covers the rest).

Called directly on canonical arrays, against the shared brute-force reference: a dozen to hundreds of
keys per support (node moments, Taylor series), every d, per-dimension bandwidths, awkward clouds, the
block lists' fallback, key shards, the Gaussian/Laplace error bound, and memory.
"""

import math
import subprocess
import sys
import textwrap
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nadaraya as nw
import engine_contract
from conftest import rtol_for
from nadaraya._checks import prepare
from nadaraya._softmax import log_normaliser
from nadaraya.engines import state, stream, tree
from nadaraya.engines.tree import gauss, hermite, kdtree

ALL = sorted(nw.KERNELS)
COMPACT = [k for k in ALL if nw.KERNELS[k].compact]
EXPONENTIAL = ["gaussian", "laplace"]
TOL = 1e-10


def _ball_volume(d):
    return math.pi ** (d / 2) / math.gamma(d / 2 + 1)


def _problem(rng, b, m, n, d, k, dtype, per_support=12.0, exclude_self=False):
    """Canonical (already scaled) arrays, with ~``per_support`` keys inside a unit ball and duplicated keys."""
    side = (n * _ball_volume(d) / per_support) ** (1.0 / d)
    keys = rng.uniform(0.0, side, size=(b, n, d))
    keys[:, 1] = keys[:, 0]  # duplicates
    keys[:, 5] = keys[:, 3]
    queries = keys.copy() if exclude_self else rng.uniform(-0.1 * side, 1.1 * side, size=(b, m, d))
    values = rng.normal(size=(b, n, k))
    return tuple(np.ascontiguousarray(a, dtype=dtype) for a in (queries, keys, values))


def _reference(q, k, v, kernel, exclude_self=False):
    """The shared brute-force reference (float64 weights from the inputs' own ``t``)."""
    return engine_contract.reference(q, k, v, kernel, exclude_self)


def _allowed(kernel, dtype, tol=TOL):
    """Allowed error relative to max|values|: exact for compact kernels, the certified bound otherwise."""
    exact = rtol_for(dtype)
    return exact if nw.KERNELS[kernel].compact or kernel == "constant" else max(exact, tol / 2 + 1e-13)


def _assert_agree(got, want, values, kernel, dtype, err_msg="", tol=TOL):
    assert got.dtype == np.dtype(dtype), err_msg
    assert got.shape == want.shape, err_msg
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"NaN pattern differs {err_msg}")
    scale = float(np.abs(values).max()) or 1.0
    atol = _allowed(kernel, dtype, tol) * scale
    np.testing.assert_allclose(got, want, rtol=0, atol=atol, equal_nan=True, err_msg=err_msg)


# ---------------------------------------------------------------- agreement with the reference


@pytest.mark.parametrize("kernel", ALL)
@pytest.mark.parametrize("d", [2, 3, 8])
@pytest.mark.parametrize("exclude_self", [False, True])
def test_agrees_with_reference(kernel, d, exclude_self, dtype):
    rng = np.random.default_rng(zlib.crc32(f"{kernel} {d} {exclude_self}".encode()))
    q, k, v = _problem(rng, 2, 150, 150, d, 2, dtype, exclude_self=exclude_self)
    got = tree.pool(q, k, v, nw.KERNELS[kernel], exclude_self)
    _assert_agree(got, _reference(q, k, v, kernel, exclude_self), v, kernel, dtype, f"{kernel} d={d}")


@pytest.mark.parametrize("kernel", ["epanechnikov", "biweight", "boxcar", "gaussian"])
@pytest.mark.parametrize("d", [2, 4])
def test_many_keys_per_support(kernel, d):
    # ~300 keys per support: most of each support is summed from node moments (or Taylor series)
    rng = np.random.default_rng(d)
    q, k, v = _problem(rng, 1, 300, 3000, d, 1, np.float64, per_support=300.0)
    got = tree.pool(q, k, v, nw.KERNELS[kernel])
    _assert_agree(got, _reference(q, k, v, kernel), v, kernel, np.float64, kernel)


@pytest.mark.parametrize("kernel", ["tricube", "epanechnikov", "laplace"])
@pytest.mark.parametrize("d", [4, 5, 6, 7])
def test_every_dimension(kernel, d):
    rng = np.random.default_rng(10 + d)
    q, k, v = _problem(rng, 1, 80, 200, d, 1, np.float64)
    _assert_agree(tree.pool(q, k, v, nw.KERNELS[kernel]), _reference(q, k, v, kernel), v, kernel, np.float64)


@pytest.mark.parametrize("kernel", ["epanechnikov", "boxcar", "tricube"])
def test_exclude_self_in_a_node_larger_than_a_run(kernel):
    # every key inside every support: the root (more than DIRECT_MAX keys) is in each block's list of whole
    # nodes and holds each query's own key, so it is split, not summed as one run (that overflowed the
    # run buffer and crashed a leave-one-out search at large h)
    n = 2 * tree.DIRECT_MAX + 500
    rng = np.random.default_rng(7)
    k = rng.uniform(0.0, 0.6, size=(1, n, 2))
    v = rng.normal(size=(1, n, 1))
    got = tree.pool(k, k, v, nw.KERNELS[kernel], True)
    rows = slice(0, 300)
    want = _reference(k[:, rows], k, v, kernel, exclude_self=True)
    _assert_agree(got[:, rows], want, v, kernel, np.float64, kernel)


@pytest.mark.parametrize("kernel", ["biweight", "tricube"])
def test_block_lists_overflow_falls_back_to_per_query_walks(kernel, monkeypatch):
    rng = np.random.default_rng(2)
    q, k, v = _problem(rng, 1, 200, 2000, 2, 1, np.float64, per_support=200.0)
    monkeypatch.setattr(tree, "LIST_MAX", 2)
    _assert_agree(tree.pool(q, k, v, nw.KERNELS[kernel]), _reference(q, k, v, kernel), v, kernel, np.float64)


@pytest.mark.parametrize("kernel", COMPACT)
@pytest.mark.parametrize("exclude_self", [False, True])
@pytest.mark.parametrize("share", [0.0, None])
def test_blocks_that_prune_little_sum_every_key(kernel, exclude_self, share, dtype, monkeypatch):
    # supports wider than the cloud's half: little is pruned, so blocks skip the tree (UNPRUNED_SHARE);
    # share 0.0 sends every block that way, None keeps the default rule
    if share is not None:
        monkeypatch.setattr(tree, "UNPRUNED_SHARE", share)
    rng = np.random.default_rng(zlib.crc32(f"unpruned {kernel} {exclude_self}".encode()))
    k = rng.uniform(0.0, 1.6, size=(2, 700, 4)).astype(dtype)
    k[:, 1] = k[:, 0]
    q = k.copy() if exclude_self else rng.uniform(-0.2, 1.8, size=(2, 700, 4)).astype(dtype)
    v = rng.normal(size=(2, 700, 3)).astype(dtype)
    got = tree.pool(q, k, v, nw.KERNELS[kernel], exclude_self)
    _assert_agree(got, _reference(q, k, v, kernel, exclude_self), v, kernel, dtype, kernel)


def test_one_dimension_is_accepted():
    rng = np.random.default_rng(1)
    q, k, v = _problem(rng, 1, 100, 100, 1, 1, np.float64)
    assert tree.supports(nw.KERNELS["biweight"], 1)
    _assert_agree(tree.pool(q, k, v, nw.KERNELS["biweight"]), _reference(q, k, v, "biweight"), v, "biweight", np.float64)


def test_supports():
    assert tree.NAME == "tree"
    assert all(tree.supports(nw.KERNELS[name], d) for name in ALL for d in range(1, 9))
    assert not tree.supports(nw.KERNELS["gaussian"], tree.MAX_DIM + 1)
    custom = nw.kernels.Kernel("gaussian", np.inf, _score=lambda t, o: -0.5 * t)
    assert not tree.supports(custom, 2)  # only the registry's kernels (whose formulas the engine knows)


@pytest.mark.parametrize("kernel", ["epanechnikov", "gaussian", "cosine", "laplace"])
def test_per_dimension_bandwidth(kernel):
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 1, size=(200, 3)) * [1.0, 10.0, 0.1]
    y = rng.normal(size=(200, 2))
    xq = rng.uniform(0, 1, size=(90, 3)) * [1.0, 10.0, 0.1]
    p = prepare(xq, x, y, [0.2, 3.0, 0.05])
    got = tree.pool(p.queries, p.keys, p.values, nw.KERNELS[kernel])
    _assert_agree(got, _reference(p.queries, p.keys, p.values, kernel), p.values, kernel, np.float64)


# ---------------------------------------------------------------- awkward clouds


def _clouds(rng, d=3, n=400):
    """Keys with ties and duplicates, on a line, with one far outlier, and all equal."""
    grid = rng.integers(0, 4, size=(n, d)).astype(float) * 0.5  # many ties and exact duplicates
    line = np.outer(rng.uniform(0, 20, n), rng.normal(size=d))
    outlier = rng.uniform(0, 6, size=(n, d))
    outlier[7] = 1e6
    equal = np.full((n, d), 0.25)
    return {"ties": grid, "line": line, "outlier": outlier, "equal": equal}


@pytest.mark.parametrize("cloud", ["ties", "line", "outlier", "equal"])
@pytest.mark.parametrize("kernel", ALL)
@pytest.mark.parametrize("exclude_self", [False, True])
def test_degenerate_clouds(cloud, kernel, exclude_self):
    rng = np.random.default_rng(zlib.crc32(cloud.encode()))
    keys = _clouds(rng)[cloud]
    n, d = keys.shape
    queries = keys.copy() if exclude_self else keys[rng.permutation(n)] + rng.normal(scale=0.3, size=(n, d))
    v = rng.normal(size=(1, n, 1))
    q, k = queries[None], keys[None]
    got = tree.pool(q, k, v, nw.KERNELS[kernel], exclude_self)
    _assert_agree(got, _reference(q, k, v, kernel, exclude_self), v, kernel, np.float64, f"{cloud} {kernel}")


@pytest.mark.parametrize("leaf, chunk", [(tree.LEAF, 1), (tree.LEAF_EXP, tree.CHUNK), (64, 8), (16, 32)])
def test_tree_invariants(leaf, chunk):
    rng = np.random.default_rng(0)
    tiny = [rng.uniform(size=(n, 2)) for n in (1, 2, 33, 65, 129, 257)]
    for pts in list(_clouds(rng).values()) + [rng.uniform(size=(5000, 3))] + tiny:
        assert np.array_equal(np.sort(kdtree.morton_order(pts)), np.arange(pts.shape[0]))
        t = kdtree.build(pts, leaf, chunk)
        assert np.array_equal(np.sort(t.perm), np.arange(pts.shape[0]))
        assert np.array_equal(t.perm[t.pos], np.arange(pts.shape[0]))
        leaves = t.left < 0
        size = t.hi - t.lo
        assert size[leaves].max() <= leaf and size.min() >= 1
        if chunk > 1 and leaf >= 2 * chunk:  # whole chunks in every leaf but the last
            assert np.all(size[leaves & (t.hi < pts.shape[0])] % chunk == 0)
        inner = ~leaves  # the split is within half a chunk of the median: the tree stays balanced
        assert np.all(np.abs(size[t.left[inner]] - size[t.right[inner]]) <= chunk + 1)
        sorted_pts = pts[t.perm]
        for j in range(t.lo.shape[0]):
            run = sorted_pts[t.lo[j] : t.hi[j]]
            assert np.all(run >= t.bmin[j]) and np.all(run <= t.bmax[j])
            assert np.all(np.linalg.norm(run - t.centre[j], axis=1) <= t.radius[j])
            if not leaves[j]:
                assert t.lo[t.left[j]] == t.lo[j] and t.hi[t.right[j]] == t.hi[j]
                assert t.hi[t.left[j]] == t.lo[t.right[j]]


# ---------------------------------------------------------------- empty supports, shapes, threads


def test_empty_support_is_nan():
    k = np.array([[[0.0, 0.0], [0.5, 0.0]]])
    q = np.array([[[0.2, 0.1], [5.0, 5.0], [1.5, 0.0]]])  # the last is exactly at distance 1 of key 1
    v = np.array([[[1.0], [3.0]]])
    for kernel in COMPACT:
        got = tree.pool(q, k, v, nw.KERNELS[kernel])
        _assert_agree(got, _reference(q, k, v, kernel), v, kernel, np.float64, kernel)
        assert np.isnan(got[0, 1, 0]) and (kernel == "boxcar") != np.isnan(got[0, 2, 0])
    # boxcar's support is closed: the key at distance exactly 1 counts
    assert tree.pool(q, k, v, nw.KERNELS["boxcar"])[0, 2, 0] == 3.0


def test_threads_give_the_same_numbers():
    rng = np.random.default_rng(7)
    q, k, v = _problem(rng, 1, 3000, 3000, 2, 1, np.float64, per_support=40.0)
    for kernel in ("biweight", "gaussian"):
        one = tree.pool(q, k, v, nw.KERNELS[kernel], num_threads=1)
        np.testing.assert_array_equal(tree.pool(q, k, v, nw.KERNELS[kernel], num_threads=2), one)


# ---------------------------------------------------------------- partials (key shards)


@pytest.mark.parametrize("kernel", ["epanechnikov", "gaussian", "laplace", "tricube", "constant"])
@pytest.mark.parametrize("exclude_self", [False, True])
def test_partials_merge_over_key_shards(kernel, exclude_self):
    rng = np.random.default_rng(zlib.crc32(kernel.encode()))
    q, k, v = _problem(rng, 2, 120, 120, 3, 2, np.float64, exclude_self=exclude_self)
    kern = nw.KERNELS[kernel]
    cut = 50
    a = tree.partials(q, k[:, :cut], v[:, :cut], kern, exclude_self)
    b = tree.partials(q, k[:, cut:], v[:, cut:], kern, exclude_self, key_offset=cut)
    merged = state.finalize(state.merge(a, b))
    _assert_agree(merged, _reference(q, k, v, kernel, exclude_self), v, kernel, np.float64, kernel)
    whole = tree.partials(q, k, v, kern, exclude_self)
    ref = stream.partials(q, k, v, kern, exclude_self)
    log_sums = log_normaliser(whole.max_score, whole.denominator)
    np.testing.assert_allclose(log_sums, log_normaliser(ref.max_score, ref.denominator), rtol=1e-12, atol=1e-12)
    if kern.compact:  # sums of K itself, relative to K(0) = 1: the same numbers as pool, no nearest-key search
        assert set(np.unique(whole.max_score)) <= {0.0, -np.inf}
        np.testing.assert_array_equal(state.finalize(whole), tree.pool(q, k, v, kern, exclude_self))
    else:  # relative to the nearest key, as the stream engine's
        np.testing.assert_allclose(whole.max_score, ref.max_score, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(whole.denominator, ref.denominator, rtol=1e-9)


def test_partials_of_no_keys():
    q = np.zeros((1, 3, 2))
    p = tree.partials(q, np.zeros((1, 0, 2)), np.zeros((1, 0, 1)), nw.KERNELS["gaussian"])
    assert np.all(p.max_score == -np.inf) and np.all(p.denominator == 0) and p.weighted_sum.shape == (1, 3, 1)


# ---------------------------------------------------------------- the Gaussian and Laplace bound


@settings(max_examples=25)
@given(
    seed=st.integers(0, 2**32 - 1),
    kernel=st.sampled_from(EXPONENTIAL),
    d=st.integers(2, 4),
    tol=st.sampled_from([1e-2, 1e-4, 1e-7, 1e-10, 1e-14]),
    log_scale=st.floats(-1.5, 1.5),
    exclude_self=st.booleans(),
)
def test_error_within_certified_bound(seed, kernel, d, tol, log_scale, exclude_self):
    rng = np.random.default_rng(seed)
    n = 500
    k = rng.uniform(0, 10.0**log_scale, size=(1, n, d))
    q = k.copy() if exclude_self else rng.uniform(0, 10.0**log_scale, size=(1, n, d))
    v = rng.uniform(-1, 1, size=(1, n, 1)) + rng.choice([0.0, 50.0])  # also values far from zero
    got = tree.pool(q, k, v, nw.KERNELS[kernel], exclude_self, tol=tol)
    err = np.abs(got - _reference(q, k, v, kernel, exclude_self)).max()
    bound = (max(tol, tree.MIN_TOL) / 2 + 1e-14 * 10) * np.abs(v).max()
    assert err <= bound, f"error {err:.3g} above the bound {bound:.3g}"


def test_loose_tol_is_used_but_kept():
    # at tol = 1e-2 the engine really does drop weight, and the error stays inside the bound
    rng = np.random.default_rng(5)
    k = rng.uniform(0, 30, size=(1, 4000, 2))
    q = rng.uniform(0, 30, size=(1, 300, 2))
    v = rng.uniform(-1, 1, size=(1, 4000, 1))
    want = _reference(q, k, v, "gaussian")
    err = np.abs(tree.pool(q, k, v, nw.KERNELS["gaussian"], tol=1e-2) - want).max()
    assert 0 < err <= 0.5e-2


@pytest.mark.parametrize("d", [2, 3])
def test_taylor_series_at_the_edge_of_its_radius(d):
    # one node, every key at |x| = r, query at |y| = RHO / r, aligned: the worst case of the series bound
    rng = np.random.default_rng(d)
    tol = 1e-6
    p = gauss.taylor_order(tol, tree.RHO)
    parent, dim, inv = gauss.multi_indices(d, p)
    assert parent.shape[0] == math.comb(p - 1 + d, d)
    r = 0.8
    x = rng.normal(size=(64, d))
    x *= r / np.linalg.norm(x, axis=1, keepdims=True)
    x[0] = r * np.eye(d)[0]
    V = np.column_stack([rng.uniform(0.5, 1, 64), np.ones(64)])
    kt, vt = np.ascontiguousarray(x.T), np.ascontiguousarray(V.T)  # the engine's (d, n) and (k + 1, n) layouts
    E = gauss.taylor_moments(kt, vt, np.array([0]), np.array([64]), np.zeros((1, d)), np.array([0]), parent, dim, inv)
    y = -(tree.RHO / r) * np.eye(d)[0]
    mono = np.ones(parent.shape[0])
    for a in range(1, parent.shape[0]):
        mono[a] = mono[parent[a]] * y[dim[a]]
    series = np.exp(-0.5 * y @ y) * (mono @ E[0])
    exact = (np.exp(-0.5 * ((y - x) ** 2).sum(1))[:, None] * V).sum(0)
    tau = tree.RHO**p * math.exp(2 * tree.RHO) / math.factorial(p)
    assert tau <= tol / 16
    assert np.all(np.abs(series - exact) <= tau * exact)


def _hermite_node(rng, d, p, width):
    """One node of 300 keys within ``width`` of its centre per dimension, with its series."""
    n = 300
    pts = rng.normal(size=d) + rng.uniform(-width, width, size=(n, d))
    bmin, bmax = pts.min(0)[None], pts.max(0)[None]
    centre = 0.5 * (bmin + bmax)
    V = np.column_stack([rng.uniform(-1, 1, n) + 3.0, np.ones(n)])
    kt, vt = np.ascontiguousarray(pts.T), np.ascontiguousarray(V.T)
    A = hermite.hermite_moments(kt, vt, np.array([0]), np.array([n]), centre, np.array([0]), p)
    w = hermite.half_widths(bmin, bmax, np.array([0]))
    rem, size = hermite.tails(w, p)
    return pts, V, centre[0], A, w[0], rem[0], size[0]


@pytest.mark.parametrize("d, p, width", [(1, 8, 0.9), (1, 16, 0.5), (2, 6, 0.5), (2, 16, 0.7), (3, 5, 0.3)])
def test_hermite_series_within_its_bound(d, p, width):
    # the far-field series of one node against the exact sums, at queries from the centre to 8 bandwidths
    # away and nearest-key offsets t_nn up to 4: the error never exceeds node_error, and the bound is
    # small far away (it decays like exp(-|y|^2 / 4)), so far nodes can use it
    rng = np.random.default_rng(zlib.crc32(f"hermite {d} {p}".encode()))
    pts, V, c, A, w, rem, size = _hermite_node(rng, d, p, width)
    g, prod = np.empty((d, p)), np.empty(p**d)
    for dist in np.linspace(0.0, 8.0, 33):
        for _ in range(4):
            u = rng.normal(size=d)
            y = dist * u / np.linalg.norm(u)
            t_nn = rng.uniform(0, 4)
            acc = np.zeros(2)
            hermite.add_node(y, A, 0, p, t_nn, g, prod, acc)
            exact = (np.exp(-0.5 * (((c + y) - pts) ** 2).sum(1) + 0.5 * t_nn)[:, None] * V).sum(0)
            bound = hermite.node_error(y, w, rem, size, len(pts), t_nn, p)
            assert np.abs(acc[1] - exact[1]) <= bound, (dist, acc, exact, bound)
            assert np.abs(acc[0] - exact[0]) <= bound * np.abs(V[:, 0]).max(), (dist, acc, exact, bound)
    far = 8.0 * np.ones(d) / math.sqrt(d)
    assert hermite.node_error(far, w, rem, size, len(pts), 0.0, p) < 1e-5 * len(pts) * math.exp(-0.25 * 64) * 1e6


@pytest.mark.parametrize("exclude_self", [False, True])
@pytest.mark.parametrize("tol", [1e-4, 1e-10])
def test_hermite_far_field_in_the_engine(exclude_self, tol, monkeypatch):
    # a low order and few keys per term, so that small problems use the series: the result moves (the
    # series is used) and stays within the certified bound; then the same with float32 inputs
    rng = np.random.default_rng(11)
    n = 3000
    k = rng.uniform(0, 6.0, size=(1, n, 2))
    q = k.copy() if exclude_self else rng.uniform(-1.0, 7.0, size=(1, n, 2))
    v = np.concatenate([rng.uniform(-1, 1, size=(1, n, 1)), rng.uniform(4, 5, size=(1, n, 1))], axis=2)
    kern = nw.KERNELS["gaussian"]
    monkeypatch.setattr(tree, "HERMITE_ORDER", {})
    plain = tree.pool(q, k, v, kern, exclude_self, tol=tol)
    monkeypatch.setattr(tree, "HERMITE_ORDER", {2: 8 if tol > 1e-6 else 14})
    monkeypatch.setattr(tree, "HERMITE_KEYS_PER_TERM", 0.5)
    got = tree.pool(q, k, v, kern, exclude_self, tol=tol)
    assert not np.array_equal(got, plain)
    want = _reference(q, k, v, "gaussian", exclude_self)
    assert np.abs(got - want).max() <= (tol / 2 + 1e-13) * np.abs(v).max()
    got32 = tree.pool(q.astype(np.float32), k.astype(np.float32), v.astype(np.float32), kern, exclude_self, tol=tol)
    want32 = _reference(q.astype(np.float32), k.astype(np.float32), v.astype(np.float32), "gaussian", exclude_self)
    assert np.abs(got32 - want32).max() <= max(tol / 2, 1e-6) * np.abs(v).max()


# ---------------------------------------------------------------- memory


def test_no_m_by_n_array():
    # m = n = 20000: an m x n float64 array would be 3.2 GB. Measured in a fresh process (Numba's own
    # allocations are invisible to tracemalloc, so the peak RSS is checked as well).
    script = textwrap.dedent(
        """
        import resource, tracemalloc
        import numpy as np
        import nadaraya as nw
        from nadaraya.engines import tree
        rng = np.random.default_rng(0)
        m = n = 20000
        q, k = rng.uniform(0, 60, size=(2, 1, m, 2))
        v = rng.normal(size=(1, n, 1))
        for name in ("epanechnikov", "gaussian"):
            tree.pool(q[:, :100], k[:, :100], v[:, :100], nw.KERNELS[name])  # compile / load
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        tracemalloc.start()
        for name in ("epanechnikov", "gaussian"):
            tree.pool(q, k, v, nw.KERNELS[name])
        peak = tracemalloc.get_traced_memory()[1]
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
        print(peak, rss * 1024)
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    peak, rss = (int(x) for x in out.split())
    mn8 = 20000 * 20000 * 8
    assert peak < mn8 / 200, f"tracemalloc peak {peak / 2**20:.1f} MiB"
    assert rss < mn8 / 20, f"peak RSS grew by {rss / 2**20:.1f} MiB"
