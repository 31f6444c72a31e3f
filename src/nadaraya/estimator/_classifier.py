"""The scikit-learn classifier: attention-weighted class frequencies."""

from __future__ import annotations

import numpy as np

from . import _params as P
from ._base import _NadarayaWatsonBase

from sklearn.base import ClassifierMixin  # noqa: E402,I001  (after _base, which explains a missing extra)

__all__ = ["NadarayaWatsonClassifier"]


class NadarayaWatsonClassifier(ClassifierMixin, _NadarayaWatsonBase):
    """Nadaraya–Watson classification: ``predict_proba`` is the attention-weighted class frequency.

    The bandwidth is chosen by leave-one-out log-loss ("loo"), or a rule of
    thumb, or given. Same kernels and options as :class:`NadarayaWatsonRegressor`.

    Attributes
    ----------
    bandwidth_ : ndarray (n_features,)
        One value per feature, as :class:`NadarayaWatsonRegressor`'s (continuous features first,
        then the categorical and the ordered ones; h, or a lambda). ``inf`` means the search
        smoothed that continuous feature out: the probabilities ignore it.
    effective_bandwidth_ : ndarray (n_features,)
        ``bandwidth_`` with a finite stand-in for ``inf`` (``1e16 * max |x|`` of the feature) and
        for an ordered lambda of 1 (the largest double below 1): the same fit to rounding, for
        code that needs finite numbers.
    classes_ : ndarray (n_classes,)
        The class labels, in the order of ``predict_proba``'s columns.

    Examples
    --------
    >>> import numpy as np, nadaraya as nw
    >>> X = np.r_[np.zeros(20), np.ones(20)][:, None] + np.random.default_rng(0).normal(0, 0.2, (40, 1))
    >>> y = np.r_[np.zeros(20, int), np.ones(20, int)]
    >>> nw.NadarayaWatsonClassifier().fit(X, y).predict([[0.0], [1.0]])
    array([0, 1])
    """

    _y_numeric = False
    _parameter_checks = {"kernel": P.KERNEL, "bandwidth": P.BANDWIDTH, "categorical": P.CATEGORICAL,
                         "method": P.METHOD, "ordered": P.CATEGORICAL}

    def __init__(self, kernel="gaussian", bandwidth="loo", *, categorical=None, method="auto", ordered=None):
        self.kernel = kernel
        self.bandwidth = bandwidth
        self.categorical = categorical
        self.method = method
        self.ordered = ordered

    def fit(self, X, y, sample_weight=None, *, progress=None):
        """Fit on X (n, n_features) and class labels y (n,); choose the bandwidth by leave-one-out log-loss if asked."""
        from sklearn.utils.multiclass import check_classification_targets
        from sklearn.utils.validation import column_or_1d

        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None")
        y_arr = column_or_1d(y, warn=True)
        check_classification_targets(y_arr)
        classes, codes = np.unique(y_arr, return_inverse=True)
        onehot = np.eye(len(classes))[codes.reshape(-1)]
        fit = self._fit(X, y_arr, sample_weight, progress, "logloss", search_Y=onehot)
        self._restore(dict(fit.state, classes_=classes, y_=onehot))
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
        prior = int(np.argmax((self.y_ * self._smoother().weights[:, None]).sum(axis=0)))
        idx = np.where(np.isnan(proba).any(axis=1), prior, np.argmax(np.nan_to_num(proba, nan=-1.0), axis=1))
        return self.classes_[idx]
