"""Compact kernels on the k-d tree: exact sums from centred node moments.

A query visits the tree depth first. A node whose box lies entirely outside
the query's support is skipped; a node entirely inside it is summed from its
moments when the kernel is a polynomial of ``t = u**2`` (boxcar ``1``,
Epanechnikov ``1 - t``, biweight ``(1 - t)**2``); everything else (leaves
straddling the support's edge, and every key of the triangular, tricube and
cosine kernels) is summed key by key, with the reference's own test
``t < 1`` (``t <= 1`` for boxcar) on the reference's own ``t``. The box tests
carry a margin of a few ulp, so a node is summed from moments only when every
key in it passes that test. A block of queries whose lists would send at least
``UNPRUNED_SHARE`` of the keys to key-by-key sums (supports as wide as the
cloud, where the tree prunes little: the large bandwidths of a bandwidth
search) skips the tree and sums every key, in runs that stay in cache for
the whole block (:func:`_all_keys`), with the same per-key test.

Moments. With ``x = k - c`` (c the node's box centre, ``|x| <= r``) and
``y = q - c``, ``t = |y|**2 + s`` with ``s = |x|**2 - 2 y.x``, so for
``K = P(t) = e0 + e1 t + e2 t**2`` ::

    sum_keys v K = P(|y|^2) S0 + P'(|y|^2) (S2 - 2 y.S1) + e2 (S4 - 4 y.U + 4 y'Ty)

with ``S0 = sum v``, ``S1 = sum v x``, ``S2 = sum v |x|^2``, ``T = sum v x x'``,
``U = sum v x |x|^2``, ``S4 = sum v |x|^4``, each computed directly from the
node's keys about its own centre. A node is only ever inside a support if
its radius is at most 1, so every term is O(1) and nothing cancels the way
global power sums would. Each query carries a rounding certificate, the sum
over moment nodes of ``count (|P| + |P'| sigma + |e2| sigma**2)`` with
``sigma = 2 |y| r + r**2`` (a bound on the size of the terms added); when it
exceeds :data:`CERTIFICATE_RATIO` times the query's sum of weights (keys
crowded at the very edge of the support) the query is summed key by key.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from ...kernels import SQUARES
from .._parallel import all_done, claim, fill_claimed, finish, run_claimed

from .kdtree import STACK, box_box_max_sq, box_box_min_sq, box_max_sq, box_min_sq, centred
from .leaves import SQUARED, compact_run

__all__ = ["CODES", "poly_in_t", "moment_terms", "node_moments", "compact_blocks", "CERTIFICATE_RATIO"]

#: A query whose rounding certificate exceeds this many times its sum of weights is summed key by key.
CERTIFICATE_RATIO = 64.0

#: Keys per run of the tree-less pass (:func:`_all_keys`): a run is summed for a whole block of queries.
ALL_KEYS_RUN = 512

#: Compact kernel name -> code of its jitted weight formula (:func:`.leaves.compact_run`); the squares of
#: :data:`nadaraya.kernels.SQUARES` take their kernel's code plus :data:`.leaves.SQUARED`.
_BASE_CODES = {"boxcar": 3, "epanechnikov": 4, "triangular": 5, "biweight": 6, "tricube": 7, "cosine": 8}
CODES = {**_BASE_CODES, **{sq.name: _BASE_CODES[sq.square_of] + SQUARED for sq in SQUARES.values()}}


def poly_in_t(poly):
    """Coefficients ``(e0, e1, e2)`` of K as a polynomial of ``t = u**2`` of degree <= 2, or None."""
    if poly is None or len(poly) > 5 or any(c != 0 for c in poly[1::2]):
        return None
    e = [float(c) for c in poly[::2]]
    return tuple(e + [0.0] * (3 - len(e)))


def moment_terms(degree: int, d: int) -> int:
    """Moments per node and value column for a polynomial of ``t`` of ``degree`` in ``d`` dimensions."""
    return (1, d + 2, d + 2 + d * (d + 1) // 2 + d + 1)[degree]


def node_moments(kt, vt, lo, hi, centre, nodes, degree, L, threads=1):
    """Moments (see the module docstring) of the listed nodes → (len(nodes), L, kc).

    On up to ``threads`` threads, which claim the chunks as they go (:mod:`nadaraya.engines._parallel`).
    """
    return fill_claimed(_node_moments_loop, (nodes.shape[0], L, vt.shape[0]), threads, kt, vt, lo, hi, centre, nodes,
                        degree)


@njit(cache=True, nogil=True)
def _node_moments_loop(kt, vt, lo, hi, centre, nodes, degree, M, claims):
    """The chunk-claiming loop of :func:`node_moments` (see :mod:`nadaraya.engines._parallel`)."""
    d = kt.shape[0]
    kc = vt.shape[0]
    s = claim(claims)
    while s < nodes.shape[0]:
        j = nodes[s]
        x = np.empty(d)
        for i in range(lo[j], hi[j]):
            x2 = centred(kt, i, centre, j, x)
            for col in range(kc):
                v = vt[col, i]
                M[s, 0, col] += v
                if degree == 0:
                    continue
                for c in range(d):
                    M[s, 1 + c, col] += v * x[c]
                M[s, d + 1, col] += v * x2
                if degree == 1:
                    continue
                a = d + 2
                for c in range(d):
                    vx = v * x[c]
                    for e in range(c, d):
                        M[s, a, col] += vx * x[e]
                        a += 1
                for c in range(d):
                    M[s, a + c, col] += v * x[c] * x2
                M[s, a + d, col] += v * x2 * x2
        finish(claims)
        s = claim(claims)
    return all_done(claims, nodes.shape[0])


@njit(cache=True)
def _add_moments(q, j, s, centre, radius, M, degree, e0, e1, e2, count, acc):
    """Add node j's sum of K v (moments M[s]) to acc; return the certificate term."""
    d = q.shape[0]
    kc = acc.shape[0]
    y = q - centre[j]
    Y = 0.0
    for c in range(d):
        Y += y[c] * y[c]
    P = e0 + Y * (e1 + Y * e2)
    dP = e1 + 2.0 * e2 * Y
    for col in range(kc):
        tot = P * M[s, 0, col]
        if degree >= 1:
            lin = M[s, d + 1, col]
            for c in range(d):
                lin -= 2.0 * y[c] * M[s, 1 + c, col]
            tot += dP * lin
        if degree == 2:
            a = d + 2
            quad = 0.0
            for c in range(d):
                row = 0.0
                for e in range(c, d):
                    f = 1.0 if e == c else 2.0
                    row += f * y[e] * M[s, a, col]
                    a += 1
                quad += y[c] * row
            cub = 0.0
            for c in range(d):
                cub += y[c] * M[s, a + c, col]
            tot += e2 * (M[s, a + d, col] - 4.0 * cub + 4.0 * quad)
        acc[col] += tot
    r = radius[j]
    sig = 2.0 * math.sqrt(Y) * r + r * r
    return count * (abs(P) + abs(dP) * sig + abs(e2) * sig * sig)


