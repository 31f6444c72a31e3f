"""nadaraya.dask on every engine: each shard's engine is the registry's choice for its shape; the boxcar edge.

The cluster tests run on a real LocalCluster (2 worker processes, loopback);
the client is never made the default one and is closed after the module.
Graph-inspection tests use the synchronous scheduler.
"""

import sys
import types

import numpy as np
import pytest

pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

from dask.callbacks import Callback  # noqa: E402
from global_state import preserved_environ  # noqa: E402

import nadaraya as nw  # noqa: E402
from nadaraya import dask as nwd  # noqa: E402
from nadaraya import engines  # noqa: E402
from nadaraya.engines import dense  # noqa: E402
from nadaraya.kernels import KERNELS  # noqa: E402

#: Rows per chunk from which a 1-D shard has 2**23 query-key pairs: "auto" takes the sorted engine there.
BIG = 2_900


#: Two single-threaded worker processes on loopback.
CLUSTER = dict(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
               silence_logs=40)


@pytest.fixture(scope="module")
def client():
    """A LocalCluster's client, never the default one; the nannies' changes to os.environ are undone."""
    with preserved_environ():  # a nanny sets its workers' environment in this process (tests/global_state.py)
        cluster = distributed.LocalCluster(**CLUSTER)
        c = distributed.Client(cluster, set_as_default=False)
    yield c
    with preserved_environ():
        c.close()
        cluster.close()


def _data(n, d=None, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 5, n if d is None else (n, d))
    v = np.sin(x if d is None else x.sum(1)) + rng.normal(0, 0.3, n)
    return x, v


def _shard_engines(out):
    """{(query block, key block): engine name} read from the partials tasks of ``out``'s graph."""
    found = {}
    for key, task in dict(out.__dask_graph__()).items():
        if isinstance(key, tuple) and str(key[0]).startswith("nw-partials-"):
            (name,) = [a for a in task[1:] if isinstance(a, str) and a in engines.NAMES]
            found[key[1:]] = name
    return found


def _auto_choice(kernel, rows, cols, d=1, k=1):
    return engines.choose("auto", KERNELS[kernel], (1, rows, cols, d, k), {"num_threads": None, "tol": 1e-10})


def _close(got, want, values, tol, err_msg=""):
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=err_msg)
    np.testing.assert_allclose(got, want, rtol=0, atol=tol * np.abs(values).max(), equal_nan=True, err_msg=err_msg)


def _record_partials():
    """A dask callback keeping every partials task's result by key (local schedulers only)."""
    seen = {}

    def posttask(key, result, dsk, state, worker_id):
        if isinstance(key, tuple) and str(key[0]).startswith("nw-partials-"):
            seen[key[1:]] = result

    return seen, Callback(posttask=posttask)


# ---------------------------------------------------------------- the sorted engine on the cluster


@pytest.mark.parametrize("exclude_self", [False, True])
def test_large_1d_shards_run_on_the_sorted_engine_and_equal_the_in_memory_result(client, exclude_self):
    n, h = 2 * BIG + 300, 0.05
    x, v = _data(n)
    q = x if exclude_self else np.random.default_rng(1).uniform(-0.5, 5.5, n)
    kernels = ["gaussian", "laplace", "epanechnikov", "boxcar", "tricube"]
    outs = [nwd.attention_pool(q, x, v, kernel=kern, bandwidth=h, exclude_self=exclude_self,
                               query_chunks=BIG + 150, key_chunks=BIG + 150) for kern in kernels]
    for kern, out in zip(kernels, outs):
        assert set(_shard_engines(out).values()) == {"sorted"} == {_auto_choice(kern, BIG + 150, BIG + 150)}, kern
    got = client.compute(outs, sync=True)
    for kern, g in zip(kernels, got):
        memory = nw.attention_pool(q, x, v, kernel=kern, bandwidth=h, exclude_self=exclude_self, on_empty="ignore")
        exact = nw.attention_pool(q, x, v, kernel=kern, bandwidth=h, exclude_self=exclude_self, method="stream",
                                  on_empty="ignore")
        if kern == "gaussian":  # within tol of the exact sum: (tol / 2 + ~1e-14) max|v| (attention_pool's Notes)
            _close(g, exact, v, 1e-10 / 2 + 1e-13, kern)
            _close(g, memory, v, 1e-10, kern)
        else:  # the sorted engine is exact for these: rounding only
            _close(g, exact, v, 1e-12, kern)
            _close(g, memory, v, 1e-12, kern)


