"""Nadaraya–Watson estimators with the scikit-learn API, and model files without pickle.

Both estimators are thin shells over :func:`nadaraya.attention_pool`: every
sum they need — local-constant and local-linear fits, leave-one-out
predictions, standard errors, effective numbers of neighbours, hat-matrix
diagonals, derivatives — is a pooled moment (values such as ``w``, ``w x``,
``w x x^T``, ``w y``), so it runs on the fast engines and never forms an
m × n matrix (except :meth:`attention_weights`, which asks for it).

Categorical features use the Aitchison–Aitken kernel
``K(a, b) = 1 - lambda`` if ``a == b`` else ``lambda / (c - 1)`` (c levels,
``0 < lambda < (c - 1) / c``). With the Gaussian kernel on the continuous
features, it equals a Gaussian on a one-hot embedding of the feature with
bandwidth ``h = 1 / sqrt(log((1 - lambda) (c - 1) / lambda))``, which is how it
is computed; ``bandwidth_`` reports ``lambda`` for those features.
"""

from __future__ import annotations

import json
import numbers
import warnings
import zipfile
from pathlib import Path

import numpy as np
from scipy import stats

from . import bandwidth as bw
from ._checks import is_dask_collection
from ._output import staged_file
from .kernels import KERNELS, get_kernel
from .pooling import EmptySupportWarning, attention_pool, attention_weights, log_kernel_sums

try:  # scikit-learn is the `sklearn` extra
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        f"nadaraya's estimators need scikit-learn ({exc}); install it with: pip install 'nadaraya[sklearn]'"
    ) from None

__all__ = ["NadarayaWatsonRegressor", "NadarayaWatsonClassifier", "FORMAT", "FORMAT_VERSION"]

FORMAT = "nadaraya-model"
FORMAT_VERSION = 1
_DEFAULT_MAX_WEIGHTS_BYTES = 1 << 28


def _aa_bandwidth(lam, c):
    """Gaussian bandwidth on the one-hot embedding that reproduces Aitchison–Aitken ``lambda``."""
    ratio = (1.0 - lam) * (c - 1) / lam
    return 1.0 / np.sqrt(np.log(ratio))


def _aa_lambda(h, c):
    e = np.exp(-1.0 / (h * h))
    return (c - 1) * e / (1.0 + (c - 1) * e)


