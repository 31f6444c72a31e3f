"""Compact kernels of the sorted engine: support windows and a segment tree of centred moments.

**Compact polynomial kernels** (boxcar, epanechnikov, triangular, biweight,
tricube and their squares; any :class:`~nadaraya.kernels.Kernel` with ``poly``),
**cosine** and its square.
The keys inside a query's support are one run of the sorted keys, found by
binary search with the reference engine's own test (``(q - k)**2 < 1`` in the
input dtype, ``<= 1`` for boxcar), so both engines agree on which keys count
and on which queries have none (NaN). The run is summed with a segment tree
over leaves of :data:`COMPACT_LEAF` sorted keys: a run is O(log n) whole
nodes plus at most two partial leaves, summed key by key. Each node stores the
moments of its keys about its own centre c, ``M_l = sum v (k - c)**l`` (for
cosine ``sum v cos(pi (k - c) / 2)`` and the ``sin`` partner; for its square
``cos**2 = (1 + cos(2 .)) / 2``, ``sum v`` and the pair at twice the angle),
built bottom-up by re-centring the children's (a binomial shift; a rotation for
cosine). At
query q the node's sum is ``sum_l a_l M_l``, with ``a_l`` the Taylor
coefficients of K at ``d = c - q``, evaluated from K's expansion about the
nearest of :data:`EXPANSION_POINTS` points between -1 and 1 (exact, from
fractions), so K stays accurate to a few ulps even where it is tiny near the
edge of the support. Every quantity is O(1), since a node inside a window
spans less than the window: nothing suffers the cancellation of global prefix
sums of ``k**j v`` (degree 9 for tricube). Kernels with odd powers of ``|u|``
(triangular, tricube) split the run at the query and use the left and right
polynomials. Each query also carries a rounding certificate, ``sum_nodes
sum_l |a_l| sum_keys |k - c|**l`` (the size of the terms that were added);
when it exceeds :data:`CERTIFICATE_RATIO` times the sum of weights (keys
crowded at the very edge of the support, where the expansion cancels) the
query is summed directly over its window. ``exclude_self`` splits the run
around the query's own key. Against long-double sums this path is within a
few 1e-15 of ``max|values|``, also for keys 1e-12 from the edge of the
support (where the dense reference, which takes ``log1p(-u**2)`` and
similar, is off by up to ~1e-11).
"""

from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache
from typing import NamedTuple

import numba
import numpy as np

from ._common import cospi_half, parallel, search_right, sinpi_half, tree_ranges, tree_size, windows_chunk

#: Sorted keys per leaf of the compact kernels' moment tree.
COMPACT_LEAF = 16
#: Expansion points of a compact kernel's polynomial, evenly spaced on [-S, S].
EXPANSION_POINTS = 9
#: A compact-kernel query whose rounding certificate exceeds this many times
#: its sum of weights is summed directly over its window.
CERTIFICATE_RATIO = 64.0


class KernelTables(NamedTuple):
    """The kernel as the jitted sums read it: polynomial expansions, or the cosine basis."""

    tabs: np.ndarray  # (2, nz, L): tabs[side, z, l], coefficient of y**l of P_side(z + y)
    wt: np.ndarray  # (2, nz, L, L): Taylor coefficients of P_side at z + t (see _poly_tables)
    split: bool  # odd powers of |u|: left and right polynomials differ
    basis: int  # 0: polynomial moments; 1: cosine (cos / sin moments); 2: cosine**2 (sum, cos / sin at twice the angle)
    support: float


class MomentTree(NamedTuple):
    """Segment tree of centred moments over leaves of ``leaf`` sorted keys (``size`` leaves)."""

    leaf: int
    size: int
    cen: np.ndarray  # (2 size,) node centres
    mom: np.ndarray  # (2 size, L, kc) moments sum v (k - c)**l (cosine: cos / sin)
    amom: np.ndarray  # (2 size, L) absolute moments, for the rounding certificate


@numba.njit(cache=True)
def _expansion_point(x, support, nz):
    """Index of the expansion point nearest to x among -S, -S + h, ..., S (h = 2 S / (nz - 1))."""
    step = 2.0 * support / (nz - 1)
    zi = int(math.floor((x + support) / step + 0.5))
    return min(max(zi, 0), nz - 1)