def test_log_kernel_sums_take_an_exact_engine_per_shard(client):
    x, _ = _data(2 * BIG)
    for kern in ("gaussian", "epanechnikov"):
        out = nwd.log_kernel_sums(x, x, kernel=kern, bandwidth=0.05, exclude_self=True)
        want = nw.log_kernel_sums(x, x, kernel=kern, bandwidth=0.05, exclude_self=True)
        np.testing.assert_allclose(client.compute(out, sync=True), want, rtol=1e-12, atol=1e-12, err_msg=kern)


# ---------------------------------------------------------------- the graph: one engine per shard, as "auto" chooses


def test_uneven_chunks_give_each_shard_the_engine_auto_takes_for_its_shape():
    x, v = _data(BIG + 2_000)
    q = np.random.default_rng(2).uniform(0, 5, BIG + 50)
    out = nwd.attention_pool(q, x, v, bandwidth=0.05, query_chunks=(BIG, 50), key_chunks=(BIG, 1_900, 100))
    chosen = _shard_engines(out)
    rows, cols = (BIG, 50), (BIG, 1_900, 100)
    assert chosen == {(i, j): _auto_choice("gaussian", r, c) for i, r in enumerate(rows) for j, c in enumerate(cols)}
    assert set(chosen.values()) == {"sorted", "stream", "dense"}  # all three on one problem
    seen, callback = _record_partials()
    with callback:
        got = out.compute(scheduler="sync")
    for shard, p in seen.items():  # the engine that ran left its mark: the sorted engine's state is normalised
        some = np.isfinite(p.max_score)
        if chosen[shard] == "sorted":
            assert np.all(p.denominator[some] == 1.0), shard
        else:  # stream and dense: relative to the largest score, so the nearest key weighs exactly 1
            assert np.all(p.denominator[some] >= 1.0) and np.any(p.denominator[some] > 1.0), shard
            assert np.all(p.max_score[some] <= 0.0), shard
    exact = nw.attention_pool(q, x, v, bandwidth=0.05, method="stream")
    _close(got, exact, v, 1e-10 / 2 + 1e-13)
    _close(got, nw.attention_pool(q, x, v, bandwidth=0.05), v, 1e-10)


def test_method_and_tol_reach_every_shard(client):
    x, v = _data(2 * BIG)
    named = nwd.attention_pool(x, x, v, bandwidth=0.5, method="stream", query_chunks=BIG, key_chunks=BIG)
    assert set(_shard_engines(named).values()) == {"stream"}
    exact = nw.attention_pool(x, x, v, bandwidth=0.5, method="dense")
    _close(client.compute(named, sync=True), exact, v, 1e-12)
    coarse, fine = (nwd.attention_pool(x, x, v, bandwidth=0.5, tol=tol, query_chunks=BIG, key_chunks=BIG)
                    for tol in (1e-3, 1e-10))
    coarse, fine = client.compute([coarse, fine], sync=True)
    _close(coarse, exact, v, 1e-3 / 2)  # within its bound ...
    _close(fine, exact, v, 1e-10 / 2 + 1e-13)
    assert np.abs(coarse - fine).max() > 1e-12 * np.abs(v).max()  # ... and the coarse tol did reach the engine


def test_bad_method_and_tol_are_refused_before_anything_is_computed():
    x, v = _data(100, d=2)
    with pytest.raises(ValueError, match="method='sorted' needs 1-D keys"):
        nwd.attention_pool(x, x, v, method="sorted")
    with pytest.raises(ValueError, match=f"method must be one of auto, {', '.join(engines.NAMES)}; got 'fastest'"):
        nwd.attention_pool(x, x, v, method="fastest")
    with pytest.raises(ValueError, match="method must be one of"):
        nwd.log_kernel_sums(x, x, method="fastest")
    with pytest.raises(ValueError, match="tol must be positive and finite, got -1.0"):
        nwd.attention_pool(x, x, v, tol=-1.0)
    squared = nw.Kernel("gaussian^2", np.inf, _score=lambda t, o: -1.0 * t, _dscore=lambda t, o: o.full_like(t, -1.0))
    with pytest.raises(ValueError, match="nadaraya.dask supports the kernels .* built by the caller, 'gaussian\\^2'"):
        nwd.attention_pool(x, x, v, kernel=squared)


