"""The mergeable online-softmax state every engine can give: max score, denominator, weighted sums.

Pooling over the union of disjoint key sets is
``finalize(merge(partials_a, partials_b))``, so keys can be sharded (across
Dask workers, say) and each shard computed by any engine that has
``partials`` (see :mod:`nadaraya.engines`). NumPy only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["Partials", "merge", "finalize"]


class Partials(NamedTuple):
    """Online-softmax state of each query over one set of keys.

    Attributes
    ----------
    max_score : ndarray, shape (b, m)
        The reference score ``M`` the sums are relative to: the largest score
        ``log K`` over the keys for the stream and dense engines, the
        log-normaliser ``log sum_j exp(score_j)`` (with ``denominator = 1``)
        for the sorted engine; any ``M >= max score`` merges exactly.
        ``-inf`` when no key is in the support, or the key set is empty.
    denominator : ndarray, shape (b, m)
        ``sum_j exp(score_j - max_score)`` (0 when ``max_score`` is ``-inf``).
    weighted_sum : ndarray, shape (b, m, k)
        ``sum_j exp(score_j - max_score) * v_j``.
    """

    max_score: np.ndarray
    denominator: np.ndarray
    weighted_sum: np.ndarray


def _factor(score: np.ndarray, top: np.ndarray) -> np.ndarray:
    """``exp(score - top)``, 0 where ``score`` is -inf (and so wherever ``top`` is)."""
    finite = np.isfinite(score)
    return np.where(finite, np.exp(np.where(finite, score - np.where(finite, top, 0), 0)), 0).astype(score.dtype)


def merge(a: Partials, b: Partials) -> Partials:
    """Partials over the union of two disjoint key sets.

    ``M = max(M_a, M_b)``; ``den = den_a exp(M_a - M) + den_b exp(M_b - M)``,
    the same for the weighted sums. Exact up to rounding, associative and
    commutative; an empty partial (``M = -inf``) is the identity.
    """
    top = np.maximum(a.max_score, b.max_score)
    fa = _factor(a.max_score, top)
    fb = _factor(b.max_score, top)
    return Partials(
        top,
        a.denominator * fa + b.denominator * fb,
        a.weighted_sum * fa[..., None] + b.weighted_sum * fb[..., None],
    )


def finalize(p: Partials) -> np.ndarray:
    """Pooled values ``weighted_sum / denominator`` (b, m, k); NaN where the denominator is 0."""
    den = p.denominator[..., None]
    empty = den == 0
    out = p.weighted_sum / np.where(empty, 1, den)
    return np.where(empty, np.nan, out).astype(p.weighted_sum.dtype, copy=False)
