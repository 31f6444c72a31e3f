"""Global minimisation of a bandwidth criterion, with bandwidths allowed to go to +infinity.

Cross-validation (and AICc, GCV) in several dimensions often has its best
value with a bandwidth at infinity: the feature is *smoothed out* (its kernel
factor is constant; a local-linear fit keeps it as a global linear term).
This is the "irrelevant variable" behaviour of cross-validation (Hall, Li and
Racine 2007). The search therefore works on ``t_j = log h_j`` over a wide
box, plus the value ``h_j = inf`` for every coordinate:

1. multi-start: a coarse product grid of factors of the starting bandwidths
   (each factor in {1/16, 1/4, 1, 4, inf}; in high dimension only the start and
   each single feature smoothed out), keeping the best few starts; and, from a
   normal-reference start, statsmodels' own ``cv_ls`` path (Nelder–Mead on the
   bandwidths themselves, which reaches very large values fast), so the result is
   never worse than statsmodels' on the same data;
2. from each, coordinate sweeps: every coordinate on a fine log grid plus
   infinity with the others fixed, refined by Brent's method (beyond the grid
   on ``1 / h``, so a finite optimum past the grid is found too), repeated
   until a sweep improves nothing;
3. a final Nelder–Mead polish of the finite coordinates;
4. a bandwidth left above the grid whose criterion equals, to ``FLAT`` relative,
   the value at infinity is reported as infinite.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import numpy as np
from scipy import optimize

__all__ = ["SearchResult", "global_search"]

log = logging.getLogger(__name__)

#: Factors of the start tried in the coarse multi-start grid.
COARSE = (1 / 16, 1 / 4, 1.0, 4.0, np.inf)
#: A bandwidth above the grid whose criterion is within this relative amount of the value at
#: infinity is reported as infinite (the criterion is flat there to its rounding error).
FLAT = 1e-7
#: Most points of the coarse grid (above, only single-feature variants of the start).
MAX_COARSE = 625


@dataclass(frozen=True)
class SearchResult:
    """The best bandwidths found, the criterion there and the number of evaluations."""

    bandwidth: np.ndarray
    value: float
    evaluations: int


class _Spent(Exception):
    """The evaluation budget is spent."""


class _Counted:
    """The objective with a cache, a call count, the best point so far and a budget; NaN counts as +inf."""

    def __init__(self, fun, progress, budget):
        self.fun, self.progress, self.budget, self.calls, self.cache = fun, progress, budget, 0, {}
        self.best = (np.inf, None)

    def __call__(self, h):
        h = np.asarray(h, dtype=np.float64)
        key = tuple(np.round(np.log(h), 12))
        if key not in self.cache:
            if self.calls >= self.budget:
                raise _Spent
            self.calls += 1
            v = float(self.fun(h.copy()))
            self.cache[key] = np.inf if np.isnan(v) else v
            if self.cache[key] < self.best[0]:
                self.best = (self.cache[key], h.copy())
            if self.progress is not None:
                self.progress(self.calls, None, h, self.cache[key])
        return self.cache[key]


def _sweep_coordinate(f, h, j, lo, hi, n_grid, allow_infinite):
    """Best value of coordinate j with the others fixed: grid + infinity, then Brent."""
    grid = np.exp(np.linspace(lo[j], hi[j], n_grid))
    cands = list(grid) + ([np.inf] if allow_infinite else [])

    def at(v):
        g = h.copy()
        g[j] = v
        return f(g)

    vals = np.array([at(v) for v in cands])
    best = int(np.argmin(vals))
    if not np.isfinite(vals[best]):
        return h[j], f(h)
    cand = []
    if best < n_grid - 1 or not allow_infinite:  # an interior (or last-grid) minimum: Brent on log h
        a, b = np.log(grid[max(best - 1, 0)]), np.log(grid[min(best + 1, n_grid - 1)])
        res = optimize.minimize_scalar(lambda t: at(np.exp(t)), bounds=(a, b), method="bounded",
                                       options={"xatol": 1e-7})
        cand += [(vals[best], cands[best]), (res.fun, float(np.exp(res.x)))]
    else:  # the last grid point or infinity: Brent on 1 / h between 0 and the last grid point
        s_lo = 1.0 / grid[-2] if best == n_grid - 1 else 1.0 / grid[-1]
        res = optimize.minimize_scalar(lambda s: at(np.inf if s <= 0 else 1.0 / s), bounds=(0.0, s_lo),
                                       method="bounded", options={"xatol": 1e-9 * s_lo})
        cand += [(vals[best], cands[best]), (res.fun, np.inf if res.x <= 0 else float(1.0 / res.x))]
    cand.append((f(h), h[j]))  # never worse than where the sweep started
    value, v = min(cand, key=lambda t: t[0])
    return v, value


def _sweeps(f, h, lo, hi, n_grid, allow_infinite, max_sweeps=8):
    value = f(h)
    for _ in range(max_sweeps):
        before = value
        for j in range(len(h)):
            h[j], value = _sweep_coordinate(f, h, j, lo, hi, n_grid, allow_infinite)
        if not before - value > 1e-12 * max(abs(before), 1e-300):
            break
    return h, value


def _polish(f, h, lo, hi):
    fin = np.isfinite(h)
    if not fin.any():
        return h, f(h)

    def g(t):
        hh = h.copy()
        hh[fin] = np.exp(np.clip(t, lo[fin] - 5, hi[fin] + 5))
        return f(hh)

    res = optimize.minimize(g, np.log(h[fin]), method="Nelder-Mead",
                            options={"xatol": 1e-8, "fatol": 1e-13, "maxiter": 400 * fin.sum()})
    out = h.copy()
    out[fin] = np.exp(np.clip(res.x, lo[fin] - 5, hi[fin] + 5))
    return (out, float(res.fun)) if res.fun < f(h) else (h, f(h))


def _statsmodels_path(f, start):
    """statsmodels' cv_ls: ``scipy.optimize.fmin`` on h from the normal reference (|h|: the kernel is even)."""
    res = optimize.minimize(lambda h: f(np.maximum(np.abs(h), 1e-300)), start, method="Nelder-Mead",
                            options={"xatol": 1e-3, "fatol": 1e-4, "maxiter": 1000, "maxfev": 1000})
    return np.maximum(np.abs(res.x), 1e-300)


