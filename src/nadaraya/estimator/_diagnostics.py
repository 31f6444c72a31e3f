"""Diagnostics of a fitted smoother: standard errors, hat diagonal, derivative, effective neighbours, weights.

Pure functions of a :class:`~._localpoly.Smoother`, the bandwidth and the
fitted arrays they need; each is written over pooled moments and
log-normalisers (``log sum_j K``), never an m × n matrix, except
:func:`attention_weights`, which builds one after the shared size check.
Imports :mod:`nadaraya.pooling`, :mod:`nadaraya.kernels`, :mod:`nadaraya._limits`, :mod:`nadaraya.stats`
and :mod:`._localpoly`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .._limits import check_weights_size
from ..kernels import get_kernel
from ..pooling import EmptySupportWarning
from ..pooling import attention_weights as _pooling_weights
from ..stats.localpoly import drop_infinite, smoother_norms, squared_kernel
from ..stats.nn import varying_pooler
from ._localpoly import SYSTEMS, Smoother, local_fit, monomials, pool, query_bandwidths

__all__ = ["squared_kernel", "sum_sq_weights", "smoother_norm2", "standard_errors", "hat_diagonal", "derivative",
           "attention_weights"]


def _log_sums(sm, Z, kernel, h, exclude_self=False):
    """``log sum_j K`` at each query (infinite bandwidths and nearest neighbours as in :func:`pool`)."""
    return pool(sm, Z, None, h, exclude_self, kernel=kernel, log_sums=True)[1]


def sum_sq_weights(sm: Smoother, Z, h, exclude_self=False):
    """``sum_j a_j**2`` for the (weighted) order-0 weights at each query, without the weight matrix."""
    kern = get_kernel(sm.kernel)
    w = sm.weights
    sq, h2 = squared_kernel(kern, h)
    l1, l2 = _log_sums(sm, Z, kern, h, exclude_self), _log_sums(sm, Z, sq, h2, exclude_self)
    p1 = pool(sm, Z, w[:, None], h, exclude_self)[:, 0]
    p2 = pool(sm, Z, (w * w)[:, None], h2, exclude_self, kernel=sq)[:, 0]
    with np.errstate(invalid="ignore", over="ignore"):
        return np.exp(l2 - 2 * l1) * p2 / (p1 * p1)


def standard_errors(sm: Smoother, Z, h, residuals, variance=None):
    """``sigma(q) * sqrt(sum_j l_j(q)**2)`` (m, k): the effective weights' norm times the local residual
    variance (the order-0 weighted mean of squared residuals), or a given global ``variance`` (k,)."""
    if variance is None:
        var = np.maximum(local_fit(sm, Z, residuals**2, h, order=0)[0], 0)  # under the order-0 weights
    else:
        var = np.broadcast_to(np.asarray(variance, dtype=np.float64), (Z.shape[0], residuals.shape[1]))
    return np.sqrt(var * smoother_norm2(sm, Z, h)[:, None])


def _nn_norm2(sm: Smoother, Z, h):
    """``sum_j l_j(q)**2`` with per-query (nearest-neighbour) bandwidths: :func:`nadaraya.stats.localpoly.smoother_norms`."""
    hq = query_bandwidths(sm, Z, h)
    fin = np.isfinite(np.broadcast_to(np.asarray(h, dtype=float), (sm.X.shape[1],)))
    Zf, Xf, _ = drop_infinite(Z, sm.X, h)
    hq = hq[:, fin] if fin.any() else np.ones((len(Z), 1))
    kern = get_kernel(sm.kernel)
    sq, hq2 = squared_kernel(kern, hq)
    dc = max(sm.n_continuous, 1)
    scale = sm.center[1] if sm.center is not None else np.ones(dc)
    return smoother_norms(Z[:, :dc], sm.X[:, :dc], np.ones(dc), order=sm.order, kernel=kern,
                          sample_weight=sm.weights, pooler=varying_pooler(Zf, Xf, hq, kernel=kern),
                          squared_pooler=varying_pooler(Zf, Xf, hq2, kernel=sq), scale=scale)


def smoother_norm2(sm: Smoother, Z, h):
    """``sum_j l_j(q)**2`` (m,): the squared norm of the fit's effective weights at each query."""
    if sm.neighbours is not None:
        return _nn_norm2(sm, Z, h)
    if sm.order == 0:
        return sum_sq_weights(sm, Z, h)
    # l_j(q) = e1^T A^-1 [1, z_j] w_j K_j, so sum_j l_j^2 = e1^T A^-1 B A^-1 e1,
    # with B the same moments under the weights w^2 K^2 (each normalised by its kernel sum)
    zeros = np.zeros((sm.X.shape[0], 1))
    _, _, A, ok = local_fit(sm, Z, zeros, h, system=True)
    kern = get_kernel(sm.kernel)
    sq, h2 = squared_kernel(kern, h)
    _, _, Bm, okb = local_fit(sm, Z, zeros, h2, kernel=sq, weights=sm.weights**2, system=True)
    l1, l2 = _log_sums(sm, Z, kern, h), _log_sums(sm, Z, sq, h2)
    good = ok & okb
    norm2 = np.full(Z.shape[0], np.nan)
    e = np.linalg.pinv(A[good])[:, 0, :]
    norm2[good] = np.einsum("mi,mij,mj->m", e, Bm[good], e) * np.exp(l2[good] - 2 * l1[good])
    return norm2


