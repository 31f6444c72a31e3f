"""nadaraya: attention pooling by Nadaraya–Watson kernel regression.

The public API; see DESIGN.md and the README.
"""

from . import bandwidth
from .bandwidth import select_bandwidth
from .data import Dataset, make_dataset
from .kernels import KERNELS, Kernel
from .parametric import ParametricFit, fit_parametric, parametric_loss
from .pooling import EmptySupportWarning, attention_pool, attention_weights, average_pool, log_kernel_sums

__version__ = "0.1.0"


def __getattr__(name):
    # the estimators need scikit-learn (the `sklearn` extra): imported on first use
    if name in ("NadarayaWatsonRegressor", "NadarayaWatsonClassifier"):
        from . import estimator

        return getattr(estimator, name)
    raise AttributeError(f"module 'nadaraya' has no attribute {name!r}")

__all__ = [
    "KERNELS",
    "NadarayaWatsonClassifier",
    "NadarayaWatsonRegressor",
    "Dataset",
    "EmptySupportWarning",
    "Kernel",
    "ParametricFit",
    "attention_pool",
    "attention_weights",
    "average_pool",
    "fit_parametric",
    "log_kernel_sums",
    "make_dataset",
    "parametric_loss",
    "select_bandwidth",
]
