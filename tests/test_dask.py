"""nadaraya.dask on a real LocalCluster: equality with the in-memory engine, lost workers, task sizes, estimator.

The command line's --scheduler: tests/test_cli_dask.py.
"""

import math
import os
import signal
import time
import warnings

import numpy as np
import pytest

pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")

import dask.array as da  # noqa: E402
from dask.callbacks import Callback  # noqa: E402

import nadaraya as nw  # noqa: E402
from nadaraya import dask as nwd  # noqa: E402
from nadaraya.engines import stream  # noqa: E402
from global_state import preserved_environ  # noqa: E402

KERNELS = ["gaussian", "laplace", "epanechnikov", "tricube", "boxcar", "constant"]
LAYOUTS = {"queries": (137, None), "queries x keys": (137, 211)}


@pytest.fixture(scope="module")
def client():
    """Two single-threaded worker processes on loopback, restarted by their nannies if they die.

    Not the default client: tests pass it explicitly (``client.compute``) or use the ``on_cluster`` fixture.
    """
    with preserved_environ():  # the nannies set their workers' environment in this process
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                           dashboard_address=None, silence_logs=40)
        c = distributed.Client(cluster, set_as_default=False)
    try:
        yield c
    finally:
        with preserved_environ():
            c.close()
            cluster.close()


@pytest.fixture()
def on_cluster(client):
    """The module's client as dask's current one for one test (``dask.compute`` inside the library runs there)."""
    with client.as_current():
        yield client


def _problem(rng, m, n, d, k):
    shape = lambda rows: (rows,) if d is None else (rows, d)  # noqa: E731
    q = rng.uniform(0, 5, shape(m))
    keys = rng.uniform(0, 5, shape(n))
    v = rng.normal(size=(n,) if k is None else (n, k))
    return q, keys, v


def _reference(q, keys, v, kernel, bandwidth, exclude_self=False):
    return nw.attention_pool(q, keys, v, kernel=kernel, bandwidth=bandwidth, exclude_self=exclude_self,
                             method="stream", on_empty="ignore")


def _assert_agree(got, want, values, rtol=1e-12, err_msg=""):
    """Equal within rtol relative to max|values| (the engines' convention), NaN in the same places."""
    assert got.shape == want.shape and got.dtype == want.dtype, err_msg
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"NaN pattern differs {err_msg}")
    np.testing.assert_allclose(got, want, rtol=0, atol=rtol * float(np.abs(values).max()), equal_nan=True,
                               err_msg=err_msg)


# ---------------------------------------------------------------- equality with the in-memory engine


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("exclude_self", [False, True])
@pytest.mark.parametrize("d, k", [(None, None), (3, 2)], ids=["1-D", "d=3,k=2"])
def test_every_kernel_equals_the_in_memory_result(client, layout, exclude_self, d, k):
    rng = np.random.default_rng(1)
    m, n = (700, 700) if exclude_self else (600, 750)
    q, keys, v = _problem(rng, m, n, d, k)
    query_chunks, key_chunks = LAYOUTS[layout]
    h = 0.4 if d is None else 1.2
    outs = [nwd.attention_pool(q, keys, v, kernel=kern, bandwidth=h, exclude_self=exclude_self,
                               query_chunks=query_chunks, key_chunks=key_chunks) for kern in KERNELS]
    assert outs[0].numblocks[0] == math.ceil(m / query_chunks)
    got = client.compute(outs, sync=True)  # a batch of kernels, one graph
    for kern, g in zip(KERNELS, got):
        _assert_agree(g, _reference(q, keys, v, kern, h, exclude_self), v, err_msg=f"kernel {kern}")


def test_per_dimension_bandwidth_and_uneven_dask_chunks(client):
    rng = np.random.default_rng(2)
    q, keys, v = _problem(rng, 500, 640, 2, 1)
    qd = da.from_array(q, chunks=((100, 250, 150), 1))  # uneven rows; columns split, joined by attention_pool
    kd = da.from_array(keys, chunks=((300, 40, 300), 2))
    vd = da.from_array(v, chunks=((64,) * 10, 1))  # other chunks than the keys: aligned to them
    out = nwd.attention_pool(qd, kd, vd, bandwidth=[0.3, 0.7])
    assert out.chunks == ((100, 250, 150), (1,))  # dask input keeps its chunks
    _assert_agree(client.compute(out, sync=True), _reference(q, keys, v, "gaussian", [0.3, 0.7]), v)
    rechunked = nwd.attention_pool(qd, kd, vd, bandwidth=[0.3, 0.7], query_chunks=250, key_chunks=320)
    assert rechunked.chunks[0] == (250, 250)


