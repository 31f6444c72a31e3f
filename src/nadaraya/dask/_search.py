"""Bandwidth selection for dask arrays: the shared scalar search, each objective evaluated on the cluster.

The search itself (:func:`nadaraya._selection.scalar_search`) and the criteria
are the in-memory ones; this module supplies the objective (a lazy
leave-one-out pass of :func:`~nadaraya.dask.attention_pool`) and the spread.
"""

from __future__ import annotations

import logging

import numpy as np

from .._optional import require
from .._selection import CRITERIA, RULES, BandwidthSearch, check_method, check_objective, scalar_search
from ._graph import attention_pool
from ._inputs import _align, _registry_kernel
from ._stats import _spread, rule

dask = require("dask", "dask")
da = require("dask.array", "dask")

__all__ = ["search_bandwidth"]

log = logging.getLogger(__name__)


def _loo_value(x, y, h, kern, objective, num_threads=None, method="auto"):
    """The leave-one-out objective at ``h``: pooled on the cluster, reduced to one float there."""
    pred = attention_pool(x, x, y, kernel=kern.name, bandwidth=h, exclude_self=True, method=method,
                          num_threads=num_threads)
    loss = CRITERIA[objective](pred, y)
    finite, total = dask.compute(da.isfinite(loss).all(), loss.sum())
    return float(total) / x.shape[0] if finite else np.inf


def _persisted(*arrays):
    """Keep the inputs in the workers' memory when a distributed client is active (the search reads them ~30 times)."""
    try:
        from distributed import default_client

        default_client()
    except (ImportError, ValueError):
        return arrays
    return dask.persist(*arrays)


def search_bandwidth(x, y, method="loo", kernel="gaussian", *, per_feature=None, sample_weight=None,
                     engine="auto", n_grid=24, progress=None, scale=None, groups=None, objective="squared",
                     loss=None, num_threads=None):
    """:func:`nadaraya.bandwidth.search_bandwidth` for dask arrays: the scalar leave-one-out search on a cluster.

    The search (a log-spaced grid, then Brent's method, over one factor that
    multiplies each feature's spread) is the in-memory one; every objective
    evaluation is :func:`~nadaraya.dask.attention_pool` with ``exclude_self=True``
    and a lazy mean, computed where the data live, so the training data are
    never gathered onto one process. The spread's interquartile range is exact
    (an order-statistic search on the cluster), so the result equals the
    in-memory search's. Per-feature refinement, sample weights, a custom
    ``loss`` and grouped columns are not available for dask arrays. ``engine``
    is the ``method`` of every evaluation (see :func:`~nadaraya.dask.attention_pool`:
    "auto" chooses the engine per shard).
    """
    kern = _registry_kernel(kernel)
    check_method(method)
    if sample_weight is not None:
        raise ValueError("sample_weight is not supported with dask arrays; compute the data or drop the weights")
    if loss is not None:
        raise ValueError("a custom leave-one-out loss (order=1) is not supported with dask arrays")
    check_objective(objective)
    x, y = _align(x, y)
    n, d = x.shape
    if groups is not None and len(set(np.asarray(groups).tolist())) != d:
        raise ValueError("grouped columns (categorical features) are not supported with dask arrays")
    if method in RULES:
        return BandwidthSearch(rule(x, method), np.nan, 0, method)
    if per_feature and d > 1:
        raise ValueError(
            "per-feature leave-one-out search is not available for dask arrays; use per_feature=False "
            "(the scalar search scales every feature's spread by one factor)"
        )
    if n < 3:
        raise ValueError(f"leave-one-out bandwidth selection needs at least 3 samples; got {n}")
    x, y = _persisted(x, y)
    base = _spread(x) if scale is None else np.asarray(scale, dtype=np.float64)
    h, value, calls = scalar_search(lambda h: _loo_value(x, y, h, kern, objective, num_threads, engine), base, n,
                                    n_grid, progress)
    log.info("bandwidth %s, leave-one-out objective %.6g after %d evaluations (dask)", h, value, calls)
    return BandwidthSearch(h, float(value), calls, method)
