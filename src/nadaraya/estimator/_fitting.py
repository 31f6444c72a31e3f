"""Fitting and predicting without scikit-learn: the computations behind the estimators' ``fit`` and ``predict``.

The estimators check their inputs with scikit-learn (``validate_data``) and
hand the checked arrays to :func:`fit_smoother` and :func:`regression_state`;
their predictions go through :func:`regression_predict`. :class:`PlainRegressor`
runs the same functions on inputs that are already float arrays (what
``nadaraya fit`` reads from a CSV file), so that the command line starts
without importing scikit-learn or scipy.stats; its model file is the one
:meth:`NadarayaWatsonRegressor.save` writes for the same fit. Imports only
NumPy, scipy.special (for the normal quantile) and the estimator's pure modules.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from .._selection import check_sample_weight
from .._softmax import empty_support_message
from ..kernels import get_kernel
from ..pooling import EmptySupportWarning
from . import _diagnostics as diag
from . import _modelfile
from . import _params as P
from ._categorical import Encoding, feature_bandwidths, refuse_text_columns
from ._localpoly import Smoother, centering, local_fit
from ._params import validate_params
from ._select import Problem, choose_bandwidth

__all__ = ["Fit", "fit_smoother", "regression_state", "regression_predict", "smoother_of", "normal_quantile",
           "PlainRegressor"]


@dataclass(frozen=True)
class Fit:
    """A fit in progress: the smoother, its column bandwidths, the validated targets and the state so far."""

    smoother: Smoother
    h: np.ndarray
    Y: object
    state: dict


def smoother_of(est) -> Smoother:
    """The fitted smoother of ``est`` (its bandwidth is ``est.h_``, passed separately)."""
    w = np.ones(est.X_.shape[0]) if est.sample_weight_ is None else est.sample_weight_
    return Smoother(est.X_, w, est.kernel, est.method, est._order, est.n_continuous_, getattr(est, "_center", None),
                    getattr(est, "neighbours", None), est.bandwidth is not None)


def fit_smoother(est, p, encoding: Encoding, Z, Y, groups, n_cont, sample_weight, progress, objective,
                 search_Y=None) -> Fit:
    """Choose the bandwidth for checked inputs; the fitted state common to both estimators.

    ``est`` supplies the raw parameters (``kernel``, ``method``, ``bandwidth``) and
    ``n_features_in_`` (and ``feature_names_in_``, if set); ``p`` are its checked
    parameters (:func:`._params.validate_params`). ``search_Y`` replaces ``Y`` as the
    criterion's targets (the classifier's one-hot classes).
    """
    sw = check_sample_weight(sample_weight, Z.shape[0])
    weights = np.ones(Z.shape[0]) if sw is None else sw
    center = None
    if p.order >= 1:
        if n_cont == 0:
            raise ValueError(f"order={p.order} needs at least one continuous feature")
        center = centering(Z, n_cont, weights)
    sm = Smoother(Z, weights, est.kernel, est.method, p.order, n_cont, center, getattr(p, "neighbours", None),
                  p.bandwidth is not None)
    problem = Problem(sm, Y if search_Y is None else search_Y, Y, groups, encoding, sw, objective,
                      est.bandwidth if isinstance(est.bandwidth, str) else "given", progress)
    h = choose_bandwidth(problem, p.bandwidth)
    state = {
        "n_features_in_": est.n_features_in_, "n_continuous_": n_cont, "X_": Z, "groups_": groups,
        "sample_weight_": sw, "h_": h,
        "bandwidth_": feature_bandwidths(h, groups, n_cont, encoding.categories, encoding.levels),
    }
    if hasattr(est, "feature_names_in_"):
        state["feature_names_in_"] = est.feature_names_in_
    if encoding.indices:
        state["categorical_indices_"], state["categories_"] = encoding.indices, encoding.categories
    if encoding.ordered:
        state["ordered_indices_"], state["ordered_levels_"] = encoding.ordered, encoding.levels
    if center is not None:
        state["_center"] = center
    return Fit(sm, h, Y, state)


def regression_state(fit: Fit) -> dict:
    """The regressor's fitted state: ``fit.state`` with targets, residuals, leave-one-out error, edf and
    locfit's residual variance ``RSS / (n - 2 nu1 + nu2)`` (nu1 = tr H, nu2 = tr H'H)."""
    sm, h = fit.smoother, fit.h
    Y = np.asarray(fit.Y, dtype=np.float64).reshape(sm.X.shape[0], -1)
    loo, fitted, hat, norm2 = diag.training_summary(sm, Y, h)
    resid = ((loo - Y) ** 2).sum(axis=1)
    w, ok = sm.weights, np.isfinite(resid)
    nu1, nu2 = float(np.nansum(hat)), float(np.nansum(norm2))
    rss = np.sum(w[:, None] * (Y - fitted) ** 2, axis=0)
    dof = float(np.sum(w)) - 2 * nu1 + nu2  # residual degrees of freedom; none left when the fit interpolates
    sigma2 = rss / dof if dof > 0 else np.full_like(rss, np.nan)
    return dict(
        fit.state, y_=Y, _y_1d=np.ndim(fit.Y) == 1, residuals_=Y - fitted,
        loo_mse_=float(np.sum(w[ok] * resid[ok]) / np.sum(w[ok])) if ok.any() else np.nan,
        edf_=nu1, residual_variance_=float(sigma2[0]) if np.ndim(fit.Y) == 1 else sigma2,
    )


def report_empty(est, pred, stacklevel=3) -> None:
    """Warn (:class:`~nadaraya.EmptySupportWarning`) when some predictions are NaN for want of a training point.

    ``stacklevel`` counts from the caller of this function (as ``warnings.warn``'s does from its own caller).
    """
    empty = np.isnan(pred).any(axis=1) if pred.ndim == 2 else np.isnan(pred)
    if empty.any():
        msg = empty_support_message(int(empty.sum()), f"{empty.size} queries", get_kernel(est.kernel).name,
                                    noun="training point", outcome="their prediction is NaN")
        warnings.warn(msg, EmptySupportWarning, stacklevel=stacklevel + 1)


def regression_predict(est, Z, return_std=False):
    """Predictions of the fitted regressor ``est`` at embedded queries Z; with ``return_std`` their standard errors."""
    if not return_std:
        pred, _ = local_fit(smoother_of(est), Z, est.y_, est.h_)
        report_empty(est, pred, stacklevel=3)
        return pred[:, 0] if est._y_1d else pred
    variance = est.residual_variance_ if getattr(est, "variance", "global") == "global" else None
    pred, std = diag.predict_with_std(smoother_of(est), Z, est.y_, est.h_, est.residuals_, variance)
    report_empty(est, pred, stacklevel=3)
    return (pred[:, 0], std[:, 0]) if est._y_1d else (pred, std)


def normal_quantile(p):
    """The standard normal quantile (``scipy.stats.norm.ppf``, which is ``scipy.special.ndtri``)."""
    from scipy.special import ndtri

    return ndtri(p)


class PlainRegressor:
    """A Nadaraya–Watson regression fitted on float arrays without scikit-learn (what ``nadaraya fit`` runs).

    The parameters are those of :class:`~nadaraya.NadarayaWatsonRegressor`, with
    the same defaults; :meth:`fit` computes exactly what the estimator's ``fit``
    computes (through the same functions) and :meth:`save` writes the same model
    file, which :meth:`NadarayaWatsonRegressor.load` reads, and :meth:`load`
    reads that estimator's files. Inputs must be numeric arrays (object arrays
    when some columns are categorical); there is no DataFrame support and no
    Dask path.
    """

    #: The estimator whose fits, files and predictions these are.
    ESTIMATOR = "NadarayaWatsonRegressor"
    #: Its parameters and their defaults (tests/test_startup.py checks them against the estimator's ``__init__``).
    DEFAULTS = {"kernel": "gaussian", "bandwidth": "loo", "order": 0, "categorical": None, "method": "auto",
                "neighbours": None, "variance": "global", "ordered": None}
    #: Each parameter's checker, as the estimator declares them.
    _parameter_checks = P.REGRESSOR_CHECKS

    def __init__(self, **params):
        unknown = sorted(set(params) - set(self.DEFAULTS))
        if unknown:
            raise TypeError(f"{type(self).__name__} got an unexpected parameter {unknown[0]!r}; "
                            f"its parameters are {', '.join(self.DEFAULTS)}")
        for name, default in self.DEFAULTS.items():
            setattr(self, name, params.get(name, default))

    @property
    def _order(self):
        return self.order

    def get_params(self, deep=True):
        """The parameters, by name (as scikit-learn's ``get_params``)."""
        return {name: getattr(self, name) for name in self._parameter_checks}

    def _restore(self, state: dict) -> None:
        for name, value in state.items():
            setattr(self, name, value)

    def _inputs(self, X, encoding, y=None):
        """The checks of ``validate_data`` that matter for arrays of numbers: float64, 2-D, finite, n >= 2."""
        refuse_text_columns(X, encoding.indices)
        Xc, codes = encoding.split(X)
        Xc = np.asarray(Xc, dtype=np.float64)
        if Xc.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {Xc.shape}")
        if not np.all(np.isfinite(Xc)):
            raise ValueError("Input X contains NaN or infinity")
        if Xc.shape[1] == 0 and codes is None:
            raise ValueError("X has 0 features; at least one is required")
        if y is not None:
            y = np.asarray(y, dtype=np.float64)
            if y.shape[0] != Xc.shape[0]:
                raise ValueError(f"X has {Xc.shape[0]} samples but y has {y.shape[0]}")
            if not np.all(np.isfinite(y)):
                raise ValueError("Input y contains NaN or infinity")
            if Xc.shape[0] < 2:
                raise ValueError(f"fitting needs at least 2 samples; got {Xc.shape[0]}")
        Z, groups = encoding.embed(Xc, codes)
        return Z, y, groups, Xc.shape[1]

    def fit(self, X, y, sample_weight=None, *, progress=None):
        """Fit on X (n, n_features) and y (n,) or (n, k), as :meth:`NadarayaWatsonRegressor.fit`."""
        p = validate_params(self)
        encoding = Encoding.learn(X, p.categorical, getattr(p, "ordered", None))
        Z, Y, groups, n_cont = self._inputs(X, encoding, y)
        self.n_features_in_ = n_cont
        self._restore(regression_state(fit_smoother(self, p, encoding, Z, Y, groups, n_cont, sample_weight, progress,
                                                    "squared")))
        return self

    def _queries(self, X):
        encoding = Encoding(list(getattr(self, "categorical_indices_", [])), list(getattr(self, "categories_", [])),
                            list(getattr(self, "ordered_indices_", [])), list(getattr(self, "ordered_levels_", [])))
        Z, _, _, n_cont = self._inputs(X, encoding)
        if n_cont != self.n_features_in_:
            raise ValueError(f"X has {n_cont} features, but the model was fitted with {self.n_features_in_}")
        return Z

    def predict(self, X, return_std=False):
        """Predictions (m,) or (m, k); with ``return_std`` also their pointwise standard errors."""
        return regression_predict(self, self._queries(X), return_std)

    def predict_interval(self, X, alpha=0.05):
        """Pointwise (1 - alpha) confidence band for the regression function: (lower, upper)."""
        if not 0 < alpha < 1:
            raise ValueError(f"alpha must lie in (0, 1); got {alpha}")
        pred, std = self.predict(X, return_std=True)
        z = normal_quantile(1 - alpha / 2)
        return pred - z * std, pred + z * std

    def save(self, path):
        """Write the model file :meth:`NadarayaWatsonRegressor.save` writes for this fit."""
        _modelfile.save(self, path, class_name=self.ESTIMATOR)

    @classmethod
    def load(cls, path):
        """Read a model file of a :class:`~nadaraya.NadarayaWatsonRegressor` (validated as that estimator's load does)."""
        return _modelfile.load({cls.ESTIMATOR: cls}, cls, path, expected=cls.ESTIMATOR)
