"""The streaming (Numba online-softmax) engine against the dense NumPy reference."""

import warnings
import zlib
from itertools import permutations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nadaraya as nw
from conftest import rtol_for
from engine_contract import assert_agree as _assert_agree
from nadaraya.engines import _jitmath, dense, stream
from nadaraya.kernels import Kernel

ALL = sorted(nw.KERNELS)
COMPACT = [k for k in ALL if nw.KERNELS[k].compact]
UNBOUNDED = [k for k in ALL if not nw.KERNELS[k].compact]


@pytest.fixture
def small_tiles(monkeypatch):
    """Tiles of 8 keys, so that small problems cross many tiles (and rescale between them)."""
    monkeypatch.setattr(stream, "TILE_MIN", 8)
    monkeypatch.setattr(stream, "TILE_MAX", 8)


def _problem(rng, b, m, n, d, k, dtype, spread=4.0, exclude_self=False):
    """(b, m, d) queries, (b, n, d) keys with duplicated rows, (b, n, k) values; already divided by h."""
    keys = rng.uniform(0.0, spread, size=(b, n, d))
    if n >= 6:
        keys[:, 1] = keys[:, 0]  # a duplicated key
        keys[:, 5] = keys[:, 3]
    queries = keys.copy() if exclude_self else rng.uniform(-0.5, spread + 0.5, size=(b, m, d))
    values = rng.normal(size=(b, n, k))
    return tuple(np.ascontiguousarray(a, dtype=dtype) for a in (queries, keys, values))



def _dense(q, k, v, kernel, exclude_self=False):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return dense.pool(q, k, v, nw.KERNELS[kernel], exclude_self)


# ---------------------------------------------------------------- agreement with the reference


# The shared contract (tests/engine_contract.py) checks agreement, extreme bandwidths, ties, single keys,
# empty supports, exclude_self and partials at the default tiles; here: what is particular to tiling.


@pytest.mark.parametrize("kernel", ALL)
@pytest.mark.parametrize("exclude_self", [False, True])
def test_small_tiles_agree_with_dense(kernel, exclude_self, dtype, small_tiles):
    d, b, k = 3, 3, 2
    rng = np.random.default_rng(zlib.crc32(f"{kernel} {d} {exclude_self} {b} {k}".encode()))
    q, keys, v = _problem(rng, b, 29, 29, d, k, dtype, exclude_self=exclude_self)
    got = stream.pool(q, keys, v, nw.KERNELS[kernel], exclude_self)
    _assert_agree(got, _dense(q, keys, v, kernel, exclude_self), v, dtype, f"{kernel} d={d}")






@pytest.mark.parametrize("kernel", ALL)
def test_boundary_of_the_support(kernel, dtype, small_tiles):
    # Keys at exactly u = 1 (t = 1): inside for the boxcar only.
    keys = np.array([[[-1.0], [1.0], [0.0], [3.0]]])
    q = np.array([[[0.0], [2.0]]])
    v = np.array([[[1.0], [2.0], [4.0], [8.0]]])
    q, keys, v = (np.ascontiguousarray(a, dtype=dtype) for a in (q, keys, v))
    got = stream.pool(q, keys, v, nw.KERNELS[kernel])
    want = _dense(q, keys, v, kernel)
    _assert_agree(got, want, v, dtype, kernel)
    if kernel == "boxcar":
        np.testing.assert_allclose(got[0, :, 0], [7 / 3, 5.0], rtol=1e-6)
    elif kernel in COMPACT:
        np.testing.assert_allclose(got[0, :, 0], [4.0, np.nan], rtol=1e-6)


@pytest.mark.parametrize("kernel", ALL)
@pytest.mark.parametrize("d", [1, 3])
def test_queries_far_outside_the_data(kernel, d, dtype, small_tiles):
    rng = np.random.default_rng(5)
    q, keys, v = _problem(rng, 1, 9, 40, d, 2, np.float64)
    q[0, :3] += 1e3  # t ~ 1e6: every exp(score) underflows, the softmax must not
    q[0, 3] -= 50.0
    q, keys, v = (np.ascontiguousarray(a, dtype=dtype) for a in (q, keys, v))
    got = stream.pool(q, keys, v, nw.KERNELS[kernel])
    _assert_agree(got, _dense(q, keys, v, kernel), v, dtype, kernel)
    if kernel in UNBOUNDED:
        assert np.all(np.isfinite(got))
    else:
        assert np.all(np.isnan(got[0, :4]))








