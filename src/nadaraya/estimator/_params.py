"""The estimators' parameters, declared once: one checker per parameter, plus the rules that join them.

Each estimator class lists its parameters in ``_parameter_checks``
(in the spirit of scikit-learn's ``_parameter_constraints``) as ``name -> checker``; :func:`validate_params`
runs them at the start of ``fit`` and returns the checked values, and nothing
else checks parameters. A checker takes the value and returns it checked (a
kernel name becomes its :class:`~nadaraya.Kernel`); its message names the
parameter, what was wrong and what is accepted (scikit-learn's own
``InvalidParameterError`` wording cannot say that, so its machinery is not used).
"""

from __future__ import annotations

import numbers
from types import SimpleNamespace

import numpy as np

from .._selection import METHODS as RULE_METHODS
from ..kernels import get_kernel
from ..pooling import METHODS as ENGINES
from ._localpoly import ORDERS

__all__ = ["KERNEL", "BANDWIDTH", "ORDER", "CATEGORICAL", "METHOD", "NEIGHBOURS", "VARIANCE", "validate_params"]


def KERNEL(value):
    """A name from :data:`nadaraya.KERNELS` or a :class:`~nadaraya.Kernel`."""
    return get_kernel(value)


#: Every ``bandwidth=`` name: leave-one-out, the rules, and nadaraya.stats' selectors.
BANDWIDTH_METHODS = tuple(RULE_METHODS) + ("plugin", "aicc", "gcv")


def BANDWIDTH(value):
    """A positive number (``inf``: the feature smoothed out), one per feature, a method name, or None
    (with ``neighbours``: the pure nearest-neighbour bandwidth)."""
    if value is None:
        return None
    if isinstance(value, str):
        if value not in BANDWIDTH_METHODS:
            raise ValueError(
                f"bandwidth must be a positive number, one per feature, or one of {', '.join(BANDWIDTH_METHODS)}; "
                f"got {value!r}"
            )
        return value
    try:
        arr = np.asarray(value, dtype=float) if not isinstance(value, bool) else np.array(np.nan)
    except (TypeError, ValueError):
        arr = np.array(np.nan)
    if arr.ndim > 1 or arr.size == 0 or not np.all(~np.isnan(arr) & (arr > 0)):
        raise ValueError(f"bandwidth must be positive (a number or one per feature; inf smooths a feature out); "
                         f"got {value!r}")
    return arr


def NEIGHBOURS(value):
    """None, a fraction of the data (float > 0; above 1 extrapolates, as locfit) or a count (int >= 1)."""
    if value is None:
        return None
    from ..stats.nn import neighbour_count

    neighbour_count(value, 10**9)  # type and range (the count itself needs n, known in fit)
    return value


def VARIANCE(value):
    """"global" (locfit's sigma^2) or "local" (the local residual variance)."""
    if value not in ("global", "local"):
        raise ValueError(f"variance must be 'global' or 'local'; got {value!r}")
    return value


def ORDER(value):
    """A polynomial order in :data:`._localpoly.ORDERS`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) not in ORDERS:
        raise ValueError(f"order must be {' or '.join(f'{k} ({v})' for k, v in ORDERS.items())}; got {value!r}")
    return int(value)


def CATEGORICAL(value):
    """None, or column indices / DataFrame column names (checked against X in fit)."""
    if value is None or isinstance(value, (str, numbers.Integral)):
        return value
    try:
        items = list(value)
    except TypeError:
        raise TypeError(f"categorical must be None or a list of column indices or names; got {value!r}") from None
    return items


def METHOD(value):
    """A pooling engine name or "auto"."""
    if not isinstance(value, str) or value not in ("auto",) + tuple(ENGINES):
        raise ValueError(f"method must be one of auto, {', '.join(ENGINES)}; got {value!r}")
    return value


def _ordered_needs_gaussian(p):
    if getattr(p, "ordered", None) is not None and p.kernel.name != "gaussian":
        raise ValueError(
            f"ordered features need kernel='gaussian' (they use the Wang–van Ryzin kernel, a Gaussian on a "
            f"thermometer embedding); got kernel={p.kernel.name!r}"
        )


def _categorical_needs_gaussian(p):
    if p.categorical is not None and p.kernel.name != "gaussian":
        raise ValueError(
            f"categorical features need kernel='gaussian' (they use the Aitchison–Aitken kernel, "
            f"a Gaussian on a one-hot embedding); got kernel={p.kernel.name!r}"
        )


def _nearest_neighbours(p):
    if getattr(p, "bandwidth", "") is None and getattr(p, "neighbours", None) is None:
        raise ValueError("bandwidth=None is the pure nearest-neighbour bandwidth: pass neighbours= too, "
                         "or a bandwidth")
    if getattr(p, "neighbours", None) is not None and (p.categorical is not None or getattr(p, "ordered", None) is not None):
        raise ValueError("neighbours= works on continuous features only; drop categorical=/ordered= or neighbours=")


#: Rules over several parameters, run after each parameter's own check.
#: The regressor's parameters and their checkers: NadarayaWatsonRegressor and the CLI's PlainRegressor declare these.
REGRESSOR_CHECKS = {"kernel": KERNEL, "bandwidth": BANDWIDTH, "order": ORDER, "categorical": CATEGORICAL,
                    "method": METHOD, "neighbours": NEIGHBOURS, "variance": VARIANCE, "ordered": CATEGORICAL}

JOINT_RULES = (_categorical_needs_gaussian, _ordered_needs_gaussian, _nearest_neighbours)


def validate_params(est) -> SimpleNamespace:
    """Every parameter of ``est`` checked by its declared checker, then the joint rules: the checked values."""
    checked = SimpleNamespace(order=0)
    for name, check in type(est)._parameter_checks.items():
        setattr(checked, name, check(getattr(est, name)))
    for rule in JOINT_RULES:
        rule(checked)
    return checked
