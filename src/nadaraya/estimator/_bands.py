"""Simultaneous confidence bands of a fitted regressor: the tube formula in 1-D, a simulated maximum in d > 1.

Pure functions of the fitted smoother (:class:`~._localpoly.Smoother`), its
bandwidth and the queries. In one dimension the critical value is the
Sun–Loader tube formula (:mod:`nadaraya.stats.tube`, as locfit's ``scb``) over
the queries' range. In d > 1, or with per-query (nearest-neighbour)
bandwidths, it is the (1 - alpha) quantile of ``max_q |l(q)' e| / ||l(q)||``,
``e ~ N(0, I)``, over the given query points, from the effective weights
``l(q)`` (an m × n matrix, after the shared size check).
"""

from __future__ import annotations

import numpy as np

from .._limits import check_weights_size
from ..kernels import get_kernel
from ..stats.localpoly import drop_infinite
from ..stats.tube import critical_value, kappa0, simulated_critical_value
from ._localpoly import Smoother, monomials, query_bandwidths

__all__ = ["effective_weights", "simultaneous_critical_value"]


def effective_weights(sm: Smoother, Z, h) -> np.ndarray:
    """The rows ``l(q)`` (m, n) of the smoother matrix at the queries Z: ``f(q) = l(q)' y``."""
    check_weights_size((Z.shape[0], sm.X.shape[0]), 8, None, what="a simultaneous band in d > 1")
    kern = get_kernel(sm.kernel)
    hq = query_bandwidths(sm, Z, h) if sm.neighbours is not None else np.broadcast_to(h, Z.shape)
    fin = np.isfinite(np.broadcast_to(np.asarray(h, dtype=float), (sm.X.shape[1],)))
    Zf, Xf, _ = drop_infinite(Z, sm.X, h)
    hq = hq[:, fin] if fin.any() else np.ones((len(Z), 1))
    dc = sm.n_continuous
    scale = sm.center[1] if sm.center is not None else np.ones(dc)
    basis = np.array(monomials(max(dc, 1), sm.order))
    rows = []
    for i in range(Z.shape[0]):
        t = (((Zf[i] - Xf) / hq[i]) ** 2).sum(axis=1)
        s = kern.score(t)
        K = sm.weights * np.exp(s - s.max()) if np.isfinite(s.max()) else np.zeros(len(Xf))
        if sm.order == 0 or dc == 0:
            rows.append(K / K.sum())
            continue
        u = (sm.X[:, :dc] - Z[i, :dc]) / scale
        V = np.prod(u[:, None, :] ** basis[None, :, :], axis=2)
        G = V.T * K
        rows.append(np.linalg.pinv(G @ V, hermitian=True)[0] @ G)
    return np.array(rows)


def simultaneous_critical_value(est, X, alpha) -> float:
    """The critical value ``c`` of a simultaneous (1 - alpha) band ``f +- c se`` at the queries X."""
    sm, Z, h = est._smoother(), est._prepare_predict(X), est.h_
    if Z.shape[1] == 1 and sm.neighbours is None:
        k0 = kappa0(sm.X[:, 0], h[0], order=sm.order, kernel=sm.kernel, sample_weight=sm.weights,
                    lower=float(Z.min()), upper=float(Z.max()))
        return critical_value(k0, alpha)
    return simulated_critical_value(effective_weights(sm, Z, h), alpha)
