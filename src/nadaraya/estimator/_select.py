"""The estimator's bandwidth, one value per internal column: a registry of selectors, and given bandwidths.

A selector is ``selector(problem) -> h`` (one bandwidth per internal column)
for a :class:`Problem`; :data:`SELECTORS` maps each ``bandwidth=`` name to one.
Adding a selector is one function and one entry (and its name in
:data:`nadaraya._selection.METHODS` or next to it, for the parameter check).
Imports :mod:`nadaraya.bandwidth`, :mod:`nadaraya.stats` (criteria, plug-in, global search), :mod:`._localpoly`,
:mod:`._diagnostics` and :mod:`._categorical`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import bandwidth as bw
from ..kernels import get_kernel
from ..stats import criteria
from ..stats.plugin import plugin_bandwidth
from ..stats.search import global_search
from ._categorical import Encoding, column_bandwidths, search_columns
from ._diagnostics import fit_and_hat
from ._localpoly import Smoother, local_fit, loo_loss, monomials

__all__ = ["Problem", "SELECTORS", "choose_bandwidth"]

#: Criterion evaluations of one multi-feature (or AICc/GCV) bandwidth search.
MAX_EVALUATIONS = 2500
#: From this many points a compact kernel's criterion (not the boxcar's) is searched as a smooth one: 4-D
#: Epanechnikov, uniform data (benchmarks.harness.make_data), n = 1,000 / 3,000: the descents end 3e-5 /
#: 6e-7 (relative) above the coordinate sweeps' value, in 2.3 / 3.5 s instead of 4.7 / 16.9 s.
SMOOTH_COMPACT_N = 1000
#: Refinements of the global search from its best first points (the start, the normal reference, each
#: feature smoothed out), while an evaluation costs at most ``STARTS_COST`` (:func:`_exploration`); one above.
N_STARTS = 2
#: The cost of an evaluation (kernel evaluations) up to which the search refines ``N_STARTS`` points:
#: about n = 14,000 for a local-constant fit. A refinement takes about 100 evaluations; on 4-D
#: Epanechnikov data (benchmarks.harness.make_data, n = 10⁴) the second, from the start with one feature
#: smoothed out, ended 14 % above the first and took 47 % of the search.
STARTS_COST = 2e8
#: The fixed cost of a criterion evaluation, in kernel evaluations (about a millisecond).
COST_FLOOR = 1e5
#: Coarse-grid points the global search screens, times the cost of an evaluation (:func:`_exploration`):
#: the whole 5**3 grid for a local-constant fit up to n = 50, none from n = 700.
SCREEN_PAIRS = 1.3e7
#: Points per feature of the global search's check of its result, while it screens the grid.
CHECK_GRID = 16
#: Evaluations of statsmodels' cv_ls path in the global search, times the cost of an evaluation: for a
#: local-constant fit about 300 up to n = 100, 210 at n = 200, 27 at n = 1000; local linear in 3-D, 7 times fewer.
PATH_PAIRS = 3e7


@dataclass(frozen=True)
class Problem:
    """What a selector sees: the smoother (no bandwidth), targets, column groups and the search options."""

    smoother: Smoother
    Y: np.ndarray            # the targets a criterion compares with (one-hot classes for the classifier)
    y_fit: np.ndarray        # the targets the local polynomial fits (the raw y of a regressor)
    groups: np.ndarray       # internal column -> feature
    encoding: Encoding
    sample_weight: np.ndarray | None
    objective: str           # a key of nadaraya._selection.CRITERIA
    method: str              # the bandwidth= name
    progress: Callable | None = None

    @property
    def n_features(self) -> int:
        return int(self.groups.max()) + 1


def _leave_one_out(p: Problem) -> np.ndarray:
    sm, n_cont = p.smoother, p.smoother.n_continuous
    scale = np.ones(sm.X.shape[1])
    if n_cont:
        scale[:n_cont] = bw._spread(sm.X[:, :n_cont])
    return bw.search_bandwidth(
        sm.X, p.Y, "loo", sm.kernel, sample_weight=p.sample_weight, engine=sm.method, progress=p.progress,
        scale=scale, groups=p.groups, objective=p.objective,
        loss=loo_loss(sm, p.y_fit) if sm.order >= 1 else None,
    ).bandwidth


def _feature_box(p: Problem):
    """Per-feature start, search box and statsmodels' normal-reference start of the global search.

    Continuous features: the robust spread ``s`` (min(sd, IQR / 1.349)), start ``1.06 s n**(-1/(d+4))``,
    box ``[s / (2 n), 100 s]``; categorical features (the one-hot Gaussian bandwidth): start 1, box [0.05, 100].
    """
    sm, n_cont, n, d = p.smoother, p.smoother.n_continuous, p.smoother.X.shape[0], p.n_features
    s = np.ones(d)
    sd0 = np.ones(d)
    if n_cont:
        x = sm.X[:, :n_cont]
        moving = np.ptp(x, axis=0) > 0  # a constant feature is smoothed out (any bandwidth, the same fit)
        s[:n_cont][moving] = bw._spread(x[:, moving]) if moving.any() else 1.0
        sd0[:n_cont] = np.where(moving, x.std(axis=0), 1.0)
    cont = np.arange(d) < n_cont
    factor = 1.06 * n ** (-1.0 / (d + 4))
    start = np.where(cont, factor * s, 1.0)
    lower = np.where(cont, s * 0.5 / n, 0.05)
    upper = np.where(cont, 100 * s, 100.0)
    reference = np.where(cont, factor * np.where(sd0 > 0, sd0, 1.0), 1.0)
    return start, lower, upper, reference


def _global(p: Problem, objective, *, reference=True, gradient=None) -> np.ndarray:
    """Column bandwidths minimising ``objective(column bandwidths)`` over one value per feature, +inf allowed.

    A constant continuous feature is smoothed out (h = inf) without being searched. ``gradient(column
    bandwidths) -> (value, d value / d log h per column)``, if given, needs one column per feature.
    """
    start, lower, upper, ref = _feature_box(p)
    const = np.zeros(p.n_features, dtype=bool)
    const[: p.smoother.n_continuous] = np.ptp(p.smoother.X[:, : p.smoother.n_continuous], axis=0) == 0
    if const.all():
        return np.full(p.groups.size, np.inf)
    free = ~const

    def full(hf):
        out = np.full(p.n_features, np.inf)
        out[free] = hf
        return search_columns(out, p.groups, p.smoother.n_continuous, p.encoding.categories, p.encoding.levels)

    progress = None
    if p.progress is not None:
        progress = lambda step, total, h, value: p.progress(step, None, full(h), value)  # noqa: E731
    start, lower, upper, ref = start[free], lower[free], upper[free], ref[free]
    grad = None
    if gradient is not None:
        def grad(hf):
            value, g = gradient(full(hf))
            return value, g[free]
    res = global_search(lambda hf: objective(full(hf)), start, lower=lower, upper=upper,
                        reference_start=ref if reference else None, n_grid=16, progress=progress,
                        gradient=grad, smooth=_smooth(p),
                        max_evaluations=MAX_EVALUATIONS, **_exploration(p))
    return full(res.bandwidth)


def _smooth(p: Problem) -> bool:
    """Whether the search may treat the criterion as smooth in h (descents) rather than sweep it.

    A compact kernel's leave-one-out error has kinks where pairs of points enter or leave each other's
    support; from :data:`SMOOTH_COMPACT_N` points they are too small to matter, except for the boxcar,
    whose criterion is piecewise constant in h.
    """
    kern = get_kernel(p.smoother.kernel)
    return not kern.compact or (kern.name != "boxcar" and p.smoother.X.shape[0] >= SMOOTH_COMPACT_N)


def _exploration(p: Problem) -> dict:
    """How widely the global search explores, by the cost of an evaluation: ``n**2 c / 2 + COST_FLOOR``
    kernel evaluations, c the moments a local fit pools (2 for local constant; the floor stands for the
    fixed cost of a call, which small data sets pay whatever the order).

    statsmodels' path gets ``PATH_PAIRS / cost`` evaluations (at most 1000; none if fewer than 4 (d + 1)).
    While ``SCREEN_PAIRS / cost`` is at least 25, the search screens that many points of its coarse grid (at
    most 625) besides the first d + 2, and checks its result on a ``CHECK_GRID``-point grid per feature.
    Up to ``STARTS_COST`` it refines ``N_STARTS`` of the first points, above it the best one.
    """
    sm = p.smoother
    k = 1 if p.Y.ndim == 1 else p.Y.shape[1]
    dc = max(sm.n_continuous, 1)
    moments = len(monomials(dc, 2 * sm.order)) + len(monomials(dc, sm.order)) * k
    cost = float(sm.X.shape[0]) ** 2 * moments / 2 + COST_FLOOR
    path = min(int(PATH_PAIRS / cost), 1000)
    grid = min(int(SCREEN_PAIRS / cost), 625)
    out = dict(reference_path=path if path >= 4 * (p.n_features + 1) else 0,
               n_starts=N_STARTS if cost <= STARTS_COST else 1)
    if grid < 25:
        return dict(out, n_screen=p.n_features + 2, n_check=0)
    return dict(out, n_screen=p.n_features + 2 + grid, n_check=CHECK_GRID)


def _loo_gradient(p: Problem):
    """``h -> (LOO squared error, its gradient on log h)`` in one pooling pass, or None where not available.

    Available for the Gaussian local-constant regressor on continuous features without nearest-neighbour
    bandwidths (:func:`nadaraya.bandwidth._loo_gaussian_value_and_grad`); infinite columns are dropped.
    """
    sm = p.smoother
    if (get_kernel(sm.kernel).name != "gaussian" or sm.order != 0 or sm.neighbours is not None
            or p.objective != "squared" or sm.n_continuous != sm.X.shape[1] or p.n_features != sm.X.shape[1]):
        return None
    Y = np.asarray(p.y_fit, dtype=np.float64).reshape(sm.X.shape[0], -1)
    loss = loo_loss(sm, Y)

    def value_and_grad(h):
        h = np.asarray(h, dtype=np.float64)
        fin = np.isfinite(h)
        g = np.zeros(h.size)
        if not fin.any():
            return loss(h), g
        value, g[fin] = bw._loo_gaussian_value_and_grad(sm.X[:, fin], Y, h[fin], p.sample_weight, sm.method)
        return value, g

    return value_and_grad


def _loo_objective(p: Problem):
    """Leave-one-out squared error (regressor) or log-loss (classifier) of the column bandwidths."""
    sm = p.smoother
    if p.objective == "squared":
        return loo_loss(sm, p.y_fit)
    Y, w = np.asarray(p.Y, dtype=np.float64), sm.weights

    def logloss(h):
        prob, _ = local_fit(sm, sm.X, Y, h, exclude_self=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            loss = -np.log(np.clip((prob * Y).sum(axis=1), 1e-15, None))
        return float(np.sum(w * loss) / np.sum(w)) if np.all(np.isfinite(loss)) else np.inf

    return logloss


def _leave_one_out_search(p: Problem) -> np.ndarray:
    """One feature: the scalar grid-and-Brent search; several: the global search (bandwidths may go to +inf)."""
    if p.n_features == 1 and not p.encoding.levels:
        return _leave_one_out(p)
    return _global(p, _loo_objective(p), gradient=_loo_gradient(p))


def _information(name):
    """Selector minimising AICc or GCV (:mod:`nadaraya.stats.criteria`) of the estimator's own fit."""

    def select(p: Problem) -> np.ndarray:
        sm = p.smoother
        if p.objective != "squared":
            raise ValueError(f"bandwidth={name!r} is a regression criterion; the classifier takes 'loo' or a rule")
        Y = np.asarray(p.y_fit, dtype=np.float64).reshape(sm.X.shape[0], -1)
        if Y.shape[1] != 1:
            raise ValueError(f"bandwidth={name!r} needs a single target; y has {Y.shape[1]} columns")
        score = criteria.aicc if name == "aicc" else criteria.gcv

        def objective(h):
            fitted, hat = fit_and_hat(sm, Y, h)
            rss = float(np.sum(sm.weights * ((Y - fitted) ** 2).sum(axis=1)))
            trace = float(np.sum(hat))
            return score(criteria.SmootherSummary(rss, trace, float(sm.weights.sum())))

        return _global(p, objective, reference=False)

    return select