@njit(cache=True)
def _query(q, excl, lo, hi, left, right, bmin, bmax, centre, radius, kt, vt, code, closed, f32, margin,
           slot, M, degree, e0, e1, e2, use_moments, acc, stack, buf):
    """Sum ``K v`` (and K, the last column) of one query into acc; returns (keys inside, certificate)."""
    acc[:] = 0.0
    inside = 0
    cert = 0.0
    top = 0
    stack[0] = 0
    while top >= 0:
        j = stack[top]
        top -= 1
        if box_min_sq(q, bmin, bmax, j) > 1.0 + margin:
            continue
        a = lo[j]
        b = hi[j]
        within = box_max_sq(q, bmin, bmax, j) < 1.0 - margin
        if within and use_moments and slot[j] >= 0 and not (a <= excl < b):
            cert += _add_moments(q, j, slot[j], centre, radius, M, degree, e0, e1, e2, b - a, acc)
            inside += b - a
            continue
        if left[j] >= 0 and not (within and b - a <= buf.shape[0]):  # a node inside the support: one run
            top += 1
            stack[top] = right[j]
            top += 1
            stack[top] = left[j]
            continue
        count, wsum = compact_run(q, kt, vt, a, b, excl, code, closed, f32, buf, acc)
        inside += count
        cert += wsum
    return inside, cert