def test_float32_stays_float32(client):
    rng = np.random.default_rng(3)
    q, keys, v = (a.astype(np.float32) for a in _problem(rng, 300, 400, None, None))
    out = nwd.attention_pool(q, keys, v, bandwidth=0.3, query_chunks=100, key_chunks=150)
    assert out.dtype == np.float32
    got = client.compute(out, sync=True)
    _assert_agree(got, _reference(q, keys, v, "gaussian", 0.3), v, rtol=2e-5)


def test_extreme_bandwidths(client):
    rng = np.random.default_rng(4)
    q, keys, v = _problem(rng, 200, 300, None, None)
    for h in (1e-6, 1e6):
        out = nwd.attention_pool(q, keys, v, bandwidth=h, query_chunks=64, key_chunks=50)
        _assert_agree(client.compute(out, sync=True), _reference(q, keys, v, "gaussian", h), v)


# ---------------------------------------------------------------- checks: at once, and inside the tasks


def _explode(block):
    raise RuntimeError("computed")


def test_validation_does_not_compute():
    x = da.from_array(np.linspace(0, 1, 50), chunks=10).map_blocks(_explode, dtype=float)
    y = da.zeros(50, chunks=10)
    with pytest.raises(ValueError, match="bandwidth must be positive and finite, got -0.5"):
        nwd.attention_pool(x, x, y, bandwidth=-0.5)
    with pytest.raises(ValueError, match="kernel must be one of"):
        nwd.attention_pool(x, x, y, kernel="gauss")
    with pytest.raises(ValueError, match="keys and values must have the same length n; got 50 keys and 49 values"):
        nwd.attention_pool(x, x, y[:49])
    with pytest.raises(ValueError, match="same number of features d"):
        nwd.attention_pool(x, da.zeros((50, 2), chunks=10), y)
    with pytest.raises(ValueError, match="exclude_self=True needs one query per key"):
        nwd.attention_pool(x[:10], x, y, exclude_self=True)
    with pytest.raises(ValueError, match="queries must have shape"):
        nwd.attention_pool(da.zeros((2, 3, 4)), x, y)
    with pytest.raises(TypeError, match="real numbers"):
        nwd.attention_pool(np.array(["a", "b"]), x, y)
    with pytest.raises(TypeError, match="query_chunks must be"):
        nwd.attention_pool(x, x, y, query_chunks=2.5)
    with pytest.raises(ValueError, match="on_empty must be"):
        nwd.attention_pool(x, x, y, on_empty="warn")
    lazy = nwd.attention_pool(x, x, y)  # valid metadata: a graph, nothing computed yet
    with pytest.raises(RuntimeError, match="computed"):
        lazy.compute(scheduler="sync")


def test_nan_is_reported_by_the_task_with_its_index_in_the_whole_array():
    q = np.linspace(0, 5, 100)
    keys, v = q.copy(), np.sin(q)
    bad_q, bad_k, bad_v = q.copy(), np.c_[keys, keys], v.copy()
    bad_q[57] = np.nan
    bad_k[83, 1] = np.inf
    bad_v[61] = np.nan
    with pytest.raises(ValueError, match=r"queries contains NaN or infinite values \(first at index 57\)"):
        nwd.attention_pool(bad_q, keys, v, query_chunks=20).compute(scheduler="sync")
    with pytest.raises(ValueError, match=r"keys contains NaN or infinite values \(first at index \(83, 1\)\)"):
        nwd.attention_pool(np.c_[q, q], bad_k, v, key_chunks=30).compute(scheduler="sync")
    with pytest.raises(ValueError, match=r"values contains NaN or infinite values \(first at index 61\)"):
        nwd.attention_pool(q, keys, bad_v, key_chunks=30).compute(scheduler="sync")
    # the same words as the in-memory checks
    with pytest.raises(ValueError, match=r"queries contains NaN or infinite values \(first at index 57\)"):
        nw.attention_pool(bad_q, keys, v)


def test_empty_support_is_nan_or_raises():
    q = np.array([0.0, 10.0, 20.0])
    keys = np.array([0.0, 0.5, 1.0])
    out = nwd.attention_pool(q, keys, keys, kernel="epanechnikov", bandwidth=1.0, query_chunks=1)
    assert np.isnan(out.compute(scheduler="sync")[1:]).all()
    with pytest.raises(ValueError, match=r"1 of the 1 queries in rows \[(1, 2|2, 3)\) have no key inside the support"):
        nwd.attention_pool(q, keys, keys, kernel="epanechnikov", query_chunks=1, on_empty="raise").compute(
            scheduler="sync")


# ---------------------------------------------------------------- the task graph: no task holds more than its chunks


