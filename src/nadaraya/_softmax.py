"""Two pieces of the softmax that every layer shares (the lowest layer: it imports only NumPy).

* :func:`log_normaliser`: ``log sum_j K`` from an online-softmax state
  (running maximum score, denominator), ``-inf`` where no key is in the support;
* :func:`empty_support_message`: the one wording of "these queries have no
  key inside a compact kernel's support", used by pooling, the estimators and Dask.
"""

from __future__ import annotations

import numpy as np


def log_normaliser(max_score, denominator):
    """``max_score + log(denominator)``, and ``-inf`` where the denominator is 0 (no key in the support)."""
    max_score, denominator = np.asarray(max_score), np.asarray(denominator)
    with np.errstate(divide="ignore"):
        return np.where(denominator > 0, max_score + np.log(np.where(denominator > 0, denominator, 1)), -np.inf)


def empty_support_message(count: int, queries: str, kernel_name: str, *, noun: str = "key",
                          outcome: str = "their estimate is NaN") -> str:
    """``"{count} of {queries} have no {noun} inside the support of the {kernel} kernel ...; {outcome}. ..."``.

    ``queries`` describes the set counted ("5 queries", "the 100 queries in
    rows [0, 100)"); ``outcome`` says what happens to them.
    """
    return (
        f"{count} of {queries} have no {noun} inside the support of the {kernel_name} kernel "
        f"(|q - k| < bandwidth); {outcome}. Use a larger bandwidth or an unbounded kernel such as 'gaussian'"
    )