@pytest.mark.parametrize("kernel", ["gaussian", "laplace", "epanechnikov", "boxcar"])
@pytest.mark.parametrize("exclude_self", [False, True])
def test_tree_engine_shards_in_2d_merge_within_its_bound(kernel, exclude_self):
    if "tree" not in engines.NAMES:
        pytest.skip("no tree engine in this registry")
    x, v = _data(2_400, d=2, seed=7)
    q = x if exclude_self else np.random.default_rng(8).uniform(0, 5, (1_500, 2))
    h = [0.2, 0.3]
    out = nwd.attention_pool(q, x, v, kernel=kernel, bandwidth=h, exclude_self=exclude_self, method="tree",
                             query_chunks=700, key_chunks=1_000)
    assert set(_shard_engines(out).values()) == {"tree"}
    got = out.compute(scheduler="sync")
    args = dict(kernel=kernel, bandwidth=h, exclude_self=exclude_self, on_empty="ignore")
    exact = nw.attention_pool(q, x, v, method="dense", **args)
    memory = nw.attention_pool(q, x, v, method="tree", **args)
    bound = 1e-10 / 2 + 1e-13 if kernel in ("gaussian", "laplace") else 1e-12  # compact kernels: exact
    _close(got, exact, v, bound, kernel)
    _close(got, memory, v, 2 * bound, kernel)


# ---------------------------------------------------------------- leave-one-out on engines without key offsets


@pytest.mark.parametrize("method", ["dense", "sorted", "stream", "auto"])
@pytest.mark.parametrize("chunks", [(1, 4), (7, 5), (13, 29), (60, 1), (25, 60)])
def test_exclude_self_is_exact_for_every_alignment_of_query_and_key_blocks(method, chunks):
    x, v = _data(60, seed=4)
    for kern in ("gaussian", "boxcar", "epanechnikov", "constant"):
        out = nwd.attention_pool(x, x, v, kernel=kern, bandwidth=0.2, exclude_self=True, method=method,
                                 query_chunks=chunks[0], key_chunks=chunks[1])
        want = nw.attention_pool(x, x, v, kernel=kern, bandwidth=0.2, exclude_self=True, method="dense",
                                 on_empty="ignore")
        _close(out.compute(scheduler="sync"), want, v, 1e-12, f"{kern}, {method}, chunks {chunks}")


def test_a_query_whose_only_key_in_reach_is_itself_gets_nan_as_in_memory():
    x = np.array([0.0, 10.0, 10.5, 30.0])
    v = np.array([1.0, 2.0, 3.0, 4.0])
    want = nw.attention_pool(x, x, v, kernel="epanechnikov", exclude_self=True, on_empty="ignore")
    assert np.isnan(want).tolist() == [True, False, False, True]
    for chunks in (1, 2, 3):
        got = nwd.attention_pool(x, x, v, kernel="epanechnikov", exclude_self=True, method="sorted",
                                 query_chunks=chunks, key_chunks=chunks).compute(scheduler="sync")
        _close(got, want, v, 1e-15, f"chunks {chunks}")


# ---------------------------------------------------------------- an engine registered later takes part unchanged


def _fake_tree_engine(calls):
    """A d >= 2 engine preferred by "auto" that records its calls and delegates to the dense engine."""
    mod = types.ModuleType("nadaraya.engines._fake_tree")
    mod.NAME, mod.OPTIONS, mod.EXACT, mod.REQUIRES = "tree", ("tol",), False, "d >= 2"
    mod.supports = lambda kernel, d, options=None: d >= 2
    mod.prefer = lambda kernel, shape: True
    mod.pool = dense.pool

    def partials(queries, keys, values, kernel, exclude_self=False, *, tol=1e-10):
        calls.append((queries.shape[1], keys.shape[1], bool(exclude_self), tol))
        return dense.partials(queries, keys, values, kernel, exclude_self)

    mod.partials = partials
    return mod