@numba.njit(cache=True)
def _kvalue(x, side, kt):
    """K at signed offset x = k - q (inside the support), from the expansion nearest to x."""
    tabs, basis, support = kt.tabs, kt.basis, kt.support
    if basis >= 1:
        v = cospi_half(x)
        v = v if v > 0.0 else 0.0
        return v * v if basis == 2 else v
    nz = tabs.shape[1]
    zi = _expansion_point(x, support, nz)
    y = x - (-support + zi * (2.0 * support / (nz - 1)))
    L = tabs.shape[2]
    v = tabs[side, zi, L - 1]
    for l in range(L - 2, -1, -1):
        v = v * y + tabs[side, zi, l]
    return v if v > 0.0 else 0.0


@numba.njit(cache=True)
def _direct(ks, V, q, a, b, side, split, kt, acc):
    """Add K(k - q) v over keys [a, b) to acc[:kc]; acc[kc] gets the certificate."""
    kc = V.shape[1]
    for i in range(a, b):
        x = ks[i] - q
        sd = side
        if split:
            sd = 0 if x <= 0.0 else 1
        w = _kvalue(x, sd, kt)
        for c in range(kc):
            acc[c] += w * V[i, c]
        acc[kc] += w


@numba.njit(cache=True)
def _add_node(j, q, side, kt, tree, buf, acc):
    """Add node j's sum of K(k - q) v to acc[:kc] and its rounding certificate to acc[kc].

    With ``d = c - q`` (c the node's centre), ``K(x + d) = sum_l a_l x**l``
    where ``a_l = sum_m t**m wt[side, z, m, l]`` are the Taylor coefficients
    of K at d, computed from the expansion about the nearest point z
    (``t = d - z``, ``|t| <= S / 8``); the node's sum is ``sum_l a_l M_l``.
    Cosine: ``cos(pi d / 2) M_0 - sin(pi d / 2) M_1``; its square, ``cos**2 = (1 + cos(2 .)) / 2``:
    ``(M_0 + cos(pi d) M_1 - sin(pi d) M_2) / 2``. The certificate adds
    ``sum_l |a_l| A_l`` (A: absolute moments).
    """
    basis, support, wt = kt.basis, kt.support, kt.wt
    cen, mom, amom = tree.cen, tree.mom, tree.amom
    kc = mom.shape[2]
    d = cen[j] - q
    if basis == 1:
        a0 = cospi_half(d)
        a1 = -sinpi_half(d)
        for c in range(kc):
            acc[c] += a0 * mom[j, 0, c] + a1 * mom[j, 1, c]
        acc[kc] += abs(a0) * amom[j, 0] + abs(a1) * amom[j, 1]
        return
    if basis == 2:
        a1 = 0.5 * cospi_half(2.0 * d)
        a2 = -0.5 * sinpi_half(2.0 * d)
        for c in range(kc):
            acc[c] += 0.5 * mom[j, 0, c] + a1 * mom[j, 1, c] + a2 * mom[j, 2, c]
        acc[kc] += 0.5 * amom[j, 0] + abs(a1) * amom[j, 1] + abs(a2) * amom[j, 2]
        return
    nz = wt.shape[1]
    zi = _expansion_point(d, support, nz)
    t = d - (-support + zi * (2.0 * support / (nz - 1)))
    L = mom.shape[1]
    a = buf
    for l in range(L):
        a[l] = wt[side, zi, 0, l]
    tm = 1.0
    for mm in range(1, L):
        tm *= t
        for l in range(L - mm):
            a[l] += tm * wt[side, zi, mm, l]
    err = 0.0
    for l in range(L):
        err += abs(a[l]) * amom[j, l]
    acc[kc] += err
    for c in range(kc):
        v = 0.0
        for l in range(L):
            v += a[l] * mom[j, l, c]
        acc[c] += v


@numba.njit(cache=True)
def _add_range(ks, V, q, a, b, side, kt, tree, buf, acc):
    """Sum over keys [a, b): partial leaves directly, whole leaves through the tree."""
    leaf, size = tree.leaf, tree.size
    if a >= b:
        return
    fa = (a + leaf - 1) // leaf
    fb = b // leaf
    if fa >= fb:
        _direct(ks, V, q, a, b, side, False, kt, acc)
        return
    _direct(ks, V, q, a, fa * leaf, side, False, kt, acc)
    _direct(ks, V, q, fb * leaf, b, side, False, kt, acc)
    l = fa + size
    r = fb + size
    while l < r:
        if l & 1:
            _add_node(l, q, side, kt, tree, buf, acc)
            l += 1
        if r & 1:
            r -= 1
            _add_node(r, q, side, kt, tree, buf, acc)
        l >>= 1
        r >>= 1


