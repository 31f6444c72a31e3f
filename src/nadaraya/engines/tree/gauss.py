"""Gaussian and Laplace kernels on the k-d tree: pruning and Taylor far-field expansions.

Per query, first the nearest key (exact: a depth-first search, nearer child
first, pruned by the box distance), at squared scaled distance ``t_nn``.
Weights are taken relative to it, ``w = exp(-(t - t_nn) / 2)`` (Gaussian) or
``exp(sqrt(t_nn) - sqrt(t))`` (Laplace), so the largest is exactly 1 and the
sum of weights ``D >= 1``: nothing underflows, whatever the bandwidth.

Then a second depth-first walk, nearer child first. A node of ``count``
keys whose box is at squared distance ``t_lo`` weighs at most ``W = count
w(t_lo)``; it is dropped when ``W <= threshold * max(1, D_so_far)``
(``threshold = DROP * tol``), and ``W`` is added to the query's dropped
weight. A Gaussian node with Taylor moments

    E_a = sum_keys v exp(-|x|^2 / 2) x^a / a!      (x = k - c, multi-indices |a| < p)

is summed from them when ``rho = |y| r <= RHO`` (``y = q - c``, r the node's
radius), since ``exp(-|y - x|^2 / 2) = exp(-|y|^2 / 2) exp(-|x|^2 / 2)
exp(y.x)`` and ``exp(y.x) = sum_a y^a x^a / a!``: its contribution is
``exp(-(|y|^2 - t_nn) / 2) sum_a y^a E_a``. The series is cut after degree
p - 1, the least p with ``tau = RHO**p exp(2 RHO) / p! <= tol / 16``: the
remainder of ``exp(y.x)`` is at most ``rho**p exp(rho) / p!``, and
``exp(y.x) >= exp(-rho)``, so each key's weight is off by a factor within
``1 +- tau``. Leaves, and nodes that hold the excluded key, are summed key
by key. (The error bound is stated in :mod:`nadaraya.engines.tree`.)
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from .kdtree import STACK, box_min_sq, sq_dist

__all__ = ["taylor_order", "multi_indices", "taylor_moments", "nearest_blocks", "gauss_blocks"]


def taylor_order(tol: float, rho: float) -> int:
    """Least p with ``rho**p exp(2 rho) / p! <= tol / 16``."""
    p = 1
    while rho**p * math.exp(2.0 * rho) / math.factorial(p) > tol / 16.0:
        p += 1
    return p


def multi_indices(d: int, p: int):
    """Multi-indices of degree < p in graded order, as (parent, dim, 1 / a[dim]) tables.

    Monomial ``a`` is monomial ``parent[a]`` times coordinate ``dim[a]``, so
    ``x^a / a! = x^parent / parent! * x[dim] * inv[a]``.
    """
    alphas = [(0,) * d]
    index = {alphas[0]: 0}
    parent, dim, inv = [0], [0], [1.0]
    frontier = [alphas[0]]
    for _ in range(1, p):
        nxt = []
        for a in frontier:
            last = max([c for c in range(d) if a[c] > 0], default=0)
            for c in range(last, d):  # each monomial once: raise only dimensions >= the last raised
                b = a[:c] + (a[c] + 1,) + a[c + 1 :]
                index[b] = len(alphas)
                alphas.append(b)
                parent.append(index[a])
                dim.append(c)
                inv.append(1.0 / b[c])
                nxt.append(b)
        frontier = nxt
    return np.array(parent, np.int64), np.array(dim, np.int64), np.array(inv)


@njit(cache=True, parallel=True)
def taylor_moments(kp, V, lo, hi, centre, nodes, parent, dim, inv):
    """Taylor moments E (see the module docstring) of the listed nodes → (len(nodes), T, kc)."""
    d = kp.shape[1]
    kc = V.shape[1]
    T = parent.shape[0]
    E = np.zeros((nodes.shape[0], T, kc))
    for s in prange(nodes.shape[0]):
        j = nodes[s]
        x = np.empty(d)
        mono = np.empty(T)
        for i in range(lo[j], hi[j]):
            x2 = 0.0
            for c in range(d):
                x[c] = kp[i, c] - centre[j, c]
                x2 += x[c] * x[c]
            mono[0] = math.exp(-0.5 * x2)
            for a in range(1, T):
                mono[a] = mono[parent[a]] * x[dim[a]] * inv[a]
            for col in range(kc):
                v = V[i, col]
                for a in range(T):
                    E[s, a, col] += v * mono[a]
    return E


@njit(cache=True)
def _nearest(q, excl, lo, hi, left, right, bmin, bmax, kp, f32, stack):
    """Smallest squared distance from q to a key other than ``excl`` (inf if none)."""
    best = np.inf
    top = 0
    stack[0] = 0
    while top >= 0:
        j = stack[top]
        top -= 1
        if box_min_sq(q, bmin, bmax, j) >= best:
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
        for i in range(lo[j], hi[j]):
            if i != excl:
                t = sq_dist(q, kp, i, f32)
                if t < best:
                    best = t
    return best


@njit(cache=True, parallel=True)
def nearest_blocks(qs, excl, lo, hi, left, right, bmin, bmax, kp, f32, block, out):
    """out[i] = squared distance from query i to its nearest key (other than excl[i])."""
    m = qs.shape[0]
    nblocks = (m + block - 1) // block
    for blk in prange(nblocks):
        stack = np.empty(STACK, np.int64)
        for i in range(blk * block, min(m, (blk + 1) * block)):
            out[i] = _nearest(qs[i], excl[i], lo, hi, left, right, bmin, bmax, kp, f32, stack)


@njit(cache=True, inline="always")
def _w(laplace, t, t_nn, s_nn):
    """Weight relative to the nearest key (``s_nn = sqrt(t_nn)``)."""
    if laplace:
        return math.exp(s_nn - math.sqrt(t))
    return math.exp(-0.5 * (t - t_nn))


@njit(cache=True)
def _query(q, excl, t_nn, thr, lo, hi, left, right, bmin, bmax, centre, radius, kp, V, laplace, f32,
           slot, E, parent, dim, rho_max, acc, stack, mono):
    """Sum of w v (and w, the last column) of one query into acc; returns the dropped weight."""
    d = q.shape[0]
    kc = acc.shape[0]
    T = parent.shape[0]
    s_nn = math.sqrt(t_nn)
    acc[:] = 0.0
    dropped = 0.0
    y = np.empty(d)
    top = 0
    stack[0] = 0
    while top >= 0:
        j = stack[top]
        top -= 1
        a = lo[j]
        b = hi[j]
        own = a <= excl < b
        count = b - a - (1 if own else 0)
        if count == 0:
            continue
        bound = count * _w(laplace, box_min_sq(q, bmin, bmax, j), t_nn, s_nn)
        if bound <= thr * max(acc[kc - 1], 1.0):
            dropped += bound
            continue
        if not own and slot[j] >= 0:
            Y = 0.0
            for c in range(d):
                y[c] = q[c] - centre[j, c]
                Y += y[c] * y[c]
            if math.sqrt(Y) * radius[j] <= rho_max:
                mono[0] = 1.0
                for al in range(1, T):
                    mono[al] = mono[parent[al]] * y[dim[al]]
                f = math.exp(-0.5 * (Y - t_nn))
                s = slot[j]
                for col in range(kc):
                    tot = 0.0
                    for al in range(T):
                        tot += mono[al] * E[s, al, col]
                    acc[col] += f * tot
                continue
        if left[j] >= 0:
            l = left[j]
            r = right[j]
            if box_min_sq(q, bmin, bmax, l) < box_min_sq(q, bmin, bmax, r):
                l, r = r, l
            top += 1
            stack[top] = l
            top += 1
            stack[top] = r
            continue
        for i in range(a, b):
            if i == excl:
                continue
            w = _w(laplace, sq_dist(q, kp, i, f32), t_nn, s_nn)
            for col in range(kc):
                acc[col] += w * V[i, col]
    return dropped


@njit(cache=True, parallel=True)
def gauss_blocks(qs, excl, t_nn, thr, budget, lo, hi, left, right, bmin, bmax, centre, radius, kp, V, laplace,
                 f32, slot, E, parent, dim, rho_max, block, out, dropped):
    """Fill out[i] = (sum w v, sum w) for every query, in dynamically scheduled blocks.

    A query whose dropped weight exceeds ``budget`` times its sum of weights
    is redone with a 1024 times smaller drop threshold (at worst none).
    ``dropped[i]`` gets the final dropped weight over the sum of weights.
    """
    m = qs.shape[0]
    kc = V.shape[1]
    nblocks = (m + block - 1) // block
    for blk in prange(nblocks):
        acc = np.empty(kc)
        stack = np.empty(STACK, np.int64)
        mono = np.empty(parent.shape[0])
        for i in range(blk * block, min(m, (blk + 1) * block)):
            if not t_nn[i] < np.inf:  # no key (a shard without keys for this query)
                out[i] = 0.0
                dropped[i] = 0.0
                continue
            th = thr
            while True:
                lost = _query(qs[i], excl[i], t_nn[i], th, lo, hi, left, right, bmin, bmax, centre, radius, kp, V,
                              laplace, f32, slot, E, parent, dim, rho_max, acc, stack, mono)
                if lost <= budget * acc[kc - 1] or th == 0.0:
                    break
                th = th / 1024.0 if th > 1e-300 else 0.0
            out[i] = acc
            dropped[i] = lost / acc[kc - 1]
