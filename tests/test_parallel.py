"""Threads of the compiled engines (nadaraya.engines._parallel): chunks claimed once each, no wait on idle helpers."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import threading

import numba
import numpy as np
import pytest

import nadaraya as nw
from nadaraya.engines import _parallel, sorted1d, stream
from nadaraya.engines._parallel import (all_done, claim, fill_claimed, finish, map_chunks, new_claims, run, run_claimed,
                                        thread_count)


@numba.njit(nogil=True)
def _claim_all(n_chunks, owner, me, claims):
    """Claim chunks until none is left, writing ``me`` into each claimed chunk's slot."""
    c = claim(claims)
    while c < n_chunks:
        owner[c] = me
        finish(claims)
        c = claim(claims)
    return all_done(claims, n_chunks)


@numba.njit(nogil=True)
def _squares(x, out, i0, i1):
    """``out[i] = x[i]**2`` on the chunk; returns the chunk's sum and bounds."""
    s = 0.0
    for i in range(i0, i1):
        out[i] = x[i] * x[i]
        s += out[i]
    return s, i0, i1


def test_every_chunk_is_claimed_once_and_the_last_to_leave_knows_it_is_done():
    n_chunks = 20_000
    claims = new_claims()
    owner = np.full(n_chunks, -1, np.int64)
    lasts = []
    barrier = threading.Barrier(4)

    def go(me):
        barrier.wait()
        lasts.append(_claim_all(n_chunks, owner, me, claims))

    workers = [threading.Thread(target=go, args=(i,)) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert np.all(owner >= 0)  # every chunk was worked (a chunk claimed twice would be claimed by one only)
    assert claims[0] >= n_chunks and claims[1] == n_chunks  # claimed: n_chunks plus one failed claim per thread
    assert claims[0] == n_chunks + 4
    assert len(lasts) == 4 and any(lasts)  # at least the thread that finished the last chunk saw all done


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_no_chunks_at_all_returns(threads):
    """Zero chunks: every worker sees all done at once, so the call cannot wait for ever."""
    owner = np.zeros(0, np.int64)
    run_claimed(_claim_all, threads, 0, owner, 0)
    assert map_chunks(_squares, 0, threads, np.zeros(0), np.zeros(0)) == [(0.0, 0, 0)]


@numba.njit(nogil=True)
def _row_index(scale, out, claims):
    """``out[i, :] = scale * i``, one row per chunk."""
    c = claim(claims)
    while c < out.shape[0]:
        out[c, :] = scale * c
        finish(claims)
        c = claim(claims)
    return all_done(claims, out.shape[0])


@pytest.mark.parametrize("threads", [1, 2, 4])
def test_fill_claimed_fills_every_row_and_runs_nothing_without_rows(threads):
    out = fill_claimed(_row_index, (50, 3), threads, 2.0)
    np.testing.assert_array_equal(out, 2.0 * np.arange(50)[:, None] * np.ones((1, 3)))
    calls = []
    empty = fill_claimed(lambda *a: calls.append(a), (0, 4, 2), threads)
    assert empty.shape == (0, 4, 2) and empty.dtype == np.float64 and calls == []


@pytest.mark.parametrize("threads", [1, 2, 3, 16])
def test_map_chunks_covers_the_range_in_order(threads):
    x = np.arange(5000, dtype=np.float64)
    out = np.zeros_like(x)
    res = map_chunks(_squares, x.shape[0], threads, x, out)
    np.testing.assert_array_equal(out, x**2)
    bounds = [(i0, i1) for _, i0, i1 in res]
    assert bounds[0][0] == 0 and bounds[-1][1] == x.shape[0]
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))  # contiguous, in order
    assert len(res) == (1 if threads == 1 else min(x.shape[0], _parallel.CHUNKS_PER_THREAD * threads))
    assert sum(s for s, _, _ in res) == pytest.approx(float(np.sum(x**2)))


def test_map_chunks_below_min_work_is_one_chunk():
    x = np.ones(100)
    assert len(map_chunks(_squares, 100, 4, x, np.zeros(100), min_work=101)) == 1
    assert len(map_chunks(_squares, 100, 4, x, np.zeros(100), min_work=100)) == 32


def test_exceptions_reach_the_caller():
    def worker():
        raise RuntimeError("boom in a worker")

    for threads in (1, 2):
        with pytest.raises(RuntimeError, match="boom in a worker"):
            run(worker, threads)


