"""Bandwidth selection: rules of thumb and leave-one-out cross-validation.

Every objective here is computed by :func:`nadaraya.attention_pool` (so by the
fast engines, never with an m × n matrix). The leave-one-out search runs on
log-bandwidth, so it cannot return a non-positive value, and it brackets the
minimum on a grid before refining, so a local minimum near the start does not
trap it. Per-feature bandwidths are refined by L-BFGS-B with the analytic
gradient (Gaussian kernel), whose ingredients are pooled in the same pass as
the leave-one-out predictions.
"""

from __future__ import annotations

import logging

import numpy as np

from ._checks import as_float_array, is_dask_collection
from ._selection import CRITERIA, METHODS, RULES, BandwidthSearch, Summary, check_method, check_objective
from ._selection import check_sample_weight
from ._selection import rule_of_thumb, scalar_search, spread
from .kernels import get_kernel
from .pooling import attention_pool

__all__ = ["scott", "silverman", "loo_objective", "select_bandwidth", "search_bandwidth", "BandwidthSearch", "METHODS"]

log = logging.getLogger(__name__)


def summarise(x: np.ndarray, need_iqr: bool = True) -> Summary:
    """The rules' statistics of an in-memory (n, d) array: n, sd (ddof=1) and the IQR of each column."""
    n, d = x.shape
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused, naming the column, by Summary
        sd = x.std(axis=0, ddof=1) if n > 1 else np.zeros(d)
        iqr = None
        if need_iqr:
            q75, q25 = np.percentile(x, [75, 25], axis=0)
            iqr = q75 - q25
    return Summary(n, d, sd, iqr)


def _spread(x: np.ndarray) -> np.ndarray:
    """min(standard deviation, IQR / 1.349) per column, refusing constant columns."""
    s = summarise(x)
    return spread(s.sd, s.iqr)


def _as_2d(x, name="X") -> np.ndarray:
    x = as_float_array(x, name, np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f"{name} must have shape (n,) or (n, d); got shape {x.shape}")
    return x


def _rule(x, method: str) -> np.ndarray:
    x = _as_2d(x)
    return rule_of_thumb(method, summarise(x, RULES[method].needs_iqr))


def scott(x) -> np.ndarray:
    """Scott's normal-reference rule: ``1.059 * min(sd_j, IQR_j / 1.349) * n**(-1 / (d + 4))`` per feature.

    In 1-D this is statsmodels' ``bw_scott`` exactly, and R's ``bw.nrd`` up to R's
    rounded constants (``1.06 * min(sd, IQR / 1.34)``: 0.1 % to 0.7 % larger).
    Quartiles are NumPy's default (R's ``quantile`` type 7).

    Examples
    --------
    >>> import numpy as np, nadaraya as nw
    >>> x = np.random.default_rng(0).normal(size=(1000, 1))
    >>> nw.bandwidth.scott(x).round(3)
    array([0.257])
    """
    return _rule(x, "scott")


def silverman(x) -> np.ndarray:
    """Silverman's rule: ``0.9 * min(sd, IQR / 1.349) * n**(-1/5)`` in 1-D, and its d-dimensional form
    ``(4 / (d + 2))**(1 / (d + 4)) * min(sd, IQR / 1.349) * n**(-1 / (d + 4))``."""
    return _rule(x, "silverman")


def _weighted_values(y: np.ndarray, sample_weight):
    """Values to pool so that a ratio of pooled columns is the weighted estimate."""
    if sample_weight is None:
        return y, None
    return np.concatenate([y * sample_weight[:, None], sample_weight[:, None]], axis=1), sample_weight


def loo_predictions(x, y, bandwidth, *, kernel="gaussian", sample_weight=None, method="auto"):
    """Leave-one-out predictions ``f_{-i}(x_i)`` (n, k) of the order-0 estimator."""
    values, sw = _weighted_values(y, check_sample_weight(sample_weight, len(y)))
    pooled = attention_pool(x, x, values, kernel=kernel, bandwidth=bandwidth, exclude_self=True,
                            method=method, on_empty="ignore")
    if sw is None:
        return pooled
    with np.errstate(invalid="ignore", divide="ignore"):
        return pooled[:, :-1] / pooled[:, -1:]


