"""Global minimisation of a bandwidth criterion, with bandwidths allowed to go to +infinity.

Cross-validation (and AICc, GCV) in several dimensions often has its best
value with a bandwidth at infinity: the feature is *smoothed out* (its kernel
factor is constant; a local-linear fit keeps it as a global linear term).
This is the "irrelevant variable" behaviour of cross-validation (Hall, Li and
Racine 2007). The search therefore works on ``log h_j`` over a wide box, plus
the value ``h_j = inf`` for every coordinate:

1. screening: the start (doubled until the criterion is defined: a compact
   kernel's leave-one-out error is not while some point's support is empty),
   where statsmodels' own ``cv_ls`` path (Nelder–Mead on h
   from its normal reference ``reference_start``) ends after ``reference_path``
   evaluations (all of it, up to 1000, by default: so the result is never worse
   than statsmodels'), the start with each single feature smoothed out; then, as many as
   ``n_screen`` allows, points of a coarse product grid of factors of the start
   (each factor in {1/16, 1/4, 1, 4, inf}), nearest the start first;
2. refinement from the best ``n_starts`` of the first points and from the best
   grid point. For a smooth criterion a descent (:mod:`._local`): BFGS, with
   the criterion's gradient when the caller gives one and finite differences
   otherwise, on a variable that is ``log h`` up to the start and ``1 / h**2``
   beyond, so that a feature better smoothed out reaches the top of its box in
   a step or two and is then set to infinity; then single moves of a coordinate
   to infinity (or back to its start) that improve, each followed by a descent.
   A descent that joins the path of an earlier one, no lower, stops there.
   For a criterion that is not smooth (``smooth=False``: compact kernels),
   coordinate sweeps instead (each coordinate on a log grid of its box plus
   infinity, refined by Brent's method), then a Nelder–Mead polish of the
   finite coordinates and two sweeps more;
3. for a smooth criterion, when ``n_check`` > 0, a check of the result: each
   coordinate on an ``n_check``-point grid of its box and infinity, the others
   fixed; a better point starts a new refinement (twice at most);
4. the best point evaluated wins (a refinement's end, as a rule); a bandwidth
   left above the box whose criterion equals, to ``FLAT`` relative, the value
   at infinity is reported as infinite.

Every evaluation is cached (a point is never evaluated twice) and counted
against ``max_evaluations``.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from ._local import Counted, Spent, local
from ._sweeps import check, polish, sweeps

__all__ = ["SearchResult", "global_search"]

log = logging.getLogger(__name__)

#: Factors of the start tried in the coarse screening grid.
COARSE = (1 / 16, 1 / 4, 1.0, 4.0, np.inf)
#: Most points of the coarse grid screened by default.
MAX_COARSE = 625
#: A bandwidth above the box whose criterion is within this relative amount of the value at
#: infinity is reported as infinite (the criterion is flat there to its rounding error).
FLAT = 1e-7


@dataclass(frozen=True)
class SearchResult:
    """The best bandwidths found, the criterion there and the number of evaluations."""

    bandwidth: np.ndarray
    value: float
    evaluations: int


def _statsmodels_path(f, start, budget):
    """statsmodels' cv_ls: ``scipy.optimize.fmin`` on h from the normal reference (|h|: the kernel is even),
    stopped after ``budget`` evaluations: where it ends."""
    res = optimize.minimize(lambda h: f(np.maximum(np.abs(h), 1e-300)), start, method="Nelder-Mead",
                            options={"xatol": 1e-3, "fatol": 1e-4, "maxiter": budget, "maxfev": budget})
    return np.maximum(np.abs(res.x), 1e-300)


def _screening_points(start, reference, allow_infinite, n_screen):
    """The start, the reference, each single feature smoothed out, then the coarse grid nearest the start first.

    Returns the points and how many of them come before the grid.
    """
    d = start.size
    points = [start] + ([] if reference is None else [reference])
    if allow_infinite:
        points += [np.where(np.arange(d) == j, np.inf, start) for j in range(d)]
    first = len(points)
    others = [c for c in (COARSE if allow_infinite else COARSE[:-1]) if c != 1.0]
    # by the number of factors other than 1, then in product order: a lazy walk, so a large d costs
    # nothing beyond the points taken
    for changed in range(1, d + 1):
        for where in itertools.combinations(range(d), changed):
            for combo in itertools.product(others, repeat=changed):
                if len(points) >= n_screen:
                    return points, first
                if changed > 1 or np.isfinite(combo[0]):  # a single infinity is in already
                    c = np.ones(d)
                    c[list(where)] = combo
                    points.append(start * c)
    return points, first


def _defined_start(f, start, hi):
    """``start``, or where the criterion is first defined on doubling every coordinate (up to the box's top).

    A compact kernel's leave-one-out error is undefined (+inf) while some point has no other point in its
    support; a start too narrow for that (a rule of thumb in several dimensions, say) is widened, since
    the single features smoothed out and the coordinate sweeps move one coordinate at a time.
    """
    h = np.array(start, dtype=np.float64)
    top = np.exp(hi)
    value = f(h)
    while not np.isfinite(value) and np.any(h < top):
        h = np.minimum(2.0 * h, np.maximum(top, h))
        value = f(h)
    return h if np.isfinite(value) else np.asarray(start, dtype=np.float64)


def _search(f, start, lo, hi, allow_infinite, n_grid, n_starts, n_screen, n_check, reference, reference_path,
            smooth):
    """The phases of :func:`global_search` (they may stop early: :class:`._local.Spent`)."""
    start = _defined_start(f, start, hi)
    top = np.minimum(np.log(start), hi) if allow_infinite else hi  # log h up to the start, then 1 / h**2
    if reference is not None:
        reference = np.asarray(reference, dtype=np.float64).reshape(-1)
        if reference_path:
            reference = _statsmodels_path(f, reference, reference_path)
    points, first = _screening_points(start, reference, allow_infinite, n_screen)
    values = [f(p) for p in points]

    def ranked(idx):
        return [i for i in sorted(idx, key=lambda i: (values[i], i)) if np.isfinite(values[i])]

    def refine(h):
        if smooth:
            return local(f, h, lo, top, start, allow_infinite)
        return sweeps(f, h, lo, hi, n_grid, allow_infinite)

    best_h, best = None, np.inf
    for i in (ranked(range(first))[:n_starts] + ranked(range(first, len(points)))[:1]) or [0]:
        h, value = refine(points[i])
        if value < best:
            best_h, best = h, value
    if best_h is None:  # undefined at every point screened and where the refinement went: the start stands
        return start, np.inf
    if not smooth:  # the sweeps already cover each coordinate's whole box
        best_h, best = polish(f, best_h, lo, hi)
        return sweeps(f, best_h, lo, hi, n_grid, allow_infinite, max_sweeps=2)
    for _ in range(2 if n_check else 0):
        trial = check(f, best_h, best, lo, hi, allow_infinite, n_check)
        if trial is None:
            break
        h, value = refine(trial)
        if value < best:
            best_h, best = h, value
    return best_h, best


def global_search(objective, start, *, lower, upper, allow_infinite=True, n_grid=24, n_starts=2, n_screen=None,
                  n_check=None, reference_start=None, reference_path=1000, gradient=None, smooth=True,
                  max_evaluations=4000, progress=None) -> SearchResult:
    """Minimise ``objective(h)`` over bandwidths ``h`` (d,) in ``[lower, upper]`` per coordinate, or +inf.

    Parameters
    ----------
    objective : callable
        ``objective(h) -> float`` for a (d,) array of positive bandwidths, some
        possibly ``inf``; +inf (or NaN) where undefined.
    start : array_like (d,)
        Positive finite starting bandwidths (e.g. a rule of thumb).
    lower, upper : array_like (d,)
        The box of the grids and of the descents' ``log h``. Past ``upper`` a descent
        reaches 1e4 times the start before infinity; the polish of a non-smooth criterion
        may leave the box by a factor e**5.
    allow_infinite : bool
        Whether a bandwidth may be +inf (smoothed out).
    n_grid : int
        Points of each coordinate's grid in the sweeps of a non-smooth criterion.
    n_starts : int
        Refinements from the best of the start, the reference and the single features smoothed out.
    n_screen : int, optional
        Points screened: always the first ones (the start, the reference if given and, when infinity is
        allowed, the d single features smoothed out), then grid points up to this many in all (default:
        the whole grid if it has at most ``MAX_COARSE`` points, else none).
    n_check : int, optional
        Points of each coordinate's grid in the check of a smooth criterion's result (default
        ``n_grid``; 0: no check).
    reference_start : array_like (d,), optional
        statsmodels' cv_ls start (its normal reference ``1.06 std n**(-1/(d+4))``).
    reference_path : int
        Evaluations of statsmodels' own cv_ls path (Nelder–Mead on h) from ``reference_start``; where
        it ends is screened second (0: the reference itself). With its 1000, the default, the result is
        never worse than statsmodels' on the same data.
    gradient : callable, optional
        ``gradient(h) -> (value, d value / d log h)`` (d,), the value equal to ``objective(h)``
        (the entries of infinite coordinates are ignored); the descents use it instead of
        finite differences.
    smooth : bool
        Whether the criterion is smooth in h (False: sweeps and a Nelder–Mead polish, no descents).
    max_evaluations : int
        Budget of objective evaluations; when it is spent the best point so far is returned.
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
    if n_screen is None:
        size = len(COARSE if allow_infinite else COARSE[:-1]) ** d
        n_screen = d + 2 + (size if size <= MAX_COARSE else 0)
    f = Counted(objective, progress, max_evaluations, gradient)
    try:
        best_h, best = _search(f, start, lo, hi, allow_infinite, n_grid, n_starts, n_screen,
                               n_grid if n_check is None else n_check, reference_start, reference_path, smooth)
    except Spent:
        best_h, best = None, np.inf
        log.info("bandwidth search: the budget of %d evaluations is spent", max_evaluations)
    if f.best[0] < best:  # never worse than a point evaluated on the way (where statsmodels' path ends, say)
        best, best_h = f.best
    if best_h is None:
        best_h, best = start, np.inf
    f.budget = np.inf  # a few evaluations more: past the box, a criterion that no longer changes
    if allow_infinite:  # means the feature is smoothed out
        for j in np.flatnonzero(np.isfinite(best_h) & (best_h > np.exp(hi))):
            trial = best_h.copy()
            trial[j] = np.inf
            if f(trial) <= best + FLAT * abs(best):
                best_h, best = trial, min(best, f(trial))
    log.info("bandwidth %s, criterion %.10g after %d evaluations", best_h, best, f.calls)
    return SearchResult(best_h, float(best), f.calls)
