"""Gaussian and Laplace kernels on the k-d tree: pruning and Taylor far-field expansions.

Per query, first the nearest key (exact: a depth-first search, nearer child
first, pruned by the box distance), at squared scaled distance ``t_nn``.
Weights are taken relative to it, ``w = exp(-(t - t_nn) / 2)`` (Gaussian) or
``exp(sqrt(t_nn) - sqrt(t))`` (Laplace), so the largest is exactly 1 and the
sum of weights ``D >= 1``: nothing underflows, whatever the bandwidth.

Then the sums. A node of ``count`` keys whose box is at squared distance
``t_lo`` weighs at most ``W = count w(t_lo)``; it is dropped when ``W <= DROP *
budget * max(1, D_so_far)`` and the query's dropped weight, W included, stays
within ``budget * max(1, D_so_far)`` (the first rule keeps near nodes from
spending the budget that the many far ones need). ``D_so_far`` is a partial sum
of the final sum of weights ``D >= 1``, so at the end the dropped weight is at
most ``budget * D``, in whatever order the nodes were decided. The order only
decides how much is dropped. A block of consecutive (Z-order) queries walks the
tree once with box-to-box bounds (:func:`.explists.exp_lists`): nodes from which no
query of the block can drop a key (their farthest corner decays less than
``keep = -log(DROP budget n)`` for every query, n >= D) are *whole* runs of
keys, summed for every query; leaves, far nodes, nodes with usable Taylor
moments and nodes with a Hermite series are *test* nodes. Each query first sums the whole runs, then takes
the test nodes farthest first with its own box bounds and ``D_so_far`` (the
whole runs' weight): dropped, a leaf to sum, or a subtree it walks itself
depth first (nearer child first, with the same rule); the kept leaves are
summed block-wise (a leaf's keys are read once for every query of the
block that keeps it). A Gaussian node with Taylor moments ::

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

from .._parallel import all_done, claim, fill_claimed, finish, run_claimed

from .explists import decay as _decay
from .explists import decide, exp_lists, fits, weight_bounds
from .hermite import add_node, node_error
from .kdtree import STACK, box_max_sq, box_min_sq, centred
from .leaves import exp_block, exp_run

__all__ = ["taylor_order", "multi_indices", "taylor_moments", "gauss_blocks"]


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
    return fill_claimed(_taylor_moments_loop, (nodes.shape[0], parent.shape[0], vt.shape[0]), threads, kt, vt, lo, hi,
                        centre, nodes, parent, dim, inv)


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
def _walk(q, excl, root, t_nn, budget, node_share, keep, shrink, lo, hi, left, right, bmin, bmax, centre, radius, kt, vt,
          laplace, f32, slot, E, parent, dim, rho_max, far, acc, dropped, stack, tstack, mono, buf):
    """Add w v (and w, the last column) of one query over the subtree ``root`` to acc; returns the dropped weight.

    ``dropped``: the query's dropped weight so far (the budget covers it and what this walk drops).
    ``keep``: a decay below which no key can ever be dropped (``-log(node_share n)``), so a
    node whose farthest corner decays less is summed as one run without descending.
    ``shrink`` (``1 - a few ulp``) makes the float64 box distances lower bounds of the keys' own
    ``t`` in the inputs' dtype. Runs are at most ``buf.shape[0]`` keys. ``far``: the Hermite series'
    tables and scratch (see :func:`_gauss_blocks_loop`).
    """
    d = q.shape[0]
    kc = acc.shape[0]
    T = parent.shape[0]
    direct_max = buf.shape[0]
    s_nn = math.sqrt(t_nn)
    y = np.empty(d)
    hslot, A, hw, hrem, hsize, p, g, prod = far  # once: unpacking per node costs reference counts
    pa = 0  # the pending run of keys [pa, pb), summed when the next run is not adjacent
    pb = 0
    top = 0
    stack[0] = root
    tstack[0] = box_min_sq(q, bmin, bmax, root) * shrink
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
            if fits(bound, dropped, max(acc[kc - 1], 1.0), node_share, budget):
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
        if not own and hslot[j] >= 0:
            h = hslot[j]
            for c in range(d):
                y[c] = q[c] - centre[j, c]
            err = node_error(y, hw[h], hrem[h], hsize[h], count, t_nn, p)
            if fits(err, dropped, max(acc[kc - 1], 1.0), node_share, budget):  # the error counts as dropped
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
                 laplace, f32, slot, E, parent, dim, rho_max, block, direct_max, list_max, far, out, dropped, threads=1):
    """Fill out[i] = (sum w v, sum w) for every query, in dynamically scheduled blocks.

    ``dropped[i]`` gets the query's dropped weight over its sum of weights
    (at most ``budget``). A block of queries walks the key tree once
    (:func:`.explists.exp_lists`, lists of at most ``list_max`` entries); every query
    sums the block's whole runs, then tests the block's test nodes farthest
    first with its own bound and running sum of weights (dropping, or
    walking the node's subtree itself where it is not a leaf), and the leaves
    it keeps are summed block-wise. A block whose lists overflow walks the
    tree per query.

    On up to ``threads`` threads, which claim the chunks as they go (:mod:`nadaraya.engines._parallel`).
    """
    run_claimed(_gauss_blocks_loop, threads, qs, excl, t_nn, budget, node_share, shrink, lo, hi, left, right, bmin, bmax,
                centre, radius, kt, vt, laplace, f32, slot, E, parent, dim, rho_max, block, direct_max, list_max, far,
                out, dropped)


@njit(cache=True, nogil=True)
def _gauss_blocks_loop(qs, excl, t_nn, budget, node_share, shrink, lo, hi, left, right, bmin, bmax, centre, radius, kt,
                       vt, laplace, f32, slot, E, parent, dim, rho_max, block, direct_max, list_max, far, out, dropped,
                       claims):
    """The chunk-claiming loop of :func:`gauss_blocks` (see :mod:`nadaraya.engines._parallel`)."""
    m, d = qs.shape
    kc = vt.shape[0]
    nblocks = (m + block - 1) // block
    share_n = node_share * vt.shape[1] * (1.0 + 1e-6)
    keep = -math.log(share_n) if share_n < 1.0 else -np.inf
    blk = claim(claims)
    while blk < nblocks:
        stack = np.empty(STACK, np.int64)
        tstack = np.empty(STACK)
        mono = np.empty(parent.shape[0])
        buf = np.empty(direct_max)
        hslot, A, hw, hrem, hsize, p = far
        scratch = (hslot, A, hw, hrem, hsize, p, np.empty((d, p)), np.empty(A.shape[1]))
        whole_a = np.empty(list_max, np.int64)
        whole_b = np.empty(list_max, np.int64)
        tests = np.empty(list_max, np.int64)
        i0 = blk * block
        B = min(m, i0 + block) - i0
        acc = np.zeros((B, kc))
        lost = np.zeros(B)
        use = np.empty(B, np.bool_)
        qlo = np.full(d, np.inf)
        qhi = np.full(d, -np.inf)
        tnn_lo = np.inf
        tnn_hi = 0.0
        for r in range(B):
            i = i0 + r
            use[r] = t_nn[i] < np.inf  # else no key (a shard without keys for this query): sums 0
            if use[r]:
                tnn_lo = min(tnn_lo, t_nn[i])
                tnn_hi = max(tnn_hi, t_nn[i])
                for c in range(d):
                    qlo[c] = min(qlo[c], qs[i, c])
                    qhi[c] = max(qhi[c], qs[i, c])
        nw, nt = (0, 0) if tnn_lo == np.inf else exp_lists(
            qlo, qhi, tnn_lo, tnn_hi, keep, node_share, laplace, shrink, lo, hi, left, right, bmin, bmax, centre,
            radius, slot, hslot, rho_max, direct_max, stack, whole_a, whole_b, tests)
        if nw < 0:  # a list overflowed: walk the tree per query
            for r in range(B):
                if use[r]:
                    lost[r] = _walk(qs[i0 + r], excl[i0 + r], 0, t_nn[i0 + r], budget, node_share, keep, shrink, lo,
                                    hi, left, right, bmin, bmax, centre, radius, kt, vt, laplace, f32, slot, E, parent,
                                    dim, rho_max, scratch, acc[r], 0.0, stack, tstack, mono, buf)
        else:
            for w in range(nw):
                exp_block(qs, i0, use, t_nn, excl, kt, vt, whole_a[w], whole_b[w], laplace, f32, buf, acc)
            tlo = np.empty((d, nt))
            thi = np.empty((d, nt))
            tcount = np.empty(nt)
            kind = np.empty(nt, np.int8)
            for e in range(nt):
                j = tests[e]
                for c in range(d):
                    tlo[c, e] = bmin[j, c]
                    thi[c, e] = bmax[j, c]
                tcount[e] = hi[j] - lo[j]  # the excluded key counted too: a bound all the same
                kind[e] = 1 if left[j] < 0 and slot[j] < 0 and hslot[j] < 0 else 2
            bound = np.empty(nt)
            flags = np.zeros((B, nt), np.int8)
            for r in range(B):
                if not use[r]:
                    continue
                i = i0 + r
                weight_bounds(qs[i], t_nn[i], laplace, shrink, keep, tlo, thi, tcount, nt, bound)
                lost[r] = decide(bound, kind, nt, budget, node_share, max(acc[r, kc - 1], 1.0), 0.0, flags[r])
                for e in range(nt):
                    if flags[r, e] == 2:
                        lost[r] = _walk(qs[i], excl[i], tests[e], t_nn[i], budget, node_share, keep, shrink, lo, hi,
                                        left, right, bmin, bmax, centre, radius, kt, vt, laplace, f32, slot, E, parent,
                                        dim, rho_max, scratch, acc[r], lost[r], stack, tstack, mono, buf)
            e = 0
            while e < nt:  # the kept leaves, block-wise; a run of adjacent leaves kept by the same queries is joined
                a = lo[tests[e]]
                b = hi[tests[e]]
                any_use = False
                for r in range(B):
                    use[r] = flags[r, e] == 1
                    any_use = any_use or use[r]
                e += 1
                while e < nt and (lo[tests[e]] == b or hi[tests[e]] == a):
                    same = True
                    for r in range(B):
                        same = same and (flags[r, e] == 1) == use[r]
                    if not same:
                        break
                    a = min(a, lo[tests[e]])
                    b = max(b, hi[tests[e]])
                    e += 1
                if any_use:
                    exp_block(qs, i0, use, t_nn, excl, kt, vt, a, b, laplace, f32, buf, acc)
        for r in range(B):
            out[i0 + r] = acc[r]
            dropped[i0 + r] = lost[r] / acc[r, kc - 1] if acc[r, kc - 1] > 0.0 else 0.0
        finish(claims)
        blk = claim(claims)
    return all_done(claims, nblocks)
