"""Exponential kernels of the sorted engine: exact recursions over sorted keys.

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
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ._common import parallel, search_right

#: Keys per restart of the exponential recursions.
LAPLACE_BLOCK = 128


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
        aL = search_right(ks, q) - 1  # nearest key on each side
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
        out[i, k] = math.log(acc[k]) - dmin  # the sums are scaled by exp(+dmin)


def pool_exp(qs, ks, V, excl, kernel, threads):
    cf = np.array([c * math.factorial(j) for j, c in enumerate(kernel.exp_abs)], dtype=np.float64)
    SL, SR = _exp_sums(ks, V, cf.shape[0], LAPLACE_BLOCK)
    out = np.empty((qs.shape[0], V.shape[1]))
    parallel(_exp_chunk, qs.shape[0], threads, ks, V, qs, excl, SL, SR, cf, out)
    return out, {}
