"""Threads that survive a busy machine: many small chunks, claimed as they go, by whoever is running.

Numba's ``prange`` hands each thread a fixed share of the loop (the OpenMP
layer, the one installed here, schedules ``#pragma omp for`` statically; the
workqueue layer does too) and then waits at a barrier for every thread. When
another process holds a core, the thread that shares it runs in time slices
of several milliseconds, and the whole call waits for its share: measured on
two cores with one busy, 200 leave-one-out passes at n = 1000 took ~10x
longer on two threads than on one. ``numba.set_parallel_chunksize`` does not
help there: it makes more chunks, but OpenMP still deals them out statically.

This module schedules the work itself instead:

* The work is cut into many chunks (a block of queries, say), numbered
  ``0 .. n_chunks - 1``. Each participating thread runs one *worker*: a loop
  that claims the next chunk (an atomic counter, :func:`claim`), works it,
  and marks it done (:func:`finish`), until none is left.
* The calling thread is a participant itself, and ``threads - 1`` helpers
  are asked to join from a small pool of Python threads kept for the
  process. A helper that starts late finds no chunk left and returns at
  once; the caller never waits for it. The caller waits only for chunks
  that were claimed and are not finished yet, so a descheduled thread delays
  no more than the chunk it holds.
* Each chunk is computed by exactly the same code whoever claims it, so the
  results do not depend on the thread count or the schedule (bit for bit).

A compiled engine loop uses it in two ways:

1. **Claiming in compiled code** (the stream engine): the ``nogil`` jitted
   loop takes ``claims`` (from :func:`new_claims`) and runs::

       c = claim(claims)
       while c < n_chunks:
           ...                        # work chunk c
           finish(claims)
           c = claim(claims)
       return all_done(claims, n_chunks)   # True once every chunk is finished

   and the Python side calls ``run_claimed(loop, threads, ...)``. Claiming
   costs a few atomic instructions, so a chunk can be small (the stream
   engine's is 16 queries). Per-thread scratch is allocated per chunk (or
   per call of the loop), and results go to arrays passed in, since every
   participant returns only whether all chunks were done when it left.
2. **Claiming in Python** (:func:`map_chunks`, the sorted engine's paths):
   ``fn(*args, i0, i1)`` is a ``nogil`` jitted function over a range of
   items; the range is cut into ``chunks_per_thread * threads`` chunks,
   claimed one Python call at a time (some microseconds each, so chunks
   should hold tens of microseconds of work).

Nothing here changes Numba's settings (thread count, chunk size or threading
layer); ``threads`` counts are the caller's (:func:`thread_count` reads a
``num_threads`` option).
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.np.ufunc import parallel as _numba_parallel
from numba.extending import intrinsic

__all__ = ["CHUNKS_PER_THREAD", "claim", "finish", "all_done", "new_claims", "run", "run_claimed", "fill_claimed", "map_chunks",
           "thread_count"]

#: Chunks per participating thread for :func:`map_chunks` (more chunks: finer balance, more calls).
CHUNKS_PER_THREAD = 8


@intrinsic
def _fetch_add(typingctx, arr, index, value):
    """Atomically ``old = arr[index]; arr[index] += value``; returns ``old`` (int64 C array)."""
    if not (isinstance(arr, types.Array) and arr.dtype == types.int64):
        return None

    def codegen(context, builder, signature, args):
        ary = context.make_array(signature.args[0])(context, builder, args[0])
        idx = context.cast(builder, args[1], signature.args[1], types.intp)
        val = context.cast(builder, args[2], signature.args[2], types.int64)
        ptr = cgutils.get_item_pointer(context, builder, signature.args[0], ary, [idx])
        return builder.atomic_rmw("add", ptr, val, "seq_cst")

    return types.int64(arr, index, value), codegen


@njit(nogil=True, cache=True)
def claim(claims):
    """The next unclaimed chunk's number (at least ``n_chunks`` once all are claimed)."""
    return _fetch_add(claims, 0, 1)


@njit(nogil=True, cache=True)
def finish(claims):
    """Mark one claimed chunk done."""
    _fetch_add(claims, 1, 1)


@njit(nogil=True, cache=True)
def all_done(claims, n_chunks):
    """Whether all ``n_chunks`` chunks are finished (an atomic read).

    A worker returns this after its last claim failed: the one that finishes
    the last chunk sees True, and so does every worker when there are no
    chunks at all.
    """
    return _fetch_add(claims, 1, 0) >= n_chunks


