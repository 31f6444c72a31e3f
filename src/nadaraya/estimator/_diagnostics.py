"""Diagnostics of a fitted smoother: standard errors, hat diagonal, derivative, effective neighbours, weights.

Pure functions of a :class:`~._localpoly.Smoother`, the bandwidth and the
fitted arrays they need; each is written over pooled moments and
log-normalisers (``log sum_j K``), never an m × n matrix, except
:func:`attention_weights`, which builds one after the shared size check.

The fit at a query is ``f(q) = sum_j l_j(q) y_j`` with effective weights
``l_j(q) = e_1' A^-1 z_j w_j a_j`` (``a_j`` the attention weights, ``z_j``
the monomials of ``x_j - q``), so

* the hat diagonal is ``l_i(x_i) = (A^-1)_{0,0} w_i a_i(x_i)``, and
  ``a_i(x_i) = exp(-log sum_j K_j)`` since K(0) = 1: it comes with the fit's
  own pass;
* ``||l(q)||**2 = e_1' A^-1 C A^-1 e_1 * exp(log sum K**2 - 2 log sum K)``, with
  ``C`` the same normal matrix under the weights ``w**2 K**2``: one more pass,
  with the kernel's square (:func:`nadaraya.kernels.square`), which every
  engine runs.

So a fit's state costs two passes (the leave-one-out fit, from which the fit
follows by adding each point's own term, and the square) and a prediction
with standard errors two. Imports
:mod:`nadaraya.pooling`, :mod:`nadaraya.kernels`, :mod:`nadaraya._limits`,
:mod:`nadaraya.stats` and :mod:`._localpoly`.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .._limits import check_weights_size
from ..kernels import square
from ..pooling import EmptySupportWarning
from ..pooling import attention_weights as _pooling_weights
from ..stats.localpoly import drop_infinite
from ._localpoly import Smoother, local_fit, moments, moments_with_and_without_self, monomials, slopes_of
from ._normal_equations import solve

__all__ = ["smoother_norm2", "hat_diagonal", "fit_and_hat", "training_summary", "predict_with_std", "derivative",
           "attention_weights"]


def _none(sm: Smoother):
    """No target columns: the normal equations alone."""
    return np.zeros((sm.X.shape[0], 0))


def _norm2(sm: Smoother, Z, h, row0, log_sum, order):
    """``||l(q)||**2`` (m,) from the fit's first inverse rows and log-normalisers, by one pass of ``K**2``."""
    sq, factor = square(sm.kernel)
    mo = moments(sm, Z, _none(sm), h, order=order, kernel=sq, factor=factor, weights=sm.weights**2, log_sums=True)
    with np.errstate(over="ignore", invalid="ignore"):
        return np.einsum("mi,mij,mj->m", row0, mo.A, row0) * np.exp(mo.log_sum - 2 * log_sum)


def _hat(sm: Smoother, row0, log_sum):
    """The hat diagonal from the fit at the training points: ``(A^-1)_00 w_i exp(-log sum_j K_j)``."""
    return row0[:, 0] * sm.weights * np.exp(-log_sum)


def smoother_norm2(sm: Smoother, Z, h, order=None):
    """``sum_j l_j(q)**2`` (m,): the squared norm of the effective weights at each query (order: the smoother's)."""
    mo = moments(sm, Z, _none(sm), h, order=order, log_sums=True)
    return _norm2(sm, Z, h, solve(mo.A, mo.B)[1], mo.log_sum, order)


def hat_diagonal(sm: Smoother, h):
    """Diagonal of the smoother (hat) matrix at the training points: the weight of each point on itself."""
    mo = moments(sm, sm.X, _none(sm), h, log_sums=True)
    return _hat(sm, solve(mo.A, mo.B)[1], mo.log_sum)


def fit_and_hat(sm: Smoother, Y, h):
    """The fitted values (n, k) at the training points and the hat diagonal (n,), from one pass."""
    mo = moments(sm, sm.X, Y, h, log_sums=True)
    beta, row0 = solve(mo.A, mo.B)
    return beta[:, 0, :], _hat(sm, row0, mo.log_sum)


def training_summary(sm: Smoother, Y, h):
    """At the training points, from two passes: the leave-one-out fit (n, k), the fit (n, k), the hat
    diagonal (n,) and ``||l(x_i)||**2`` (n,)."""
    loo, mo = moments_with_and_without_self(sm, Y, h)
    beta, row0 = solve(mo.A, mo.B)
    return (solve(loo.A, loo.B)[0][:, 0, :], beta[:, 0, :], _hat(sm, row0, mo.log_sum),
            _norm2(sm, sm.X, h, row0, mo.log_sum, None))


def predict_with_std(sm: Smoother, Z, Y, h, residuals, variance=None):
    """Predictions (m, k) at Z and their standard errors ``sigma(q) ||l(q)||`` (m, k), from two passes.

    ``sigma**2`` is the local residual variance (the order-0 weighted mean of
    the squared residuals, pooled in the fit's own pass) or a given global
    ``variance`` (k,).
    """
    extra = sm.weights[:, None] * residuals**2 if variance is None else None
    mo = moments(sm, Z, Y, h, extra=extra, log_sums=True)
    beta, row0 = solve(mo.A, mo.B)
    if variance is None:
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.maximum(mo.extra / mo.A[:, :1, 0], 0)  # A[0, 0] is the pooled weight sum_j a_j w_j
    else:
        var = np.broadcast_to(np.asarray(variance, dtype=np.float64), (Z.shape[0], residuals.shape[1]))
    return beta[:, 0, :], np.sqrt(var * _norm2(sm, Z, h, row0, mo.log_sum, None)[:, None])


def derivative(sm: Smoother, Z, Y, h, order=1):
    """``order``-th derivative of the fit with respect to each continuous feature: (m, k, dc).

    From the local coefficients, ``order! * beta`` of ``x_j**order`` (``order`` ≤ the
    polynomial's); a first derivative of the order-0 fit by central differences (step ``1e-4 h``).
    """
    dc = sm.n_continuous
    if order > max(sm.order, 1):
        raise ValueError(f"derivative(order={order}) needs a local polynomial of order >= {order}; "
                         f"the model has order={sm.order}")
    if sm.order == 0:
        eps = 1e-4 * h[:dc]
        d = np.empty((Z.shape[0], Y.shape[1], dc))
        for j in range(dc):
            up, down = Z.copy(), Z.copy()
            up[:, j] += eps[j]
            down[:, j] -= eps[j]
            d[:, :, j] = (local_fit(sm, up, Y, h)[0] - local_fit(sm, down, Y, h)[0]) / (2 * eps[j])
        return d
    mo = moments(sm, Z, Y, h)
    beta, _ = solve(mo.A, mo.B)
    if order == 1:
        return np.transpose(slopes_of(sm, beta), (0, 2, 1))
    basis = monomials(dc, sm.order)
    out = np.empty((Z.shape[0], Y.shape[1], dc))
    for j in range(dc):
        idx = basis.index(tuple(order if i == j else 0 for i in range(dc)))
        out[:, :, j] = math.factorial(order) * beta[:, idx, :] / sm.center[1][j] ** order
    return out


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