def _search(f, start, lo, hi, allow_infinite, n_grid, n_starts, reference_start):
    """The phases of :func:`global_search` (they may stop early: :class:`_Spent`)."""
    d = start.size
    candidates = []
    if reference_start is not None:
        ref = _statsmodels_path(f, np.asarray(reference_start, dtype=np.float64).reshape(-1))
        candidates.append((f(ref), tuple(ref)))
    factors = COARSE if allow_infinite else COARSE[:-1]
    if len(factors) ** d <= MAX_COARSE:
        combos = itertools.product(factors, repeat=d)
    else:
        combos = [(1.0,) * d] + [tuple(np.inf if i == j else 1.0 for i in range(d)) for j in range(d)] * allow_infinite
    starts = sorted(((f(start * np.array(c)), tuple(start * np.array(c))) for c in combos), key=lambda t: t[0])
    starts = [s for s in starts if np.isfinite(s[0])][:n_starts] or [(f(start), tuple(start))]
    best_h, best = None, np.inf
    starts = candidates + starts
    for _, s in starts:
        h, value = _sweeps(f, np.array(s), lo, hi, n_grid, allow_infinite)
        if value < best:
            best_h, best = h.copy(), value
    best_h, best = _polish(f, best_h, lo, hi)
    return _sweeps(f, best_h, lo, hi, n_grid, allow_infinite, max_sweeps=2)


def global_search(objective, start, *, lower, upper, allow_infinite=True, n_grid=24, n_starts=3,
                  reference_start=None, max_evaluations=4000, progress=None) -> SearchResult:
    """Minimise ``objective(h)`` over bandwidths ``h`` (d,) in ``[lower, upper]`` per coordinate, or +inf.

    Parameters
    ----------
    objective : callable
        ``objective(h) -> float`` for a (d,) array of positive bandwidths, some
        possibly ``inf``; +inf (or NaN) where undefined.
    start : array_like (d,)
        Positive finite starting bandwidths (e.g. a rule of thumb).
    lower, upper : array_like (d,)
        The box of the fine grids (the polish may leave it by a factor e**5).
    allow_infinite : bool
        Whether a bandwidth may be +inf (smoothed out).
    n_grid : int
        Points of each coordinate's grid.
    n_starts : int
        Coarse-grid starts refined by coordinate sweeps.
    reference_start : array_like (d,), optional
        Start of statsmodels' cv_ls path (its normal reference ``1.06 std n**(-1/(d+4))``), run first.
    max_evaluations : int
        Budget of objective evaluations; when it is spent the best point so far is returned
        (after statsmodels' path, which takes at most 1000).
    progress : callable, optional
        ``progress(evaluation, None, bandwidth, value)`` after each new evaluation.

    Returns
    -------
    SearchResult

    Examples
    --------
    >>> import numpy as np
    >>> f = lambda h: (np.log(h[0]) - 1) ** 2 + (0.0 if np.isinf(h[1]) else 1.0 / h[1])
    >>> r = global_search(f, [1.0, 1.0], lower=[1e-2, 1e-2], upper=[1e2, 1e2])
    >>> bool(abs(r.bandwidth[0] - np.e) < 1e-4), bool(np.isinf(r.bandwidth[1]))
    (True, True)
    """
    start = np.asarray(start, dtype=np.float64).reshape(-1)
    d = start.size
    lo, hi = np.log(np.broadcast_to(lower, (d,))), np.log(np.broadcast_to(upper, (d,)))
    f = _Counted(objective, progress, max_evaluations)
    try:
        best_h, best = _search(f, start, lo, hi, allow_infinite, n_grid, n_starts, reference_start)
    except _Spent:
        best, best_h = f.best
        log.info("bandwidth search: the budget of %d evaluations is spent", max_evaluations)
    if best_h is None:
        best_h, best = start, np.inf
    f.budget = np.inf  # a few evaluations more: past the grid, a criterion that no longer changes
    if allow_infinite:  # means the feature is smoothed out
        for j in np.flatnonzero(np.isfinite(best_h) & (best_h > np.exp(hi))):
            trial = best_h.copy()
            trial[j] = np.inf
            if f(trial) <= best + FLAT * abs(best):
                best_h, best = trial, min(best, f(trial))
    log.info("bandwidth %s, criterion %.10g after %d evaluations", best_h, best, f.calls)
    return SearchResult(best_h, float(best), f.calls)
