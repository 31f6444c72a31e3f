"""The estimator's bandwidth, one value per internal column: a registry of selectors, and given bandwidths.

A selector is ``selector(problem) -> h`` (one bandwidth per internal column)
for a :class:`Problem`; :data:`SELECTORS` maps each ``bandwidth=`` name to one.
Adding a selector is one function and one entry (and its name in
:data:`nadaraya._selection.METHODS` or next to it, for the parameter check).
Imports :mod:`nadaraya.bandwidth`, :mod:`._localpoly` and :mod:`._categorical`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .. import bandwidth as bw
from ._categorical import Encoding, column_bandwidths
from ._localpoly import Smoother, loo_loss

__all__ = ["Problem", "SELECTORS", "choose_bandwidth"]


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


def _rule_of_thumb(p: Problem) -> np.ndarray:
    if p.n_features > p.smoother.n_continuous:
        raise ValueError(
            f"bandwidth={p.method!r} is a rule for continuous features; with categorical features "
            "use bandwidth='loo' or give the bandwidths (lambda for categorical features)"
        )
    return bw._rule(p.smoother.X, p.method)


#: bandwidth= name -> selector.
SELECTORS = {"loo": _leave_one_out, "scott": _rule_of_thumb, "silverman": _rule_of_thumb}


def choose_bandwidth(p: Problem, given) -> np.ndarray:
    """The column bandwidths: from the selector ``p.method`` names, or from ``given`` (one per feature)."""
    if isinstance(given, str):
        return np.asarray(SELECTORS[given](p), dtype=np.float64)
    if np.size(given) not in (1, p.n_features):
        raise ValueError(f"bandwidth has {np.size(given)} values but X has {p.n_features} features")
    per_feature = np.broadcast_to(np.asarray(given, dtype=float).reshape(-1), (p.n_features,))
    return np.asarray(column_bandwidths(per_feature, p.groups, p.smoother.n_continuous, p.encoding.categories),
                      dtype=np.float64)
