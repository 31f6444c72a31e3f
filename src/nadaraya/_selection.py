"""Bandwidth-selection machinery below both :mod:`nadaraya.bandwidth` and :mod:`nadaraya.dask`.

What the in-memory and the Dask searches share, written once:

* the rules of thumb over summary statistics (:class:`Summary`: n, standard
  deviation, interquartile range), so each path only computes the statistics;
* the leave-one-out criteria (:data:`CRITERIA`: per-point losses written with
  NumPy ufuncs, which dask arrays also take);
* the scalar search (:func:`scalar_search`): a log-spaced grid over one factor
  of the relative bandwidths, then Brent's method, and its result
  (:class:`BandwidthSearch`).

Adding a rule of thumb is one entry in :data:`RULES`; a criterion, one entry in
:data:`CRITERIA`. Imports only NumPy and SciPy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["Summary", "RULES", "METHODS", "CRITERIA", "BandwidthSearch", "check_method", "check_objective", "check_sample_weight",
           "spread", "refuse_constant", "rule_of_thumb", "scalar_search", "grid_then_refine"]

#: IQR / 1.349 is the standard deviation of a normal distribution with that IQR.
IQR_TO_SD = 1.349


@dataclass(frozen=True)
class Summary:
    """The statistics a rule of thumb needs: sample size, dimension, per-column sd (ddof=1) and raw IQR."""

    n: int
    d: int
    sd: np.ndarray
    iqr: np.ndarray | None = None

    def __post_init__(self):
        for name, stat in (("standard deviation", self.sd), ("interquartile range", self.iqr)):
            bad = np.flatnonzero(~np.isfinite(stat)) if stat is not None else ()
            if len(bad):
                raise ValueError(
                    f"X column {int(bad[0])} has values too large for automatic bandwidth selection: its {name} overflows "
                    "float64 (values near ±1e308); rescale the column (e.g. standardise it) or pass a numeric bandwidth"
                )


def refuse_constant(spread_: np.ndarray) -> None:
    """Refuse a column whose spread is not positive (constant, or a single row)."""
    bad = np.flatnonzero(~(spread_ > 0))
    if bad.size:
        raise ValueError(
            f"X column {int(bad[0])} is constant (or has one row), so a rule-of-thumb bandwidth is undefined; "
            "drop the column or pass a numeric bandwidth"
        )


def spread(sd: np.ndarray, iqr: np.ndarray) -> np.ndarray:
    """min(standard deviation, IQR / 1.349) per column (sd where the IQR is 0), refusing constant columns."""
    iqr = np.asarray(iqr) / IQR_TO_SD
    s = np.where(iqr > 0, np.minimum(sd, iqr), sd)
    refuse_constant(s)
    return s


def _scott(s: Summary) -> np.ndarray:
    # statsmodels' bw_scott (and R's bw.nrd, which rounds the constants to 1.06 and 1.34):
    # the robust spread min(sd, IQR / 1.349), as Silverman's rule
    return 1.059 * spread(s.sd, s.iqr) * s.n ** (-1.0 / (s.d + 4))


def _silverman(s: Summary) -> np.ndarray:
    n, d = s.n, s.d
    factor = 0.9 * n ** (-0.2) if d == 1 else (4.0 / (d + 2)) ** (1.0 / (d + 4)) * n ** (-1.0 / (d + 4))
    return factor * spread(s.sd, s.iqr)


@dataclass(frozen=True)
class Rule:
    """A rule of thumb: its formula over a :class:`Summary`, and whether it needs the IQR."""

    formula: Callable[[Summary], np.ndarray]
    needs_iqr: bool


#: Rules of thumb by name (``bandwidth="scott"`` etc.).
RULES = {"scott": Rule(_scott, needs_iqr=True), "silverman": Rule(_silverman, needs_iqr=True)}

#: Every bandwidth method: the leave-one-out search, then the rules.
METHODS = ("loo",) + tuple(RULES)


def check_method(method) -> str:
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"bandwidth method must be one of {', '.join(METHODS)}; got {method!r}")
    return method


def rule_of_thumb(method: str, summary: Summary) -> np.ndarray:
    """The bandwidth per column that rule ``method`` gives for these statistics."""
    return RULES[method].formula(summary)


def check_sample_weight(sample_weight, n):
    """Sample weights as float64 (n,): finite, non-negative, with a positive sum; or None."""
    if sample_weight is None:
        return None
    sw = np.asarray(sample_weight, dtype=np.float64).reshape(-1)
    if sw.shape[0] != n:
        raise ValueError(f"sample_weight has {sw.shape[0]} entries but X has {n} samples")
    if not np.all(np.isfinite(sw)) or np.any(sw < 0):
        raise ValueError("sample_weight must be finite and non-negative")
    if not sw.sum() > 0:
        raise ValueError("sample_weight must not be all zero: give at least one sample a positive weight")
    return sw


def _squared(pred, y):
    return ((pred - y) ** 2).sum(axis=1)


def _logloss(pred, y):
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.log(np.clip((pred * y).sum(axis=1), 1e-15, None))


#: Leave-one-out criteria: per-point loss of predictions (n, k) against targets (n, k)
#: ("logloss": one-hot class indicators). NumPy and dask arrays alike.
CRITERIA = {"squared": _squared, "logloss": _logloss}


def check_objective(objective) -> str:
    if not isinstance(objective, str) or objective not in CRITERIA:
        raise ValueError(f"objective must be one of {', '.join(map(repr, CRITERIA))}; got {objective!r}")
    return objective


@dataclass(frozen=True)
class BandwidthSearch:
    """Result of :func:`nadaraya.bandwidth.search_bandwidth`."""

    bandwidth: np.ndarray
    objective: float
    evaluations: int
    method: str


def grid_then_refine(objective, lo, hi, n_grid, progress):
    """Minimise a 1-D objective over log h: a log-spaced grid brackets the minimum, Brent refines it."""
    grid = np.linspace(lo, hi, n_grid)
    values = []
    for i, g in enumerate(grid):
        values.append(objective(g))
        if progress is not None:
            progress(i + 1, n_grid, float(np.exp(g)), values[-1])
    values = np.array(values)
    best = int(np.argmin(values))
    if not np.isfinite(values[best]):
        raise ValueError(
            "no bandwidth in the searched range gives every point a leave-one-out estimate; "
            "use an unbounded kernel such as 'gaussian' or pass a numeric bandwidth"
        )
    a, b = grid[max(best - 1, 0)], grid[min(best + 1, n_grid - 1)]
    if a == b:
        return grid[best], values[best], n_grid
    from scipy import optimize  # imported by the search that needs it: `import nadaraya` stays light

    res = optimize.minimize_scalar(objective, bounds=(a, b), method="bounded", options={"xatol": 1e-4})
    if res.fun <= values[best]:
        return res.x, float(res.fun), n_grid + res.nfev
    return grid[best], float(values[best]), n_grid + res.nfev


def scalar_search(objective_at, base, n, n_grid, progress):
    """Minimise ``objective_at(base * c)`` over one factor c: returns (bandwidth, value, evaluations).

    The factor runs from well below the typical spacing of n points
    (``0.5 / n``) to far beyond the data's spread (10, where the fit is the mean).
    """
    calls = [0]

    def at_log_factor(log_c):
        calls[0] += 1
        return objective_at(base * np.exp(log_c))

    log_c, value, _ = grid_then_refine(at_log_factor, np.log(0.5 / n), np.log(10.0), n_grid, progress)
    return base * np.exp(log_c), float(value), calls[0]
