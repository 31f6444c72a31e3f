"""Sorted 1-D engine: exact window and recursion sums over sorted keys (d = 1).

The keys of each batch element are sorted once (O(n log n)) and the queries
are processed in sorted order (neighbouring queries touch the same keys);
every query then costs O(log n), so m = n = 10^6 takes about a second in
memory O(n + m). Inputs are the engines' canonical arrays (see
:mod:`nadaraya.engines`): queries (b, m, 1) and keys (b, n, 1) already divided
by the bandwidth, values (b, n, k). Sums are done in float64; the result has
the input dtype. Three paths, chosen by the kernel:

**Compact polynomial kernels** (boxcar, epanechnikov, triangular, biweight,
tricube; any :class:`~nadaraya.kernels.Kernel` with ``poly``) and **cosine**.
The keys inside a query's support are one run of the sorted keys, found by
binary search with the reference engine's own test (``(q - k)**2 < 1`` in the
input dtype, ``<= 1`` for boxcar), so both engines agree on which keys count
and on which queries have none (NaN). The run is summed with a segment tree
over leaves of :data:`COMPACT_LEAF` sorted keys: a run is O(log n) whole
nodes plus at most two partial leaves, summed key by key. Each node stores the
moments of its keys about its own centre c, ``M_l = sum v (k - c)**l`` (for
cosine ``sum v cos(pi (k - c) / 2)`` and the ``sin`` partner), built bottom-up
by re-centring the children's (a binomial shift; a rotation for cosine). At
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

**Exponential kernels** ``poly(|u|) exp(-|u|)`` (laplace; any Kernel with
``exp_abs``): Hofmeyr's exact recursions ("Fast exact evaluation of univariate
kernel sums", IEEE TPAMI 43(2), 2021; the method of R's FKSUM). Running left
sums ``SL_l(i) = sum_{i' <= i} v_i' (k_i - k_i')**l / l! exp(-(k_i - k_i'))``
and the mirror-image right sums are updated with factors ``exp(-(k_{i+1} -
k_i)) <= 1``: nothing overflows and every term of the weight sum is positive.
So that long chains of rounded factors do not accumulate, the recursion
restarts every :data:`LAPLACE_BLOCK` keys and block totals are carried with one
factor per block. A query is anchored at its nearest key on each side and
everything is scaled by ``exp(+delta)``, delta the distance to the nearest
key: the weights are relative to the largest one (the softmax), so far
queries and tiny bandwidths give the nearest keys' values, not 0/0.
``exclude_self`` moves an anchor past the query's own key when it is the
anchor, and otherwise subtracts that key's weight, which is then at most the
anchor's (no cancellation).

**Gaussian**: a tree code with Taylor expansions (a 1-D fast Gauss transform)
on a segment tree over leaves of :data:`GAUSS_LEAF` keys. A node with centre c
and radius r stores ``G_l = sum v exp(-x**2 / 2) x**l / l!`` (``x = k - c``,
``l < p``) and contributes at query q, ``y = q - c``,

    exp(-(y**2 - delta**2) / 2) * sum_{l < p} G_l y**l,

delta the distance from q to its nearest (non-excluded) key, so the nearest
key weighs exactly 1 and nothing underflows. Per key the truncation error is
at most ``tau = rho**p e**rho / p!`` times that key's exact weight, with
``rho = r |y|``; so a node is expanded only when ``r |y| <= rho_max``
(:data:`GAUSS_RHO` = 1), otherwise it is opened, and leaves, nodes with few
keys and nodes holding an excluded key are summed directly. A node whose keys
all lie at distance >= s from q weighs at most ``W = count exp(-(s**2 -
delta**2) / 2)``; it is dropped when W is below 2**-10 tol times the weight
summed so far (nearest nodes first). Dense runs of sorted queries are
grouped in boxes of half-width rT (:data:`GAUSS_BOX_RHO` / (drop radius + 2))
that share one local expansion in ``eta = q - t`` (t the box centre): each
node's series is re-centred exactly to the box and ``exp(-Y eta)`` (``Y = t -
c``, ``|Y| rT <= rho_b = 1/2``) expanded to order p_b, so a query costs one
polynomial of degree ``p + p_b - 2``; queries of boxes that cannot be expanded
(sources too far, few queries, an own key that dominates) use the tree code.

Error bound: with ``D >= 1`` the (scaled) sum of weights, p and p_b the least
orders with ``tau = rho_max**p e**rho_max / p! <= tol / 16`` and ``tau_b =
rho_b**p_b e**rho_b / p_b! <= tol / 16``,

    |f_sorted(q) - f(q)| <= (2 (tau + tau_b) + 2 W_dropped / D + rounding) max|v|
                         <= (tol / 4 + tol / 4 + ~1e-14) max|v|,

since every key's weight is off by at most a factor ``1 +- (tau + tau_b)``
and ``W_dropped / D <= tol / 8`` is checked after each query (the query is
redone with a 1024 times smaller drop threshold, at worst none, if it fails).
The terms of a series add up to at most ``e**(2 (rho_max + rho_b)) ~ 20``
times their sum, so rounding stays ~1e-14 (measured: a few 1e-15 against
long-double sums); a ``tol`` below :data:`GAUSS_MIN_TOL` = 1e-14 is treated as
1e-14, since no float64 engine, the dense one included, agrees to better.

The constant kernel (average pooling) is the mean of the values, or of the
others for ``exclude_self``.

All loops are Numba functions compiled on first use (``cache=True``, nothing
at import). They release the GIL, and chunks of queries run concurrently on a
thread pool of ``num_threads`` threads (default: Numba's setting); Numba's
own thread count is never changed.
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction

import numba
import numpy as np

from ..kernels import KERNELS as _REGISTRY
from ..kernels import Kernel

#: Registry name (``method="sorted"``).
NAME = "sorted"

#: Options :func:`pool` takes (validated by :mod:`nadaraya.pooling`).
OPTIONS = ("num_threads", "tol")

#: Exact to rounding except the Gaussian path, which is within ``tol``.
EXACT = False

#: From this many query-key pairs (m * n) "auto" takes this engine for 1-D keys.
SORTED_MIN_PAIRS = 1 << 23

__all__ = ["supports", "pool", "KERNELS"]

#: Sorted keys per leaf of the compact kernels' moment tree.
COMPACT_LEAF = 16
#: Sorted keys per leaf of the Gaussian tree.
GAUSS_LEAF = 32
#: Expansion points of a compact kernel's polynomial, evenly spaced on [-S, S].
EXPANSION_POINTS = 9
#: Keys per restart of the exponential recursions.
LAPLACE_BLOCK = 128
#: A compact-kernel query whose rounding certificate exceeds this many times
#: its sum of weights is summed directly over its window.
CERTIFICATE_RATIO = 64.0
#: Largest ``r |y|`` at which a Gaussian node is expanded instead of opened.
GAUSS_RHO = 1.0
#: Smallest ``tol`` the Gaussian path resolves: below it rounding (~1e-14) dominates anyway.
GAUSS_MIN_TOL = 1e-14
#: Per-node drop threshold of the Gaussian tree, relative to tol and the weight so far.
GAUSS_DROP = 2.0**-10
#: Largest ``|Y| rT`` for a box expansion (Y: source-to-box distance, rT: box half-width).
GAUSS_BOX_RHO = 0.5
#: Fewest queries for which a box expansion is built (fewer: tree code per query).
GAUSS_BOX_MIN = 16
#: Fewest queries (or nodes) worth splitting over threads.
PARALLEL_MIN = 2048
_PI_2 = 0.5 * math.pi
_MAX_DEPTH = 64


# --------------------------------------------------------------------------------------
# Which kernels
# --------------------------------------------------------------------------------------


def _path(kernel: Kernel) -> str | None:
    if kernel.name == "gaussian" and not kernel.compact:
        return "gaussian"
    if kernel.name == "constant" and not kernel.compact:
        return "constant"
    if kernel.name == "cosine" and kernel.support == 1.0:
        return "cosine"
    if kernel.poly is not None and kernel.compact and kernel.support > 0:
        return "poly"
    if kernel.exp_abs is not None and not kernel.compact:
        return "exp"
    return None


def supports(kernel: Kernel, d: int, options=None) -> bool:
    """Whether this engine handles ``kernel`` for ``d``-dimensional keys (only d = 1)."""
    return d == 1 and _path(kernel) is not None


#: Names of the registry's kernels this engine handles (for error messages).
KERNELS = tuple(name for name, kern in _REGISTRY.items() if supports(kern, 1))

#: What :func:`supports` needs, for the error when ``method="sorted"`` cannot run.
REQUIRES = f"1-D keys (d=1) and one of the kernels {', '.join(KERNELS)}"


def prefer(kernel: Kernel, shape) -> bool:
    """The "auto" rule: from :data:`SORTED_MIN_PAIRS` pairs, and at any size for the exponential kernels.

    The set-up (sorting, trees) pays off above ~10**7 pairs (measured
    crossover on 2 cores); the exponential kernels' recursions are O(m + n).
    """
    _, m, n, _, _ = shape
    return m * n >= SORTED_MIN_PAIRS or kernel.exp_abs is not None


# --------------------------------------------------------------------------------------
# Shared numeric helpers
# --------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _cospi_half(x):
    """cos(pi x / 2), accurate near its zeros at |x| = 1."""
    a = abs(x)
    if a <= 0.5:
        return math.cos(_PI_2 * x)
    return math.sin(_PI_2 * (1.0 - a))


@numba.njit(cache=True)
def _sinpi_half(x):
    """sin(pi x / 2)."""
    a = abs(x)
    if a <= 0.5:
        return math.sin(_PI_2 * x)
    s = math.cos(_PI_2 * (1.0 - a))
    return s if x > 0 else -s


def _thread_count(num_threads):
    """Threads for one call: ``num_threads`` (at most ``NUMBA_NUM_THREADS``) or Numba's current setting."""
    if num_threads is None:
        return numba.get_num_threads()
    return max(1, min(int(num_threads), numba.config.NUMBA_NUM_THREADS))


