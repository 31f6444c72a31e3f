"""The nearest key of every query on the k-d tree: the reference ``t_nn`` the Gaussian and Laplace weights are taken relative to.

An exact depth-first search, nearer child first, pruned by the box distance
(shrunk by a few ulp, so that the float64 box bound never exceeds a key's own
``t`` in the inputs' dtype); blocks of queries are claimed by threads as they go.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .._parallel import all_done, claim, finish, run_claimed
from .kdtree import STACK, box_min_sq
from .leaves import run_t

__all__ = ["nearest_blocks"]


@njit(cache=True)
def _nearest(q, excl, lo, hi, left, right, bmin, bmax, kt, f32, shrink, stack, buf):
    """Smallest squared distance from q to a key other than ``excl`` (inf if none)."""
    best = np.inf
    top = 0
    stack[0] = 0
    while top >= 0:
        j = stack[top]
        top -= 1
        if box_min_sq(q, bmin, bmax, j) * shrink >= best:
            continue
        if left[j] >= 0:
            a = left[j]
            b = right[j]
            if box_min_sq(q, bmin, bmax, a) < box_min_sq(q, bmin, bmax, b):
                a, b = b, a
            top += 1
            stack[top] = a
            top += 1
            stack[top] = b
            continue
        a = lo[j]
        run_t(q, kt, a, hi[j], f32, buf)
        for i in range(a, hi[j]):
            if i != excl and buf[i - a] < best:
                best = buf[i - a]
    return best


def nearest_blocks(qs, excl, lo, hi, left, right, bmin, bmax, kt, f32, shrink, block, leaf, out, threads=1):
    """out[i] = squared distance from query i to its nearest key (other than excl[i]).

    On up to ``threads`` threads, which claim the chunks as they go (:mod:`nadaraya.engines._parallel`).
    """
    run_claimed(_nearest_blocks_loop, threads, qs, excl, lo, hi, left, right, bmin, bmax, kt, f32, shrink, block, leaf,
                out)


@njit(cache=True, nogil=True)
def _nearest_blocks_loop(qs, excl, lo, hi, left, right, bmin, bmax, kt, f32, shrink, block, leaf, out, claims):
    """The chunk-claiming loop of :func:`nearest_blocks` (see :mod:`nadaraya.engines._parallel`)."""
    m = qs.shape[0]
    nblocks = (m + block - 1) // block
    blk = claim(claims)
    while blk < nblocks:
        stack = np.empty(STACK, np.int64)
        buf = np.empty(leaf)
        for i in range(blk * block, min(m, (blk + 1) * block)):
            out[i] = _nearest(qs[i], excl[i], lo, hi, left, right, bmin, bmax, kt, f32, shrink, stack, buf)
        finish(claims)
        blk = claim(claims)
    return all_done(claims, nblocks)