def new_claims() -> np.ndarray:
    """A fresh counter pair (next chunk to claim, chunks done) for one parallel call."""
    return np.zeros(2, np.int64)


def thread_count(num_threads) -> int:
    """Threads for one call: ``num_threads`` (at most ``NUMBA_NUM_THREADS``) or Numba's current setting.

    Numba's setting is only read once its threading layer has started
    (``numba.set_num_threads`` starts it); before that it is
    ``NUMBA_NUM_THREADS``, and reading it would start the layer's threads for
    nothing (~80 ms here), since no engine uses them.
    """
    if num_threads is None:
        if getattr(_numba_parallel, "_is_initialized", True):
            return numba.get_num_threads()
        return numba.config.NUMBA_NUM_THREADS
    return max(1, min(int(num_threads), numba.config.NUMBA_NUM_THREADS))


# ------------------------------------------------------------------ the helper threads

_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """The process's helper threads, started on first use (``NUMBA_NUM_THREADS - 1`` of them)."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            size = max(1, numba.config.NUMBA_NUM_THREADS - 1)
            _POOL = ThreadPoolExecutor(max_workers=size, thread_name_prefix="nadaraya")
        return _POOL


def _forget_pool() -> None:
    """In a forked child the parent's threads do not exist: start a new pool when needed."""
    global _POOL, _POOL_LOCK
    _POOL = None
    _POOL_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def run(worker, threads: int) -> None:
    """Run ``worker()`` on the calling thread and on up to ``threads - 1`` helpers; return when the work is done.

    ``worker`` claims chunks until none is left and returns whether all
    chunks were finished then (see the module docstring): True in the
    thread that finished the last one, and in every thread when there was
    nothing to do. The call returns as soon as a worker has returned True,
    without waiting for
    helpers that never claimed a chunk. An exception in any worker is
    raised here, as soon as it happens; chunks other workers hold may still
    be running then.
    """
    if threads <= 1:
        worker()
        return
    done = threading.Event()
    errors: list[BaseException] = []

    def helper():
        try:
            if worker():
                done.set()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
            errors.append(exc)
            done.set()

    pool = _pool()
    for _ in range(threads - 1):
        pool.submit(helper)
    helper()
    done.wait()
    if errors:
        raise errors[0]


def run_claimed(loop, threads: int, *args) -> None:
    """``loop(*args, claims)`` on up to ``threads`` threads, with fresh ``claims``; see :func:`run`.

    ``loop`` is a ``nogil`` jitted function that claims its chunks with
    :func:`claim` and :func:`finish` (the module docstring shows the loop).
    """
    claims = new_claims()
    run(lambda: loop(*args, claims), threads)


def fill_claimed(loop, shape, threads: int, *args) -> np.ndarray:
    """A float64 array of zeros of ``shape`` that ``loop(*args, out, claims)`` fills on up to ``threads`` threads.

    With no rows (``shape[0] == 0``) nothing runs: no thread is woken and no compiled loop is loaded.
    """
    out = np.zeros(shape)
    if shape[0]:
        run_claimed(loop, threads, *args, out)
    return out


def map_chunks(fn, count: int, threads: int, *args, work=None, min_work: int = 0):
    """``[fn(*args, i0, i1) for each chunk [i0, i1) of range(count)]``, the chunks claimed by ``threads`` threads.

    ``fn`` must release the GIL (``nogil=True``) for the chunks to run
    concurrently. ``work`` (default ``count``) is compared with ``min_work``:
    below it everything runs as one chunk on the calling thread. Otherwise
    the range is cut into ``CHUNKS_PER_THREAD * threads`` chunks (at most
    ``count``), claimed one at a time. The results come back in chunk order.
    """
    work = count if work is None else work
    chunks = max(1, min(count, CHUNKS_PER_THREAD * threads)) if threads > 1 and work >= min_work else 1
    bounds = [(c * count // chunks, (c + 1) * count // chunks) for c in range(chunks)]
    if chunks == 1:
        return [fn(*args, i0, i1) for i0, i1 in bounds]
    results = [None] * chunks
    state = {"next": 0, "done": 0}
    lock = threading.Lock()

    def worker():
        while True:
            with lock:
                c = state["next"]
                state["next"] = c + 1
            if c >= chunks:
                with lock:
                    return state["done"] == chunks
            results[c] = fn(*args, *bounds[c])
            with lock:
                state["done"] += 1

    run(worker, min(threads, chunks))
    return results
