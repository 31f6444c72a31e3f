"""The k-d tree over the keys (or queries): built once per call in O(n log n), in Numba.

Each node holds a contiguous run ``[lo, hi)`` of the permuted points, its
bounding box, the box's centre and half-diagonal (every point of the node lies
within that radius of the centre), and its two children (-1 for a leaf).
A node with more than ``leaf`` points is split at the median of its widest
coordinate (quickselect, O(count) per node, so O(n log n) in all), or with
``chunk > 1`` at the multiple of ``chunk`` points nearest to it (nodes of more
than ``2 chunk`` points), so that leaves hold whole chunks; nodes keep
splitting even when their box is a point (all keys equal), so a leaf never
holds more than ``leaf`` points and the tree stays balanced. Nodes are
numbered in creation order, the root is 0, and ``parent < child``: a
backwards sweep over the node numbers visits children before parents.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

__all__ = ["Tree", "build", "morton_order", "box_min_sq", "box_max_sq", "box_box_min_sq", "box_box_max_sq", "centred", "STACK"]


class Tree(NamedTuple):
    """A k-d tree over ``points`` (n, d), as returned by :func:`build`.

    Attributes
    ----------
    perm : ndarray of int64, shape (n,)
        ``points[perm]`` is the points in tree order.
    pos : ndarray of int64, shape (n,)
        Inverse of ``perm``: point ``i`` sits at tree position ``pos[i]``.
    lo, hi : ndarray of int64, shape (nodes,)
        Each node's run of tree positions.
    left, right : ndarray of int64, shape (nodes,)
        Children (-1 for a leaf).
    bmin, bmax : ndarray of float64, shape (nodes, d)
        Bounding boxes.
    centre : ndarray of float64, shape (nodes, d)
    radius : ndarray of float64, shape (nodes,)
        Half-diagonal of the box: ``|x - centre| <= radius`` for every point x of the node.
    points : ndarray of float64, shape (n, d)
        ``points[perm]``, the points in tree order.
    """

    perm: np.ndarray
    pos: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    left: np.ndarray
    right: np.ndarray
    bmin: np.ndarray
    bmax: np.ndarray
    centre: np.ndarray
    radius: np.ndarray
    points: np.ndarray


@njit(cache=True, inline="always")
def _swap(idx, work, i, j):
    t = idx[i]
    idx[i] = idx[j]
    idx[j] = t
    for c in range(work.shape[1]):
        x = work[i, c]
        work[i, c] = work[j, c]
        work[j, c] = x


@njit(cache=True)
def _select(idx, work, dim, lo, hi, kth):
    """Reorder rows ``lo:hi`` of ``work`` (and ``idx``) so that row ``kth`` is in sorted place along ``dim``.

    Hoare quickselect with a median-of-three pivot; rows move physically, so
    every pass reads memory in order.
    """
    left = lo
    right = hi - 1
    while right > left:
        mid = (left + right) >> 1
        a = work[left, dim]
        b = work[mid, dim]
        c = work[right, dim]
        pivot = max(min(a, b), min(max(a, b), c))  # median of three
        i = left
        j = right
        while i <= j:
            while work[i, dim] < pivot:
                i += 1
            while work[j, dim] > pivot:
                j -= 1
            if i <= j:
                _swap(idx, work, i, j)
                i += 1
                j -= 1
        if kth <= j:
            right = j
        elif kth >= i:
            left = i
        else:
            return


@njit(cache=True)
def _build(pts, leaf, chunk):
    n, d = pts.shape
    idx = np.arange(n)
    work = pts.copy()
    cap = 4 * (n // max(leaf // 2, 1)) + 4
    lo = np.empty(cap, np.int64)
    hi = np.empty(cap, np.int64)
    left = np.full(cap, -1, np.int64)
    right = np.full(cap, -1, np.int64)
    bmin = np.empty((cap, d))
    bmax = np.empty((cap, d))
    stack = np.empty(cap, np.int64)
    lo[0] = 0
    hi[0] = n
    count = 1
    top = 0
    stack[0] = 0
    while top >= 0:
        j = stack[top]
        top -= 1
        a = lo[j]
        b = hi[j]
        for c in range(d):
            bmin[j, c] = np.inf
            bmax[j, c] = -np.inf
        for i in range(a, b):
            for c in range(d):
                x = work[i, c]
                if x < bmin[j, c]:
                    bmin[j, c] = x
                if x > bmax[j, c]:
                    bmax[j, c] = x
        if b - a <= leaf:
            continue
        dim = 0
        for c in range(1, d):
            if bmax[j, c] - bmin[j, c] > bmax[j, dim] - bmin[j, dim]:
                dim = c
        mid = (a + b) >> 1
        if chunk > 1 and b - a > 2 * chunk:  # the split nearest the median keeping whole chunks (a: a multiple)
            mid = a + max(1, min((b - a - 1) // chunk, (mid - a + chunk // 2) // chunk)) * chunk
        _select(idx, work, dim, a, b, mid)
        for child, ca, cb in ((count, a, mid), (count + 1, mid, b)):
            lo[child] = ca
            hi[child] = cb
            top += 1
            stack[top] = child
        left[j] = count
        right[j] = count + 1
        count += 2
    return idx, work, lo[:count], hi[:count], left[:count], right[:count], bmin[:count], bmax[:count]


def build(points: np.ndarray, leaf: int, chunk: int = 1) -> Tree:
    """k-d tree over ``points`` (n, d), n >= 1, with at most ``leaf`` points per leaf, split at multiples of
    ``chunk`` points (every leaf but the last then holds a multiple of ``chunk`` when ``leaf >= 2 chunk``)."""
    pts = np.ascontiguousarray(points, dtype=np.float64)
    perm, ordered, lo, hi, left, right, bmin, bmax = _build(pts, int(leaf), int(chunk))
    pos = np.empty_like(perm)
    pos[perm] = np.arange(perm.shape[0])
    centre = 0.5 * (bmin + bmax)
    radius = 0.5 * np.sqrt(((bmax - bmin) ** 2).sum(axis=1)) * (1.0 + 1e-14)
    # cover the rounding of the centre and of |x - centre|, which scale with the coordinates
    radius += 4.0 * np.finfo(np.float64).eps * np.sqrt(pts.shape[1]) * np.maximum(abs(bmin), abs(bmax)).max(axis=1)
    return Tree(perm, pos, lo, hi, left, right, bmin, bmax, centre, radius, ordered)


@njit(cache=True, inline="always")
def centred(kt, i, centre, j, x):
    """``x = k_i - centre_j`` (keys dimension-major, ``kt`` (d, n)); returns ``|x|**2``."""
    x2 = 0.0
    for c in range(x.shape[0]):
        x[c] = kt[c, i] - centre[j, c]
        x2 += x[c] * x[c]
    return x2


@njit(cache=True, inline="always")
def box_min_sq(q, bmin, bmax, j):
    """Squared distance from point ``q`` to the box of node ``j`` (0 inside)."""
    t = 0.0
    for c in range(q.shape[0]):
        e = bmin[j, c] - q[c]
        if e < 0.0:
            e = q[c] - bmax[j, c]
            if e < 0.0:
                e = 0.0
        t += e * e
    return t


@njit(cache=True, inline="always")
def box_box_min_sq(qlo, qhi, bmin, bmax, j):
    """Smallest squared distance between the box qlo..qhi and the box of node ``j``."""
    t = 0.0
    for c in range(qlo.shape[0]):
        e = max(bmin[j, c] - qhi[c], qlo[c] - bmax[j, c], 0.0)
        t += e * e
    return t


@njit(cache=True, inline="always")
def box_box_max_sq(qlo, qhi, bmin, bmax, j):
    """Largest squared distance between a point of the box qlo..qhi and a point of the box of node ``j``."""
    t = 0.0
    for c in range(qlo.shape[0]):
        e = max(qhi[c] - bmin[j, c], bmax[j, c] - qlo[c])
        t += e * e
    return t


@njit(cache=True, inline="always")
def box_max_sq(q, bmin, bmax, j):
    """Squared distance from point ``q`` to the farthest corner of the box of node ``j``."""
    t = 0.0
    for c in range(q.shape[0]):
        e = max(q[c] - bmin[j, c], bmax[j, c] - q[c])
        t += e * e
    return t


#: Entries of a depth-first walk's stack: the tree is balanced, so its depth is about log2(n / leaf).
STACK = 256


@njit(cache=True)
def _morton_codes(pts):
    n, d = pts.shape
    bits = min(31, 63 // d)  # cells fit an int64 code, and the float-to-int conversion is exact
    scale = float((1 << bits) - 1)
    lo = np.empty(d)
    span = np.empty(d)
    for c in range(d):
        lo[c] = pts[:, c].min()
        s = pts[:, c].max() - lo[c]
        span[c] = scale / s if s > 0.0 else 0.0
    codes = np.zeros(n, np.int64)
    for i in range(n):
        code = 0
        for c in range(d):
            cell = int((pts[i, c] - lo[c]) * span[c])
            for bit in range(bits):
                code |= ((cell >> bit) & 1) << (bit * d + c)
        codes[i] = code
    return codes


def morton_order(points: np.ndarray) -> np.ndarray:
    """A permutation putting ``points`` (m, d) in Z order: consecutive points are near each other.

    Cheaper than a second k-d tree; used to hand threads blocks of neighbouring queries.
    """
    return np.argsort(_morton_codes(np.ascontiguousarray(points, dtype=np.float64)), kind="stable")