def test_default_tile_size_many_tiles(dtype):
    # The real tile sizes, with n spanning several tiles and a ragged last one.
    rng = np.random.default_rng(7)
    for kernel, d, k in [("gaussian", 1, 1), ("gaussian", 5, 2), ("laplace", 2, 1), ("epanechnikov", 2, 1)]:
        q, keys, v = _problem(rng, 1, 40, 2600, d, k, dtype, spread=8.0)
        got = stream.pool(q, keys, v, nw.KERNELS[kernel])
        _assert_agree(got, _dense(q, keys, v, kernel), v, dtype, kernel)
        q, keys, v = _problem(rng, 1, 1500, 1500, d, k, dtype, spread=8.0, exclude_self=True)
        got = stream.pool(q, keys, v, nw.KERNELS[kernel], True)
        _assert_agree(got, _dense(q, keys, v, kernel, True), v, dtype, kernel)


def test_hand_computed_gaussian():
    # scores -1/2, 0, -1/2 for the query 1 over keys 0, 1, 2 (h = 1)
    a = np.exp(-0.5) / (1 + 2 * np.exp(-0.5))
    c = 1 / (1 + 2 * np.exp(-0.5))
    q, keys, v = np.array([[[1.0]]]), np.array([[[0.0], [1.0], [2.0]]]), np.array([[[0.0], [1.0], [4.0]]])
    got = stream.pool(q, keys, v, nw.KERNELS["gaussian"])
    np.testing.assert_allclose(got, [[[c + 4 * a]]], rtol=1e-15)


@settings(max_examples=40)
@given(
    kernel=st.sampled_from(ALL),
    n=st.integers(1, 30),
    m=st.integers(1, 12),
    d=st.integers(1, 6),
    k=st.integers(1, 3),
    tile=st.integers(1, 9),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_shapes_and_tiles(kernel, n, m, d, k, tile, seed):
    rng = np.random.default_rng(seed)
    q, keys, v = _problem(rng, 1, m, n, d, k, np.float64, spread=3.0)
    old = stream.TILE_MIN, stream.TILE_MAX
    stream.TILE_MIN = stream.TILE_MAX = tile
    try:
        got = stream.pool(q, keys, v, nw.KERNELS[kernel])
    finally:
        stream.TILE_MIN, stream.TILE_MAX = old
    _assert_agree(got, _dense(q, keys, v, kernel), v, np.float64, kernel)


# ---------------------------------------------------------------- partials and merge


def _shards(n, cuts):
    bounds = [0, *cuts, n]
    return [(lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])]


def _partials_of(q, keys, v, kernel, exclude_self, shards):
    return [
        stream.partials(q, keys[:, lo:hi], v[:, lo:hi], nw.KERNELS[kernel], exclude_self, key_offset=lo)
        for lo, hi in shards
    ]


@pytest.mark.parametrize("kernel", ALL)
@pytest.mark.parametrize("exclude_self", [False, True])
def test_sharded_partials_merge_to_the_one_shot_result(kernel, exclude_self, dtype, small_tiles):
    rng = np.random.default_rng(8)
    q, keys, v = _problem(rng, 2, 31, 31, 2, 2, dtype, exclude_self=exclude_self)
    want = stream.pool(q, keys, v, nw.KERNELS[kernel], exclude_self)
    _assert_agree(want, _dense(q, keys, v, kernel, exclude_self), v, dtype, kernel)
    one = stream.partials(q, keys, v, nw.KERNELS[kernel], exclude_self)
    _assert_agree(stream.finalize(one), want, v, dtype, kernel)

    two = _partials_of(q, keys, v, kernel, exclude_self, _shards(31, [13]))
    for a, b in permutations(two):
        _assert_agree(stream.finalize(stream.merge(a, b)), want, v, dtype, f"{kernel} 2 shards")

    three = _partials_of(q, keys, v, kernel, exclude_self, _shards(31, [5, 20]))
    for a, b, c in permutations(three):
        left = stream.merge(stream.merge(a, b), c)
        right = stream.merge(a, stream.merge(b, c))
        for merged in (left, right):
            _assert_agree(stream.finalize(merged), want, v, dtype, f"{kernel} 3 shards")
            np.testing.assert_array_equal(np.isneginf(merged.max_score), np.isneginf(one.max_score))
            fin = np.isfinite(one.max_score)
            tol = rtol_for(dtype)
            np.testing.assert_allclose(merged.max_score[fin], one.max_score[fin], rtol=tol, atol=tol)
            assert merged.denominator.dtype == np.dtype(dtype)