def hat_diagonal(sm: Smoother, h):
    """Diagonal of the smoother (hat) matrix at the training points: the weight of each point on itself."""
    Z, w = sm.X, sm.weights
    l1 = _log_sums(sm, Z, sm.kernel, h)
    p1 = pool(sm, Z, w[:, None], h)[:, 0]
    self_weight = w * np.exp(-l1) / p1  # K(0) = 1: the point's own kernel weight over the weighted total
    if sm.order == 0:
        return self_weight
    _, _, A, ok = local_fit(sm, Z, np.zeros((Z.shape[0], 1)), h, system=True)
    out = np.full(Z.shape[0], np.nan)
    out[ok] = np.linalg.pinv(A[ok])[:, 0, 0] * self_weight[ok] * p1[ok]
    return out


def derivative(sm: Smoother, Z, Y, h, order=1):
    """``order``-th derivative of the fit with respect to each continuous feature: (m, k, dc).

    From the local coefficients, ``order! * beta`` of ``x_j**order`` (``order`` ≤ the
    polynomial's); a first derivative of the order-0 fit by central differences (step ``1e-4 h``).
    """
    dc = sm.n_continuous
    if order >= 2:
        if order > sm.order:
            raise ValueError(f"derivative(order={order}) needs a local polynomial of order >= {order}; "
                             f"the model has order={sm.order}")
        A, B = SYSTEMS[sm.order](sm, Z, Y, h, sm.weights, False, None)
        ok = np.all(np.isfinite(A), axis=(1, 2))
        beta = np.full(B.shape, np.nan)
        beta[ok] = np.linalg.pinv(A[ok]) @ B[ok]
        basis = monomials(dc, sm.order)
        out = np.empty((Z.shape[0], Y.shape[1], dc))
        for j in range(dc):
            idx = basis.index(tuple(order if i == j else 0 for i in range(dc)))
            out[:, :, j] = math.factorial(order) * beta[:, idx, :] / sm.center[1][j] ** order
        return out
    if sm.order >= 1:
        _, slopes = local_fit(sm, Z, Y, h, slopes=True)
        return np.transpose(slopes, (0, 2, 1))
    eps = 1e-4 * h[:dc]
    d = np.empty((Z.shape[0], Y.shape[1], dc))
    for j in range(dc):
        up, down = Z.copy(), Z.copy()
        up[:, j] += eps[j]
        down[:, j] -= eps[j]
        d[:, :, j] = (local_fit(sm, up, Y, h)[0] - local_fit(sm, down, Y, h)[0]) / (2 * eps[j])
    return d


def attention_weights(sm: Smoother, Z, h, max_bytes=None):
    """The (m, n) order-0 attention weights (with the sample weights) after the shared size check
    (:func:`nadaraya._limits.check_weights_size`)."""
    check_weights_size((Z.shape[0], sm.X.shape[0]), 8, max_bytes, what="model.attention_weights")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptySupportWarning)
        Zf, Xf, hf = drop_infinite(Z, sm.X, h)
        a = _pooling_weights(Zf, Xf, kernel=sm.kernel, bandwidth=hf, on_empty="ignore", max_bytes=max_bytes)
    a = a * sm.weights[None, :]
    return a / a.sum(axis=1, keepdims=True)