def test_an_engine_added_to_the_registry_runs_the_shards_it_is_chosen_for(monkeypatch):
    calls = []
    monkeypatch.setitem(sys.modules, "nadaraya.engines._fake_tree", _fake_tree_engine(calls))
    registry = (("dense", "dense"), ("tree", "_fake_tree"), ("sorted", "sorted1d"), ("stream", "stream"))
    monkeypatch.setattr(engines, "ENGINES", registry)
    monkeypatch.setattr(engines, "NAMES", tuple(name for name, _ in registry))
    monkeypatch.setattr(engines, "_MODULES", dict(registry))
    x, v = _data(600, d=2, seed=5)
    out = nwd.attention_pool(x, x, v, bandwidth=0.4, exclude_self=True, tol=1e-8, query_chunks=300, key_chunks=300)
    assert set(_shard_engines(out).values()) == {"tree"}  # 300 x 300 shards: past the dense engine's size
    got = out.compute(scheduler="sync")
    assert calls and all(call[3] == 1e-8 for call in calls)  # tol reached it
    assert any(call[2] for call in calls)  # and leave-one-out squares on the diagonal shards
    small = nwd.attention_pool(x[:100], x, v, bandwidth=0.4, query_chunks=50, key_chunks=300)
    assert set(_shard_engines(small).values()) == {"dense"}  # 50 x 300 = 15,000 pairs: the dense engine
    _close(got, nw.attention_pool(x, x, v, bandwidth=0.4, exclude_self=True, method="dense"), v, 1e-12)


# ---------------------------------------------------------------- the boxcar's support edge (issue 12 item 1)


@pytest.mark.parametrize("method", ["auto", "dense", "stream", "sorted"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_boxcar_counts_the_keys_at_the_support_edge(method, dtype):
    x, y = np.array([4, 7, 10], dtype=dtype), np.array([0, 1, 5], dtype=dtype)
    for chunks in (1, 2, 3):  # keys at the edge in the same shard as the query, or in another
        got = nwd.attention_pool(x, x, y, kernel="boxcar", bandwidth=3.0, method=method, query_chunks=chunks,
                                 key_chunks=chunks).compute(scheduler="sync")
        assert got.dtype == dtype
        np.testing.assert_allclose(got, [0.5, 2.0, 3.0], rtol=1e-12 if dtype == np.float64 else 1e-6,
                                   err_msg=f"chunks {chunks}")


def test_boxcar_edge_far_from_the_origin_equals_the_in_memory_divisor(client):
    rng = np.random.default_rng(6)
    keys = rng.integers(0, 400, 5_000).astype(float) + 1e6  # integer data, integer h: every edge key is inside
    queries = rng.integers(0, 400, 3_000).astype(float) + 1e6
    values = rng.normal(size=5_000)
    out = nwd.attention_pool(queries, keys, values, kernel="boxcar", bandwidth=3.0, query_chunks=700, key_chunks=900)
    got = client.compute(out, sync=True)
    inside = np.abs(queries.astype(np.int64)[:, None] - keys.astype(np.int64)[None, :]) <= 3  # exact integers
    _close(got, inside @ values / inside.sum(1), values, 1e-12)
    _close(got, nw.attention_pool(queries, keys, values, kernel="boxcar", bandwidth=3.0), values, 1e-12)


def test_inputs_outside_the_accepted_range_are_refused_when_computed():
    q = np.array([0.0, 1e300])
    out = nwd.attention_pool(q, q, q, bandwidth=1e-10, query_chunks=1)  # a graph: nothing computed yet
    with pytest.raises(ValueError, match="divided by the bandwidth must stay within"):
        out.compute(scheduler="sync")
    with pytest.raises(ValueError, match="divided by the bandwidth must stay within"):
        nw.attention_pool(q, q, q, bandwidth=1e-10)