def test_sharded_queries_and_keys_with_exclude_self(dtype, small_tiles):
    # Queries [20, 40) against keys [15, 40): query i (global 20 + i) skips key global 20 + i,
    # which is local key (20 + i) - 15; pass key_offset = key_start - query_start.
    rng = np.random.default_rng(9)
    q, keys, v = _problem(rng, 1, 40, 40, 3, 1, dtype, exclude_self=True)
    want = stream.pool(q, keys, v, nw.KERNELS["gaussian"], True)[:, 20:]
    qs = np.ascontiguousarray(q[:, 20:])
    parts = [
        stream.partials(qs, keys[:, lo:hi], v[:, lo:hi], nw.KERNELS["gaussian"], True, key_offset=lo - 20)
        for lo, hi in _shards(40, [15])
    ]
    _assert_agree(stream.finalize(stream.merge(*parts)), want, v, dtype)


@pytest.mark.parametrize("kernel", ALL)
def test_empty_partial_is_the_identity(kernel, dtype):
    rng = np.random.default_rng(10)
    q, keys, v = _problem(rng, 2, 7, 12, 2, 2, dtype)
    full = stream.partials(q, keys, v, nw.KERNELS[kernel])
    empty = stream.partials(q, keys[:, :0], v[:, :0], nw.KERNELS[kernel])
    assert np.all(np.isneginf(empty.max_score))
    assert np.all(empty.denominator == 0) and np.all(empty.weighted_sum == 0)
    assert np.all(np.isnan(stream.finalize(empty)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no invalid-value warnings from -inf - -inf
        for merged in (stream.merge(empty, full), stream.merge(full, empty), stream.merge(empty, empty)):
            assert not np.any(np.isnan(merged.max_score))
        np.testing.assert_array_equal(stream.merge(empty, full).weighted_sum, full.weighted_sum)
        np.testing.assert_array_equal(stream.merge(full, empty).denominator, full.denominator)
        assert np.all(np.isneginf(stream.merge(empty, empty).max_score))


@pytest.mark.parametrize("kernel", COMPACT)
def test_shard_with_no_key_in_the_support(kernel, dtype):
    # The far shard contributes nothing (max_score -inf), the near one everything.
    keys = np.concatenate([np.linspace(0, 1, 10), np.linspace(50, 60, 10)])[None, :, None]
    q = np.array([0.3, 0.7, 20.0])[None, :, None]
    v = np.random.default_rng(11).normal(size=(1, 20, 1))
    q, keys, v = (np.ascontiguousarray(a, dtype=dtype) for a in (q, keys, v))
    near, far = _partials_of(q, keys, v, kernel, False, _shards(20, [10]))
    assert np.all(np.isneginf(far.max_score)) and np.all(far.denominator == 0)
    got = stream.finalize(stream.merge(far, near))
    _assert_agree(got, stream.pool(q, keys, v, nw.KERNELS[kernel]), v, dtype, kernel)
    assert np.isnan(got[0, 2, 0])


def test_partials_scores_are_the_kernels(dtype):
    # max_score is log K at the nearest key, as Kernel.score defines it.
    rng = np.random.default_rng(12)
    q, keys, v = _problem(rng, 1, 6, 15, 1, 1, dtype, spread=1.5)
    t = ((q[0, :, None, 0].astype(float) - keys[0, None, :, 0]) ** 2).min(1)
    for kernel in ALL:
        p = stream.partials(q, keys, v, nw.KERNELS[kernel])
        want = nw.KERNELS[kernel].score(t)
        tol = rtol_for(dtype)
        np.testing.assert_allclose(p.max_score[0], want, rtol=10 * tol, atol=tol, err_msg=kernel)
        assert p.max_score.dtype == np.dtype(dtype)


# ---------------------------------------------------------------- threads, dtypes, inputs


def test_thread_count_does_not_change_the_numbers(dtype):
    rng = np.random.default_rng(13)
    q, keys, v = _problem(rng, 2, 100, 700, 3, 2, dtype)
    before = numba.get_num_threads()
    for kernel in ("gaussian", "biweight"):
        one = stream.pool(q, keys, v, nw.KERNELS[kernel], num_threads=1)
        assert numba.get_num_threads() == before
        two = stream.pool(q, keys, v, nw.KERNELS[kernel], num_threads=2)
        assert numba.get_num_threads() == before
        np.testing.assert_array_equal(one, two)
    many = stream.pool(q, keys, v, nw.KERNELS["gaussian"], num_threads=10_000)  # capped at NUMBA_NUM_THREADS
    np.testing.assert_array_equal(many, stream.pool(q, keys, v, nw.KERNELS["gaussian"], num_threads=1))
    assert numba.get_num_threads() == before




def test_unknown_kernel_is_refused():
    custom = Kernel("custom", np.inf, _score=lambda t: -t, _dscore=lambda t: -np.ones_like(t))
    z = np.zeros((1, 2, 1))
    with pytest.raises(ValueError, match="stream engine supports.*custom"):
        stream.pool(z, z, z, custom)


@pytest.mark.parametrize("fn, dtype, limit", [("exp64", np.float64, -708.0), ("exp32", np.float32, -87.0)])
def test_vectorised_exp(fn, dtype, limit):
    exp = getattr(_jitmath, fn)

    @numba.njit
    def apply(x, out):
        for j in range(x.shape[0]):
            out[j] = exp(x[j])

    rng = np.random.default_rng(15)
    edges = [0.0, -0.0, 1e-17, limit, limit - 1, -np.inf, np.nan]
    x = np.concatenate([rng.uniform(limit, 0, 5000), rng.uniform(-1, 0, 1000), edges])
    x = x.astype(dtype)
    out = np.empty_like(x)
    apply(x, out)
    want = np.exp(x.astype(np.float64))
    ok = x >= limit
    ulp = np.finfo(dtype).eps
    np.testing.assert_allclose(out[ok], want[ok], rtol=4 * ulp)
    assert np.all(out[~ok] == 0)  # below the limit, -inf and NaN: weight 0


# ---------------------------------------------------------------- through the public API


@pytest.mark.parametrize("kernel", ALL)
def test_attention_pool_stream_equals_dense(kernel, dtype):
    rng = np.random.default_rng(16)
    x = rng.uniform(0, 5, 60).astype(dtype)
    y = np.stack([np.sin(x), np.cos(x)], axis=1).astype(dtype)
    q = np.linspace(-1, 6, 25).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nw.EmptySupportWarning)
        for kwargs in (
            dict(bandwidth=0.7),
            dict(bandwidth=0.7, exclude_self=True),
            dict(bandwidth=1e-6),
            dict(bandwidth=1e6),
        ):
            qq = x if kwargs.get("exclude_self") else q
            got = nw.attention_pool(qq, x, y, kernel=kernel, method="stream", **kwargs)
            want = nw.attention_pool(qq, x, y, kernel=kernel, method="dense", **kwargs)
            _assert_agree(got, want, y, dtype, f"{kernel} {kwargs}")
    batched_q = rng.uniform(0, 5, size=(3, 8, 2)).astype(dtype)
    batched_k = rng.uniform(0, 5, size=(3, 20, 2)).astype(dtype)
    batched_v = rng.normal(size=(3, 20)).astype(dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nw.EmptySupportWarning)
        args = (batched_q, batched_k, batched_v)
        got = nw.attention_pool(*args, kernel=kernel, bandwidth=[1.5, 2.0], method="stream", num_threads=1)
        want = nw.attention_pool(*args, kernel=kernel, bandwidth=[1.5, 2.0], method="dense")
    assert got.shape == (3, 8)
    _assert_agree(got, want, batched_v, dtype, kernel)


def test_attention_pool_stream_warns_on_empty_support():
    with pytest.warns(nw.EmptySupportWarning, match="1 of 2 queries"):
        out = nw.attention_pool([0.0, 10.0], [0.0, 0.5], [1.0, 3.0], kernel="epanechnikov", method="stream")
    assert np.isfinite(out[0]) and np.isnan(out[1])


def test_compiled_kernel_loops_release_the_gil_and_are_cached_on_disk():
    """Each kernel's loop is compiled once, without the GIL (threads run it side by side), and a fresh process loads it from Numba's cache."""
    code = (
        "import numpy as np, nadaraya as nw; from nadaraya.engines import stream; "
        "z = np.zeros((1, 40, 2)); stream.pool(z, z, z[..., :1], nw.KERNELS['biweight']); "
        "f = stream._compiled('biweight', nw.KERNELS['biweight'].scalar); "
        "assert f.targetoptions['nogil'] and not f.targetoptions.get('parallel'); "
        "print(sum(f.stats.cache_hits.values()), sum(f.stats.cache_misses.values()))"
    )
    import subprocess
    import sys

    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)  # fills the cache if empty
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    assert out == ["1", "0"], f"cache hits, misses: {out}"
