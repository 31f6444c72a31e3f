"""nadaraya: attention pooling by Nadaraya–Watson kernel regression.

The public API; see DESIGN.md and the README.
"""

from .data import Dataset, make_dataset
from .kernels import KERNELS, Kernel
from .parametric import ParametricFit, fit_parametric, parametric_loss
from .pooling import EmptySupportWarning, attention_pool, attention_weights, average_pool

__version__ = "0.1.0"

__all__ = [
    "KERNELS",
    "Dataset",
    "EmptySupportWarning",
    "Kernel",
    "ParametricFit",
    "attention_pool",
    "attention_weights",
    "average_pool",
    "fit_parametric",
    "make_dataset",
    "parametric_loss",
]
