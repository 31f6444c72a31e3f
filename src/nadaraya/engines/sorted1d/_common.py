"""Helpers of the sorted engine's paths: threads, binary searches and windows, tree layout, runs, cos/sin(pi x / 2)."""

from __future__ import annotations

import math

import numba
import numpy as np

from .._parallel import map_chunks

#: Fewest queries (or nodes) worth splitting over threads.
PARALLEL_MIN = 2048
PI_2 = 0.5 * math.pi
#: Deepest tree the Gaussian path's traversal stack holds.
MAX_DEPTH = 64


@numba.njit(cache=True)
def cospi_half(x):
    """cos(pi x / 2), accurate near its zeros at |x| = 1."""
    a = abs(x)
    if a <= 0.5:
        return math.cos(PI_2 * x)
    return math.sin(PI_2 * (1.0 - a))


@numba.njit(cache=True)
def sinpi_half(x):
    """sin(pi x / 2)."""
    a = abs(x)
    if a <= 0.5:
        return math.sin(PI_2 * x)
    s = math.cos(PI_2 * (1.0 - a))
    return s if x > 0 else -s


def parallel(fn, count, threads, *args, work=None):
    """``fn(*args, i0, i1)`` over chunks of ``range(count)``, on ``threads`` threads; the results, in order.

    ``fn`` is a Numba function compiled with ``nogil=True``. Below
    ``PARALLEL_MIN`` items of ``work`` (default ``count``) it runs as one
    chunk on the calling thread; otherwise the chunks are claimed one at a
    time by whichever threads run (:func:`nadaraya.engines._parallel.map_chunks`),
    so a thread held off a core by another process delays only its chunk.
    (Numba's own parallel backend would add seconds of compilation per
    function, and schedules statically.)
    """
    return map_chunks(fn, count, threads, *args, work=work, min_work=PARALLEL_MIN)


@numba.njit(cache=True)
def search_right(ks, q):
    """Number of sorted keys <= q."""
    a = 0
    b = ks.shape[0]
    while a < b:
        mid = (a + b) >> 1
        if ks[mid] <= q:
            a = mid + 1
        else:
            b = mid
    return a


@numba.njit(cache=True)
def search_left(ks, q):
    """Number of sorted keys < q."""
    a = 0
    b = ks.shape[0]
    while a < b:
        mid = (a + b) >> 1
        if ks[mid] < q:
            a = mid + 1
        else:
            b = mid
    return a


@numba.njit(cache=True)
def tree_ranges(n, leaf, size, lo, hi):
    """Key ranges [lo, hi) of the nodes of a perfect binary tree over leaves of ``leaf`` keys."""
    nb = (n + leaf - 1) // leaf
    for b in range(size):
        j = size + b
        if b < nb:
            lo[j] = b * leaf
            hi[j] = min(n, (b + 1) * leaf)
        else:
            lo[j] = n
            hi[j] = n
    for j in range(size - 1, 0, -1):
        lo[j] = lo[2 * j]
        hi[j] = hi[2 * j + 1]


def tree_size(n, leaf):
    nb = max(1, -(-n // leaf))
    return 1 << (nb - 1).bit_length()


@numba.njit(cache=True, nogil=True)
def windows_chunk(ks, qs, s2, closed, wlo, whi, i0, i1):
    """Run [wlo, whi) of sorted keys inside the support of queries i0..i1-1.

    The test ``(q - k)**2 < s2`` (``<=`` when ``closed``) is done in the
    arrays' own dtype, as the dense reference does. It is monotone on each side
    of ``q``, so each end is one binary search.
    """
    n = ks.shape[0]
    for i in range(i0, i1):
        q = qs[i]
        a = 0
        b = n
        while a < b:  # first key that is >= q or inside
            mid = (a + b) >> 1
            k = ks[mid]
            ok = k >= q
            if not ok:
                d = q - k
                t = d * d
                ok = t <= s2 if closed else t < s2
            if ok:
                b = mid
            else:
                a = mid + 1
        wlo[i] = a
        b = n
        while a < b:  # first key that is > q and outside
            mid = (a + b) >> 1
            k = ks[mid]
            out = False
            if k > q:
                d = q - k
                t = d * d
                out = not (t <= s2 if closed else t < s2)
            if out:
                b = mid
            else:
                a = mid + 1
        whi[i] = a


@numba.njit(cache=True)
def group_runs(qs, width, max_count):
    """Group sorted queries into runs spanning at most ``width`` and holding at most ``max_count``."""
    m = qs.shape[0]
    starts = np.empty(m + 1, np.int64)
    nb = 0
    i = 0
    while i < m:
        starts[nb] = i
        nb += 1
        j = i + 1
        while j < m and j - i < max_count and qs[j] - qs[i] <= width:
            j += 1
        i = j
    starts[nb] = m
    return starts[: nb + 1].copy()
