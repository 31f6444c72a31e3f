"""The tree engine's block walk for the Gaussian and Laplace kernels, and its fused one-pass sums.

At densities where the walk really drops weight (tens of keys per bandwidth ball, a domain many
bandwidths wide), against the shared brute-force reference: the fused loop against the key-by-key
one, the block lists as a partition of the keys, awkward clouds, every input variant, the lists'
overflow fallback, and the certified bound at its edge (adversarial values, tol loose enough that
the dropped weight nearly fills the budget).
"""

import math
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nadaraya as nw
import engine_contract
from nadaraya._checks import prepare
from nadaraya.engines import tree
from nadaraya.engines.tree import explists, gauss, kdtree, leaves

EXPONENTIAL = ["gaussian", "laplace"]


def _dense(q, k, v, kernel, exclude_self=False):
    return engine_contract.reference(q, k, v, kernel, exclude_self)


def _check(got, want, values, tol=1e-10, dtype=np.float64):
    """Within the certified bound, (tol / 2 + rounding) max|values|."""
    assert got.dtype == np.dtype(dtype) and got.shape == want.shape
    rounding = 1e-13 if dtype == np.float64 else 5e-6
    bound = (max(tol, tree.MIN_TOL) / 2 + rounding) * float(np.abs(values).max())
    err = float(np.abs(got.astype(np.float64) - want).max())
    assert err <= bound, f"error {err:.3g} above the bound {bound:.3g}"
    return err


def _spread(rng, n, d, per_ball=40.0, m=None):
    """Uniform keys (and queries) in a cube of ``per_ball`` keys per unit ball: the walk drops nodes there."""
    side = (n * math.pi ** (d / 2) / math.gamma(d / 2 + 1) / per_ball) ** (1.0 / d)
    k = rng.uniform(0.0, side, size=(1, n, d))
    q = rng.uniform(0.0, side, size=(1, m or n, d))
    return q, k


class _Capture:
    """Wraps gauss.gauss_blocks to keep each call's per-query dropped weight fractions."""

    def __init__(self, monkeypatch):
        self.dropped = []
        self._inner = gauss.gauss_blocks
        monkeypatch.setattr(gauss, "gauss_blocks", self)

    def __call__(self, *args, **kwargs):
        self._inner(*args, **kwargs)
        self.dropped.append(np.array(args[-1]))


