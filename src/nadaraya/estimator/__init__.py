"""Nadaraya–Watson estimators with the scikit-learn API, and model files without pickle.

Both estimators are thin shells over :func:`nadaraya.attention_pool`: every
sum they need — local-constant and local-linear fits, leave-one-out
predictions, standard errors, effective numbers of neighbours, hat-matrix
diagonals, derivatives — is a pooled moment (values such as ``w``, ``w x``,
``w x x^T``, ``w y``), so it runs on the fast engines and never forms an
m × n matrix (except :meth:`attention_weights`, which asks for it).

Categorical features use the Aitchison–Aitken kernel (:mod:`._categorical`);
``bandwidth_`` reports its ``lambda`` for those features.

Modules (each imports only those listed before it, and nadaraya's lower layers):

* ``_categorical``: integer codes, one-hot embedding, Aitchison–Aitken lambda ↔ h;
* ``_normal_equations``: the local fits' small symmetric systems, solved at once;
* ``_localpoly``: :class:`~._localpoly.Smoother` and local-polynomial fits taking h as an argument;
* ``_diagnostics``: standard errors, hat diagonal, derivative, effective neighbours, attention weights;
* ``_params``: every parameter's checker, declared once (``_parameter_checks``);
* ``_select``: the registry of bandwidth selectors;
* ``_modelfile``: the ``.npz`` model format (save / load);
* ``_fitting``: fit and predict on checked arrays (no scikit-learn; what ``nadaraya fit`` runs);
* ``_base``, ``_regressor``, ``_classifier``: the estimators.

The estimator classes (and so scikit-learn) are imported on first use, so the
pure modules can be imported without scikit-learn.
"""

from __future__ import annotations

from ._modelfile import FORMAT, FORMAT_VERSION

__all__ = ["NadarayaWatsonRegressor", "NadarayaWatsonClassifier", "FORMAT", "FORMAT_VERSION"]

_LAZY = {"NadarayaWatsonRegressor": "._regressor", "NadarayaWatsonClassifier": "._classifier"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

