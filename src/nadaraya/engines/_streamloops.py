"""The streaming engine's two inner loops over a tile of keys (kept apart so ``stream.py`` stays readable).

:func:`squared_distances` fills a buffer with the squared scaled distances of
one query to a tile of keys, in the dense engine's order; :func:`weighted_sums`
adds a tile's weighted values to a query's accumulators. Both are plain
``njit`` functions that the per-kernel compiled loops of
:mod:`nadaraya.engines.stream` call; their source is part of the digest that
names those loops' on-disk cache.
"""

from __future__ import annotations

from numba import njit

from ..kernels import like

__all__ = ["FM_SUM", "squared_distances", "weighted_sums"]

#: Fast-math flags of the summation (reassociation lets the compiler split the sums over SIMD lanes).
FM_SUM = {"nsz", "arcp", "contract", "reassoc"}


@njit
def squared_distances(q, kt, start, length, buf):
    """``buf[j] = sum_c (q[c] - kt[c, start + j])**2`` for ``j < length``.

    Summed one dimension after the other, in the dense engine's order and
    without fused multiply-adds, so that ``t`` (and hence the support
    boundary) is bitwise the reference's; up to four dimensions per pass over
    the buffer. Loops run over zero-based slices so that no index can be
    negative and the compiler vectorises them.
    """
    d = q.shape[0]
    r0 = kt[0, start : start + length]
    x0 = q[0]
    if d == 1:
        for j in range(length):
            e0 = x0 - r0[j]
            buf[j] = e0 * e0
        return
    r1 = kt[1, start : start + length]
    x1 = q[1]
    for j in range(length):
        e0, e1 = x0 - r0[j], x1 - r1[j]
        buf[j] = e0 * e0 + e1 * e1
    c = 2
    while c + 4 <= d:
        r0, r1 = kt[c, start : start + length], kt[c + 1, start : start + length]
        r2, r3 = kt[c + 2, start : start + length], kt[c + 3, start : start + length]
        x0, x1, x2, x3 = q[c], q[c + 1], q[c + 2], q[c + 3]
        for j in range(length):
            e0, e1, e2, e3 = x0 - r0[j], x1 - r1[j], x2 - r2[j], x3 - r3[j]
            buf[j] = (((buf[j] + e0 * e0) + e1 * e1) + e2 * e2) + e3 * e3
        c += 4
    if c + 2 <= d:
        r0, r1 = kt[c, start : start + length], kt[c + 1, start : start + length]
        x0, x1 = q[c], q[c + 1]
        for j in range(length):
            e0, e1 = x0 - r0[j], x1 - r1[j]
            buf[j] = (buf[j] + e0 * e0) + e1 * e1
        c += 2
    if c < d:
        r0 = kt[c, start : start + length]
        x0 = q[c]
        for j in range(length):
            e0 = x0 - r0[j]
            buf[j] += e0 * e0


@njit(fastmath=FM_SUM)
def weighted_sums(w, vt, start, acc):
    """``acc[c] += sum_j w[j] vt[c, start + j]`` for every output ``c``."""
    for c in range(vt.shape[0]):
        v = vt[c, start : start + w.shape[0]]
        a = like(w[0], 0.0)
        for j in range(w.shape[0]):
            a += w[j] * v[j]
        acc[c] += a