@numba.njit(cache=True)
def _compact_tree(ks, V, leaf, size, L, basis, span_cap):
    """Segment tree of centred moments (see the module docstring)."""
    n = ks.shape[0]
    kc = V.shape[1]
    nodes = 2 * size
    lo = np.zeros(nodes, np.int64)
    hi = np.zeros(nodes, np.int64)
    tree_ranges(n, leaf, size, lo, hi)
    cen = np.zeros(nodes)
    valid = np.zeros(nodes, np.bool_)
    mom = np.zeros((nodes, L, kc))
    amom = np.zeros((nodes, L))
    for j in range(1, nodes):
        if lo[j] < hi[j]:
            kmin = ks[lo[j]]
            kmax = ks[hi[j] - 1]
            cen[j] = 0.5 * (kmin + kmax)
            valid[j] = kmax - kmin <= span_cap
    binom = np.zeros((L, L))
    for l in range(L):
        binom[l, 0] = 1.0
        for i in range(1, l + 1):
            binom[l, i] = binom[l - 1, i - 1] + (binom[l - 1, i] if i < l else 0.0)
    for j in range(size, nodes):  # leaves: direct
        if not valid[j]:
            continue
        c0 = cen[j]
        for i in range(lo[j], hi[j]):
            x = ks[i] - c0
            if basis >= 1:  # (1,) cos, sin of the angle pi x / 2 (cosine) or pi x (its square)
                o = basis - 1
                f0 = cospi_half(basis * x)
                f1 = sinpi_half(basis * x)
                for c in range(kc):
                    if o:
                        mom[j, 0, c] += V[i, c]
                    mom[j, o, c] += f0 * V[i, c]
                    mom[j, o + 1, c] += f1 * V[i, c]
                amom[j, 0] += o
                amom[j, o] += abs(f0)
                amom[j, o + 1] += abs(f1)
            else:
                p = 1.0
                ax = abs(x)
                ap = 1.0
                for l in range(L):
                    for c in range(kc):
                        mom[j, l, c] += p * V[i, c]
                    amom[j, l] += ap
                    p *= x
                    ap *= ax
    powd = np.empty(L)
    apowd = np.empty(L)
    for j in range(size - 1, 0, -1):  # internal nodes: re-centre the children
        if not valid[j]:
            continue
        for ch in (2 * j, 2 * j + 1):
            if lo[ch] >= hi[ch]:
                continue
            dlt = cen[ch] - cen[j]
            if basis >= 1:  # rotate the (cos, sin) pair by the child's offset; the plain sum adds
                o = basis - 1
                cd = cospi_half(basis * dlt)
                sd = sinpi_half(basis * dlt)
                for c in range(kc):
                    if o:
                        mom[j, 0, c] += mom[ch, 0, c]
                    m0 = mom[ch, o, c]
                    m1 = mom[ch, o + 1, c]
                    mom[j, o, c] += cd * m0 - sd * m1
                    mom[j, o + 1, c] += sd * m0 + cd * m1
                amom[j, 0] += o * amom[ch, 0]
                a0 = amom[ch, o]
                a1 = amom[ch, o + 1]
                amom[j, o] += abs(cd) * a0 + abs(sd) * a1
                amom[j, o + 1] += abs(sd) * a0 + abs(cd) * a1
            else:
                powd[0] = 1.0
                apowd[0] = 1.0
                for l in range(1, L):
                    powd[l] = powd[l - 1] * dlt
                    apowd[l] = apowd[l - 1] * abs(dlt)
                for l in range(L):
                    for i in range(l + 1):
                        f = binom[l, i] * powd[l - i]
                        for c in range(kc):
                            mom[j, l, c] += f * mom[ch, i, c]
                        amom[j, l] += binom[l, i] * apowd[l - i] * amom[ch, i]
    return lo, hi, cen, valid, mom, amom


