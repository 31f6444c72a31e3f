"""Dense NumPy engine: the reference implementation.

It evaluates the scores of a block of queries against every key, takes the
softmax with the row maximum subtracted, and multiplies by the values. Blocks
of queries keep memory at O(block * n), never O(m * n), unless the caller asks
for the weights themselves.
"""

from __future__ import annotations

import numpy as np

from ..kernels import Kernel, registered
from .state import Partials

#: Registry name (``method="dense"``).
NAME = "dense"

#: What :func:`supports` needs (every kernel).
REQUIRES = "nothing"

#: Elements of the (block, n) score matrix held at once.
BLOCK_ELEMENTS = 1 << 21

#: Up to this many query-key pairs (m * n) "auto" takes this engine: no compilation, no set-up.
DENSE_MAX_PAIRS = 1 << 16


def supports(kernel: Kernel, d: int, options=None) -> bool:
    """Every kernel (it needs only :meth:`Kernel.score`), any d."""
    return True


def prefer(kernel: Kernel, shape) -> bool:
    """The "auto" rule: small problems, and kernels built by the caller (the fast engines know the registry's
    kernels and their squares)."""
    _, m, n, _, _ = shape
    return m * n <= DENSE_MAX_PAIRS or not registered(kernel)


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
    b, m, _ = queries.shape
    out = np.empty((b, m, keys.shape[1]), dtype=queries.dtype)
    for i in range(b):
        out[i] = softmax_rows(scores(queries[i], keys[i], kernel, exclude_self))
    return out


def partials(queries: np.ndarray, keys: np.ndarray, values: np.ndarray, kernel: Kernel, exclude_self: bool = False):
    """Mergeable online-softmax state (:class:`~nadaraya.engines.state.Partials`) of every query, blockwise."""
    b, m, _ = queries.shape
    top = np.empty((b, m), dtype=values.dtype)
    den = np.empty((b, m), dtype=values.dtype)
    acc = np.empty((b, m, values.shape[2]), dtype=values.dtype)
    for i in range(b):
        for r0, r1 in _blocks(m, keys.shape[1]):
            s = scores(queries[i, r0:r1], keys[i], kernel, exclude_self, r0)
            mx = s.max(axis=1)
            finite = np.isfinite(mx)
            w = np.exp(s - np.where(finite, mx, 0.0)[:, None])
            top[i, r0:r1] = np.where(finite, mx, -np.inf)
            den[i, r0:r1] = w.sum(axis=1)
            acc[i, r0:r1] = w @ values[i]
    return Partials(top, den, acc)
