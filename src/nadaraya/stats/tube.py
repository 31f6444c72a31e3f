"""Simultaneous confidence bands by the tube formula (Sun and Loader 1994), as R locfit's ``scb``.

A local polynomial estimate is ``f(x) = l(x)' y``. With ``T(x) = l(x) / ||l(x)||``
(a curve on the unit sphere in R^n), the band ``f(x) +- c sigma ||l(x)||`` covers the
whole regression function (bias ignored) with probability about ``1 - alpha`` where,
in one dimension on an interval,

    alpha = kappa0 / pi * exp(-c**2 / 2) + 2 (1 - Phi(c)),    kappa0 = integral ||T'(x)|| dx

(locfit's Gaussian-process tail with constants ``(kappa0, 1)``: the boundary term
counts the interval's two ends). ``kappa0`` is the length of the curve ``T``; it is
integrated here by composite Gauss–Legendre quadrature from the exact derivative
``l'(x)`` of the local least-squares weights (locfit uses Simpson's rule on 20
intervals, which moves its critical value by about 1e-6).

The weights ``l(x)`` are n-vectors: they are formed in blocks of evaluation points
(never more than one block of the (m, n) matrix at a time).
"""

from __future__ import annotations

import numpy as np
from scipy import optimize, special, stats

from ..engines.dense import BLOCK_ELEMENTS
from ..kernels import get_kernel

__all__ = ["weights_and_derivative", "kappa0", "tail_probability", "critical_value", "simulated_critical_value"]


def weights_and_derivative(x, keys, bandwidth, *, order, kernel="gaussian", sample_weight=None):
    """Local polynomial weights ``l(x)`` (b, n) at the points x (b,) of a 1-D smoother, and ``dl/dx``."""
    kern = get_kernel(kernel)
    keys = np.asarray(keys, dtype=np.float64).reshape(-1)
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    h = float(bandwidth)
    w = np.ones(keys.size) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    u = (keys[None, :] - x[:, None]) / h  # (b, n)
    t = u * u
    K = np.exp(kern.score(t)) * w[None, :]
    dK = -2.0 * u * kern.dscore(t) * K / h  # d/dx of K((x_j - x) / h)
    dK = np.where(K > 0, dK, 0.0)
    powers = np.arange(order + 1)
    V = u[:, :, None] ** powers  # (b, n, T): the polynomial in (x_j - x) / h
    dV = -(powers * u[:, :, None] ** np.maximum(powers - 1, 0)) / h
    G = np.swapaxes(V * K[:, :, None], 1, 2)  # (b, T, n) = V' W
    dG = np.swapaxes(dV * K[:, :, None] + V * dK[:, :, None], 1, 2)
    M = G @ V
    dM = dG @ V + G @ dV
    Minv = np.linalg.pinv(M, hermitian=True)
    e = Minv[:, 0, :]  # (b, T) = e1' M^-1
    l = np.einsum("bt,btn->bn", e, G)
    de = -np.einsum("bt,bts,bsr->br", e, dM, Minv)
    dl = np.einsum("bt,btn->bn", de, G) + np.einsum("bt,btn->bn", e, dG)
    return l, dl


def kappa0(keys, bandwidth, *, order, kernel="gaussian", sample_weight=None, lower=None, upper=None,
           panels=64, nodes=8) -> float:
    """``kappa0 = integral over [lower, upper] of ||T'(x)||`` (default: the keys' range), 1-D.

    Composite Gauss–Legendre quadrature: ``panels`` equal panels of ``nodes`` nodes.
    """
    keys = np.asarray(keys, dtype=np.float64).reshape(-1)
    a = keys.min() if lower is None else float(lower)
    b = keys.max() if upper is None else float(upper)
    g, gw = np.polynomial.legendre.leggauss(nodes)
    edges = np.linspace(a, b, panels + 1)
    half = np.diff(edges) / 2
    xs = ((edges[:-1] + edges[1:]) / 2)[:, None] + half[:, None] * g[None, :]
    ws = (half[:, None] * gw[None, :]).reshape(-1)
    xs = xs.reshape(-1)
    step = max(1, BLOCK_ELEMENTS // (keys.size * (order + 1)))
    total = 0.0
    for r0 in range(0, xs.size, step):
        l, dl = weights_and_derivative(xs[r0 : r0 + step], keys, bandwidth, order=order, kernel=kernel,
                                       sample_weight=sample_weight)
        ll, dd, ld = (l * l).sum(1), (dl * dl).sum(1), (l * dl).sum(1)
        speed = np.sqrt(np.maximum(dd * ll - ld * ld, 0.0)) / ll  # ||d/dx (l / ||l||)||
        total += float(np.sum(ws[r0 : r0 + step] * speed))
    return total


def tail_probability(c, kappa, d=1, boundary=1.0):
    """Two-sided tube tail ``P(sup |Z| > c)`` for constants (``kappa``, ``boundary``), locfit's Gaussian case.

    ``2 sum_i k_i (1 - chi2_{d+1-i}(c**2)) / area(S^{d-i})`` with ``k = (kappa, boundary)``.
    """
    def area(j):  # surface area of the unit sphere in R^j
        return 2 * np.pi ** (j / 2) / special.gamma(j / 2)

    terms = [(kappa, d + 1), (boundary, d)]
    return float(sum(2 * k * stats.chi2.sf(c * c, df) / area(df) for k, df in terms if k))


def critical_value(kappa, alpha=0.05, d=1, boundary=1.0) -> float:
    """The ``c`` with ``tail_probability(c) = alpha`` (1-D: ``kappa/pi e^(-c^2/2) + 2(1 - Phi(c)) = alpha``)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must lie in (0, 1); got {alpha}")
    f = lambda c: tail_probability(c, kappa, d, boundary) - alpha  # noqa: E731
    lo = stats.norm.isf(alpha / 2) * 0.5
    hi = lo
    while f(hi) > 0:
        hi *= 2
    return float(optimize.brentq(f, lo if f(lo) > 0 else 0.0, hi, xtol=1e-14, rtol=1e-14))


def simulated_critical_value(L, alpha=0.05, *, draws=20000, seed=0) -> float:
    """The (1 - alpha) quantile of ``max_i |l_i' e| / ||l_i||`` over rows of L (m, n), e ~ N(0, I).

    The critical value of a band simultaneous over the m given points (used in d > 1).
    """
    rng = np.random.default_rng(seed)
    T = L / np.linalg.norm(L, axis=1, keepdims=True)
    Tt = T[np.all(np.isfinite(T), axis=1)]
    Q, R = np.linalg.qr(Tt.T)  # the maximum depends on e only through its projection on span(T)
    coef = Tt @ Q  # (m, r): the rows of T in an orthonormal basis of their span
    stat = np.empty(draws)
    step = max(1, BLOCK_ELEMENTS // max(coef.shape[0], 1))
    for r0 in range(0, draws, step):
        z = rng.standard_normal((coef.shape[1], min(step, draws - r0)))
        stat[r0 : r0 + z.shape[1]] = np.abs(coef @ z).max(axis=0)
    return float(np.quantile(stat, 1 - alpha))