def test_the_caller_does_not_wait_for_helpers_that_never_start():
    """With every helper thread stuck elsewhere, the caller works all chunks itself and returns."""
    pool = _parallel._pool()
    release = threading.Event()
    stuck = [pool.submit(release.wait) for _ in range(pool._max_workers)]
    try:
        x = np.arange(4000, dtype=np.float64)
        out = np.zeros_like(x)
        res = map_chunks(_squares, x.shape[0], 4, x, out)
        np.testing.assert_array_equal(out, x**2)
        assert len(res) == 32
        rng = np.random.default_rng(3)
        q, k, v = rng.normal(size=(1, 300, 2)), rng.normal(size=(1, 400, 2)), rng.normal(size=(1, 400, 1))
        alone = stream.pool(q, k, v, nw.KERNELS["gaussian"], num_threads=2)
    finally:
        release.set()
    for f in stuck:
        f.result(timeout=60)
    np.testing.assert_array_equal(alone, stream.pool(q, k, v, nw.KERNELS["gaussian"], num_threads=1))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_stream_identical_across_thread_counts(dtype):
    # m = 1000 is not a multiple of the 16-query block; b = 2 batches; LOO and a key offset.
    rng = np.random.default_rng(11)
    x = rng.uniform(0, 5, (2, 1000, 1)).astype(dtype)
    y = rng.normal(size=(2, 1000, 2)).astype(dtype)
    before = numba.get_num_threads()
    for kernel in ("gaussian", "laplace", "epanechnikov"):
        kern = nw.KERNELS[kernel]
        want = stream.partials(x, x, y, kern, exclude_self=True, num_threads=1)
        for threads in (2, 3, 64, None):
            got = stream.partials(x, x, y, kern, exclude_self=True, num_threads=threads)
            for a, b in zip(want, got):
                np.testing.assert_array_equal(a, b, err_msg=f"{kernel} threads={threads}")
        shard = stream.partials(x, x[:, 500:], y[:, 500:], kern, exclude_self=True, key_offset=500, num_threads=2)
        one = stream.partials(x, x[:, 500:], y[:, 500:], kern, exclude_self=True, key_offset=500, num_threads=1)
        for a, b in zip(shard, one):
            np.testing.assert_array_equal(a, b)
    assert numba.get_num_threads() == before


def test_sorted_identical_across_thread_counts():
    rng = np.random.default_rng(12)
    x = np.sort(rng.uniform(0, 5, 6000))[None, :, None]
    y = rng.normal(size=(1, 6000, 1))
    for kernel in ("gaussian", "laplace", "biweight", "cosine"):
        kern = nw.KERNELS[kernel]
        one = sorted1d.pool(x, x, y, kern, exclude_self=True, num_threads=1)
        for threads in (2, 5):
            np.testing.assert_array_equal(one, sorted1d.pool(x, x, y, kern, exclude_self=True, num_threads=threads))


def test_thread_count():
    assert thread_count(1) == 1
    assert thread_count(10_000) == numba.config.NUMBA_NUM_THREADS
    assert thread_count(0) == 1
    assert thread_count(None) == numba.get_num_threads()


def test_pooling_leaves_numba_threading_alone():
    """No engine (stream, sorted, tree) starts Numba's threading layer or changes its settings (a fresh process)."""
    code = (
        "import numpy as np, numba, nadaraya as nw\n"
        "from numba.np.ufunc import parallel\n"
        "x = np.linspace(0, 5, 3000)\n"
        "for method in ('stream', 'sorted'):\n"
        "    nw.attention_pool(x, x, np.sin(x), exclude_self=True, method=method)\n"
        "z = np.random.default_rng(0).uniform(size=(3000, 2))\n"
        "for kernel in ('gaussian', 'epanechnikov'):\n"
        "    nw.attention_pool(z, z, z[:, 0], kernel=kernel, bandwidth=0.1, exclude_self=True, method='tree')\n"
        "assert not parallel._is_initialized, 'the threading layer was started'\n"
        "numba.set_num_threads(1)\n"
        "nw.attention_pool(x, x, np.sin(x), method='stream')\n"
        "assert numba.get_num_threads() == 1\n"
        "assert numba.get_parallel_chunksize() == 0\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"


def _pool_in_child(queue):
    x = np.linspace(0, 5, 2000)
    queue.put(float(nw.attention_pool(x, x, np.sin(x), exclude_self=True, method="stream", num_threads=2).sum()))


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="needs fork")
def test_threads_work_in_a_forked_child():
    x = np.linspace(0, 5, 2000)
    want = float(nw.attention_pool(x, x, np.sin(x), exclude_self=True, method="stream", num_threads=2).sum())
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_pool_in_child, args=(queue,))
    child.start()
    child.join(timeout=300)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked child hung (the parent's helper threads do not exist there)")
    assert child.exitcode == 0
    assert queue.get(timeout=10) == want
