"""Diagnostics of a fitted smoother: standard errors, hat diagonal, derivative, effective neighbours, weights.

Pure functions of a :class:`~._localpoly.Smoother`, the bandwidth and the
fitted arrays they need; each is written over pooled moments and
log-normalisers (``log sum_j K``), never an m × n matrix, except
:func:`attention_weights`, which builds one after the shared size check.
Imports :mod:`nadaraya.pooling`, :mod:`nadaraya.kernels`, :mod:`nadaraya._limits`
and :mod:`._localpoly`.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._limits import check_weights_size
from ..kernels import KERNELS, Kernel, get_kernel
from ..pooling import EmptySupportWarning, log_kernel_sums
from ..pooling import attention_weights as _pooling_weights
from ._localpoly import Smoother, local_fit, pool

__all__ = ["squared_kernel", "sum_sq_weights", "standard_errors", "hat_diagonal", "derivative",
           "attention_weights"]


def squared_kernel(kern, h):
    """A kernel and bandwidth whose weights are ``K**2``: exact rewrites where one exists, else a scaled score."""
    if kern.name == "gaussian":
        return kern, h / np.sqrt(2.0)
    if kern.name == "laplace":
        return kern, h / 2.0
    if kern.name in ("boxcar", "constant"):
        return kern, h
    if kern.name == "epanechnikov":
        return KERNELS["biweight"], h
    return Kernel(f"{kern.name}^2", kern.support, _score=lambda t, o: 2.0 * kern._score(t, o),
                  _dscore=lambda t, o: 2.0 * kern._dscore(t, o)), h


def _log_sums(sm, Z, kernel, h, exclude_self=False):
    return log_kernel_sums(Z, sm.X, kernel=kernel, bandwidth=h, exclude_self=exclude_self, method=sm.method)


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


def standard_errors(sm: Smoother, Z, h, residuals):
    """``sigma(q) * sqrt(sum_j l_j(q)**2)`` (m, k): local residual variance times the effective weights' norm."""
    local_var = local_fit(sm, Z, residuals**2, h, order=0)[0]  # under the order-0 weights
    if sm.order == 0:
        return np.sqrt(np.maximum(local_var, 0) * sum_sq_weights(sm, Z, h)[:, None])
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
    return np.sqrt(np.maximum(local_var, 0) * norm2[:, None])


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


def derivative(sm: Smoother, Z, Y, h):
    """Derivative of the fit with respect to each continuous feature: (m, k, dc).

    From the local-linear slopes (order ≥ 1), or by central differences of
    the order-0 fit with step ``1e-4 * h``.
    """
    dc = sm.n_continuous
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
        a = _pooling_weights(Z, sm.X, kernel=sm.kernel, bandwidth=h, on_empty="ignore", max_bytes=max_bytes)
    a = a * sm.weights[None, :]
    return a / a.sum(axis=1, keepdims=True)
