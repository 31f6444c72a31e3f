"""Local-polynomial fits as pooled moments: pure functions of a :class:`Smoother` and a bandwidth.

Every sum is an attention pooling of moment columns (``w``, ``w x``,
``w x x^T``, ``w y``, ``w x y^T``) over the training points, so it runs on
the fast engines and never forms an m × n matrix. The bandwidth ``h`` is
always an argument: a bandwidth search calls these with trial values and
changes nothing.

Orders live in :data:`SYSTEMS`, each a :class:`Builder` of the moment
columns and of each query's normal equations ``A beta = B`` (A: (m, P, P),
B: (m, P, k); P monomials of degree ≤ p in the continuous features, by
degree: intercept first, then the d slopes) from their pooled values: order 0
is the ratio of two pooled sums (P = 1); an order p ≥ 1 shifts pooled raw
moments of the standardised inputs to each query by the binomial expansion
(:func:`polynomial_system`, any order; order 1 in a hand-expanded form), for
p ≥ 2 about a centre near the queries (one per cell of queries). One
pass (:func:`moments`) gives the normal equations, any extra columns pooled
with the same weights and, when asked, the log-normalisers ``log sum_j K``
the diagnostics need. An order is offered to users by its entry in :data:`ORDERS`. Imports :mod:`nadaraya.pooling` and, for infinite and nearest-neighbour
bandwidths, :mod:`nadaraya.stats.localpoly` and :mod:`nadaraya.stats.nn`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache
from math import comb
from typing import Callable, NamedTuple

import numpy as np

from ..pooling import pool_and_log_sums
from ..stats.localpoly import drop_infinite, query_cells
from ..stats.nn import nn_bandwidths, varying_pooler
from ._normal_equations import solve

__all__ = ["Smoother", "ORDERS", "SYSTEMS", "Builder", "Moments", "pool", "moments", "moments_with_and_without_self",
           "slopes_of", "local_fit", "centering", "loo_loss", "polynomial_system", "monomials"]

#: Polynomial orders the estimator accepts, with their names for messages.
ORDERS = {0: "local constant", 1: "local linear", 2: "local quadratic", 3: "local cubic"}


@dataclass(frozen=True)
class Smoother:
    """The fitted pieces a local fit needs; the bandwidth is not one of them.

    X : (n, p) embedded training inputs (continuous columns first, then one-hot blocks);
    weights : (n,) sample weights (ones when none were given);
    kernel, method : the kernel and the pooling engine;
    order : polynomial order; n_continuous : continuous columns (the polynomial's variables);
    center : (mean, sd) of the continuous columns, standardising the polynomial (order ≥ 1).
    """

    X: np.ndarray
    weights: np.ndarray
    kernel: object
    method: str = "auto"
    order: int = 0
    n_continuous: int = 0
    center: tuple | None = None
    neighbours: object = None  # locfit's nn: a fraction of n or a count (per-query bandwidths)
    nn_floor: bool = True      # the bandwidth is the floor max(h, d_k / c) (False: bandwidth=None, pure nn)


def query_bandwidths(sm: Smoother, Q, h):
    """Per-query column bandwidths (m, p) of a nearest-neighbour smoother (locfit's ``nn``).

    ``h * max(1, d_k / c)`` with ``d_k`` the k-th nearest distance in the units of the
    bandwidth (x / h): in 1-D locfit's ``max(h, d_k / c)``. Without the floor
    (``bandwidth=None``) every column gets ``d_k / c`` in raw units.
    """
    h = np.broadcast_to(np.asarray(h, dtype=np.float64), (sm.X.shape[1],))
    unit = h if sm.nn_floor else np.ones_like(h)
    mult = nn_bandwidths(Q / unit, sm.X / unit, sm.neighbours, 1.0 if sm.nn_floor else None, sm.kernel)
    return unit[None, :] * mult[:, None]


def centering(Z, n_continuous, weights):
    """Weighted mean and sd (1 where a column is constant) of the continuous columns of Z."""
    # weighted, so that integer weights and repeated rows standardise alike
    dc = n_continuous
    mu = np.average(Z[:, :dc], axis=0, weights=weights)
    sd = np.sqrt(np.average((Z[:, :dc] - mu) ** 2, axis=0, weights=weights))
    return mu, np.where(sd > 0, sd, 1.0)


def pool(sm: Smoother, Q, values, h, exclude_self=False, kernel=None, log_sums=False, factor=1.0):
    """Attention pooling of ``values`` (n, c) over the training points at the queries Q, bandwidth h.

    An infinite bandwidth smooths its column out (:func:`nadaraya.stats.localpoly.drop_infinite`); a
    nearest-neighbour smoother pools with per-query bandwidths (:func:`query_bandwidths`, dense blocks).
    ``factor`` multiplies the bandwidths (per-query ones after they are chosen): a kernel's square runs at
    ``factor`` times them (:func:`nadaraya.kernels.square`). Every pooling is one engine pass
    (:func:`nadaraya.pooling.pool_and_log_sums`), so a fit's numbers do not depend on whether its
    log-normalisers ``log sum_j K`` (m,) were asked for (``log_sums``).
    """
    kern = kernel or sm.kernel
    if sm.neighbours is not None:
        hq = query_bandwidths(sm, Q, h)
        Qf, Xf, _ = drop_infinite(Q, sm.X, h)
        fin = np.isfinite(np.broadcast_to(np.asarray(h, dtype=float), (sm.X.shape[1],)))
        hq = (hq[:, fin] if fin.any() else np.ones((len(Q), 1))) * factor
        out = varying_pooler(Qf, Xf, hq, kernel=kern)(np.arange(len(Q)), values, exclude_self)
        return out if log_sums else out[0]
    Qf, Xf, hf = drop_infinite(Q, sm.X, h)
    out = pool_and_log_sums(Qf, Xf, values, kernel=kern, bandwidth=hf * factor, exclude_self=exclude_self,
                            method=sm.method)
    return out if log_sums else out[0]


class Builder(NamedTuple):
    """The normal equations of one polynomial order, from one pooling of moment columns.

    ``columns(sm, Y, w, centre, unit) -> (n, c)``: the weighted moment columns, in the coordinates
    ``(x - centre) / unit`` of the standardised inputs; ``assemble(sm, Q, pooled, k, centre, unit) -> (A, B)``:
    the normal matrices A (m, P, P) and right-hand sides B (m, P, k) at the queries from their pooled
    values, in standardised units. Orders 0 and 1 pool about the data's mean (``centre`` 0, ``unit`` 1);
    higher orders about each cell of queries (:func:`_cells`).
    """

    columns: Callable
    assemble: Callable


def _constant_columns(sm: Smoother, Y, w, centre=None, unit=None):
    return np.concatenate([w[:, None], w[:, None] * Y], axis=1)


def _constant_assemble(sm: Smoother, Q, pooled, k, centre=None, unit=None):
    return pooled[:, :1, None], pooled[:, None, 1:]


def _standardised(sm: Smoother, Z):
    """The continuous columns of Z in the smoother's standardised coordinates (well-conditioned moments)."""
    mu, sd = sm.center
    return (Z[:, : sm.n_continuous] - mu) / sd


def _linear_columns(sm: Smoother, Y, w, centre=None, unit=None):
    """``w``, ``w x``, ``w x_i x_j`` (i ≤ j), ``w y``, ``w x y`` of the standardised inputs."""
    n, k = Y.shape
    dc = sm.n_continuous
    X = _standardised(sm, sm.X)
    i, j = np.triu_indices(dc)
    return np.concatenate([w[:, None], w[:, None] * X, w[:, None] * X[:, i] * X[:, j], w[:, None] * Y,
                           (w[:, None, None] * X[:, :, None] * Y[:, None, :]).reshape(n, dc * k)], axis=1)


def _linear_assemble(sm: Smoother, Q, pooled, k, centre=None, unit=None):
    """Local-linear normal equations at each query, in standardised coordinates: A (m, dc+1, dc+1), B (m, dc+1, k)."""
    dc = sm.n_continuous
    q = _standardised(sm, Q)
    m = Q.shape[0]
    i, j = np.triu_indices(dc)
    c = 1 + dc + i.size  # the columns before the targets'
    s0 = pooled[:, 0]
    s1 = pooled[:, 1 : 1 + dc]
    s2 = np.empty((m, dc, dc))
    s2[:, i, j] = s2[:, j, i] = pooled[:, 1 + dc : c]
    t0 = pooled[:, c : c + k]
    t1 = pooled[:, c + k :].reshape(m, dc, k)
    z1 = s1 - s0[:, None] * q  # sum a w (x - q)
    z2 = s2 - s1[:, :, None] * q[:, None, :] - q[:, :, None] * s1[:, None, :] + s0[:, None, None] * q[:, :, None] * q[:, None, :]
    zy = t1 - q[:, :, None] * t0[:, None, :]
    A = np.empty((m, dc + 1, dc + 1))
    A[:, 0, 0], A[:, 0, 1:], A[:, 1:, 0], A[:, 1:, 1:] = s0, z1, z1, z2
    B = np.concatenate([t0[:, None, :], zy], axis=1)
    return A, B


@lru_cache(maxsize=None)
def monomials(d: int, p: int) -> tuple:
    """Exponent tuples of the monomials of degree ≤ p in d variables, by degree (then lexicographic, descending)."""
    out = []
    for degree in range(p + 1):
        out += sorted((a for a in itertools.product(range(degree + 1), repeat=d) if sum(a) == degree), reverse=True)
    return tuple(out)


def _powers(X, exponents):
    """The monomials ``prod_i x_i^e_i`` (n, len(exponents)) of the rows of X."""
    return np.stack([np.prod(X ** np.array(e), axis=1) for e in exponents], axis=1)


def _shift(moments, index, delta, q):
    """``sum w K (x - q)^delta`` from raw moments ``sum w K x^gamma`` (``moments[:, index[gamma]]``), per query."""
    total = 0.0
    for gamma in itertools.product(*(range(e + 1) for e in delta)):
        coef = np.prod([comb(e, g) for e, g in zip(delta, gamma)])
        power = np.prod([(-q[:, i]) ** (e - g) for i, (e, g) in enumerate(zip(delta, gamma))], axis=0)
        total = total + coef * power * moments[:, index[gamma]]
    return total


def polynomial_system(order: int) -> Builder:
    """The normal-equation builder of local polynomials of degree ``order`` (any order ≥ 1).

    Raw moments of degree ≤ ``2 order`` of ``(x - centre) / unit`` (standardised inputs), shifted
    to each query by the binomial expansion and returned in standardised units.
    """

    def columns(sm: Smoother, Y, w, centre, unit):
        n = Y.shape[0]
        U = (_standardised(sm, sm.X) - centre) / unit
        basis, wide = monomials(sm.n_continuous, order), monomials(sm.n_continuous, 2 * order)
        return np.concatenate([w[:, None] * _powers(U, wide),
                               (w[:, None, None] * _powers(U, basis)[:, :, None] * Y[:, None, :]).reshape(n, -1)],
                              axis=1)

    def assemble(sm: Smoother, Q, pooled, k, centre, unit):
        v = (_standardised(sm, Q) - centre) / unit
        basis, wide = monomials(sm.n_continuous, order), monomials(sm.n_continuous, 2 * order)
        m, P = Q.shape[0], len(basis)
        S, T = pooled[:, : len(wide)], pooled[:, len(wide) :].reshape(m, P, k)
        s_index, t_index = {g: i for i, g in enumerate(wide)}, {g: i for i, g in enumerate(basis)}
        A = np.empty((m, P, P))
        for a, b in itertools.combinations_with_replacement(range(P), 2):
            delta = tuple(x + y for x, y in zip(basis[a], basis[b]))
            A[:, a, b] = A[:, b, a] = _shift(S, s_index, delta, v) * np.prod(unit ** np.array(delta))
        B = np.empty((m, P, k))
        for i, alpha in enumerate(basis):
            for j in range(k):
                B[:, i, j] = _shift(T[:, :, j], t_index, alpha, v) * np.prod(unit ** np.array(alpha))
        return A, B

    return Builder(columns, assemble)


def _cells(sm: Smoother, Q, h, order, exclude_self):
    """The queries' cells ``(rows, centre, unit)``, in standardised coordinates, that one pooling serves each.

    Orders 0 and 1, and leave-one-out (the engines leave key i out of query i only when every key is
    a query), pool about the data's mean: one cell. For p ≥ 2 the cells are
    :func:`nadaraya.stats.localpoly.query_cells` in units of the narrowest kernel (shifting moments of
    degree ``2 p`` across ``r`` bandwidths loses about ``r**(2 p)`` in relative accuracy). (Leave-one-out
    at p ≥ 2 loses up to ``(|x - mean| / h)**(2 p)`` eps, which a bandwidth search's criterion tolerates.)
    """
    dc = sm.n_continuous
    whole = [(slice(None), np.zeros(dc), np.ones(dc))]
    if order <= 1 or exclude_self or not len(Q):
        return whole
    q = _standardised(sm, Q)
    h = np.broadcast_to(np.asarray(h, dtype=np.float64), (sm.X.shape[1],))
    scale = query_bandwidths(sm, Q, h)[:, :dc].min(axis=0) if sm.neighbours is not None else h[:dc]
    scale = np.where(np.isfinite(scale), scale / sm.center[1], 1.0)
    scale = np.minimum(np.maximum(scale, np.finfo(float).tiny), 1.0)  # the narrowest kernel, in sd units
    return query_cells(q, scale, order)


#: Normal-equation builders by order (order 0: A is the pooled weight, B the pooled weighted targets).
SYSTEMS = {0: Builder(_constant_columns, _constant_assemble), 1: Builder(_linear_columns, _linear_assemble),
           2: polynomial_system(2), 3: polynomial_system(3)}


@dataclass(frozen=True)
class Moments:
    """One pooling pass of a local fit at m queries: its normal equations and what was pooled beside them.

    A (m, P, P), B (m, P, k): normal matrices and right-hand sides (standardised coordinates; order 0:
    P = 1, ``A`` the pooled weight ``sum_j a_j w_j``); ``extra`` (m, e): the extra columns pooled with
    the same attention weights ``a_j``; ``log_sum`` (m,): ``log sum_j K_j``, or None when not asked for.
    """

    A: np.ndarray
    B: np.ndarray
    extra: np.ndarray
    log_sum: np.ndarray | None


def moments(sm: Smoother, Q, Y, h, *, order=None, kernel=None, factor=1.0, weights=None, exclude_self=False,
            extra=None, log_sums=False) -> Moments:
    """The local fit's normal equations at Q (and ``extra`` (n, e) columns pooled alike) in one pass.

    ``order``, ``kernel`` and ``weights`` default to the smoother's; ``factor`` scales the bandwidths
    (see :func:`pool`); ``Y`` (n, k) may have no columns (the normal matrices alone). Orders ≥ 2 pool
    once per cell of queries (:func:`_cells`).
    """
    order = sm.order if order is None else order
    build = SYSTEMS[order]
    w = sm.weights if weights is None else weights
    m, k, e = Q.shape[0], Y.shape[1], 0 if extra is None else extra.shape[1]
    P = len(monomials(sm.n_continuous, order))
    A, B, ex, log_sum = np.empty((m, P, P)), np.empty((m, P, k)), np.empty((m, e)), np.empty(m)
    for rows, centre, unit in _cells(sm, Q, h, order, exclude_self):
        cols = build.columns(sm, Y, w, centre, unit)
        c = cols.shape[1]
        if extra is not None:
            cols = np.concatenate([cols, extra], axis=1)
        out = pool(sm, Q[rows], cols, h, exclude_self, kernel, log_sums, factor)
        pooled, log_sum[rows] = out if log_sums else (out, np.nan)
        with np.errstate(invalid="ignore", over="ignore"):  # empty (compact) or degenerate rows give NaN
            A[rows], B[rows] = build.assemble(sm, Q[rows], pooled[:, :c], k, centre, unit)
        ex[rows] = pooled[:, c:]
    return Moments(A, B, ex, log_sum if log_sums else None)


def moments_with_and_without_self(sm: Smoother, Y, h, *, extra=None) -> tuple[Moments, Moments]:
    """The moments at the training points with and without each point's own term, from one pass.

    The pass leaves each point out (``exclude_self``); its own term is then
    added back: with ``L = log sum_{j != i} K_j`` and ``K(0) = 1``, the full
    log-normaliser is ``log(exp(L) + 1)`` and the full pooled columns are
    ``(1 - a) pooled + a c_i``, ``a = exp(-log(exp(L) + 1))`` the point's own
    attention weight. Both weights are in [0, 1] and sum to 1, so nothing
    cancels: the full moments equal a direct pass to rounding (where a point
    has no other key in a compact support, ``a = 1``). Orders ≥ 2 take two
    passes (the fit pools about cells of queries). Returns (without, with).
    """
    if sm.order >= 2:  # the fit pools about cells of queries; leave-one-out about one centre (see _cells)
        return (moments(sm, sm.X, Y, h, exclude_self=True, extra=extra, log_sums=True),
                moments(sm, sm.X, Y, h, extra=extra, log_sums=True))
    build = SYSTEMS[sm.order]
    dc = sm.n_continuous
    cols = build.columns(sm, Y, sm.weights, np.zeros(dc), np.ones(dc))
    c = cols.shape[1]
    if extra is not None:
        cols = np.concatenate([cols, extra], axis=1)
    pooled, log_sum = pool(sm, sm.X, cols, h, True, None, True)
    full_log_sum = np.logaddexp(log_sum, 0.0)
    own = np.exp(-full_log_sum)
    others = np.exp(log_sum - full_log_sum)
    with np.errstate(invalid="ignore"):
        full = np.where(np.isfinite(log_sum)[:, None], others[:, None] * pooled, 0.0) + own[:, None] * cols
    out = []
    for p, ls in ((pooled, log_sum), (full, full_log_sum)):
        with np.errstate(invalid="ignore", over="ignore"):
            A, B = build.assemble(sm, sm.X, p[:, :c], Y.shape[1])
        out.append(Moments(A, B, p[:, c:], ls))
    return out[0], out[1]


def slopes_of(sm: Smoother, beta):
    """The first-order coefficients (m, dc, k) of ``beta`` in the original units."""
    dc = sm.n_continuous
    return beta[:, 1 : 1 + dc, :] / sm.center[1][None, :, None]


def local_fit(sm: Smoother, Q, Y, h, *, exclude_self=False, slopes=False, order=None, kernel=None, weights=None):
    """Local-polynomial fit of Y (n, k) at Q with bandwidth h → (fit (m, k), slopes (m, dc, k) or None).

    ``order``, ``kernel`` and ``weights`` default to the smoother's; ``slopes``
    returns the first-order coefficients in the original units.
    """
    mo = moments(sm, Q, Y, h, order=order, kernel=kernel, weights=weights, exclude_self=exclude_self)
    beta, _ = solve(mo.A, mo.B)
    return beta[:, 0, :], (slopes_of(sm, beta) if slopes else None)


def loo_loss(sm: Smoother, Y):
    """The leave-one-out weighted squared error as a function of the column bandwidths h."""
    Y = np.asarray(Y, dtype=np.float64).reshape(sm.X.shape[0], -1)
    w = sm.weights

    def loss(h):
        pred, _ = local_fit(sm, sm.X, Y, np.asarray(h, dtype=np.float64), exclude_self=True)
        r = ((pred - Y) ** 2).sum(axis=1)
        return float(np.sum(w * r) / np.sum(w)) if np.all(np.isfinite(r)) else np.inf

    return loss