class _NadarayaWatsonBase(BaseEstimator):
    """Shared fitting machinery; see :class:`NadarayaWatsonRegressor`."""

    _order = 0

    # ------------------------------------------------------------------ inputs

    def _check_params(self):
        kern = get_kernel(self.kernel)
        bwp = self.bandwidth
        if isinstance(bwp, str):
            if bwp not in bw.METHODS:
                raise ValueError(
                    f"bandwidth must be a positive number, one per feature, or one of {', '.join(bw.METHODS)}; "
                    f"got {bwp!r}"
                )
        else:
            arr = np.asarray(bwp, dtype=float) if not isinstance(bwp, bool) else np.array(np.nan)
            if arr.ndim > 1 or not np.all(np.isfinite(arr) & (arr > 0)):
                raise ValueError(f"bandwidth must be positive and finite (a number or one per feature); got {bwp!r}")
        if self._order not in (0, 1):
            raise ValueError(f"order must be 0 (local constant) or 1 (local linear); got {self._order!r}")
        if self.categorical is not None and kern.name != "gaussian":
            raise ValueError(
                f"categorical features need kernel='gaussian' (they use the Aitchison–Aitken kernel, "
                f"a Gaussian on a one-hot embedding); got kernel={kern.name!r}"
            )
        return kern

    def _categorical_indices(self, X, n_features):
        if self.categorical is None:
            return []
        cats = [self.categorical] if isinstance(self.categorical, (str, numbers.Integral)) else list(self.categorical)
        names = list(getattr(X, "columns", []))
        out = []
        for c in cats:
            if isinstance(c, str):
                if c not in names:
                    raise ValueError(f"categorical column {c!r} is not among the columns of X: {names}")
                out.append(names.index(c))
            elif isinstance(c, numbers.Integral) and -n_features <= c < n_features:
                out.append(int(c) % n_features)
            else:
                raise ValueError(f"categorical must list column indices in [0, {n_features}) or column names; got {c!r}")
        return sorted(set(out))

    def _split(self, X, fitting):
        """Separate categorical columns (encoded to integer codes) from the numeric ones."""
        n_features = X.shape[1] if hasattr(X, "shape") and len(X.shape) == 2 else None
        if self.categorical is None or n_features is None:
            return X, None
        idx = self._categorical_indices(X, n_features) if fitting else self.categorical_indices_
        raw = X.to_numpy(dtype=object) if hasattr(X, "to_numpy") else np.asarray(X, dtype=object)
        cont = np.delete(raw, idx, axis=1)
        if hasattr(X, "columns"):
            import pandas as pd

            cont = pd.DataFrame(cont, columns=[c for i, c in enumerate(X.columns) if i not in idx])
        codes = np.empty((raw.shape[0], len(idx)), dtype=np.int64)
        if fitting:
            self.categorical_indices_ = idx
            self.categories_ = []
        for j, col in enumerate(idx):
            values = raw[:, col].astype(str)
            if fitting:
                self.categories_.append(np.unique(values))
            cats = self.categories_[j]
            pos = np.searchsorted(cats, values)
            pos = np.clip(pos, 0, len(cats) - 1)
            codes[:, j] = np.where(cats[pos] == values, pos, -1)  # -1: a level unseen in fit
        return cont, codes

    def _embed(self, Xc, codes):
        """Continuous features, then one-hot blocks of the categorical ones; and the column → feature map."""
        parts, groups = [Xc], list(range(Xc.shape[1]))
        if codes is not None:
            for j, cats in enumerate(self.categories_):
                onehot = np.zeros((Xc.shape[0], len(cats)))
                ok = codes[:, j] >= 0
                onehot[np.flatnonzero(ok), codes[ok, j]] = 1.0
                parts.append(onehot)
                groups += [Xc.shape[1] + j] * len(cats)
        return np.concatenate(parts, axis=1), np.array(groups)

    def _validate(self, X, y=None, fitting=False, sample_weight=None):
        Xc, codes = self._split(X, fitting)
        min_features = 0 if codes is not None else 1  # categorical features may be the only ones
        if not fitting:
            Xc = validate_data(self, Xc, reset=False, dtype=np.float64, ensure_min_features=min_features)
        else:
            if y is None:
                raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
            Xc, y = validate_data(self, Xc, y, reset=True, dtype=np.float64, multi_output=self._y_numeric,
                                  y_numeric=self._y_numeric, ensure_min_samples=2, ensure_min_features=min_features)
        if Xc.shape[1] == 0 and codes is None:
            raise ValueError("X has 0 features; at least one is required")
        if fitting:
            self.n_continuous_ = Xc.shape[1]
        Z, groups = self._embed(Xc, codes)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
            if sample_weight.shape[0] != Z.shape[0]:
                raise ValueError(f"sample_weight has {sample_weight.shape[0]} entries but X has {Z.shape[0]} samples")
            if not np.all(np.isfinite(sample_weight)) or np.any(sample_weight < 0):
                raise ValueError("sample_weight must be finite and non-negative")
            if not sample_weight.sum() > 0:
                raise ValueError("sample_weight must not be all zero: give at least one sample a positive weight")
        return Z, y, groups, sample_weight

    # ------------------------------------------------------------------ fit

    def _fit(self, X, Y, sample_weight, progress, objective):
        kern = self._check_params()
        Z, Y, groups, sw = self._validate(X, Y, fitting=True, sample_weight=sample_weight)
        self._Y_shape_1d = None
        self.X_ = Z
        self.groups_ = groups
        self.sample_weight_ = sw
        if self._order == 1:
            dc = self.n_continuous_
            if dc == 0:
                raise ValueError("order=1 needs at least one continuous feature")
            # weighted, so that integer weights and repeated rows standardise alike
            w = np.ones(Z.shape[0]) if sw is None else sw
            mu = np.average(Z[:, :dc], axis=0, weights=w)
            sd = np.sqrt(np.average((Z[:, :dc] - mu) ** 2, axis=0, weights=w))
            self._center = (mu, np.where(sd > 0, sd, 1.0))
        n_feat = int(groups.max()) + 1
        n_cont = self.n_continuous_
        if isinstance(self.bandwidth, str):
            if self.bandwidth == "loo":
                scale = np.ones(Z.shape[1])
                if n_cont:
                    scale[:n_cont] = bw._spread(Z[:, :n_cont])
                h_cols = bw.search_bandwidth(
                    Z, objective_y(self, Y), "loo", kern, sample_weight=sw, engine=self.method, progress=progress,
                    scale=scale, groups=groups, objective=objective,
                    loss=self._loo_loss(Z, Y) if self._order == 1 else None,
                ).bandwidth
            elif n_feat > n_cont:
                raise ValueError(
                    f"bandwidth={self.bandwidth!r} is a rule for continuous features; with categorical features "
                    "use bandwidth='loo' or give the bandwidths (lambda for categorical features)"
                )
            else:
                h_cols = (bw.scott if self.bandwidth == "scott" else bw.silverman)(Z)
        else:
            if np.size(self.bandwidth) not in (1, n_feat):
                raise ValueError(f"bandwidth has {np.size(self.bandwidth)} values but X has {n_feat} features")
            given = np.broadcast_to(np.asarray(self.bandwidth, dtype=float).reshape(-1), (n_feat,))
            h_cols = given[groups].copy()
            for j, cats in enumerate(getattr(self, "categories_", [])):
                lam = given[n_cont + j]
                c = max(len(cats), 2)
                if not 0 < lam < (c - 1) / c:
                    raise ValueError(
                        f"the bandwidth of categorical feature {j} is the Aitchison–Aitken lambda and must lie in "
                        f"(0, {(c - 1) / c:.3g}); got {lam}"
                    )
                h_cols[groups == n_cont + j] = _aa_bandwidth(lam, c)
        self.h_ = np.asarray(h_cols, dtype=np.float64)
        feat_h = np.array([self.h_[groups == g][0] for g in range(n_feat)])
        for j, cats in enumerate(getattr(self, "categories_", [])):
            feat_h[n_cont + j] = _aa_lambda(feat_h[n_cont + j], max(len(cats), 2))
        self.bandwidth_ = feat_h
        return Z, Y

    def _loo_loss(self, Z, Y):
        """The local-linear leave-one-out squared error as a function of the column bandwidths."""
        Y = np.asarray(Y, dtype=np.float64).reshape(Z.shape[0], -1)
        w = self._weights()

        def loss(h):
            self.h_ = np.asarray(h, dtype=np.float64)
            pred, _ = self._local_fit(Z, Y, exclude_self=True)
            r = ((pred - Y) ** 2).sum(axis=1)
            return float(np.sum(w * r) / np.sum(w)) if np.all(np.isfinite(r)) else np.inf

        return loss

    # ------------------------------------------------------------------ pooled moments

    def _pool(self, Q, values, exclude_self=False, h=None, kernel=None):
        """Attention pooling of ``values`` over the training points at the queries Q."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EmptySupportWarning)
            return attention_pool(Q, self.X_, values, kernel=kernel or self.kernel, bandwidth=self.h_ if h is None else h,
                                  exclude_self=exclude_self, method=self.method, on_empty="ignore")

    def _weights(self):
        return np.ones(self.X_.shape[0]) if self.sample_weight_ is None else self.sample_weight_

    def _local_fit(self, Q, Y, exclude_self=False, slopes=False, *, order=None, h=None, kernel=None,
                   weights=None, system=False):
        """Local-constant or local-linear fit of Y (n, k) at Q → (fit (m, k), slopes (m, dc, k) or None[, A, ok]).

        ``order``, ``h``, ``kernel`` and ``weights`` default to the fitted ones; with
        ``system`` the local-linear normal matrices A (m, dc + 1, dc + 1) and
        the mask of queries where they are finite are returned too.
        """
        order = self._order if order is None else order
        w = self._weights() if weights is None else weights
        n, k = Y.shape
        if order == 0:
            pooled = self._pool(Q, np.concatenate([Y * w[:, None], w[:, None]], axis=1), exclude_self, h, kernel)
            with np.errstate(invalid="ignore", divide="ignore"):
                return pooled[:, :k] / pooled[:, k:], None
        dc = self.n_continuous_
        mu, sd = self._center
        X = (self.X_[:, :dc] - mu) / sd  # standardised: keeps the moment expansion well conditioned
        q = (Q[:, :dc] - mu) / sd
        outer = (X[:, :, None] * X[:, None, :]).reshape(n, dc * dc)
        cols = [w[:, None], w[:, None] * X, w[:, None] * outer, w[:, None] * Y,
                (w[:, None, None] * X[:, :, None] * Y[:, None, :]).reshape(n, dc * k)]
        pooled = self._pool(Q, np.concatenate(cols, axis=1), exclude_self, h, kernel)
        m = Q.shape[0]
        s0 = pooled[:, 0]
        s1 = pooled[:, 1 : 1 + dc]
        s2 = pooled[:, 1 + dc : 1 + dc + dc * dc].reshape(m, dc, dc)
        t0 = pooled[:, 1 + dc + dc * dc : 1 + dc + dc * dc + k]
        t1 = pooled[:, 1 + dc + dc * dc + k :].reshape(m, dc, k)
        z1 = s1 - s0[:, None] * q  # sum a w (x - q)
        z2 = s2 - s1[:, :, None] * q[:, None, :] - q[:, :, None] * s1[:, None, :] + s0[:, None, None] * q[:, :, None] * q[:, None, :]
        zy = t1 - q[:, :, None] * t0[:, None, :]
        A = np.empty((m, dc + 1, dc + 1))
        A[:, 0, 0], A[:, 0, 1:], A[:, 1:, 0], A[:, 1:, 1:] = s0, z1, z1, z2
        B = np.concatenate([t0[:, None, :], zy], axis=1)  # (m, dc + 1, k)
        ok = np.all(np.isfinite(A), axis=(1, 2))
        beta = np.full((m, dc + 1, k), np.nan)
        if ok.any():
            beta[ok] = np.linalg.pinv(A[ok]) @ B[ok]
        out = beta[:, 0, :], (beta[:, 1:, :] / sd[None, :, None] if slopes else None)
        return out + (A, ok) if system else out

    def _prepare_predict(self, X):
        check_is_fitted(self, "h_")
        Z, _, _, _ = self._validate(X)
        return Z

    def _report_empty(self, pred):
        empty = np.isnan(pred).any(axis=1) if pred.ndim == 2 else np.isnan(pred)
        if empty.any():
            warnings.warn(
                f"{int(empty.sum())} of {empty.size} queries have no training point inside the support of the "
                f"{get_kernel(self.kernel).name} kernel; their prediction is NaN. Use a larger bandwidth or the "
                "'gaussian' kernel",
                EmptySupportWarning,
                stacklevel=3,
            )

    # ------------------------------------------------------------------ diagnostics

    def attention_weights(self, X, *, max_bytes=_DEFAULT_MAX_WEIGHTS_BYTES):
        """The (m, n) attention weights of the queries X over the training points (order-0 weights).

        Refuses when the matrix would exceed ``max_bytes`` (default 256 MiB).
        """
        Z = self._prepare_predict(X)
        need = Z.shape[0] * self.X_.shape[0] * 8
        if need > max_bytes:
            raise ValueError(
                f"the attention-weight matrix would take {need / 2**20:.0f} MiB ({Z.shape[0]} x {self.X_.shape[0]}), "
                f"above max_bytes={max_bytes}; pass a larger max_bytes or fewer queries"
            )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", EmptySupportWarning)
            a = attention_weights(Z, self.X_, kernel=self.kernel, bandwidth=self.h_, on_empty="ignore")
        w = self._weights()
        a = a * w[None, :]
        return a / a.sum(axis=1, keepdims=True)

    def _sum_sq_weights(self, Z, exclude_self=False):
        """``sum_j a_j**2`` for the (weighted) order-0 weights at each query, without the weight matrix."""
        kern = get_kernel(self.kernel)
        w = self._weights()
        sq, h2 = _squared_kernel(kern, self.h_)
        l1 = log_kernel_sums(Z, self.X_, kernel=kern, bandwidth=self.h_, exclude_self=exclude_self, method=self.method)
        l2 = log_kernel_sums(Z, self.X_, kernel=sq, bandwidth=h2, exclude_self=exclude_self, method=self.method)
        p1 = self._pool(Z, w[:, None], exclude_self)[:, 0]
        p2 = self._pool(Z, (w * w)[:, None], exclude_self, h=h2, kernel=sq)[:, 0]
        with np.errstate(invalid="ignore", over="ignore"):
            return np.exp(l2 - 2 * l1) * p2 / (p1 * p1)

    def effective_neighbours(self, X):
        """Effective number of neighbours ``1 / sum_j a_j**2`` at each query (n_eff of the weights)."""
        Z = self._prepare_predict(X)
        return 1.0 / self._sum_sq_weights(Z)

    def hat_diagonal(self):
        """Diagonal of the smoother (hat) matrix at the training points: the weight of each point on itself."""
        check_is_fitted(self, "h_")
        Z = self.X_
        w = self._weights()
        l1 = log_kernel_sums(Z, Z, kernel=self.kernel, bandwidth=self.h_, method=self.method)
        p1 = self._pool(Z, w[:, None])[:, 0]
        self_weight = w * np.exp(-l1) / p1  # K(0) = 1: the point's own kernel weight over the weighted total
        if self._order == 0:
            return self_weight
        _, _, A, ok = self._local_fit(Z, np.zeros((Z.shape[0], 1)), system=True)
        out = np.full(Z.shape[0], np.nan)
        out[ok] = np.linalg.pinv(A[ok])[:, 0, 0] * self_weight[ok] * p1[ok]
        return out


def objective_y(est, Y):
    return Y


def _squared_kernel(kern, h):
    """A kernel and bandwidth whose weights are ``K**2``: exact rewrites where one exists, else a scaled score."""
    if kern.name == "gaussian":
        return kern, h / np.sqrt(2.0)
    if kern.name == "laplace":
        return kern, h / 2.0
    if kern.name in ("boxcar", "constant"):
        return kern, h
    if kern.name == "epanechnikov":
        return KERNELS["biweight"], h
    from .kernels import Kernel

    return Kernel(f"{kern.name}^2", kern.support, _score=lambda t, o: 2.0 * kern._score(t, o),
                  _dscore=lambda t, o: 2.0 * kern._dscore(t, o)), h


class NadarayaWatsonRegressor(RegressorMixin, _NadarayaWatsonBase):
    """Nadaraya–Watson kernel regression (attention pooling) with automatic bandwidth.

    Parameters
    ----------
    kernel : str, default "gaussian"
        A name from :data:`nadaraya.KERNELS`.
    bandwidth : float, array of shape (n_features,), or {"loo", "scott", "silverman"}, default "loo"
        "loo" minimises the leave-one-out squared error (statsmodels' cv_ls) on
        log-bandwidth; rules of thumb use each feature's spread. For
        categorical features a number is the Aitchison–Aitken lambda.
    order : {0, 1}, default 0
        0: local constant (attention pooling); 1: local linear, which removes
        the boundary bias of order 0.
    categorical : list of int or str, optional
        Columns (indices or DataFrame names) that are unordered categories.
    method : str, default "auto"
        Pooling engine (see :func:`nadaraya.attention_pool`).

    Attributes
    ----------
    bandwidth_ : ndarray (n_features,)
    h_ : ndarray
        The bandwidth of each internal column (categorical features: of their one-hot columns).
    loo_mse_ : float
        Leave-one-out mean squared error at ``bandwidth_``.
    edf_ : float
        Effective degrees of freedom (trace of the hat matrix).
    n_features_in_, feature_names_in_

    Examples
    --------
    >>> import nadaraya as nw
    >>> data = nw.make_dataset(n_train=100, seed=0)
    >>> model = nw.NadarayaWatsonRegressor().fit(data.x_train[:, None], data.y_train)
    >>> model.predict(data.x_test[:3, None]).shape
    (3,)
    """

    _y_numeric = True

    def __init__(self, kernel="gaussian", bandwidth="loo", order=0, *, categorical=None, method="auto"):
        self.kernel = kernel
        self.bandwidth = bandwidth
        self.order = order
        self.categorical = categorical
        self.method = method

    @property
    def _order(self):
        return self.order

    def fit(self, X, y, sample_weight=None, *, progress=None):
        """Fit on X (n, n_features) and y (n,) or (n, k); choose the bandwidth if asked.

        ``progress(step, total, bandwidth, objective)`` is called during a bandwidth search.
        Dask arrays X, y are fitted on the cluster (:func:`nadaraya.dask.fit_regressor`).
        """
        if is_dask_collection(X) or is_dask_collection(y):  # the Dask path lives in nadaraya.dask
            from .dask import fit_regressor

            return fit_regressor(self, X, y, sample_weight=sample_weight, progress=progress)
        Z, Y = self._fit(X, y, sample_weight, progress, "squared")
        self._y_1d = np.ndim(Y) == 1
        self.y_ = np.asarray(Y, dtype=np.float64).reshape(Z.shape[0], -1)
        loo, _ = self._local_fit(Z, self.y_, exclude_self=True)
        resid = ((loo - self.y_) ** 2).sum(axis=1)
        w = self._weights()
        ok = np.isfinite(resid)
        self.loo_mse_ = float(np.sum(w[ok] * resid[ok]) / np.sum(w[ok])) if ok.any() else np.nan
        fitted, _ = self._local_fit(Z, self.y_)
        self.residuals_ = self.y_ - fitted
        self.edf_ = float(np.nansum(self.hat_diagonal()))
        return self

    def predict(self, X, return_std=False):
        """Predictions (m,) or (m, k); with ``return_std`` also their pointwise standard errors.

        The standard error is ``sigma(q) * sqrt(sum_j l_j(q)**2)``: the local
        residual variance (the attention-weighted mean of squared in-sample
        residuals) times the squared norm of the effective weights — a band
        for the regression function that ignores the smoothing bias. A dask
        array X gives lazy dask arrays (:func:`nadaraya.dask.predict_regressor`).
        """
        if is_dask_collection(X):  # the Dask path lives in nadaraya.dask
            from .dask import predict_regressor

            return predict_regressor(self, X, return_std=return_std)
        Z = self._prepare_predict(X)
        pred, _ = self._local_fit(Z, self.y_)
        self._report_empty(pred)
        out = pred[:, 0] if self._y_1d else pred
        if not return_std:
            return out
        std = self._std(Z, pred)
        return out, (std[:, 0] if self._y_1d else std)

    def _std(self, Z, pred):
        w = self._weights()
        local_var = self._local_fit(Z, self.residuals_**2, order=0)[0]  # under the order-0 weights
        if self.order == 0:
            return np.sqrt(np.maximum(local_var, 0) * self._sum_sq_weights(Z)[:, None])
        # local linear: l_j(q) = e1^T A^-1 [1, z_j] w_j K_j, so sum_j l_j^2 = e1^T A^-1 B A^-1 e1,
        # with B the same moments under the weights w^2 K^2 (each normalised by its kernel sum)
        zeros = np.zeros((self.X_.shape[0], 1))
        _, _, A, ok = self._local_fit(Z, zeros, system=True)
        kern = get_kernel(self.kernel)
        sq, h2 = _squared_kernel(kern, self.h_)
        _, _, Bm, okb = self._local_fit(Z, zeros, h=h2, kernel=sq, weights=w * w, system=True)
        l1 = log_kernel_sums(Z, self.X_, kernel=kern, bandwidth=self.h_, method=self.method)
        l2 = log_kernel_sums(Z, self.X_, kernel=sq, bandwidth=h2, method=self.method)
        good = ok & okb
        norm2 = np.full(Z.shape[0], np.nan)
        e = np.linalg.pinv(A[good])[:, 0, :]
        norm2[good] = np.einsum("mi,mij,mj->m", e, Bm[good], e) * np.exp(l2[good] - 2 * l1[good])
        return np.sqrt(np.maximum(local_var, 0) * norm2[:, None])

    def predict_interval(self, X, alpha=0.05):
        """Pointwise (1 - alpha) confidence band for the regression function: (lower, upper)."""
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1); got {alpha}")
        pred, std = self.predict(X, return_std=True)
        z = stats.norm.ppf(1 - alpha / 2)
        return pred - z * std, pred + z * std

    def derivative(self, X):
        """Derivative of the fit with respect to each continuous feature (marginal effect): (m, dc) or (m, dc, k)."""
        Z = self._prepare_predict(X)
        dc = self.n_continuous_
        if self.order == 1:
            _, slopes = self._local_fit(Z, self.y_, slopes=True)
            d = np.transpose(slopes, (0, 2, 1))  # (m, k, dc)
        else:
            eps = 1e-4 * self.h_[:dc]
            d = np.empty((Z.shape[0], self.y_.shape[1], dc))
            for j in range(dc):
                up, down = Z.copy(), Z.copy()
                up[:, j] += eps[j]
                down[:, j] -= eps[j]
                d[:, :, j] = (self._local_fit(up, self.y_)[0] - self._local_fit(down, self.y_)[0]) / (2 * eps[j])
        return d[:, 0, :] if self._y_1d else np.transpose(d, (0, 2, 1))

    # ------------------------------------------------------------------ files

    def save(self, path):
        """Write the fitted model to an ``.npz`` file (no pickle) with JSON metadata and a format version."""
        _save(self, path)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`. Nothing in the file is executed."""
        return _load(cls, path)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class NadarayaWatsonClassifier(ClassifierMixin, _NadarayaWatsonBase):
    """Nadaraya–Watson classification: ``predict_proba`` is the attention-weighted class frequency.

    The bandwidth is chosen by leave-one-out log-loss ("loo"), or a rule of
    thumb, or given. Same kernels and options as :class:`NadarayaWatsonRegressor`.

    Examples
    --------
    >>> import numpy as np, nadaraya as nw
    >>> X = np.r_[np.zeros(20), np.ones(20)][:, None] + np.random.default_rng(0).normal(0, 0.2, (40, 1))
    >>> y = np.r_[np.zeros(20, int), np.ones(20, int)]
    >>> nw.NadarayaWatsonClassifier().fit(X, y).predict([[0.0], [1.0]])
    array([0, 1])
    """

    _y_numeric = False

    def __init__(self, kernel="gaussian", bandwidth="loo", *, categorical=None, method="auto"):
        self.kernel = kernel
        self.bandwidth = bandwidth
        self.categorical = categorical
        self.method = method

    def fit(self, X, y, sample_weight=None, *, progress=None):
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import column_or_1d

        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        y_arr = column_or_1d(y, warn=True)
        check_classification_targets(y_arr)
        self.classes_, codes = np.unique(y_arr, return_inverse=True)
        onehot = np.eye(len(self.classes_))[codes.reshape(-1)]
        self._onehot = onehot
        self._fit(X, y_arr, sample_weight, progress, "logloss")
        self.y_ = onehot
        return self

    def predict_proba(self, X):
        """Class probabilities (m, n_classes): attention-weighted class frequencies (rows sum to 1)."""
        Z = self._prepare_predict(X)
        proba, _ = self._local_fit(Z, self.y_)
        self._report_empty(proba)
        return proba

    def predict(self, X):
        """The most probable class; queries without an estimate get the most frequent training class."""
        proba = self.predict_proba(X)
        prior = int(np.argmax((self.y_ * self._weights()[:, None]).sum(axis=0)))
        idx = np.where(np.isnan(proba).any(axis=1), prior, np.argmax(np.nan_to_num(proba, nan=-1.0), axis=1))
        return self.classes_[idx]

    def save(self, path):
        _save(self, path)

    @classmethod
    def load(cls, path):
        return _load(cls, path)


def objective_y(est, Y):  # noqa: F811 - the classifier searches on its one-hot targets
    return est._onehot if isinstance(est, NadarayaWatsonClassifier) else Y


# ---------------------------------------------------------------------- files

_PARAMS = ("kernel", "bandwidth", "order", "categorical", "method")
_ARRAYS = ("X_", "y_", "h_", "bandwidth_", "groups_")


def _json_param(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _save(est, path):
    check_is_fitted(est, "h_")
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": type(est).__name__,
        "params": {k: _json_param(getattr(est, k)) for k in _PARAMS if hasattr(est, k)},
        "n_features_in": int(est.n_features_in_),
        "feature_names_in": [str(c) for c in getattr(est, "feature_names_in_", [])] or None,
        "n_continuous": int(est.n_continuous_),
        "categorical_indices": list(getattr(est, "categorical_indices_", [])),
        "categories": [c.tolist() for c in getattr(est, "categories_", [])],
        "y_1d": bool(getattr(est, "_y_1d", True)),
        "loo_mse": getattr(est, "loo_mse_", None),
        "edf": getattr(est, "edf_", None),
        "column_names": getattr(est, "column_names_", None),
    }
    try:
        text = json.dumps(meta, allow_nan=True)
    except TypeError as exc:
        raise ValueError(f"cannot save this model: a parameter is not representable in JSON ({exc})") from None
    arrays = {k: getattr(est, k) for k in _ARRAYS + ("residuals_",) if getattr(est, k, None) is not None}
    if est.sample_weight_ is not None:
        arrays["sample_weight_"] = est.sample_weight_
    if isinstance(est, NadarayaWatsonClassifier):
        arrays["classes_"] = np.asarray(est.classes_)
        if arrays["classes_"].dtype == object:
            arrays["classes_"] = arrays["classes_"].astype(str)
    if getattr(est, "order", 0) == 1:
        arrays["center_mu"], arrays["center_sd"] = (np.asarray(a, dtype=float) for a in est._center)
    path = Path(path)
    with staged_file(path, name="model") as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, __metadata__=np.array(text), **arrays)


