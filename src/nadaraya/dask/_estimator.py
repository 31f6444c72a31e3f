"""The estimator's Dask paths: prediction as one task per query chunk, and fitting on the cluster.

:func:`predict_regressor` reads a fitted estimator; :func:`fit_regression`
returns a :class:`RegressorFit` that the estimator assigns itself (this module
never writes an estimator's state).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._checks import is_dask_collection
from .._optional import require
from ..kernels import square
from ..pooling import EmptySupportWarning
from ._graph import attention_pool, log_kernel_sums
from ._inputs import _align, _as_dask
from ._search import _persisted, search_bandwidth

dask = require("dask", "dask")
da = require("dask.array", "dask")

__all__ = ["predict_regressor", "fit_regression", "RegressorFit"]


def _predict_task(xb, model, return_std):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptySupportWarning)
        if not return_std:
            return model.predict(xb)
        pred, std = model.predict(xb, return_std=True)
    rows = xb.shape[0]
    return np.stack([pred.reshape(rows, -1), std.reshape(rows, -1)], axis=1)  # (rows, 2, k)


def predict_regressor(est, X, *, return_std=False):
    """``est.predict(X)`` for a dask array X: one task per query chunk, the fitted model shipped to each.

    The model is one key of the graph (sent to each worker once, not per
    task); each task calls ``est.predict`` on its chunk of rows. Returns a
    lazy (m,) or (m, k) array, or (prediction, std) sharing their tasks
    (compute them together: ``dask.compute(pred, std)``). Queries without an
    estimate get NaN without the in-memory warning.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(est, "h_")
    if is_dask_collection(X) and not isinstance(X, da.Array):
        raise TypeError(f"X must be a dask array; got a {type(X).__name__} (use .to_dask_array(lengths=True))")
    if X.ndim != 2:
        raise ValueError(
            f"X must have shape (m, n_features); got a {X.ndim}-D dask array of shape {X.shape}"
            + (": reshape with X.reshape(-1, 1) for a single feature" if X.ndim == 1 else "")
        )
    x = _as_dask(X, "X", shapes=("(m, n_features)",), object_ok=bool(getattr(est, "categorical_indices_", None)))
    if x.shape[1] != est.n_features_in_:
        raise ValueError(
            f"X has {x.shape[1]} features, but {type(est).__name__} is expecting {est.n_features_in_} features as input."
        )
    model = dask.delayed(est, pure=True, traverse=False)
    k = est.y_.shape[1]
    if not return_std:
        if est._y_1d:
            return x.map_blocks(_predict_task, model, False, drop_axis=1, dtype=np.float64, meta=np.empty((0,)))
        return x.map_blocks(_predict_task, model, False, chunks=(x.chunks[0], (k,)), dtype=np.float64,
                            meta=np.empty((0, 0)))
    both = x.map_blocks(_predict_task, model, True, new_axis=2, chunks=(x.chunks[0], (2,), (k,)),
                        dtype=np.float64, meta=np.empty((0, 0, 0)))
    pred, std = both[:, 0, :], both[:, 1, :]
    return (pred[:, 0], std[:, 0]) if est._y_1d else (pred, std)


@dataclass(frozen=True)
class RegressorFit:
    """What :func:`fit_regression` computed: the gathered training data, the bandwidth and the diagnostics."""

    X: np.ndarray
    y: np.ndarray
    y_1d: bool
    h: np.ndarray
    loo_mse: float
    residuals: np.ndarray
    edf: float
    residual_variance: float | np.ndarray


def fit_regression(X, y, *, kernel, bandwidth, order=0, categorical=None, sample_weight=None, progress=None,
                   owner="NadarayaWatsonRegressor") -> RegressorFit:
    """A Nadaraya–Watson regression fit of dask arrays: order 0, continuous features, no sample weights.

    ``kernel`` is a :class:`~nadaraya.Kernel` and ``bandwidth`` a checked
    estimator parameter. The bandwidth (``"loo"``: :func:`search_bandwidth`, the
    scalar search, so with several features it can differ from the in-memory
    fit, which then refines each feature; a rule; or given) and the
    diagnostics (leave-one-out error, residuals, degrees of freedom, locfit's
    residual variance ``RSS / (n - 2 nu1 + nu2)`` as in memory, ``nu2`` with the
    kernel's square, :func:`nadaraya.kernels.square`) are computed on the
    cluster. The training data are gathered once, after the search, as NumPy arrays:
    predicting needs them. ``owner`` names the
    estimator in messages.
    """
    if order != 0:
        raise ValueError(f"with dask arrays {owner} fits order=0 only; compute the data for order=1")
    if categorical is not None:
        raise ValueError("categorical features are not supported with dask arrays; compute the data or drop them")
    if sample_weight is not None:
        raise ValueError("sample_weight is not supported with dask arrays; compute the data or drop the weights")
    if y is None:
        raise ValueError(f"{owner} requires y to be passed, but the target y is None")
    if getattr(X, "ndim", 2) != 2:
        raise ValueError(f"X must have shape (n, n_features); got shape {X.shape}: reshape with X.reshape(-1, 1)")
    y_1d = getattr(y, "ndim", np.ndim(y)) == 1
    x, Y = _align(X, y)
    n, d = x.shape
    if n < 2:
        raise ValueError(f"Found array with {n} sample(s) while a minimum of 2 is required by {owner}.")
    x, Y = _persisted(x, Y)
    if isinstance(bandwidth, str):
        h = np.asarray(search_bandwidth(x, Y, bandwidth, kernel, progress=progress).bandwidth, dtype=np.float64)
    else:
        if np.size(bandwidth) not in (1, d):
            raise ValueError(f"bandwidth has {np.size(bandwidth)} values but X has {d} features")
        h = np.broadcast_to(np.asarray(bandwidth, dtype=np.float64).reshape(-1), (d,)).copy()
    loo = attention_pool(x, x, Y, kernel=kernel.name, bandwidth=h, exclude_self=True)
    fitted = attention_pool(x, x, Y, kernel=kernel.name, bandwidth=h)
    log_sums = log_kernel_sums(x, x, kernel=kernel.name, bandwidth=h)
    self_weight = da.exp(-log_sums)  # K(0) = 1 over the kernel sum: the hat diagonal
    # sum_j a_ij^2 = sum_j K_ij^2 / (sum_j K_ij)^2, summed over i: nu2 = tr H'H
    sq, factor = square(kernel)
    norm2 = da.exp(log_kernel_sums(x, x, kernel=sq.name, bandwidth=h * factor) - 2 * log_sums)
    resid = ((loo - Y) ** 2).sum(axis=1)
    ok = da.isfinite(resid)
    X_, y_, fitted_, loo_sum, loo_count, edf, norm2_ = dask.compute(
        x, Y, fitted, da.where(ok, resid, 0).sum(), ok.sum(), da.nansum(self_weight), norm2
    )
    dof = X_.shape[0] - 2 * float(edf) + float(np.nansum(norm2_))
    rss = ((y_ - fitted_) ** 2).sum(axis=0)
    sigma2 = rss / dof if dof > 0 else np.full_like(rss, np.nan)
    return RegressorFit(X=X_, y=y_, y_1d=bool(y_1d), h=h, loo_mse=float(loo_sum / loo_count) if loo_count else np.nan,
                        residuals=y_ - fitted_, edf=float(edf),
                        residual_variance=float(sigma2[0]) if y_1d else sigma2)