@numba.njit(cache=True, nogil=True)
def _compact_chunk(ks, V, qs, wlo, whi, excl, kt, tree, ratio, out, i0, i1):
    """Pool queries i0..i1-1 over their windows; returns how many needed the direct fallback.

    ``out[i, :k]`` gets the pooled values, ``out[i, k]`` the log-normaliser ``log sum_j K_j``.
    """
    split, mom = kt.split, tree.mom
    kc = V.shape[1]
    k = kc - 1
    fallbacks = 0
    acc = np.empty(kc + 1)
    buf = np.empty(mom.shape[1])
    for i in range(i0, i1):
        q = qs[i]
        a = wlo[i]
        b = whi[i]
        s = excl[i] if excl.shape[0] > 0 else -1
        count = b - a
        if a <= s < b:
            count -= 1
        if count <= 0:
            for c in range(k):
                out[i, c] = np.nan
            out[i, k] = -np.inf
            continue
        acc[:] = 0.0
        if split:
            mid = a + search_right(ks[a:b], q)
            pieces = ((a, mid, 0), (mid, b, 1))
        else:
            pieces = ((a, b, 1), (b, b, 1))
        for pc in pieces:
            pa, pb, side = pc
            if pa <= s < pb:
                _add_range(ks, V, q, pa, s, side, kt, tree, buf, acc)
                _add_range(ks, V, q, s + 1, pb, side, kt, tree, buf, acc)
            else:
                _add_range(ks, V, q, pa, pb, side, kt, tree, buf, acc)
        den = acc[k]
        if not (acc[kc] <= ratio * den):  # rounding certificate failed: sum the window directly
            fallbacks += 1
            acc[:] = 0.0
            if a <= s < b:
                _direct(ks, V, q, a, s, 1, split, kt, acc)
                _direct(ks, V, q, s + 1, b, 1, split, kt, acc)
            else:
                _direct(ks, V, q, a, b, 1, split, kt, acc)
            den = acc[k]
        for c in range(k):
            out[i, c] = acc[c] / den
        out[i, k] = math.log(den)  # the weights are K itself: scores log K, no shift
    return fallbacks


@lru_cache(maxsize=64)
def _poly_tables(poly, support, nz=EXPANSION_POINTS):
    """Coefficients of K's polynomial on each side, expanded about nz points from -S to S.

    ``tabs[side, z, l]``: coefficient of ``y**l`` in ``P_side(z + y)``, where
    ``P_1(x) = sum_j c_j x**j`` (keys right of the query) and
    ``P_0(x) = sum_j c_j (-x)**j`` (keys left of it). ``wt[side, z, m, l] =
    C(l + m, l) tabs[side, z, l + m]``, so that ``sum_m t**m wt[.., m, l]`` is the
    l-th Taylor coefficient of ``P_side`` at ``z + t``. Exact (fractions), then rounded; cached (the
    tables of tricube**2, degree 18, take a quarter of a second): callers only read them.
    """
    c = [Fraction(x) for x in poly]
    L = len(c)
    split = any(c[j] != 0 for j in range(1, L, 2))
    S = Fraction(support)
    tabs = np.zeros((2, nz, L))
    wt = np.zeros((2, nz, L, L))
    for side, sign in ((0, -1), (1, 1)):
        cs = [cj * sign**j for j, cj in enumerate(c)]
        for zi in range(nz):
            z = -S + 2 * S * zi / (nz - 1)
            e = [sum(cs[j] * math.comb(j, l) * z ** (j - l) for j in range(l, L)) for l in range(L)]
            tabs[side, zi] = [float(v) for v in e]
            for mm in range(L):
                for l in range(L - mm):
                    wt[side, zi, mm, l] = float(math.comb(l + mm, l) * e[l + mm])
    return tabs, wt, split


def pool_compact(qs_in, ks_in, V, excl, kernel, path, threads):
    n = ks_in.shape[0]
    m = qs_in.shape[0]
    kc = V.shape[1]
    support = float(kernel.support)
    dt = ks_in.dtype.type
    wlo = np.empty(m, np.int64)
    whi = np.empty(m, np.int64)
    parallel(windows_chunk, m, threads, ks_in, qs_in, dt(support * support), kernel.closed_support, wlo, whi)
    ks = ks_in.astype(np.float64, copy=False)
    if path in ("cosine", "cosine^2"):
        basis = 1 if path == "cosine" else 2
        kt = KernelTables(np.zeros((2, 3, 1)), np.zeros((2, 3, 1, 1)), False, basis, support)
        L = basis + 1
    else:
        tabs, wt, split = _poly_tables(kernel.poly, support)
        kt = KernelTables(tabs, wt, split, 0, support)
        L = tabs.shape[2]
    size = tree_size(n, COMPACT_LEAF)
    _, _, cen, _, mom, amom = _compact_tree(ks, V, COMPACT_LEAF, size, L, kt.basis, 4.0 * support)
    tree = MomentTree(COMPACT_LEAF, size, cen, mom, amom)
    out = np.empty((m, kc))
    qs = qs_in.astype(np.float64, copy=False)
    fallbacks = parallel(_compact_chunk, m, threads, ks, V, qs, wlo, whi, excl, kt, tree, CERTIFICATE_RATIO, out)
    return out, {"fallbacks": int(sum(fallbacks))}