def _load(cls, path):
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"model file {str(path)!r} does not exist")
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as exc:
        raise ValueError(f"{str(path)!r} is not a readable nadaraya model file (corrupted or truncated?): {exc}") from None
    try:
        meta = json.loads(str(arrays.pop("__metadata__")))
    except (KeyError, json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"{str(path)!r} is not a nadaraya model file: no valid metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a nadaraya model file (format {meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} has model format version {meta.get('format_version')}; this nadaraya reads version "
            f"{FORMAT_VERSION}"
        )
    classes = {c.__name__: c for c in (NadarayaWatsonRegressor, NadarayaWatsonClassifier)}
    target = classes.get(meta.get("class"))
    if target is None or not issubclass(target, cls):
        raise ValueError(f"{str(path)!r} holds a {meta.get('class')!r}, not a {cls.__name__}")
    try:
        params = {k: v for k, v in meta["params"].items() if k in target().get_params()}
        est = target(**params)
        for k in _ARRAYS:
            setattr(est, k, np.asarray(arrays[k], dtype=np.float64) if k != "groups_" else arrays[k].astype(np.int64))
        est.sample_weight_ = arrays.get("sample_weight_")
        if target is NadarayaWatsonRegressor:
            est.residuals_ = np.asarray(arrays["residuals_"], dtype=np.float64)
        est.n_features_in_ = int(meta["n_features_in"])
        if meta.get("feature_names_in"):
            est.feature_names_in_ = np.asarray(meta["feature_names_in"], dtype=object)
        est.n_continuous_ = int(meta["n_continuous"])
        if meta["categorical_indices"]:
            est.categorical_indices_ = [int(i) for i in meta["categorical_indices"]]
            est.categories_ = [np.asarray(c, dtype=str) for c in meta["categories"]]
        est._y_1d = bool(meta["y_1d"])
        est.loo_mse_, est.edf_ = meta.get("loo_mse"), meta.get("edf")
        if meta.get("column_names"):
            est.column_names_ = meta["column_names"]
        if target is NadarayaWatsonClassifier:
            est.classes_ = arrays["classes_"]
            est._onehot = est.y_
        if getattr(est, "order", 0) == 1:
            est._center = (arrays["center_mu"], arrays["center_sd"])
        n, d = est.X_.shape
        if est.h_.shape != (d,) or est.y_.shape[0] != n or est.groups_.shape != (d,):
            raise ValueError("array shapes do not agree")
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{str(path)!r} is a damaged nadaraya model file: {exc}") from None
    return est
