"""Dense NumPy engine: the reference implementation.

It evaluates the scores of a block of queries against every key, takes the
softmax with the row maximum subtracted, and multiplies by the values. Blocks
of queries keep memory at O(block * n), never O(m * n), unless the caller asks
for the weights themselves.
"""

from __future__ import annotations

import numpy as np

from ..kernels import Kernel

#: Elements of the (block, n) score matrix held at once.
BLOCK_ELEMENTS = 1 << 21


def squared_distances(q: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between rows of ``q`` (mb, d) and ``k`` (n, d) → (mb, n).

    Computed as a sum over dimensions of squared differences (not with the
    ``|q|² + |k|² - 2 q·k`` expansion, which cancels catastrophically for
    near-identical points).
    """
    t = np.subtract.outer(q[:, 0], k[:, 0])
    t *= t
    for j in range(1, q.shape[1]):
        dj = np.subtract.outer(q[:, j], k[:, j])
        dj *= dj
        t += dj
    return t


def scores(q: np.ndarray, k: np.ndarray, kernel: Kernel, exclude_self: bool = False, row0: int = 0) -> np.ndarray:
    """Scores ``log K`` of queries ``q`` (mb, d) against keys ``k`` (n, d), both already divided by h.

    With ``exclude_self``, query ``row0 + i`` gets score -inf on key ``row0 + i``.
    """
    s = kernel.score(squared_distances(q, k))
    if exclude_self:
        rows = np.arange(q.shape[0])
        s[rows, row0 + rows] = -np.inf
    return s


def softmax_rows(s: np.ndarray) -> np.ndarray:
    """Row softmax with the row maximum subtracted; rows with every score -inf become NaN."""
    mx = s.max(axis=1, keepdims=True)
    empty = ~np.isfinite(mx)
    w = np.exp(s - np.where(empty, 0.0, mx))
    den = w.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        w /= den
    w[empty[:, 0]] = np.nan
    return w


def _blocks(m: int, n: int):
    size = max(1, BLOCK_ELEMENTS // max(n, 1))
    for r0 in range(0, m, size):
        yield r0, min(m, r0 + size)


def pool(queries: np.ndarray, keys: np.ndarray, values: np.ndarray, kernel: Kernel, exclude_self: bool = False) -> np.ndarray:
    """Attention pooling of (b, m, d) queries over (b, n, d) keys and (b, n, k) values → (b, m, k)."""
    b, m, _ = queries.shape
    out = np.empty((b, m, values.shape[2]), dtype=values.dtype)
    for i in range(b):
        for r0, r1 in _blocks(m, keys.shape[1]):
            w = softmax_rows(scores(queries[i, r0:r1], keys[i], kernel, exclude_self, r0))
            out[i, r0:r1] = w @ values[i]
    return out


def weights(queries: np.ndarray, keys: np.ndarray, kernel: Kernel, exclude_self: bool = False) -> np.ndarray:
    """The full (b, m, n) attention-weight array (rows with no key in the support are NaN)."""
    return np.stack([softmax_rows(scores(queries[i], keys[i], kernel, exclude_self)) for i in range(queries.shape[0])])


def log_sums(queries: np.ndarray, keys: np.ndarray, kernel: Kernel, exclude_self: bool = False) -> np.ndarray:
    """``log sum_j K(q_i, k_j)`` for (b, m, d) queries and (b, n, d) keys → (b, m); -inf for no key in support."""
    b, m, _ = queries.shape
    out = np.empty((b, m), dtype=queries.dtype)
    for i in range(b):
        for r0, r1 in _blocks(m, keys.shape[1]):
            s = scores(queries[i, r0:r1], keys[i], kernel, exclude_self, r0)
            mx = s.max(axis=1)
            safe = np.where(np.isfinite(mx), mx, 0.0)
            with np.errstate(divide="ignore"):
                out[i, r0:r1] = np.where(np.isfinite(mx), safe + np.log(np.exp(s - safe[:, None]).sum(axis=1)), -np.inf)
    return out