def loo_objective(x, y, bandwidth, *, kernel="gaussian", sample_weight=None, method="auto", objective="squared"):
    """Leave-one-out mean squared error ``mean_i w_i |y_i - f_{-i}(x_i)|**2`` (statsmodels' ``cv_ls``).

    With ``objective="logloss"`` (``y`` one-hot class indicators) it is the
    leave-one-out log-loss ``-mean_i w_i log p_{-i}(y_i)`` instead.
    Points without a leave-one-out estimate (no other key inside a compact
    kernel's support) make the objective infinite, so the search avoids such
    bandwidths.
    """
    x, y = _as_2d(x), np.asarray(y, dtype=np.float64).reshape(len(x), -1)
    sample_weight = check_sample_weight(sample_weight, len(x))
    pred = loo_predictions(x, y, bandwidth, kernel=kernel, sample_weight=sample_weight, method=method)
    loss = CRITERIA[check_objective(objective)](pred, y)
    if not np.all(np.isfinite(loss)):
        return np.inf
    w = np.ones(len(x)) if sample_weight is None else sample_weight
    return float(np.sum(w * loss) / np.sum(w))


def _loo_gaussian_value_and_grad(x, y, h, sample_weight, method):
    """LOO objective and its gradient in log h (Gaussian kernel), pooled in one pass.

    ``d f_i / d log h_d = sum_j a_ij (y_j - f_i) (x_id - x_jd)**2 / h_d**2``; expanding the
    square, every sum is a pooled moment of (1, x_jd, x_jd**2) times (1, y_j).
    """
    n, d = x.shape
    xs = (x - x.mean(axis=0)) / h  # centred and scaled: the expansion below stays well conditioned
    k = y.shape[1]
    w = np.ones(n) if sample_weight is None else sample_weight
    cols = [np.ones((n, 1)), xs, xs**2, y, y[:, :, None] * xs[:, None, :], y[:, :, None] * (xs**2)[:, None, :]]
    values = np.concatenate([c.reshape(n, -1) for c in cols], axis=1) * w[:, None]
    pooled = attention_pool(x, x, values, kernel="gaussian", bandwidth=h, exclude_self=True, method=method,
                            on_empty="ignore")
    s0 = pooled[:, :1]
    s1 = pooled[:, 1 : 1 + d] / s0
    s2 = pooled[:, 1 + d : 1 + 2 * d] / s0
    f = pooled[:, 1 + 2 * d : 1 + 2 * d + k] / s0
    o = 1 + 2 * d + k
    ys1 = pooled[:, o : o + k * d].reshape(n, k, d) / s0[:, :, None]
    ys2 = pooled[:, o + k * d : o + 2 * k * d].reshape(n, k, d) / s0[:, :, None]
    # sum_j a_ij (x_id - x_jd)^2 (y_j - f_i), all scaled by 1/h_d^2 already through xs
    q = xs[:, None, :]
    m_y = (q**2) * f[:, :, None] - 2 * q * ys1 + ys2
    m_1 = (q**2 - 2 * q * s1[:, None, :] + s2[:, None, :]) * f[:, :, None]
    dfdlogh = m_y - m_1  # (n, k, d)
    r = f - y
    value = float(np.sum(w * (r**2).sum(1)) / w.sum())
    grad = 2.0 * np.einsum("i,ik,ikd->d", w, r, dfdlogh) / w.sum()
    if not np.isfinite(value):
        return np.inf, np.zeros(d)
    return value, grad