# ---------------------------------------------------------------- the fused loop


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("laplace", [False, True])
def test_fused_sums_agree_with_numpy(d, laplace):
    # every run length around the loop's step (whole steps, a masked tail window, a scalar tail, runs at
    # the start of the array shorter than a window) and the excluded key anywhere in it or outside; the
    # block form (fused_block) and the one-query form (exp_run) against sums in numpy
    rng = np.random.default_rng(d + 10 * laplace)
    n = 300
    kt = np.ascontiguousarray(rng.uniform(0, 4, size=(d, n)))
    vt = np.vstack([rng.normal(size=n), np.ones(n)])
    qs = rng.uniform(0, 4, size=(3, d))
    t_nn = np.array([min(((kt.T - x) ** 2).sum(1)) for x in qs])
    buf = np.empty(n)
    W = leaves.WINDOW
    for a, b in [(0, 1), (0, 7), (3, 3 + W), (0, W - 1), (5, 5 + W + 3), (10, 10 + 2 * W + 6), (1, 1 + 3 * W + 31),
                 (n - 97, n), (40, 41)]:
        for cut in (-1, a, b - 1, (a + b) // 2, b - 3, b):
            excl = np.full(3, cut)
            got = np.zeros((3, 2))
            leaves.fused_block(qs, 0, np.array([True, False, True]), t_nn, excl, kt, vt, a, b, laplace, got)
            for r in (0, 2):
                keep = np.arange(a, b) != cut
                t = ((kt[:, a:b].T - qs[r]) ** 2).sum(1)[keep]
                w = np.exp(np.sqrt(t_nn[r]) - np.sqrt(t)) if laplace else np.exp(-0.5 * (t - t_nn[r]))
                want = np.array([w @ vt[0, a:b][keep], w.sum()])
                np.testing.assert_allclose(got[r], want, rtol=1e-13, atol=1e-300, err_msg=f"{a}:{b} excl {cut}")
                one = np.zeros(2)
                leaves.exp_run(qs[r], kt, vt, a, b, cut, laplace, False, t_nn[r], math.sqrt(t_nn[r]), buf, one)
                np.testing.assert_allclose(one, want, rtol=1e-13, atol=1e-300, err_msg=f"{a}:{b} excl {cut}")
            assert np.all(got[1] == 0.0)  # a query not in use is left alone


def test_fused_path_is_taken_only_where_it_serves():
    assert leaves.fused_ok(2, 2, False) and leaves.fused_ok(3, 2, False)
    assert not leaves.fused_ok(4, 2, False) and not leaves.fused_ok(3, 3, False) and not leaves.fused_ok(3, 2, True)


# ---------------------------------------------------------------- the block lists


@pytest.mark.parametrize("laplace", [False, True])
def test_block_lists_partition_the_keys(laplace):
    # dense (whole runs near the block) and sparse (far internal nodes) clouds
    rng = np.random.default_rng(3)
    cap = 8192
    stack = np.empty(kdtree.STACK, np.int64)
    wa, wb, tests = (np.empty(cap, np.int64) for _ in range(3))
    share = tree.DROP * 1e-10 / 9
    kinds = set()
    runs = 0
    for per_ball in (40.0, 3.0):
        q, k = _spread(rng, 6000, 3, per_ball=per_ball)
        t = kdtree.build(k[0], tree.LEAF_EXP, tree.CHUNK)  # the tree the engine builds
        keep = -math.log(share * k.shape[1])
        slot = np.full(t.lo.shape[0], -1)
        order = kdtree.morton_order(q[0])
        for start in (0, 1000, 5968):
            block = q[0, order[start : start + 32]]
            nw_, nt = explists.exp_lists(block.min(0), block.max(0), 0.01, 0.2, keep, share, laplace, 1 - 1e-14, t.lo,
                                       t.hi, t.left, t.right, t.bmin, t.bmax, t.centre, t.radius, slot, slot,
                                       tree.RHO, tree.DIRECT_MAX, stack, wa, wb, tests)
            assert nw_ >= 0 and nw_ + nt > 0
            runs += nw_
            cover = np.zeros(k.shape[1], np.int64)
            for a, b in zip(wa[:nw_], wb[:nw_]):
                cover[a:b] += 1
            for j in tests[:nt]:
                cover[t.lo[j] : t.hi[j]] += 1
                kinds.add(bool(t.left[j] < 0))
            assert np.all(cover == 1)  # every key in exactly one whole run or test node
    assert runs > 0
    if not laplace:  # (its slow decay leaves no far node in these clouds)
        assert kinds == {True, False}  # leaves and far internal nodes both occur


def test_large_nodes_are_descended_to_their_taylor_moments():
    # at a bandwidth near the data's extent no key can be dropped anywhere; a node of more than DIRECT_MAX
    # keys is still descended (it used to be summed key by key as one run), so that the nodes below it
    # that carry Taylor moments serve the block's queries
    rng = np.random.default_rng(8)
    n = 3 * tree.DIRECT_MAX
    k = rng.uniform(0.0, 2.0, size=(1, n, 2))  # 2 bandwidths wide
    q = k[:, :400].copy()
    v = rng.normal(size=(1, n, 1))
    t = kdtree.build(k[0], tree.LEAF_EXP, tree.CHUNK)
    terms = gauss.multi_indices(2, gauss.taylor_order(1e-10, tree.RHO))[0].shape[0]
    slot = np.full(t.lo.shape[0], -1)
    slot[tree._taylor_nodes(t, terms)] = 1  # the nodes the engine gives moments
    share = tree.DROP * 1e-10 / 9
    cap = 8192
    stack = np.empty(kdtree.STACK, np.int64)
    wa, wb, tests = (np.empty(cap, np.int64) for _ in range(3))
    block = q[0, kdtree.morton_order(q[0])[:32]]
    nw_, nt = explists.exp_lists(block.min(0), block.max(0), 0.0, 0.0, -math.log(share * n), share, False, 1 - 1e-14,
                                 t.lo, t.hi, t.left, t.right, t.bmin, t.bmax, t.centre, t.radius, slot,
                                 np.full_like(slot, -1), tree.RHO, tree.DIRECT_MAX, stack, wa, wb, tests)
    assert nw_ >= 0 and np.any(slot[tests[:nt]] >= 0)
    assert (wb[:nw_] - wa[:nw_]).sum() < n  # not every key in whole runs
    for exclude_self in (False, True):
        got = tree.pool(q, k, v, nw.KERNELS["gaussian"], exclude_self)
        _check(got, _dense(q, k, v, "gaussian", exclude_self), v)


@pytest.mark.parametrize("kernel", EXPONENTIAL)
def test_list_overflow_falls_back_to_per_query_walks(kernel, monkeypatch):
    rng = np.random.default_rng(4)
    q, k = _spread(rng, 5000, 3, m=400)
    v = rng.normal(size=(1, 5000, 1))
    want = _dense(q, k, v, kernel)
    full = tree.pool(q, k, v, nw.KERNELS[kernel])
    monkeypatch.setattr(tree, "EXP_LIST_MAX", 3)
    small = tree.pool(q, k, v, nw.KERNELS[kernel])
    _check(full, want, v)
    _check(small, want, v)


# ---------------------------------------------------------------- inputs and clouds where nodes are dropped


def _clouds(rng, n=5000, d=3):
    q, k = _spread(rng, n, d)
    dup = k.copy()
    dup[0, 1::2] = dup[0, ::2][: n // 2]  # every key twice
    outlier = k.copy()
    outlier[0, 17] = 1e5
    equal = np.full_like(k, 0.5)
    line = np.zeros_like(k)
    line[0, :, 0] = np.linspace(0, 60, n)
    return {"spread": (q, k), "duplicates": (q, dup), "outlier": (q, outlier), "equal": (q, equal),
            "line": (line + rng.normal(scale=0.5, size=line.shape), line)}


@pytest.mark.parametrize("cloud", ["spread", "duplicates", "outlier", "equal", "line"])
@pytest.mark.parametrize("kernel", EXPONENTIAL)
@pytest.mark.parametrize("exclude_self", [False, True])
def test_clouds(cloud, kernel, exclude_self):
    rng = np.random.default_rng(zlib.crc32(f"{cloud} {kernel}".encode()))
    q, k = _clouds(rng)[cloud]
    if exclude_self:
        q = k.copy()
    rows = slice(0, 600)  # the reference on a share of the queries
    v = rng.normal(size=(1, k.shape[1], 1))
    got = tree.pool(q, k, v, nw.KERNELS[kernel], exclude_self)
    _check(got[:, rows], _dense(q[:, rows], k, v, kernel, exclude_self), v)


@pytest.mark.parametrize("d", [2, 3, 4])
@pytest.mark.parametrize("columns", [1, 3])
def test_dimensions_and_value_columns(d, columns, monkeypatch):
    # d = 2, 3 with one column take the fused loop; d = 4 or several columns the key-by-key one
    rng = np.random.default_rng(10 * d + columns)
    q, k = _spread(rng, 4000, d, per_ball=40.0 if d < 4 else 1.0, m=500)  # a domain wide enough to drop in
    v = rng.normal(size=(1, 4000, columns)) + 3.0
    cap = _Capture(monkeypatch)
    got = tree.pool(q, k, v, nw.KERNELS["gaussian"])
    _check(got, _dense(q, k, v, "gaussian"), v)
    assert cap.dropped[0].max() > 0.0  # the walk did drop nodes here


def test_float32_and_per_dimension_bandwidth():
    rng = np.random.default_rng(6)
    scale = np.array([1.0, 20.0, 0.05])
    x = rng.uniform(0, 1, size=(5000, 3)) * scale
    xq = rng.uniform(0, 1, size=(400, 3)) * scale
    y = rng.normal(size=(5000, 2))
    h = 0.06 * scale
    for dtype in (np.float64, np.float32):
        p = prepare(xq.astype(dtype), x.astype(dtype), y.astype(dtype), h.astype(dtype))
        got = tree.pool(p.queries, p.keys, p.values, nw.KERNELS["gaussian"])
        _check(got, _dense(p.queries, p.keys, p.values, "gaussian"), p.values, dtype=dtype)


def test_large_bandwidth_uses_the_series_and_agrees():
    # h comparable to the data's extent: nodes summed from Taylor moments, besides the block lists
    rng = np.random.default_rng(8)
    k = rng.uniform(0, 1.5, size=(1, 6000, 3))
    q = rng.uniform(0, 1.5, size=(1, 500, 3))
    v = rng.normal(size=(1, 6000, 1))
    for tol in (1e-10, 1e-4):
        _check(tree.pool(q, k, v, nw.KERNELS["gaussian"], tol=tol), _dense(q, k, v, "gaussian"), v, tol=tol)


def test_threads_and_blocks_give_the_same_numbers():
    rng = np.random.default_rng(9)
    q, k = _spread(rng, 6000, 3)
    v = rng.normal(size=(1, 6000, 1))
    one = tree.pool(q, k, v, nw.KERNELS["gaussian"], num_threads=1)
    np.testing.assert_array_equal(tree.pool(q, k, v, nw.KERNELS["gaussian"], num_threads=2), one)


# ---------------------------------------------------------------- the bound at its edge


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    kernel=st.sampled_from(EXPONENTIAL),
    d=st.integers(2, 3),
    tol=st.sampled_from([1e-2, 1e-3, 1e-5, 1e-8]),
    exclude_self=st.booleans(),
)
def test_bound_holds_at_its_edge(seed, kernel, d, tol, exclude_self):
    # adversarial values: +1 on the far keys, -1 on the near ones, so the dropped (far) weight pulls every
    # result one way; no per-node cap (DROP = 1), so the budget is all that limits the dropping
    rng = np.random.default_rng(seed)
    q, k = _spread(rng, 3000, d, per_ball=20.0, m=300)
    if exclude_self:
        q = k[:, :300].copy()
    centre = q[0].mean(axis=0)
    far = np.linalg.norm(k[0] - centre, axis=1) > 0.3 * np.linalg.norm(k[0] - centre, axis=1).max()
    v = np.where(far, 1.0, -1.0)[None, :, None]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(tree, "DROP", 1.0)
        cap = _Capture(mp)
        got = tree.pool(q, k, v, nw.KERNELS[kernel], exclude_self, tol=tol)
    _check(got, _dense(q, k, v, kernel, exclude_self), v, tol=tol)
    fill = cap.dropped[0] / (tol / 9)  # dropped weight / (budget x sum of weights), per query
    assert fill.max() <= 1.0 + 1e-9
    if kernel == "gaussian":  # (the Laplace kernel's slow decay leaves nothing to drop in some of these)
        assert fill.max() > 0.01  # the budget is really spent


def test_decisions_fill_the_budget_greedily():
    # the rule the bound rests on, at its edge: what is dropped stays within budget x have, each dropped
    # node within node_share x have, and every node kept although within its share would overflow the budget
    rng = np.random.default_rng(12)
    for _ in range(50):
        nt = int(rng.integers(1, 300))
        bound = np.exp(rng.uniform(-30, 2, nt))
        bound[rng.random(nt) < 0.1] = np.inf  # nodes that can never be dropped
        kind = rng.integers(1, 3, nt).astype(np.int8)
        have, budget, share = rng.uniform(1, 100), 1e-3, rng.choice([1e-3, 1e-5])
        flags = np.full(nt, -1, np.int8)
        start = rng.uniform(0, 0.5) * budget * have
        total = explists.decide(bound, kind, nt, budget, share, have, start, flags)
        dropped = flags == 0
        np.testing.assert_allclose(total, start + bound[dropped].sum(), rtol=1e-12)
        assert total <= budget * have and np.all(bound[dropped] <= share * have)
        assert np.array_equal(flags[~dropped], kind[~dropped])
        running = start
        for e in range(nt - 1, -1, -1):  # farthest (last) first
            if dropped[e]:
                running += bound[e]
            elif bound[e] <= share * have:
                assert running + bound[e] > budget * have