def _plugin(p: Problem) -> np.ndarray:
    """KernSmooth dpill's direct plug-in bandwidth, exactly (:mod:`nadaraya.stats.plugin`): one continuous feature."""
    sm = p.smoother
    if p.n_features != 1 or sm.n_continuous != 1 or p.objective != "squared":
        raise ValueError(
            "bandwidth='plugin' is the Ruppert-Sheather-Wand plug-in for one continuous feature and a numeric "
            f"target; got {p.n_features} feature(s) ({sm.n_continuous} continuous)"
        )
    Y = np.asarray(p.y_fit, dtype=np.float64).reshape(sm.X.shape[0], -1)
    if Y.shape[1] != 1 or p.sample_weight is not None:
        raise ValueError("bandwidth='plugin' needs a single target and no sample_weight")
    return np.array([plugin_bandwidth(sm.X[:, 0], Y[:, 0], method=sm.method).bandwidth])


def _rule_of_thumb(p: Problem) -> np.ndarray:
    if p.n_features > p.smoother.n_continuous:
        raise ValueError(
            f"bandwidth={p.method!r} is a rule for continuous features; with categorical features "
            "use bandwidth='loo' or give the bandwidths (lambda for categorical features)"
        )
    return bw._rule(p.smoother.X, p.method)


#: bandwidth= name -> selector.
SELECTORS = {"loo": _leave_one_out_search, "scott": _rule_of_thumb, "silverman": _rule_of_thumb,
             "plugin": _plugin, "aicc": _information("aicc"), "gcv": _information("gcv")}


def choose_bandwidth(p: Problem, given) -> np.ndarray:
    """The column bandwidths: from the selector ``p.method`` names, or from ``given`` (one per feature)."""
    if isinstance(given, str):
        return np.asarray(SELECTORS[given](p), dtype=np.float64)
    if given is None:  # the pure nearest-neighbour bandwidth: d_k / c in raw units
        return np.ones(p.groups.size)
    if np.size(given) not in (1, p.n_features):
        raise ValueError(f"bandwidth has {np.size(given)} values but X has {p.n_features} features")
    per_feature = np.broadcast_to(np.asarray(given, dtype=float).reshape(-1), (p.n_features,))
    return np.asarray(column_bandwidths(per_feature, p.groups, p.smoother.n_continuous, p.encoding.categories,
                                        p.encoding.levels), dtype=np.float64)