def test_every_task_holds_one_block_of_each_input_and_the_merge_is_a_binary_tree():
    rng = np.random.default_rng(5)
    m, n, d, k, qc, kc = 500, 1000, 2, 3, 120, 130
    q, keys, v = _problem(rng, m, n, d, k)
    qd, kd, vd = da.from_array(q, chunks=(qc, d)), da.from_array(keys, chunks=(kc, d)), da.from_array(v, chunks=(kc, k))
    out = nwd.attention_pool(qd, kd, vd, exclude_self=False)
    graph = out.__dask_graph__()
    deps = graph.get_all_dependencies()
    layer_of = lambda key: key[0] if isinstance(key, tuple) else key  # noqa: E731
    role = {qd.name: "q", kd.name: "k", vd.name: "v"}
    nq, nk = qd.numblocks[0], kd.numblocks[0]
    partials = [key for key in deps if layer_of(key).startswith("nw-partials-")]
    merges = [key for key in deps if layer_of(key).startswith("nw-merge-")]
    finals = [key for key in deps if layer_of(key) == out.name]
    assert len(partials) == nq * nk and len(merges) == nq * (nk - 1) and len(finals) == nq
    extents = [key for key in deps if layer_of(key).startswith("nw-extent-")]
    (divisor,) = [key for key in deps if layer_of(key).startswith("nw-divisor-")]
    assert len(extents) == nq + nk and deps[divisor] == set(extents)  # one max |x| per query and key block
    for key in extents:
        (dep,) = deps[key]
        assert role[layer_of(dep)] == "qk"[key[1]] and dep[1] == key[2], key
    for key in partials:
        _, i, j = key
        got = sorted((role[layer_of(dep)], dep[1]) for dep in deps[key] if dep != divisor)
        assert got == [("k", j), ("q", i), ("v", j)], key  # one query block, one key block, one value block
        assert divisor in deps[key]  # and the (d,) bandwidth divisor
    for key in merges:
        assert len(deps[key]) == 2, key
        assert all(layer_of(dep).startswith(("nw-partials-", "nw-merge-")) and dep[1] == key[1] for dep in deps[key])
    assert max(key[2] for key in merges) == math.ceil(math.log2(nk))  # reduction depth
    for key in finals:
        assert len(deps[key]) == 1
    # the blocks themselves are bounded by the chunk sizes
    assert max(qd.chunks[0]) <= qc and max(kd.chunks[0]) <= kc and vd.chunks[0] == kd.chunks[0]

    # and so is what every task returns (computed here with the synchronous scheduler, watching each result)
    sizes = {}

    def record(key, result, dsk, state, worker_id):
        if isinstance(result, stream.Partials):
            sizes[key] = (sum(a.nbytes for a in result), result.denominator.shape)
        elif isinstance(result, np.ndarray):
            sizes[key] = (result.nbytes, result.shape)

    with Callback(posttask=record):
        got = out.compute(scheduler="sync", optimize_graph=False)
    state_bytes = (2 + k) * qc * 8  # max score, denominator, k weighted sums per query of a block
    for key in partials + merges:
        nbytes, shape = sizes[key]
        assert nbytes <= state_bytes and shape[1] <= qc, key
    for key in finals:
        assert sizes[key][0] <= qc * k * 8
    for key in extents + [divisor]:
        assert sizes[key][0] <= d * 8
    for key, (nbytes, shape) in sizes.items():
        if layer_of(key) in role:
            assert shape[0] <= max(qc, kc) and nbytes <= max(qc, kc) * max(d, k) * 8
    _assert_agree(got, _reference(q, keys, v, "gaussian", 1.0), v)


# ---------------------------------------------------------------- a worker dies mid-computation


def test_a_worker_killed_mid_computation_does_not_change_the_answer(client):
    rng = np.random.default_rng(6)
    q, keys, v = _problem(rng, 12_000, 100_000, 3, 1)
    out = nwd.attention_pool(q, keys, v, bandwidth=0.5, method="stream", query_chunks=3_000, key_chunks=50_000,
                             num_threads=1)  # the exact O(m n) engine: tasks long enough to be killed mid-way
    pids = client.run(os.getpid)  # worker address -> process id (processes this module's cluster started)
    future = client.compute(out)
    victim, deadline = None, time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:
        busy = {w: ks for w, ks in client.processing().items() if any("nw-partials-" in str(k) for k in ks)}
        victim = next(iter(busy), None)
        time.sleep(0.02)
    assert victim is not None, "no partials task started"
    with preserved_environ():  # the nanny sets the new worker's environment in this process
        os.kill(pids[victim], signal.SIGKILL)  # the worker process dies mid-task; its nanny starts a new one
        got = future.result(timeout=120)
        client.wait_for_workers(2, timeout=60)
    assert victim not in client.scheduler_info()["workers"]  # the killed worker was replaced
    _assert_agree(got, _reference(q, keys, v, "gaussian", 0.5), v)