@njit(cache=True)
def _block_lists(qlo, qhi, lo, hi, left, right, bmin, bmax, margin, slot, direct_max, stack, whole, near):
    """The key nodes a block of queries (bounding box qlo..qhi) needs: a dual-tree walk, shared by the block.

    ``whole`` gets nodes inside the support of every query of the block
    (summed from moments, or as one run); ``near`` the leaves that may meet
    some query's support (each query tests them). Returns the two counts, or
    (-1, -1) when a list overflows (the block then walks the tree per query).
    """
    nw = 0
    nn = 0
    top = 0
    stack[0] = 0
    while top >= 0:
        j = stack[top]
        top -= 1
        if box_box_min_sq(qlo, qhi, bmin, bmax, j) > 1.0 + margin:
            continue
        if box_box_max_sq(qlo, qhi, bmin, bmax, j) < 1.0 - margin and (slot[j] >= 0 or hi[j] - lo[j] <= direct_max):
            if nw == whole.shape[0]:
                return -1, -1
            whole[nw] = j
            nw += 1
            continue
        if left[j] >= 0:
            top += 1
            stack[top] = right[j]
            top += 1
            stack[top] = left[j]
            continue
        if nn == near.shape[0]:
            return -1, -1
        near[nn] = j
        nn += 1
    return nw, nn


@njit(cache=True)
def _inside_node(q, excl, j, lo, hi, left, right, centre, radius, kt, vt, code, closed, f32, slot, M, degree, e0, e1,
                 e2, acc, buf, stack):
    """Add node j, wholly inside q's support, to acc: from moments where the excluded key is not in a node,
    else key by key in runs of at most ``len(buf)``; returns (keys inside, certificate)."""
    inside = 0
    cert = 0.0
    top = 0
    stack[0] = j
    while top >= 0:
        x = stack[top]
        top -= 1
        a = lo[x]
        b = hi[x]
        if slot[x] >= 0 and not (a <= excl < b):
            cert += _add_moments(q, x, slot[x], centre, radius, M, degree, e0, e1, e2, b - a, acc)
            inside += b - a
        elif b - a <= buf.shape[0] or left[x] < 0:
            count, wsum = compact_run(q, kt, vt, a, b, excl, code, closed, f32, buf, acc)
            inside += count
            cert += wsum
        else:
            top += 1
            stack[top] = right[x]
            top += 1
            stack[top] = left[x]
    return inside, cert


@njit(cache=True)
def _query_lists(q, excl, whole, nw, near, nn, lo, hi, left, right, bmin, bmax, centre, radius, kt, vt, code, closed,
                 f32, margin, slot, M, degree, e0, e1, e2, acc, buf, stack):
    """As :func:`_query`, over a block's lists instead of the whole tree."""
    acc[:] = 0.0
    inside = 0
    cert = 0.0
    for s in range(nw):
        j = whole[s]
        a = lo[j]
        b = hi[j]
        if slot[j] >= 0 and not (a <= excl < b):
            cert += _add_moments(q, j, slot[j], centre, radius, M, degree, e0, e1, e2, b - a, acc)
            inside += b - a
        elif b - a <= buf.shape[0]:
            count, wsum = compact_run(q, kt, vt, a, b, excl, code, closed, f32, buf, acc)
            inside += count
            cert += wsum
        else:  # a moment node holding the excluded key, too large for one run
            count, wsum = _inside_node(q, excl, j, lo, hi, left, right, centre, radius, kt, vt, code, closed, f32,
                                       slot, M, degree, e0, e1, e2, acc, buf, stack)
            inside += count
            cert += wsum
    for s in range(nn):
        j = near[s]
        if box_min_sq(q, bmin, bmax, j) > 1.0 + margin:
            continue
        count, wsum = compact_run(q, kt, vt, lo[j], hi[j], excl, code, closed, f32, buf, acc)
        inside += count
        cert += wsum
    return inside, cert


@njit(cache=True)
def _direct_keys(whole, nw, near, nn, lo, hi, slot):
    """Keys a block's lists send to key-by-key sums (near leaves, and whole nodes without moments)."""
    keys = 0
    for s in range(nw):
        j = whole[s]
        if slot[j] < 0:
            keys += hi[j] - lo[j]
    for s in range(nn):
        keys += hi[near[s]] - lo[near[s]]
    return keys


@njit(cache=True)
def _all_keys(qs, i0, i1, excl, kt, vt, code, closed, f32, run, buf, accs, inside, cert):
    """Sum ``K v`` (and K) of queries i0..i1-1 over every key, without the tree: runs of ``run`` keys,
    each summed for every query of the block while it is in cache. Fills ``accs``, ``inside``, ``cert``."""
    accs[:] = 0.0
    inside[:] = 0
    cert[:] = 0.0
    n = kt.shape[1]
    for a in range(0, n, run):
        b = min(n, a + run)
        for i in range(i0, i1):
            count, wsum = compact_run(qs[i], kt, vt, a, b, excl[i], code, closed, f32, buf, accs[i - i0])
            inside[i - i0] += count
            cert[i - i0] += wsum


