"""What the two estimators share: input handling, the fit skeleton, predictions' plumbing, diagnostics, files.

The estimator is a thin shell: parameters are checked by :mod:`._params`,
categorical columns encoded by :mod:`._categorical`, the bandwidth chosen by
:mod:`._select`, fits computed by :mod:`._localpoly`, diagnostics by
:mod:`._diagnostics`, files by :mod:`._modelfile`. Only ``fit`` (and
``load``) write fitted state, all at once through :meth:`_restore`.
"""

from __future__ import annotations

import numpy as np

from . import _diagnostics as diag
from . import _modelfile
from ._categorical import Encoding, finite_bandwidths, refuse_text_columns
from ._fitting import Fit, fit_smoother, report_empty, smoother_of
from ._localpoly import Smoother, local_fit
from ._params import validate_params

try:  # scikit-learn is the `sklearn` extra
    from sklearn.base import BaseEstimator
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        f"nadaraya's estimators need scikit-learn ({exc}); install it with: pip install 'nadaraya[sklearn]'"
    ) from None

#: Every attribute ``fit`` sets; :meth:`_NadarayaWatsonBase._restore` removes the ones a new fit does not set.
FITTED = ("n_features_in_", "feature_names_in_", "n_continuous_", "categorical_indices_", "categories_", "X_", "y_",
          "residual_variance_", "ordered_indices_", "ordered_levels_",
          "groups_", "sample_weight_", "h_", "bandwidth_", "loo_mse_", "residuals_", "edf_", "classes_",
          "column_names_", "_y_1d", "_center")


class _NadarayaWatsonBase(BaseEstimator):
    """Shared fitting machinery; see :class:`~nadaraya.NadarayaWatsonRegressor`."""

    _order = 0

    # ------------------------------------------------------------------ state

    def _restore(self, state: dict) -> None:
        """Set the fitted state at once, removing what a previous fit left and this one does not set."""
        for name in FITTED:
            if name not in state and name in self.__dict__:
                delattr(self, name)
        for name, value in state.items():
            setattr(self, name, value)

    def _encoding(self) -> Encoding:
        return Encoding(list(getattr(self, "categorical_indices_", [])), list(getattr(self, "categories_", [])),
                        list(getattr(self, "ordered_indices_", [])), list(getattr(self, "ordered_levels_", [])))

    @property
    def effective_bandwidth_(self):
        """``bandwidth_`` with a finite stand-in for each value that code expecting finite numbers cannot use.

        A continuous feature's ``inf`` (smoothed out) becomes ``1e16 * max |x|`` of its training
        values, an ordered feature's ``lambda = 1`` the largest double below 1: each kernel factor
        is the same to rounding, so ``bandwidth=effective_bandwidth_`` refits the same model and
        statsmodels' ``KernelReg(bw=...)`` takes it
        (:func:`~nadaraya.estimator._categorical.finite_bandwidths`).
        """
        check_is_fitted(self, "h_")
        return finite_bandwidths(self.bandwidth_, self.X_, self.n_continuous_, getattr(self, "ordered_levels_", ()))

    def _smoother(self) -> Smoother:
        """The fitted smoother (its bandwidth is ``h_``, passed separately)."""
        return smoother_of(self)

    # ------------------------------------------------------------------ inputs

    def _inputs(self, X, encoding, y=None, fitting=False):
        """(embedded X, validated y, column → feature map, number of continuous columns)."""
        refuse_text_columns(X, encoding.indices)
        Xc, codes = encoding.split(X)
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
        Z, groups = encoding.embed(Xc, codes)
        return Z, y, groups, Xc.shape[1]

    def _fit(self, X, y, sample_weight, progress, objective, search_Y=None) -> Fit:
        """Check the parameters and inputs, choose the bandwidth; the state common to both estimators.

        ``search_Y`` replaces the validated y as the criterion's targets (the classifier's one-hot classes).
        """
        p = validate_params(self)
        encoding = Encoding.learn(X, p.categorical, getattr(p, "ordered", None))
        Z, Y, groups, n_cont = self._inputs(X, encoding, y, fitting=True)
        return fit_smoother(self, p, encoding, Z, Y, groups, n_cont, sample_weight, progress, objective, search_Y)

    # ------------------------------------------------------------------ predictions

    def _local_fit(self, Q, Y, exclude_self=False, slopes=False, **options):
        """:func:`._localpoly.local_fit` of the fitted smoother at ``h_`` (or ``h=``)."""
        h = options.pop("h", None)
        return local_fit(self._smoother(), Q, Y, self.h_ if h is None else h, exclude_self=exclude_self,
                         slopes=slopes, **options)

    def _prepare_predict(self, X):
        check_is_fitted(self, "h_")
        Z, _, _, _ = self._inputs(X, self._encoding())
        return Z

    def _report_empty(self, pred):
        report_empty(self, pred, stacklevel=3)

    # ------------------------------------------------------------------ diagnostics

    def attention_weights(self, X, *, max_bytes=None):
        """The (m, n) attention weights of the queries X over the training points (order-0 weights).

        Refuses (``ValueError``) when the matrix would exceed ``max_bytes``
        (default :data:`nadaraya._limits.MAX_WEIGHTS_BYTES`, 256 MiB): the
        limit every function that builds an m × n matrix shares.
        """
        Z = self._prepare_predict(X)
        return diag.attention_weights(self._smoother(), Z, self.h_, max_bytes)

    def effective_neighbours(self, X):
        """Effective number of neighbours ``1 / sum_j a_j**2`` at each query (n_eff of the weights)."""
        Z = self._prepare_predict(X)
        return 1.0 / diag.smoother_norm2(self._smoother(), Z, self.h_, order=0)

    def hat_diagonal(self):
        """Diagonal of the smoother (hat) matrix at the training points: the weight of each point on itself."""
        check_is_fitted(self, "h_")
        return diag.hat_diagonal(self._smoother(), self.h_)

    # ------------------------------------------------------------------ files

    def save(self, path):
        """Write the fitted model to an ``.npz`` file (no pickle) with JSON metadata and a format version."""
        check_is_fitted(self, "h_")
        _modelfile.save(self, path)

    @classmethod
    def load(cls, path):
        """Read a model written by :meth:`save`. Nothing in the file is executed."""
        return _modelfile.load(_estimator_classes(), cls, path)


def _estimator_classes():
    """Every estimator class a model file may name: the subclasses of :class:`_NadarayaWatsonBase`."""
    out, todo = [], [_NadarayaWatsonBase]
    while todo:
        for sub in todo.pop().__subclasses__():
            out.append(sub)
            todo.append(sub)
    return out
