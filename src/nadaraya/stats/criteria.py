"""Bandwidth-selection criteria of a local polynomial smoother: leave-one-out, AICc, GCV.

With ``H`` the smoother (hat) matrix at the data, ``RSS`` the residual sum of
squares and ``n`` the number of points (``sum w`` with sample weights, so that
integer weights act as repeated rows):

* leave-one-out: ``mean_i w_i (y_i - f_{-i}(x_i))**2`` (statsmodels' ``cv_ls``);
* AICc (Hurvich, Simonoff and Tsai 1998): ``log(RSS / n) + (1 + tr H / n) / (1 - (tr H + 2) / n)``,
  defined only where ``tr H + 2 < n`` (+inf elsewhere, so a search never goes there);
* GCV (Craven and Wahba): ``n RSS / (n - tr H)**2`` (+inf where ``tr H >= n``).

``tr H = sum_i w_i K(0) (A_i^-1)_00 / sum_j K_ij``: the weight of each point on
its own fit, from the same pooled moments as the fit (no n × n matrix).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .localpoly import local_polynomial

__all__ = ["CRITERIA", "SmootherSummary", "smoother_summary", "aicc", "gcv", "loo_mse", "criterion"]

CRITERIA = ("loo", "aicc", "gcv")


@dataclass(frozen=True)
class SmootherSummary:
    """In-sample residual sum of squares, hat-matrix trace and (weighted) sample size."""

    rss: float
    trace: float
    n: float


def _arrays(x, y, sample_weight):
    x = np.asarray(x, dtype=np.float64)
    x = x[:, None] if x.ndim == 1 else x
    y = np.asarray(y, dtype=np.float64).reshape(len(x), -1)
    w = np.ones(len(x)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    return x, y, w


def smoother_summary(x, y, bandwidth, *, order=0, kernel="gaussian", sample_weight=None, method="auto",
                     pooler=None) -> SmootherSummary:
    """RSS, ``tr H`` and n of the order-``order`` local polynomial fit at the data."""
    x, y, w = _arrays(x, y, sample_weight)
    fit = local_polynomial(x, x, y, bandwidth, order=order, kernel=kernel, sample_weight=w, method=method,
                           pooler=pooler)
    resid = ((y - fit.fit) ** 2).sum(axis=1)
    trace = np.sum(w * np.exp(-fit.log_sum) * fit.inv00)
    return SmootherSummary(float(np.sum(w * resid)), float(trace), float(w.sum()))


def aicc(summary: SmootherSummary) -> float:
    """Hurvich–Simonoff–Tsai AICc; +inf where ``tr H + 2 >= n`` or the fit is undefined."""
    rss, tr, n = summary.rss, summary.trace, summary.n
    if not (np.isfinite(rss) and np.isfinite(tr)) or tr + 2 >= n or rss <= 0:
        return np.inf
    return float(np.log(rss / n) + (1 + tr / n) / (1 - (tr + 2) / n))


def gcv(summary: SmootherSummary) -> float:
    """Generalised cross-validation ``n RSS / (n - tr H)**2``; +inf where ``tr H >= n``."""
    rss, tr, n = summary.rss, summary.trace, summary.n
    if not (np.isfinite(rss) and np.isfinite(tr)) or tr >= n:
        return np.inf
    return float(n * rss / (n - tr) ** 2)


def loo_mse(x, y, bandwidth, *, order=0, kernel="gaussian", sample_weight=None, method="auto", pooler=None) -> float:
    """Leave-one-out mean squared error; +inf when some point has no leave-one-out estimate."""
    x, y, w = _arrays(x, y, sample_weight)
    fit = local_polynomial(x, x, y, bandwidth, order=order, kernel=kernel, sample_weight=w, method=method,
                           pooler=pooler, exclude_self=True)
    resid = ((y - fit.fit) ** 2).sum(axis=1)
    if not np.all(np.isfinite(resid)):
        return np.inf
    return float(np.sum(w * resid) / np.sum(w))


def criterion(name: str, x, y, bandwidth, **options) -> float:
    """The criterion ``name`` ("loo", "aicc" or "gcv") at ``bandwidth``; ``options`` as :func:`smoother_summary`.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0, 1, 40); y = np.sin(4 * x)
    >>> criterion("gcv", x, y, 0.05) < criterion("gcv", x, y, 0.5)
    True
    """
    if name == "loo":
        return loo_mse(x, y, bandwidth, **options)
    if name not in CRITERIA:
        raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}; got {name!r}")
    summary = smoother_summary(x, y, bandwidth, **options)
    return aicc(summary) if name == "aicc" else gcv(summary)