# ---------------------------------------------------------------- the estimator and the bandwidth search


@pytest.fixture(scope="module")
def chapter():
    pytest.importorskip("sklearn")
    return nw.make_dataset(n_train=400, seed=1)


def test_estimator_predict_with_dask_queries(client, chapter):
    model = nw.NadarayaWatsonRegressor(bandwidth=0.2).fit(chapter.x_train[:, None], chapter.y_train)
    X = np.linspace(-0.5, 5.5, 333)[:, None]
    Xd = da.from_array(X, chunks=(50, 1))
    pred = model.predict(Xd)
    assert isinstance(pred, da.Array) and pred.chunks[0] == Xd.chunks[0]
    pred_d, (p2, std_d) = client.compute([pred, model.predict(Xd, return_std=True)], sync=True)
    want, want_std = model.predict(X, return_std=True)
    np.testing.assert_allclose(pred_d, want, rtol=1e-12)
    np.testing.assert_allclose(p2, want, rtol=1e-12)
    np.testing.assert_allclose(std_d, want_std, rtol=1e-12)
    with pytest.raises(ValueError, match="X has 2 features, but NadarayaWatsonRegressor is expecting 1"):
        model.predict(da.zeros((10, 2), chunks=5))
    with pytest.raises(ValueError, match=r"reshape with X.reshape\(-1, 1\)"):
        model.predict(da.zeros(10, chunks=5))


def test_estimator_multi_output_predict(client):
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(7)
    X = rng.uniform(0, 3, (300, 2))
    Y = np.c_[np.sin(X[:, 0]), np.cos(X[:, 1])] + rng.normal(0, 0.1, (300, 2))
    model = nw.NadarayaWatsonRegressor(bandwidth=[0.3, 0.4]).fit(X, Y)
    Q = rng.uniform(0, 3, (120, 2))
    pred, std = client.compute(model.predict(da.from_array(Q, chunks=(25, 1)), return_std=True), sync=True)
    want, want_std = model.predict(Q, return_std=True)
    np.testing.assert_allclose(pred, want, rtol=1e-12)
    np.testing.assert_allclose(std, want_std, rtol=1e-12)


def test_leave_one_out_fit_on_the_cluster_equals_the_in_memory_fit(on_cluster, chapter):
    X, y = chapter.x_train[:, None], chapter.y_train
    want = nw.NadarayaWatsonRegressor(method="stream").fit(X, y)
    steps = []
    got = nw.NadarayaWatsonRegressor().fit(da.from_array(X, chunks=(150, 1)), da.from_array(y, chunks=150),
                                           progress=lambda *a: steps.append(a))
    assert len(steps) == 24  # the grid of the search reports its progress
    # every objective agrees to ~1e-15; Brent's iterates, hence the bandwidth, to far below its xatol
    np.testing.assert_allclose(got.bandwidth_, want.bandwidth_, rtol=1e-9)
    np.testing.assert_allclose(got.h_, want.h_, rtol=1e-9)
    np.testing.assert_allclose(got.loo_mse_, want.loo_mse_, rtol=1e-9)
    np.testing.assert_allclose(got.edf_, want.edf_, rtol=1e-9)
    np.testing.assert_allclose(got.residuals_, want.residuals_, rtol=0, atol=1e-9)
    np.testing.assert_allclose(got.residual_variance_, want.residual_variance_, rtol=1e-9)
    np.testing.assert_array_equal(got.X_, want.X_)
    Q = chapter.x_test[:, None]
    np.testing.assert_allclose(got.predict(Q), want.predict(Q), rtol=1e-8)
    np.testing.assert_allclose(got.predict(Q, return_std=True)[1], want.predict(Q, return_std=True)[1], rtol=1e-8)
    assert got.n_features_in_ == 1 and got._y_1d