def compact_blocks(qs, excl, lo, hi, left, right, bmin, bmax, centre, radius, kt, vt, code, closed, f32, margin, slot, M,
                   degree, e0, e1, e2, ratio, block, direct_max, list_max, share, out, threads=1):
    """Fill out[i] = (sum K v, sum K) for every query (rows in Z order), in blocks of ``block`` queries.

    Blocks are handed to threads one at a time (dynamic scheduling), so a
    descheduled thread holds up at most one block. Each block first walks
    the key tree once for all its queries (:func:`_block_lists`), then each
    query sums its lists. Rows with no key inside the support get a zero
    weight sum. Returns how many queries failed the rounding certificate
    (and were summed key by key).

    On up to ``threads`` threads, which claim the chunks as they go (:mod:`nadaraya.engines._parallel`).
    """
    fallbacks = np.zeros(-(-qs.shape[0] // block), np.int64)
    run_claimed(_compact_blocks_loop, threads, qs, excl, lo, hi, left, right, bmin, bmax, centre, radius, kt, vt, code,
                closed, f32, margin, slot, M, degree, e0, e1, e2, ratio, block, direct_max, list_max, share, out, fallbacks)
    return int(fallbacks.sum())


@njit(cache=True, nogil=True)
def _compact_blocks_loop(qs, excl, lo, hi, left, right, bmin, bmax, centre, radius, kt, vt, code, closed, f32, margin,
                         slot, M, degree, e0, e1, e2, ratio, block, direct_max, list_max, share, out, fallbacks, claims):
    """The chunk-claiming loop of :func:`compact_blocks` (see :mod:`nadaraya.engines._parallel`)."""
    m, d = qs.shape
    kc = vt.shape[0]
    nblocks = (m + block - 1) // block
    blk = claim(claims)
    while blk < nblocks:
        acc = np.empty(kc)
        stack = np.empty(STACK, np.int64)
        buf = np.empty(direct_max)
        whole = np.empty(list_max, np.int64)
        near = np.empty(list_max, np.int64)
        accs = np.empty((block, kc))
        insides = np.empty(block, np.int64)
        certs = np.empty(block)
        i0 = blk * block
        i1 = min(m, i0 + block)
        qlo = np.empty(d)
        qhi = np.empty(d)
        for c in range(d):
            qlo[c] = qs[i0:i1, c].min()
            qhi[c] = qs[i0:i1, c].max()
        nw, nn = _block_lists(qlo, qhi, lo, hi, left, right, bmin, bmax, margin, slot, direct_max, stack, whole, near)
        unpruned = nw >= 0 and _direct_keys(whole, nw, near, nn, lo, hi, slot) >= share * kt.shape[1]
        if unpruned:
            _all_keys(qs, i0, i1, excl, kt, vt, code, closed, f32, ALL_KEYS_RUN, buf, accs, insides, certs)
        for i in range(i0, i1):
            q = qs[i]
            if unpruned:
                acc[:] = accs[i - i0]
                inside, cert = insides[i - i0], certs[i - i0]
            elif nw >= 0:
                inside, cert = _query_lists(q, excl[i], whole, nw, near, nn, lo, hi, left, right, bmin, bmax, centre,
                                            radius, kt, vt, code, closed, f32, margin, slot, M, degree, e0, e1, e2,
                                            acc, buf, stack)
            else:
                inside, cert = _query(q, excl[i], lo, hi, left, right, bmin, bmax, centre, radius, kt, vt, code,
                                      closed, f32, margin, slot, M, degree, e0, e1, e2, True, acc, stack, buf)
            if inside > 0 and degree >= 0 and not (cert <= ratio * acc[kc - 1]):
                fallbacks[blk] += 1
                inside, cert = _query(q, excl[i], lo, hi, left, right, bmin, bmax, centre, radius, kt, vt, code,
                                      closed, f32, margin, slot, M, degree, e0, e1, e2, False, acc, stack, buf)
            if inside == 0:
                acc[:] = 0.0
            out[i] = acc
        finish(claims)
        blk = claim(claims)
    return all_done(claims, nblocks)