def select_bandwidth(x, y, method="loo", kernel="gaussian", *, per_feature=None, sample_weight=None,
                     engine="auto", n_grid=24, progress=None):
    """Choose a bandwidth for ``x`` (n,) or (n, d) and ``y`` (n,) or (n, k).

    Parameters
    ----------
    method : {"loo", "scott", "silverman"}
        "loo" minimises the leave-one-out squared error over log-bandwidth.
    kernel : str
    per_feature : bool, optional
        One bandwidth per feature (default: True when d > 1). The scalar search
        scales the rule-of-thumb vector by one factor; the per-feature search
        then refines each feature with L-BFGS-B (analytic gradient for the
        Gaussian kernel).
    sample_weight : array_like (n,), optional
    engine : str
        Pooling engine (``method`` of :func:`nadaraya.attention_pool`).
    n_grid : int
        Grid points of the bracketing search.
    progress : callable, optional
        ``progress(step, total, bandwidth, objective)`` during the search.

    Returns
    -------
    ndarray (d,)
        The bandwidth per feature (equal entries for a scalar search).

    Examples
    --------
    >>> import nadaraya as nw
    >>> data = nw.make_dataset(n_train=200, seed=0)
    >>> h = nw.select_bandwidth(data.x_train, data.y_train, method="loo")
    >>> bool(0.05 < h[0] < 0.5)
    True
    """
    return search_bandwidth(x, y, method, kernel, per_feature=per_feature, sample_weight=sample_weight,
                            engine=engine, n_grid=n_grid, progress=progress).bandwidth


def search_bandwidth(x, y, method="loo", kernel="gaussian", *, per_feature=None, sample_weight=None,
                     engine="auto", n_grid=24, progress=None, scale=None, groups=None,
                     objective="squared", loss=None) -> BandwidthSearch:
    """:func:`select_bandwidth` with the objective value and the number of evaluations.

    ``scale`` (d,) sets the relative bandwidths of the scalar search (default:
    each column's spread); ``groups`` (d,) maps columns to features that share
    one bandwidth in the per-feature search (one-hot blocks of a categorical
    feature); ``objective`` is "squared" or "logloss"; ``loss(h)``, if given,
    replaces the leave-one-out objective (the local-linear estimator passes its own).
    Dask arrays x, y are searched on the cluster (:func:`nadaraya.dask.search_bandwidth`).
    """
    if is_dask_collection(x) or is_dask_collection(y):  # the Dask path lives in nadaraya.dask
        from .dask import search_bandwidth as search_on_dask

        return search_on_dask(x, y, method, kernel, per_feature=per_feature, sample_weight=sample_weight,
                              engine=engine, n_grid=n_grid, progress=progress, scale=scale, groups=groups,
                              objective=objective, loss=loss)
    kern = get_kernel(kernel)
    check_method(method)
    check_objective(objective)
    x = _as_2d(x)
    y = as_float_array(y, "y", np.float64).reshape(len(x), -1)
    n, d = x.shape
    sw = check_sample_weight(sample_weight, n)
    if method in RULES:
        return BandwidthSearch(_rule(x, method), np.nan, 0, method)
    if n < 3:
        raise ValueError(f"leave-one-out bandwidth selection needs at least 3 samples; got {n}")
    base = _spread(x) if scale is None else np.asarray(scale, dtype=np.float64)
    groups = np.arange(d) if groups is None else np.asarray(groups)
    n_groups = int(groups.max()) + 1

    def loo_at(h):
        if loss is not None:
            return loss(h)
        return loo_objective(x, y, h, kernel=kern, sample_weight=sw, method=engine, objective=objective)

    h, value, evaluations = scalar_search(loo_at, base, n, n_grid, progress)
    calls = [evaluations]
    best = value
    per_feature = n_groups > 1 if per_feature is None else bool(per_feature)
    if per_feature and n_groups > 1:
        start = np.array([np.log(h[groups == g][0]) for g in range(n_groups)])
        analytic = kern.name == "gaussian" and objective == "squared" and loss is None

        def fun(lg):
            calls[0] += 1
            hc = np.exp(lg[groups])
            if analytic:
                v, g_cols = _loo_gaussian_value_and_grad(x, y, hc, sw, engine)
                return v, np.bincount(groups, weights=g_cols, minlength=n_groups)
            return loo_at(hc)

        from scipy import optimize  # imported by the search that needs it: `import nadaraya` stays light

        res = optimize.minimize(fun, start, jac=True if analytic else None, method="L-BFGS-B",
                                bounds=[(s - 6, s + 6) for s in start])
        if np.isfinite(res.fun) and res.fun < best:
            h, best = np.exp(res.x[groups]), float(res.fun)
    value = best
    log.info("bandwidth %s, leave-one-out MSE %.6g after %d evaluations", h, value, calls[0])
    return BandwidthSearch(h, float(value), calls[0], method)
