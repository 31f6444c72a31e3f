"""Gaussian kernel of the sorted engine: a tree code with Taylor expansions (a 1-D fast Gauss
transform) on a segment tree over leaves of :data:`GAUSS_LEAF` keys. A node with centre c and radius r stores ``G_l = sum v exp(-x**2 / 2) x**l / l!`` (``x = k - c``,
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
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from ._common import MAX_DEPTH, group_runs, parallel, search_left, tree_ranges, tree_size

#: Sorted keys per leaf of the Gaussian tree.
GAUSS_LEAF = 32
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


class GaussTree(NamedTuple):
    """The segment tree of the Gaussian path: key ranges, centres, radii and series per node."""

    lo: np.ndarray  # (2 size,) first sorted key of each node
    hi: np.ndarray  # (2 size,) one past its last
    cen: np.ndarray  # (2 size,) centre c
    rad: np.ndarray  # (2 size,) radius r
    usable: np.ndarray  # (2 size,) bool: the node's series may be used
    G: np.ndarray  # (2 size, p, kc) G_l = sum v exp(-x**2 / 2) x**l / l!
    size: int  # leaves


class GaussParams(NamedTuple):
    """Accuracy settings of one Gaussian call (see the module docstring)."""

    rho: float  # largest r |y| at which a node is expanded
    rho2: float  # largest |Y| rT of a box expansion
    p2: int  # order of the box expansion of exp(-Y eta)
    pmin: int  # nodes with at most this many keys are summed directly
    box_min: int  # fewest queries for a box expansion
    drop: float  # per-node drop threshold, relative to tol and the weight so far
    tol: float


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
def _gap(kmin, kmax, left, right):
    """Distance from the interval [left, right] to keys spanning [kmin, kmax] (0 where they overlap)."""
    if kmin > right:
        return kmin - right
    if kmax < left:
        return left - kmax
    return 0.0


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
def _gauss_one(ks, V, q, s, delta, tree, par, thresh, stack, acc):
    """Tree code for one query: sums into acc[:kc]; returns the weight bound of dropped nodes."""
    lo, hi, cen, rad, usable, G, size = tree
    rho, pmin = par.rho, par.pmin
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
        dist = _gap(ks[a], ks[b - 1], q, q)
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
def _gauss_query(ks, V, q, s, delta, tree, par, stack, acc):
    """Tree code with the a-posteriori drop check (redone with smaller thresholds if it fails)."""
    drop, tol = par.drop, par.tol
    k = V.shape[1] - 1
    thresh = drop * tol
    tries = 0
    for attempt in range(3):
        dropped = _gauss_one(ks, V, q, s, delta, tree, par, thresh, stack, acc)
        if 2.0 * dropped <= 0.25 * tol * acc[k]:
            break
        tries += 1
        thresh = thresh * drop if attempt == 0 else 0.0
    return tries


@numba.njit(cache=True)
def _gauss_box(ks, V, t, rT, dT, tree, par, thresh, stack, B, H, E):
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
    lo, hi, cen, rad, usable, G, size = tree
    rho, rho2, p2, pmin = par.rho, par.rho2, par.p2, par.pmin
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
        dist = _gap(ks[a], ks[b - 1], t - rT, t + rT)
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
def _gauss_chunk(ks, V, qs, excl, starts, tree, par, out, b0, b1):
    """Pool the sorted queries of boxes b0..b1-1 (box b: [starts[b], starts[b+1])); returns (boxed, redone)."""
    G, p2, tol = tree.G, par.p2, par.tol
    n = ks.shape[0]
    kc = V.shape[1]
    k = kc - 1
    p = G.shape[1]
    PT = p + p2 - 1
    boxed = 0
    redone = 0
    stack = np.empty(2 * MAX_DEPTH + 4, np.int64)
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
        if i1 - i0 >= par.box_min:
            rT = 0.5 * (qs[i1 - 1] - qs[i0])
            for i in range(i0, i1):  # largest distance from a query to its nearest key
                q = qs[i]
                r0 = search_left(ks, q)
                dq = np.inf
                if r0 > 0:
                    dq = q - ks[r0 - 1]
                if r0 < n:
                    dq = min(dq, ks[r0] - q)
                dT = max(dT, dq)
            ok, dropped = _gauss_box(ks, V, t, rT, dT, tree, par, par.drop * tol, stack, B, H, E)
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
                    out[i, k] = math.log(acc[k]) - 0.5 * (eta * eta + dT * dT)  # acc is scaled by that
                    continue
            # tree code for this query, relative to its nearest (non-excluded) key
            r0 = search_left(ks, q)
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
            redone += _gauss_query(ks, V, q, s, delta, tree, par, stack, acc)
            for c in range(k):
                out[i, c] = acc[c] / acc[k]
            out[i, k] = math.log(acc[k]) - 0.5 * delta * delta  # relative to the nearest key
    return boxed, redone


def pool_gauss(qs, ks, V, excl, tol, threads):
    n = ks.shape[0]
    m = qs.shape[0]
    tol = max(tol, GAUSS_MIN_TOL)
    rho = GAUSS_RHO
    p = _gauss_order(tol, rho)
    p2 = _gauss_order(tol, GAUSS_BOX_RHO)
    rcap = max(1.5 * math.sqrt(rho), 1.0)
    size = tree_size(n, GAUSS_LEAF)
    lo = np.zeros(2 * size, np.int64)
    hi = np.zeros(2 * size, np.int64)
    tree_ranges(n, GAUSS_LEAF, size, lo, hi)
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
        parallel(_gauss_moments_chunk, nodes.size, threads, ks, V, lo, hi, cen, nodes, p, G)
    # Boxes of nearby queries share one local expansion; their half-width makes
    # |Y| rT <= GAUSS_BOX_RHO hold out to beyond the drop radius of a dense neighbourhood.
    reach = math.sqrt(2.0 * math.log(n * 1024.0 / tol)) + 2.0
    width = 2.0 * GAUSS_BOX_RHO / reach
    max_count = max(GAUSS_BOX_MIN, min(4096, -(-m // (8 * threads))))
    starts = group_runs(qs, width, max_count)
    out = np.empty((m, V.shape[1]))
    tree = GaussTree(lo, hi, cen, rad, usable, G, size)
    par = GaussParams(rho, GAUSS_BOX_RHO, p2, pmin, GAUSS_BOX_MIN, GAUSS_DROP, tol)
    counts = parallel(_gauss_chunk, starts.shape[0] - 1, threads, ks, V, qs, excl, starts, tree, par, out, work=m)
    boxed = sum(c[0] for c in counts)
    redone = sum(c[1] for c in counts)
    return out, {"order": p, "box_order": p2, "boxes": starts.shape[0] - 1, "boxed": int(boxed), "redone": int(redone)}