@pytest.mark.parametrize("kernel", ["gaussian", "triangular", "tricube"])  # squares: Gaussian at h / sqrt 2; SQUARES
def test_fit_on_dask_arrays_has_the_in_memory_residual_variance(kernel):
    pytest.importorskip("sklearn")
    rng = np.random.default_rng(11)
    X = rng.uniform(0, 5, (120, 1))
    Y = np.c_[np.sin(X[:, 0]), np.cos(X[:, 0])] + rng.normal(0, 0.2, (120, 2))
    for y in (Y, Y[:, 0]):
        want = nw.NadarayaWatsonRegressor(kernel=kernel, bandwidth=0.6, variance="global").fit(X, y)
        got = nw.NadarayaWatsonRegressor(kernel=kernel, bandwidth=0.6, variance="global").fit(
            da.from_array(X, chunks=(50, 1)), da.from_array(y, chunks=50))
        assert np.shape(got.residual_variance_) == np.shape(want.residual_variance_)
        np.testing.assert_allclose(got.residual_variance_, want.residual_variance_, rtol=1e-9)
        Q = np.linspace(0, 5, 9)[:, None]  # variance="global": the standard errors use it
        np.testing.assert_allclose(got.predict(Q, return_std=True)[1], want.predict(Q, return_std=True)[1], rtol=1e-8)


def test_select_bandwidth_with_dask_arrays(on_cluster):
    rng = np.random.default_rng(8)
    x = np.c_[rng.standard_cauchy(300), rng.uniform(0, 5, 300)]  # Cauchy: the IQR, not the sd, sets the spread
    y = np.sin(x[:, 1]) + rng.normal(0, 0.3, 300)
    xd, yd = da.from_array(x, chunks=(160, 2)), da.from_array(y, chunks=160)
    want = nw.select_bandwidth(x, y, per_feature=False, engine="stream")
    got = nw.select_bandwidth(xd, yd, per_feature=False)
    np.testing.assert_allclose(got, want, rtol=1e-9)
    np.testing.assert_array_equal(nwd._spread(xd)[0], nw.bandwidth._spread(x)[0])  # exact order statistics
    for rule in ("scott", "silverman"):
        np.testing.assert_allclose(nw.select_bandwidth(xd, yd, method=rule), nw.select_bandwidth(x, y, method=rule),
                                   rtol=1e-12)
    with pytest.raises(ValueError, match="per-feature leave-one-out search is not available for dask arrays"):
        nw.select_bandwidth(xd, yd, per_feature=True)


def test_rules_share_the_in_memory_formulas_and_refuse_an_overflowing_spread():
    x = np.c_[np.arange(6.0), [1e308, -1e308, 0.0, 1.0, 2.0, 3.0]]
    xd, yd = da.from_array(x, chunks=(3, 2)), da.from_array(x[:, 0], chunks=3)
    for rule in ("scott", "silverman"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # dask's own overflow warning in the sd
            with pytest.raises(ValueError, match="X column 1 has values too large for automatic bandwidth selection"):
                nw.select_bandwidth(xd, yd, method=rule)
        np.testing.assert_array_equal(nw.select_bandwidth(xd[:, :1], yd, method=rule),
                                      nw.select_bandwidth(x[:, :1], x[:, 0], method=rule))


@pytest.mark.parametrize("n", [2, 3, 4, 5, 8, 101, 1000])
def test_exact_percentiles_from_order_statistics(n):
    rng = np.random.default_rng(n)
    x = np.c_[rng.normal(size=n), np.round(rng.normal(size=n)), -np.abs(rng.standard_cauchy(n))]
    xd = da.from_array(x, chunks=(max(1, n // 3), 3))
    mn, mx = x.min(axis=0), x.max(axis=0)
    ranks = sorted({0, n // 4, n // 2, (3 * n) // 4, n - 1})
    targets = [(c, r) for c in range(3) for r in ranks]
    stats = nwd._order_statistics(xd, targets, mn, mx)
    np.testing.assert_array_equal(np.array(stats).reshape(3, -1), np.sort(x, axis=0)[ranks].T)
    for q in (25, 75):
        got = [nwd._percentile_linear(lambda r, c=c: np.sort(x[:, c])[r], n, q) for c in range(3)]
        np.testing.assert_array_equal(got, np.percentile(x, q, axis=0))


def test_estimator_refuses_what_the_dask_path_cannot_do():
    pytest.importorskip("sklearn")
    X, y = da.zeros((20, 1), chunks=5), da.zeros(20, chunks=5)
    with pytest.raises(ValueError, match="order=0 only"):
        nw.NadarayaWatsonRegressor(order=1).fit(X, y)
    with pytest.raises(ValueError, match="sample_weight is not supported with dask arrays"):
        nw.NadarayaWatsonRegressor().fit(X, y, sample_weight=np.ones(20))


def test_missing_dask_names_the_extra(monkeypatch):
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "dask", None)  # as if dask were not installed
    monkeypatch.delitem(sys.modules, "nadaraya.dask")
    with pytest.raises(ImportError, match=r"pip install 'nadaraya\[dask\]'"):
        importlib.import_module("nadaraya.dask")
