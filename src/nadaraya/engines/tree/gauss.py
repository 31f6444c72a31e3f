"""Gaussian and Laplace kernels on the k-d tree: pruning and Taylor far-field expansions.

Per query, first the nearest key (exact: a depth-first search, nearer child
first, pruned by the box distance), at squared scaled distance ``t_nn``.
Weights are taken relative to it, ``w = exp(-(t - t_nn) / 2)`` (Gaussian) or
``exp(sqrt(t_nn) - sqrt(t))`` (Laplace), so the largest is exactly 1 and the
sum of weights ``D >= 1``: nothing underflows, whatever the bandwidth.

Then a second depth-first walk, nearer child first. A node of ``count``
keys whose box is at squared distance ``t_lo`` weighs at most ``W = count
w(t_lo)``; it is dropped when ``W <= DROP * budget * max(1, D_so_far)`` and
the query's dropped weight, W included, stays within ``budget * max(1,
D_so_far)`` (the first rule keeps near nodes from spending the budget that
the many far ones need). The sum of weights only grows and ends
``>= 1``, so at the end the dropped weight is at most ``budget * D``. A Gaussian node with Taylor moments ::

    E_a = sum_keys v exp(-|x|^2 / 2) x^a / a!      (x = k - c, multi-indices |a| < p)

is summed from them when ``rho = |y| r <= RHO`` (``y = q - c``, r the node's
radius), since ``exp(-|y - x|^2 / 2) = exp(-|y|^2 / 2) exp(-|x|^2 / 2)
exp(y.x)`` and ``exp(y.x) = sum_a y^a x^a / a!``: its contribution is
``exp(-(|y|^2 - t_nn) / 2) sum_a y^a E_a``. The series is cut after degree
p - 1, the least p with ``tau = RHO**p exp(2 RHO) / p! <= tol / 16``: the
remainder of ``exp(y.x)`` is at most ``rho**p exp(rho) / p!``, and
``exp(y.x) >= exp(-rho)``, so each key's weight is off by a factor within
``1 +- tau``. A node with a Hermite far-field series (:mod:`.hermite`) is
summed from it when its error bound passes the drop rule's two tests (the
bound then counts as dropped weight). Leaves, and nodes that hold the
excluded key, are summed key by key. (The error bound is stated in :mod:`nadaraya.engines.tree`.)
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .._parallel import all_done, claim, finish, run_claimed

from .kdtree import STACK, box_max_sq, box_min_sq, centred
from .hermite import add_node, node_error
from .leaves import exp_run, run_t

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


def taylor_moments(kt, vt, lo, hi, centre, nodes, parent, dim, inv, threads=1):
    """Taylor moments E (see the module docstring) of the listed nodes → (len(nodes), T, kc).

    On up to ``threads`` threads, which claim the chunks as they go (:mod:`nadaraya.engines._parallel`).
    """
    E = np.zeros((nodes.shape[0], parent.shape[0], vt.shape[0]))
    run_claimed(_taylor_moments_loop, threads, kt, vt, lo, hi, centre, nodes, parent, dim, inv, E)
    return E


@njit(cache=True, nogil=True)
def _taylor_moments_loop(kt, vt, lo, hi, centre, nodes, parent, dim, inv, E, claims):
    """The chunk-claiming loop of :func:`taylor_moments` (see :mod:`nadaraya.engines._parallel`)."""
    d = kt.shape[0]
    kc = vt.shape[0]
    T = parent.shape[0]
    s = claim(claims)
    while s < nodes.shape[0]:
        j = nodes[s]
        x = np.empty(d)
        mono = np.empty(T)
        for i in range(lo[j], hi[j]):
            x2 = centred(kt, i, centre, j, x)
            mono[0] = math.exp(-0.5 * x2)
            for a in range(1, T):
                mono[a] = mono[parent[a]] * x[dim[a]] * inv[a]
            for col in range(kc):
                v = vt[col, i]
                for a in range(T):
                    E[s, a, col] += v * mono[a]
        finish(claims)
        s = claim(claims)
    return all_done(claims, nodes.shape[0])


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


@njit(cache=True, inline="always")
def _decay(laplace, t, t_nn, s_nn):
    """``-log`` of the weight relative to the nearest key (``s_nn = sqrt(t_nn)``)."""
    if laplace:
        return math.sqrt(t) - s_nn
    return 0.5 * (t - t_nn)


@njit(cache=True)
def _query(q, excl, t_nn, budget, node_share, keep, shrink, lo, hi, left, right, bmin, bmax, centre, radius, kt, vt,
           laplace, f32, slot, E, parent, dim, rho_max, direct_max, far, acc, stack, tstack, mono, buf):
    """Sum of w v (and w, the last column) of one query into acc; returns the dropped weight.

    ``keep``: a decay below which no key can ever be dropped (``-log(node_share n)``), so a
    node whose farthest corner decays less is summed as one run without descending.
    ``shrink`` (``1 - a few ulp``) makes the float64 box distances lower bounds of the keys' own
    ``t`` in the inputs' dtype.
    """
    d = q.shape[0]
    kc = acc.shape[0]
    T = parent.shape[0]
    s_nn = math.sqrt(t_nn)
    acc[:] = 0.0
    dropped = 0.0
    y = np.empty(d)
    pa = 0  # the pending run of keys [pa, pb), summed when the next run is not adjacent
    pb = 0
    top = 0
    stack[0] = 0
    tstack[0] = box_min_sq(q, bmin, bmax, 0) * shrink
    while top >= 0:
        j = stack[top]
        t_lo = tstack[top]
        top -= 1
        a = lo[j]
        b = hi[j]
        own = a <= excl < b
        count = b - a - (1 if own else 0)
        if count == 0:
            continue
        decay = _decay(laplace, t_lo, t_nn, s_nn)
        if decay >= keep:
            bound = count * math.exp(-decay)
            have = max(acc[kc - 1], 1.0)
            if bound <= node_share * have and dropped + bound <= budget * have:
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
        hslot, A, hw, hrem, hsize, p, g, prod = far
        if not own and hslot[j] >= 0:
            h = hslot[j]
            for c in range(d):
                y[c] = q[c] - centre[j, c]
            err = node_error(y, hw[h], hrem[h], hsize[h], count, t_nn, p)
            have = max(acc[kc - 1], 1.0)
            if err <= node_share * have and dropped + err <= budget * have:
                add_node(y, A, h, p, t_nn, g, prod, acc)
                dropped += err
                continue
        if left[j] >= 0 and not (b - a <= direct_max and _decay(laplace, box_max_sq(q, bmin, bmax, j), t_nn, s_nn) < keep):
            l = left[j]
            r = right[j]
            tl = box_min_sq(q, bmin, bmax, l) * shrink
            tr = box_min_sq(q, bmin, bmax, r) * shrink
            if tl < tr:
                l, r, tl, tr = r, l, tr, tl
            top += 1
            stack[top] = l
            tstack[top] = tl
            top += 1
            stack[top] = r
            tstack[top] = tr
            continue
        # a run of keys next to the pending one joins it (sibling leaves come one after the other), so the
        # vectorised loops see long runs; the pending run's weight is not yet in acc, which only makes the
        # drop test stricter
        if pb == a and b - pa <= buf.shape[0]:
            pb = b
        elif pa == b and pb - a <= buf.shape[0]:
            pa = a
        else:
            if pb > pa:
                exp_run(q, kt, vt, pa, pb, excl, laplace, f32, t_nn, s_nn, buf, acc)
            pa = a
            pb = b
    if pb > pa:
        exp_run(q, kt, vt, pa, pb, excl, laplace, f32, t_nn, s_nn, buf, acc)
    return dropped


def gauss_blocks(qs, excl, t_nn, budget, node_share, shrink, lo, hi, left, right, bmin, bmax, centre, radius, kt, vt,
                 laplace, f32, slot, E, parent, dim, rho_max, block, direct_max, far, out, dropped, threads=1):
    """Fill out[i] = (sum w v, sum w) for every query, in dynamically scheduled blocks.

    ``dropped[i]`` gets the query's dropped weight over its sum of weights
    (at most ``budget``).

    On up to ``threads`` threads, which claim the chunks as they go (:mod:`nadaraya.engines._parallel`).
    """
    run_claimed(_gauss_blocks_loop, threads, qs, excl, t_nn, budget, node_share, shrink, lo, hi, left, right, bmin, bmax,
                centre, radius, kt, vt, laplace, f32, slot, E, parent, dim, rho_max, block, direct_max, far, out, dropped)


@njit(cache=True, nogil=True)
def _gauss_blocks_loop(qs, excl, t_nn, budget, node_share, shrink, lo, hi, left, right, bmin, bmax, centre, radius, kt,
                       vt, laplace, f32, slot, E, parent, dim, rho_max, block, direct_max, far, out, dropped, claims):
    """The chunk-claiming loop of :func:`gauss_blocks` (see :mod:`nadaraya.engines._parallel`)."""
    m, d = qs.shape
    kc = vt.shape[0]
    nblocks = (m + block - 1) // block
    share_n = node_share * vt.shape[1] * (1.0 + 1e-6)
    keep = -math.log(share_n) if share_n < 1.0 else -np.inf
    blk = claim(claims)
    while blk < nblocks:
        acc = np.empty(kc)
        stack = np.empty(STACK, np.int64)
        mono = np.empty(parent.shape[0])
        tstack = np.empty(STACK)
        buf = np.empty(direct_max)
        hslot, A, hw, hrem, hsize, p = far
        scratch = (hslot, A, hw, hrem, hsize, p, np.empty((d, p)), np.empty(A.shape[1]))
        for i in range(blk * block, min(m, (blk + 1) * block)):
            if not t_nn[i] < np.inf:  # no key (a shard without keys for this query)
                out[i] = 0.0
                dropped[i] = 0.0
                continue
            lost = _query(qs[i], excl[i], t_nn[i], budget, node_share, keep, shrink, lo, hi, left, right, bmin, bmax, centre,
                          radius, kt, vt, laplace, f32, slot, E, parent, dim, rho_max, direct_max, scratch, acc, stack,
                          tstack, mono, buf)
            out[i] = acc
            dropped[i] = lost / acc[kc - 1]
        finish(claims)
        blk = claim(claims)
    return all_done(claims, nblocks)