def _parallel(fn, count, threads, *args, work=None):
    """``fn(*args, i0, i1)`` over chunks of ``range(count)``, on ``threads`` threads; the results, in order.

    ``fn`` is a Numba function compiled with ``nogil=True``, so the chunks run
    concurrently on a thread pool (Numba's own parallel backend would add
    seconds of compilation per function for the same speed). ``work`` (default
    ``count``) decides whether splitting is worth it.
    """
    work = count if work is None else work
    chunks = max(1, min(count, 8 * threads)) if threads > 1 and work >= PARALLEL_MIN else 1
    bounds = [(c * count // chunks, (c + 1) * count // chunks) for c in range(chunks)]
    if chunks == 1:
        return [fn(*args, i0, i1) for i0, i1 in bounds]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(lambda b: fn(*args, b[0], b[1]), bounds))


@numba.njit(cache=True)
def _search_right(ks, q):
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
def _search_left(ks, q):
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
def _tree_ranges(n, leaf, size, lo, hi):
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


def _tree_size(n, leaf):
    nb = max(1, -(-n // leaf))
    return 1 << (nb - 1).bit_length()


# --------------------------------------------------------------------------------------
# Compact kernels: windows, moment tree, queries
# --------------------------------------------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _windows_chunk(ks, qs, s2, closed, wlo, whi, i0, i1):
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
def _expansion_point(x, support, nz):
    """Index of the expansion point nearest to x among -S, -S + h, ..., S (h = 2 S / (nz - 1))."""
    step = 2.0 * support / (nz - 1)
    zi = int(math.floor((x + support) / step + 0.5))
    return min(max(zi, 0), nz - 1)


@numba.njit(cache=True)
def _kvalue(x, side, tabs, basis, support):
    """K at signed offset x = k - q (inside the support), from the expansion nearest to x."""
    if basis == 1:
        v = _cospi_half(x)
        return v if v > 0.0 else 0.0
    nz = tabs.shape[1]
    zi = _expansion_point(x, support, nz)
    y = x - (-support + zi * (2.0 * support / (nz - 1)))
    L = tabs.shape[2]
    v = tabs[side, zi, L - 1]
    for l in range(L - 2, -1, -1):
        v = v * y + tabs[side, zi, l]
    return v if v > 0.0 else 0.0


@numba.njit(cache=True)
def _direct(ks, V, q, a, b, side, split, tabs, basis, support, acc):
    """Add K(k - q) v over keys [a, b) to acc[:kc]; acc[kc] gets the certificate."""
    kc = V.shape[1]
    for i in range(a, b):
        x = ks[i] - q
        sd = side
        if split:
            sd = 0 if x <= 0.0 else 1
        w = _kvalue(x, sd, tabs, basis, support)
        for c in range(kc):
            acc[c] += w * V[i, c]
        acc[kc] += w


@numba.njit(cache=True)
def _add_node(j, q, side, basis, support, cen, mom, amom, wt, buf, acc):
    """Add node j's sum of K(k - q) v to acc[:kc] and its rounding certificate to acc[kc].

    With ``d = c - q`` (c the node's centre), ``K(x + d) = sum_l a_l x**l``
    where ``a_l = sum_m t**m wt[side, z, m, l]`` are the Taylor coefficients
    of K at d, computed from the expansion about the nearest point z
    (``t = d - z``, ``|t| <= S / 8``); the node's sum is ``sum_l a_l M_l``.
    Cosine: ``cos(pi d / 2) M_0 - sin(pi d / 2) M_1``. The certificate adds
    ``sum_l |a_l| A_l`` (A: absolute moments).
    """
    kc = mom.shape[2]
    d = cen[j] - q
    if basis == 1:
        a0 = _cospi_half(d)
        a1 = -_sinpi_half(d)
        for c in range(kc):
            acc[c] += a0 * mom[j, 0, c] + a1 * mom[j, 1, c]
        acc[kc] += abs(a0) * amom[j, 0] + abs(a1) * amom[j, 1]
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
def _add_range(ks, V, q, a, b, side, tabs, basis, support, leaf, size, cen, mom, amom, wt, buf, acc):
    """Sum over keys [a, b): partial leaves directly, whole leaves through the tree."""
    if a >= b:
        return
    fa = (a + leaf - 1) // leaf
    fb = b // leaf
    if fa >= fb:
        _direct(ks, V, q, a, b, side, False, tabs, basis, support, acc)
        return
    _direct(ks, V, q, a, fa * leaf, side, False, tabs, basis, support, acc)
    _direct(ks, V, q, fb * leaf, b, side, False, tabs, basis, support, acc)
    l = fa + size
    r = fb + size
    while l < r:
        if l & 1:
            _add_node(l, q, side, basis, support, cen, mom, amom, wt, buf, acc)
            l += 1
        if r & 1:
            r -= 1
            _add_node(r, q, side, basis, support, cen, mom, amom, wt, buf, acc)
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
    _tree_ranges(n, leaf, size, lo, hi)
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
            if basis == 1:
                f0 = _cospi_half(x)
                f1 = _sinpi_half(x)
                for c in range(kc):
                    mom[j, 0, c] += f0 * V[i, c]
                    mom[j, 1, c] += f1 * V[i, c]
                amom[j, 0] += abs(f0)
                amom[j, 1] += abs(f1)
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
            if basis == 1:
                cd = _cospi_half(dlt)
                sd = _sinpi_half(dlt)
                for c in range(kc):
                    m0 = mom[ch, 0, c]
                    m1 = mom[ch, 1, c]
                    mom[j, 0, c] += cd * m0 - sd * m1
                    mom[j, 1, c] += sd * m0 + cd * m1
                a0 = amom[ch, 0]
                a1 = amom[ch, 1]
                amom[j, 0] += abs(cd) * a0 + abs(sd) * a1
                amom[j, 1] += abs(sd) * a0 + abs(cd) * a1
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
def _compact_chunk(
    ks, V, qs, wlo, whi, excl, tabs, wt, split, basis, support, leaf, size, cen, mom, amom, ratio, out, i0, i1
):
    """Pool queries i0..i1-1 over their windows; returns how many needed the direct fallback."""
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
            continue
        acc[:] = 0.0
        if split:
            mid = a + _search_right(ks[a:b], q)
            pieces = ((a, mid, 0), (mid, b, 1))
        else:
            pieces = ((a, b, 1), (b, b, 1))
        for pc in pieces:
            pa, pb, side = pc
            if pa <= s < pb:
                _add_range(ks, V, q, pa, s, side, tabs, basis, support, leaf, size, cen, mom, amom, wt, buf, acc)
                _add_range(ks, V, q, s + 1, pb, side, tabs, basis, support, leaf, size, cen, mom, amom, wt, buf, acc)
            else:
                _add_range(ks, V, q, pa, pb, side, tabs, basis, support, leaf, size, cen, mom, amom, wt, buf, acc)
        den = acc[k]
        if not (acc[kc] <= ratio * den):  # rounding certificate failed: sum the window directly
            fallbacks += 1
            acc[:] = 0.0
            if a <= s < b:
                _direct(ks, V, q, a, s, 1, split, tabs, basis, support, acc)
                _direct(ks, V, q, s + 1, b, 1, split, tabs, basis, support, acc)
            else:
                _direct(ks, V, q, a, b, 1, split, tabs, basis, support, acc)
            den = acc[k]
        for c in range(k):
            out[i, c] = acc[c] / den
    return fallbacks


def _poly_tables(poly, support, nz=EXPANSION_POINTS):
    """Coefficients of K's polynomial on each side, expanded about nz points from -S to S.

    ``tabs[side, z, l]``: coefficient of ``y**l`` in ``P_side(z + y)``, where
    ``P_1(x) = sum_j c_j x**j`` (keys right of the query) and
    ``P_0(x) = sum_j c_j (-x)**j`` (keys left of it). ``wt[side, z, m, l] =
    C(l + m, l) tabs[side, z, l + m]``, so that ``sum_m t**m wt[.., m, l]`` is the
    l-th Taylor coefficient of ``P_side`` at ``z + t``. Exact (fractions), then rounded.
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


def _closed_support(kernel: Kernel) -> bool:
    """Whether keys at exactly the support radius count (boxcar)."""
    return bool(np.isfinite(kernel.score(np.array([kernel.support**2]))[0]))


def _pool_compact(qs_in, ks_in, V, excl, kernel, path, threads):
    n = ks_in.shape[0]
    m = qs_in.shape[0]
    kc = V.shape[1]
    support = float(kernel.support)
    dt = ks_in.dtype.type
    wlo = np.empty(m, np.int64)
    whi = np.empty(m, np.int64)
    _parallel(_windows_chunk, m, threads, ks_in, qs_in, dt(support * support), _closed_support(kernel), wlo, whi)
    ks = ks_in.astype(np.float64, copy=False)
    if path == "cosine":
        tabs, wt, split, basis, L = np.zeros((2, 3, 1)), np.zeros((2, 3, 1, 1)), False, 1, 2
    else:
        tabs, wt, split = _poly_tables(kernel.poly, support)
        basis, L = 0, tabs.shape[2]
    size = _tree_size(n, COMPACT_LEAF)
    _, _, cen, _, mom, amom = _compact_tree(ks, V, COMPACT_LEAF, size, L, basis, 4.0 * support)
    out = np.empty((m, kc - 1))
    fallbacks = _parallel(
        _compact_chunk, m, threads, ks, V, qs_in.astype(np.float64, copy=False), wlo, whi, excl, tabs, wt, split,
        basis, support, COMPACT_LEAF, size, cen, mom, amom, CERTIFICATE_RATIO, out,
    )
    return out, {"fallbacks": int(sum(fallbacks))}


# --------------------------------------------------------------------------------------
# Exponential kernels poly(|u|) exp(-|u|): Hofmeyr's recursions
# --------------------------------------------------------------------------------------


@numba.njit(cache=True)
def _exp_shift_add(src, i, D, ifact, dst, j):
    """dst[j, l] += exp(-D) sum_{m <= l} D**(l-m) / (l-m)! src[i, m]: sums of v x**l / l! exp(-x) moved by D."""
    L = src.shape[1]
    kc = src.shape[2]
    e = math.exp(-D)
    if e == 0.0:
        return
    for l in range(L):
        f = e
        for mm in range(l, -1, -1):  # term D**(l-mm)/(l-mm)!
            g = f * ifact[l - mm]
            for c in range(kc):
                dst[j, l, c] += g * src[i, mm, c]
            f *= D


@numba.njit(cache=True)
def _exp_sums(ks, V, L, block):
    """Running left sums SL and right sums SR (see the module docstring)."""
    n = ks.shape[0]
    kc = V.shape[1]
    ifact = np.empty(L + 1)
    ifact[0] = 1.0
    for l in range(1, L + 1):
        ifact[l] = ifact[l - 1] / l
    SL = np.zeros((n, L, kc))
    SR = np.zeros((n, L, kc))
    nb = (n + block - 1) // block
    # block-local recursions
    for bb in range(nb):
        a = bb * block
        e = min(n, a + block)
        for i in range(a, e):
            if i > a:
                _exp_shift_add(SL, i - 1, ks[i] - ks[i - 1], ifact, SL, i)
            for c in range(kc):
                SL[i, 0, c] += V[i, c]
        for i in range(e - 1, a - 1, -1):
            if i < e - 1:
                _exp_shift_add(SR, i + 1, ks[i + 1] - ks[i], ifact, SR, i)
            for c in range(kc):
                SR[i, 0, c] += V[i, c]
    # carries: sums of everything up to the end (from the start) of each block, one factor per block
    CL = np.zeros((nb, L, kc))
    CR = np.zeros((nb, L, kc))
    for bb in range(nb):
        e = min(n, (bb + 1) * block) - 1
        a = bb * block
        for l in range(L):
            for c in range(kc):
                CL[bb, l, c] = SL[e, l, c]
                CR[bb, l, c] = SR[a, l, c]
    for bb in range(1, nb):
        e = min(n, (bb + 1) * block) - 1
        _exp_shift_add(CL, bb - 1, ks[e] - ks[bb * block - 1], ifact, CL, bb)
    for bb in range(nb - 2, -1, -1):
        a = bb * block
        _exp_shift_add(CR, bb + 1, ks[(bb + 1) * block] - ks[a], ifact, CR, bb)
    for bb in range(1, nb):
        anchor = bb * block - 1
        for i in range(bb * block, min(n, (bb + 1) * block)):
            _exp_shift_add(CL, bb - 1, ks[i] - ks[anchor], ifact, SL, i)
    for bb in range(nb - 1):
        anchor = (bb + 1) * block
        for i in range(bb * block, anchor):
            _exp_shift_add(CR, bb + 1, ks[anchor] - ks[i], ifact, SR, i)
    return SL, SR


@numba.njit(cache=True)
def _exp_side(S, delta, scale, cf, ifact, acc):
    """acc += scale * sum_j cf_j sum_{m<=j} delta**(j-m)/(j-m)! S_m  (cf_j = c_j j!)."""
    L = S.shape[0]
    kc = S.shape[1]
    if scale == 0.0:
        return
    for j in range(L):
        if cf[j] == 0.0:
            continue
        f = scale * cf[j]
        for mm in range(j, -1, -1):
            g = f * ifact[j - mm]
            for c in range(kc):
                acc[c] += g * S[mm, c]
            f *= delta


@numba.njit(cache=True)
def _poly_abs(cf, ifact, x):
    """sum_j c_j x**j with cf_j = c_j j!."""
    v = 0.0
    for j in range(cf.shape[0] - 1, -1, -1):
        v = v * x + cf[j] * ifact[j]
    return v


@numba.njit(cache=True, nogil=True)
def _exp_chunk(ks, V, qs, excl, SL, SR, cf, out, i0, i1):
    n = ks.shape[0]
    kc = V.shape[1]
    k = kc - 1
    L = cf.shape[0]
    ifact = np.empty(L + 1)
    ifact[0] = 1.0
    for l in range(1, L + 1):
        ifact[l] = ifact[l - 1] / l
    acc = np.empty(kc)
    for i in range(i0, i1):
        q = qs[i]
        aL = _search_right(ks, q) - 1  # nearest key on each side
        aR = aL + 1
        s = excl[i] if excl.shape[0] > 0 else -1
        subtract = False
        if s >= 0:
            if s == aL:
                aL -= 1
            elif s == aR:
                aR += 1
            else:
                subtract = True
        dL = q - ks[aL] if aL >= 0 else np.inf
        dR = ks[aR] - q if aR < n else np.inf
        dmin = min(dL, dR)
        acc[:] = 0.0
        if aL >= 0:
            _exp_side(SL[aL], dL, math.exp(-(dL - dmin)), cf, ifact, acc)
        if aR < n:
            _exp_side(SR[aR], dR, math.exp(-(dR - dmin)), cf, ifact, acc)
        if subtract:  # the own key is farther than that side's anchor: no cancellation
            xs = abs(q - ks[s])
            w = _poly_abs(cf, ifact, xs) * math.exp(-(xs - dmin))
            for c in range(kc):
                acc[c] -= w * V[s, c]
        for c in range(k):
            out[i, c] = acc[c] / acc[k]


def _pool_exp(qs, ks, V, excl, kernel, threads):
    cf = np.array([c * math.factorial(j) for j, c in enumerate(kernel.exp_abs)], dtype=np.float64)
    SL, SR = _exp_sums(ks, V, cf.shape[0], LAPLACE_BLOCK)
    out = np.empty((qs.shape[0], V.shape[1] - 1))
    _parallel(_exp_chunk, qs.shape[0], threads, ks, V, qs, excl, SL, SR, cf, out)
    return out, {}


# --------------------------------------------------------------------------------------
# Gaussian: tree code with Taylor expansions
# --------------------------------------------------------------------------------------


def _gauss_order(tol, rho):
    """Least p with rho**p e**rho / p! <= tol / 16."""
    p = 1
    while rho**p * math.exp(rho) / math.factorial(p) > tol / 16.0 and p < 60:
        p += 1
    return p


@numba.njit(cache=True, nogil=True)
def _gauss_moments_chunk(ks, V, lo, hi, cen, nodes, p, G, t0, t1):
    """G[j, l] = sum v exp(-x**2/2) x**l / l! over the keys of listed nodes j (x = k - c_j)."""
    kc = V.shape[1]
    for t in range(t0, t1):
        j = nodes[t]
        c0 = cen[j]
        for i in range(lo[j], hi[j]):
            x = ks[i] - c0
            f = math.exp(-0.5 * x * x)
            for l in range(p):
                for c in range(kc):
                    G[j, l, c] += f * V[i, c]
                f *= x / (l + 1)


@numba.njit(cache=True)
def _gauss_direct(ks, V, q, delta, a, b, s, acc):
    kc = V.shape[1]
    for i in range(a, b):
        if i == s:
            continue
        x = abs(q - ks[i])
        w = math.exp(-0.5 * (x - delta) * (x + delta))
        for c in range(kc):
            acc[c] += w * V[i, c]


@numba.njit(cache=True)
def _gauss_one(ks, V, q, s, delta, lo, hi, cen, rad, usable, G, size, rho, pmin, thresh, stack, acc):
    """Tree code for one query: sums into acc[:kc]; returns the weight bound of dropped nodes."""
    kc = V.shape[1]
    p = G.shape[1]
    k = kc - 1
    dropped = 0.0
    acc[:] = 0.0
    sp = 1
    stack[0] = 1
    while sp > 0:
        sp -= 1
        j = stack[sp]
        a = lo[j]
        b = hi[j]
        if a >= b:
            continue
        cnt = b - a
        kmin = ks[a]
        kmax = ks[b - 1]
        if q < kmin:
            dist = kmin - q
        elif q > kmax:
            dist = q - kmax
        else:
            dist = 0.0
        if dist > delta:
            W = cnt * math.exp(-0.5 * (dist - delta) * (dist + delta))
            if W <= thresh * max(acc[k], 0.5):
                dropped += W
                continue
        has_s = a <= s < b
        y = q - cen[j]
        if not has_s and usable[j] and rad[j] * abs(y) <= rho:
            # exp(-(y^2 - delta^2)/2) * sum_l G_l y^l, even and odd halves in parallel
            f = math.exp(-0.5 * (abs(y) - delta) * (abs(y) + delta))
            y2 = y * y
            etop = p - 1 if (p - 1) % 2 == 0 else p - 2  # highest even / odd index
            otop = p - 2 if (p - 1) % 2 == 0 else p - 1
            for c in range(kc):
                ve = G[j, etop, c]
                for l in range(etop - 2, -1, -2):
                    ve = ve * y2 + G[j, l, c]
                vo = 0.0
                if otop >= 1:
                    vo = G[j, otop, c]
                    for l in range(otop - 2, 0, -2):
                        vo = vo * y2 + G[j, l, c]
                acc[c] += f * (ve + y * vo)
        elif j >= size or cnt <= pmin:
            _gauss_direct(ks, V, q, delta, a, b, s, acc)
        else:
            left = 2 * j
            right = left + 1
            if hi[left] > lo[left] and q <= ks[hi[left] - 1]:
                stack[sp] = right
                stack[sp + 1] = left
            else:
                stack[sp] = left
                stack[sp + 1] = right
            sp += 2
    return dropped


@numba.njit(cache=True)
def _gauss_query(ks, V, q, s, delta, lo, hi, cen, rad, usable, G, size, rho, pmin, drop, tol, stack, acc):
    """Tree code with the a-posteriori drop check (redone with smaller thresholds if it fails)."""
    k = V.shape[1] - 1
    thresh = drop * tol
    tries = 0
    for attempt in range(3):
        dropped = _gauss_one(ks, V, q, s, delta, lo, hi, cen, rad, usable, G, size, rho, pmin, thresh, stack, acc)
        if 2.0 * dropped <= 0.25 * tol * acc[k]:
            break
        tries += 1
        thresh = thresh * drop if attempt == 0 else 0.0
    return tries


@numba.njit(cache=True)
def _gauss_box(ks, V, t, rT, dT, lo, hi, cen, rad, usable, G, size, rho, rho2, p2, pmin, thresh, stack, B, H, E):
    """Local expansion of a box of queries ``t + eta``, ``|eta| <= rT``.

    Fills ``B[j, c]`` so that ``sum_j B[j, c] eta**j = exp(eta**2 / 2) *
    sum_i v_ic exp(-((q - k_i)**2 - dT**2) / 2)`` (sources beyond the drop
    bound left out). A node (centre c, ``Y = t - c``) gives
    ``exp(-(Y**2 - dT**2)/2) exp(-Y eta) sum_l G_l (Y + eta)**l``: the
    polynomial is re-centred exactly and ``exp(-Y eta)`` is expanded to order
    p2 (``|Y| rT <= rho2``); a key gives ``exp(-(z**2 - dT**2)/2) exp(-z eta)``
    (``z = t - k``). Returns (ok, dropped weight bound); not ok when a source
    that matters is too far for the expansion.
    """
    kc = V.shape[1]
    p = G.shape[1]
    PT = B.shape[0]
    B[:, :] = 0.0
    dropped = 0.0
    sp = 1
    stack[0] = 1
    while sp > 0:
        sp -= 1
        j = stack[sp]
        a = lo[j]
        b = hi[j]
        if a >= b:
            continue
        cnt = b - a
        kmin = ks[a]
        kmax = ks[b - 1]
        if kmin > t + rT:
            dist = kmin - (t + rT)
        elif kmax < t - rT:
            dist = (t - rT) - kmax
        else:
            dist = 0.0
        if dist > dT:
            W = cnt * math.exp(-0.5 * (dist - dT) * (dist + dT))
            if W <= thresh:
                dropped += W
                continue
        Y = t - cen[j]
        aY = abs(Y)
        if usable[j] and rad[j] * (aY + rT) <= rho and aY * rT <= rho2:
            f0 = math.exp(-0.5 * (aY - dT) * (aY + dT))
            e = 1.0
            for l in range(p2):
                E[l] = e
                e *= -Y / (l + 1)
            for c in range(kc):
                for l in range(p):
                    H[l] = G[j, l, c]
                for i in range(p - 1):  # Taylor shift by Y: coefficients in eta
                    for jj in range(p - 2, i - 1, -1):
                        H[jj] += Y * H[jj + 1]
                for l in range(p):
                    h = f0 * H[l]
                    for l2 in range(p2):
                        B[l + l2, c] += h * E[l2]
        elif j >= size or cnt <= pmin:
            for i in range(a, b):
                z = t - ks[i]
                az = abs(z)
                if az * rT > rho2:
                    return False, dropped
                f = math.exp(-0.5 * (az - dT) * (az + dT))
                for l in range(PT):
                    for c in range(kc):
                        B[l, c] += f * V[i, c]
                    f *= -z / (l + 1)
        else:
            stack[sp] = 2 * j
            stack[sp + 1] = 2 * j + 1
            sp += 2
    return True, dropped


@numba.njit(cache=True, nogil=True)
def _gauss_chunk(
    ks, V, qs, excl, starts, lo, hi, cen, rad, usable, G, size, rho, rho2, p2, pmin, box_min, drop, tol, out, b0, b1
):
    """Pool the sorted queries of boxes b0..b1-1 (box b: [starts[b], starts[b+1])); returns (boxed, redone)."""
    n = ks.shape[0]
    kc = V.shape[1]
    k = kc - 1
    p = G.shape[1]
    PT = p + p2 - 1
    boxed = 0
    redone = 0
    stack = np.empty(2 * _MAX_DEPTH + 4, np.int64)
    acc = np.empty(kc)
    B = np.empty((PT, kc))
    H = np.empty(p)
    E = np.empty(max(p2, 1))
    for bx in range(b0, b1):
        i0 = starts[bx]
        i1 = starts[bx + 1]
        ok = False
        dropped = 0.0
        t = 0.5 * (qs[i0] + qs[i1 - 1])
        dT = 0.0
        if i1 - i0 >= box_min:
            rT = 0.5 * (qs[i1 - 1] - qs[i0])
            for i in range(i0, i1):  # largest distance from a query to its nearest key
                q = qs[i]
                r0 = _search_left(ks, q)
                dq = np.inf
                if r0 > 0:
                    dq = q - ks[r0 - 1]
                if r0 < n:
                    dq = min(dq, ks[r0] - q)
                dT = max(dT, dq)
            ok, dropped = _gauss_box(
                ks, V, t, rT, dT, lo, hi, cen, rad, usable, G, size, rho, rho2, p2, pmin, drop * tol, stack, B, H, E
            )
        for i in range(i0, i1):
            q = qs[i]
            s = excl[i] if excl.shape[0] > 0 else -1
            if ok:
                eta = q - t
                for c in range(kc):
                    v = B[PT - 1, c]
                    for l in range(PT - 2, -1, -1):
                        v = v * eta + B[l, c]
                    acc[c] = v
                good = True
                if s >= 0:
                    xs = abs(q - ks[s])
                    ws = math.exp(-0.5 * (xs - dT) * (xs + dT) + 0.5 * eta * eta)
                    if ws <= 0.5 * acc[k]:
                        for c in range(kc):
                            acc[c] -= ws * V[s, c]
                    else:
                        good = False  # the query's own key dominates: subtracting it would cancel
                if good and 2.0 * dropped <= 0.25 * tol * acc[k] * math.exp(-0.5 * eta * eta):
                    boxed += 1
                    for c in range(k):
                        out[i, c] = acc[c] / acc[k]
                    continue
            # tree code for this query, relative to its nearest (non-excluded) key
            r0 = _search_left(ks, q)
            il = r0 - 1
            if il == s:
                il -= 1
            ir = r0
            if ir == s:
                ir += 1
            delta = np.inf
            if il >= 0:
                delta = q - ks[il]
            if ir < n:
                delta = min(delta, ks[ir] - q)
            redone += _gauss_query(
                ks, V, q, s, delta, lo, hi, cen, rad, usable, G, size, rho, pmin, drop, tol, stack, acc
            )
            for c in range(k):
                out[i, c] = acc[c] / acc[k]
    return boxed, redone


@numba.njit(cache=True)
def _boxes(qs, width, max_count):
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


def _pool_gauss(qs, ks, V, excl, tol, threads):
    n = ks.shape[0]
    m = qs.shape[0]
    tol = max(tol, GAUSS_MIN_TOL)
    rho = GAUSS_RHO
    p = _gauss_order(tol, rho)
    p2 = _gauss_order(tol, GAUSS_BOX_RHO)
    rcap = max(1.5 * math.sqrt(rho), 1.0)
    size = _tree_size(n, GAUSS_LEAF)
    lo = np.zeros(2 * size, np.int64)
    hi = np.zeros(2 * size, np.int64)
    _tree_ranges(n, GAUSS_LEAF, size, lo, hi)
    nonempty = lo < hi
    cen = np.zeros(2 * size)
    rad = np.zeros(2 * size)
    kmin = ks[np.minimum(lo, n - 1)]
    kmax = ks[np.maximum(hi - 1, 0)]
    cen[nonempty] = 0.5 * (kmin + kmax)[nonempty]
    rad[nonempty] = np.maximum(cen - kmin, kmax - cen)[nonempty]
    pmin = max(1, p // 2)
    usable = nonempty & (rad <= rcap) & ((hi - lo) > pmin)
    usable[0] = False
    nodes = np.flatnonzero(usable).astype(np.int64)
    G = np.zeros((2 * size, p, V.shape[1]))
    if nodes.size:
        _parallel(_gauss_moments_chunk, nodes.size, threads, ks, V, lo, hi, cen, nodes, p, G)
    # Boxes of nearby queries share one local expansion; their half-width makes
    # |Y| rT <= GAUSS_BOX_RHO hold out to beyond the drop radius of a dense neighbourhood.
    reach = math.sqrt(2.0 * math.log(n * 1024.0 / tol)) + 2.0
    width = 2.0 * GAUSS_BOX_RHO / reach
    max_count = max(GAUSS_BOX_MIN, min(4096, -(-m // (8 * threads))))
    starts = _boxes(qs, width, max_count)
    out = np.empty((m, V.shape[1] - 1))
    counts = _parallel(
        _gauss_chunk, starts.shape[0] - 1, threads, ks, V, qs, excl, starts, lo, hi, cen, rad, usable, G, size, rho,
        GAUSS_BOX_RHO, p2, pmin, GAUSS_BOX_MIN, GAUSS_DROP, tol, out, work=m,
    )
    boxed = sum(c[0] for c in counts)
    redone = sum(c[1] for c in counts)
    return out, {"order": p, "box_order": p2, "boxes": starts.shape[0] - 1, "boxed": int(boxed), "redone": int(redone)}


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


def _pool_one(queries, keys, values, kernel, exclude_self, tol, threads=1):
    """One batch element: (m,) queries, (n,) keys, (n, k) values → ((m, k) float64, stats)."""
    n, k = values.shape
    m = queries.shape[0]
    path = _path(kernel)
    if path == "constant":
        total = values.sum(axis=0, dtype=np.float64)
        if exclude_self:
            return (total[None, :] - values.astype(np.float64)) / (n - 1), {}
        return np.broadcast_to(total / n, (m, k)), {}
    order = np.argsort(keys, kind="stable")
    ks_in = keys[order]
    V = np.empty((n, k + 1))
    V[:, :k] = values[order]
    V[:, k] = 1.0
    # Queries are processed in sorted order: neighbouring queries touch the same keys and nodes.
    qorder = np.argsort(queries, kind="stable")
    qs_in = queries[qorder]
    if exclude_self:
        pos = np.empty(n, np.int64)
        pos[order] = np.arange(n, dtype=np.int64)  # sorted position of key i
        excl = pos[qorder]  # ... of the key that sorted query j leaves out
    else:
        excl = np.empty(0, np.int64)
    if path in ("poly", "cosine"):
        res, stats = _pool_compact(qs_in, ks_in, V, excl, kernel, path, threads)
    else:
        qs = qs_in.astype(np.float64, copy=False)
        ks = ks_in.astype(np.float64, copy=False)
        if path == "exp":
            res, stats = _pool_exp(qs, ks, V, excl, kernel, threads)
        else:
            res, stats = _pool_gauss(qs, ks, V, excl, tol, threads)
    out = np.empty_like(res)
    out[qorder] = res
    return out, stats


def _pool_stats(queries, keys, values, kernel, exclude_self=False, *, num_threads=None, tol=1e-10):
    """:func:`pool`, also returning per-batch-element diagnostics (fallback counts, series order)."""
    if not supports(kernel, queries.shape[2]):
        raise ValueError(
            f"the sorted engine needs d=1 and one of the kernels {', '.join(KERNELS)}; "
            f"got d={queries.shape[2]} and kernel {kernel.name!r}"
        )
    b, m, _ = queries.shape
    out = np.empty((b, m, values.shape[2]), dtype=values.dtype)
    stats = []
    threads = _thread_count(num_threads)
    for i in range(b):
        res, st = _pool_one(queries[i, :, 0], keys[i, :, 0], values[i], kernel, bool(exclude_self), float(tol), threads)
        out[i] = res
        stats.append(st)
    return out, stats


def pool(queries, keys, values, kernel, exclude_self=False, *, num_threads=None, tol=1e-10):
    """Attention pooling of (b, m, 1) queries over (b, n, 1) keys and (b, n, k) values → (b, m, k).

    Queries and keys are already divided by the bandwidth. Exact (to rounding)
    for every supported kernel except the Gaussian, which is within ``tol``
    relative to ``max|values|`` (see the module docstring for the bound).
    Queries with no key inside a compact kernel's support get NaN.

    Parameters
    ----------
    queries : ndarray, shape (b, m, 1)
    keys : ndarray, shape (b, n, 1)
    values : ndarray, shape (b, n, k)
        C-contiguous, one float dtype; the result has the same dtype.
    kernel : Kernel
        One this engine :func:`supports`.
    exclude_self : bool, default False
        Query i ignores key i (m == n).
    num_threads : int, optional
        Threads for this call (at most ``NUMBA_NUM_THREADS``); default:
        ``numba.get_num_threads()``. Numba's own setting is left alone.
    tol : float, default 1e-10
        Error bound of the Gaussian path, relative to ``max|values|``.

    Returns
    -------
    ndarray, shape (b, m, k)
    """
    return _pool_stats(queries, keys, values, kernel, exclude_self, num_threads=num_threads, tol=tol)[0]
