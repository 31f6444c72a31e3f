"""The Gaussian and Laplace kernels' block lists on the k-d tree, and each query's verdict on them.

A block of consecutive (Z-order) queries walks the key tree once
(:func:`exp_lists`); each query then bounds the weight of the block's test
nodes (:func:`weight_bounds`) and decides which to drop (:func:`decide`). The
rule and the error bound it gives are stated in :mod:`nadaraya.engines.tree.gauss`
and :mod:`nadaraya.engines.tree`; only what is dropped (never whether the
bound holds) depends on the lists.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .._jitmath import exp64
from .kdtree import box_box_max_sq, box_box_min_sq

__all__ = ["decay", "exp_lists", "weight_bounds", "fits", "decide"]


@njit(cache=True, inline="always")
def decay(laplace, t, t_nn, s_nn):
    """``-log`` of the weight relative to the nearest key (``s_nn = sqrt(t_nn)``)."""
    if laplace:
        return math.sqrt(t) - s_nn
    return 0.5 * (t - t_nn)


@njit(cache=True)
def exp_lists(qlo, qhi, tnn_lo, tnn_hi, keep, share, laplace, shrink, lo, hi, left, right, bmin, bmax, centre, radius,
              slot, hslot, rho_max, direct_max, stack, whole_a, whole_b, tests):
    """One walk of the key tree for a block of queries (bounding box qlo..qhi, nearest-key ``t`` in
    tnn_lo..tnn_hi): the runs every query sums whole, and the nodes each query tests for itself.

    A node of at most ``direct_max`` keys is *whole* when no query of the block can drop any of its keys
    (its farthest corner decays less than ``keep`` for every query): it joins the list of runs
    ``whole_a .. whole_b`` (adjacent runs joined). (A larger node is descended even so: below it may be
    nodes that queries sum from Taylor moments, as at bandwidths near the data's extent.) It is a *test*
    node when it is a leaf, when it has a Hermite series (``hslot >= 0``), when some query of the block may
    sum it from Taylor moments, or when it is far (its weight bound is within ``share`` for every query of
    the block even at the least sum of weights, 1): it goes to ``tests`` (nearer nodes first, roughly). Other nodes are
    descended, nearer child first. Returns (number of runs, number of test nodes), or (-1, -1) when a
    list overflows. Only speed depends on this classification: each query tests every test node itself.
    """
    d = qlo.shape[0]
    cap = tests.shape[0]
    nw = 0
    nt = 0
    s_lo = math.sqrt(tnn_lo)
    s_hi = math.sqrt(tnn_hi)
    top = 0
    stack[0] = 0
    while top >= 0:
        j = stack[top]
        top -= 1
        a = lo[j]
        b = hi[j]
        test = left[j] < 0 or hslot[j] >= 0  # a leaf, or a node with a Hermite series (usable at any distance)
        if slot[j] >= 0:
            g = 0.0  # squared distance from the centre to the query box
            for c in range(d):
                e = max(qlo[c] - centre[j, c], centre[j, c] - qhi[c], 0.0)
                g += e * e
            test = test or g * radius[j] * radius[j] <= rho_max * rho_max
        if not test and b - a <= direct_max and decay(laplace, box_box_max_sq(qlo, qhi, bmin, bmax, j), tnn_lo,
                                                       s_lo) < keep:
            if nw > 0 and whole_b[nw - 1] == a:
                whole_b[nw - 1] = b
            elif nw > 0 and whole_a[nw - 1] == b:
                whole_a[nw - 1] = a
            elif nw == cap:
                return -1, -1
            else:
                whole_a[nw] = a
                whole_b[nw] = b
                nw += 1
            continue
        if not test:
            least = decay(laplace, box_box_min_sq(qlo, qhi, bmin, bmax, j) * shrink, tnn_hi, s_hi)
            test = least >= keep and (b - a) * math.exp(-least) <= share
        if test:
            if nt == cap:
                return -1, -1
            tests[nt] = j
            nt += 1
            continue
        l = left[j]
        r = right[j]
        if box_box_min_sq(qlo, qhi, bmin, bmax, l) < box_box_min_sq(qlo, qhi, bmin, bmax, r):
            l, r = r, l
        stack[top + 1] = l
        stack[top + 2] = r
        top += 2
    return nw, nt


@njit(cache=True, fastmath={"nsz", "contract"})
def weight_bounds(x, t_nn, laplace, shrink, keep, tlo, thi, tcount, nt, bound):
    """``bound[e]``: query x's weight bound of test node e (``count w(t_lo)``; inf where the node cannot be
    dropped: it decays less than ``keep`` or is nearer than the nearest key), over boxes tlo..thi (d, nt)."""
    d = x.shape[0]
    o = bound[:nt]
    o[:] = 0.0
    for c in range(d):
        lo_ = tlo[c, :nt]
        hi_ = thi[c, :nt]
        xc = x[c]
        for e in range(nt):
            g = max(lo_[e] - xc, xc - hi_[e], 0.0)
            o[e] += g * g
    s_nn = math.sqrt(t_nn)
    n_ = tcount[:nt]
    for e in range(nt):
        u = decay(laplace, o[e] * shrink, t_nn, s_nn)
        o[e] = n_[e] * exp64(-u) if u >= keep and u >= 0.0 else np.inf


@njit(cache=True, inline="always")
def fits(w, dropped, have, node_share, budget):
    """The drop rule: whether a bound ``w`` (a node's weight, or a series' error) may be spent by a query with
    sum of weights ``have`` that has spent ``dropped``: at most ``node_share`` of ``have`` alone, and the total
    within ``budget`` of it."""
    return w <= node_share * have and dropped + w <= budget * have


@njit(cache=True)
def decide(bound, kind, nt, budget, node_share, have, dropped, flags):
    """One query's verdict on its block's test nodes, farthest (last listed) first: flags[e] = 0 (dropped:
    its bound is within ``node_share`` of ``have`` and the dropped total within ``budget`` of it), else
    kind[e] (1: a leaf to sum, 2: a subtree to walk). Returns the dropped weight, ``dropped`` included."""
    for e in range(nt - 1, -1, -1):
        w = bound[e]
        if fits(w, dropped, have, node_share, budget):
            dropped += w
            flags[e] = 0
        else:
            flags[e] = kind[e]
    return dropped
