"""Local-polynomial fits as pooled moments: pure functions of a :class:`Smoother` and a bandwidth.

Every sum is an attention pooling of moment columns (``w``, ``w x``,
``w x x^T``, ``w y``, ``w x y^T``) over the training points, so it runs on
the fast engines and never forms an m × n matrix. The bandwidth ``h`` is
always an argument: a bandwidth search calls these with trial values and
changes nothing.

Orders live in :data:`SYSTEMS`: order 0 is the ratio of two pooled sums; an
order p ≥ 1 builds each query's normal equations ``A beta = B`` (A: (m, P, P),
B: (m, P, k); P monomials of degree ≤ p in the continuous features, by
degree: intercept first, then the d slopes) from pooled raw moments of the
standardised inputs about a centre near the queries (one per cell of
queries), shifted to each query by the binomial expansion
(:func:`polynomial_system`, any order). Order 1 keeps its hand-expanded form
(:func:`_linear_system`, the same numbers as before). An order is offered to
users by its entry in :data:`ORDERS`. Imports :mod:`nadaraya.pooling` and, for infinite and nearest-neighbour
bandwidths, :mod:`nadaraya.stats.localpoly` and :mod:`nadaraya.stats.nn`.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from functools import lru_cache
from math import comb

import numpy as np

from ..pooling import EmptySupportWarning, attention_pool, log_kernel_sums
from ..stats.localpoly import drop_infinite
from ..stats.nn import nn_bandwidths, varying_pooler

__all__ = ["Smoother", "ORDERS", "SYSTEMS", "pool", "local_fit", "centering", "loo_loss", "polynomial_system",
           "monomials"]

#: Most poolings one order ≥ 2 system makes (cells of queries, each with its own centre).
MAX_CELLS = 256

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


def pool(sm: Smoother, Q, values, h, exclude_self=False, kernel=None, log_sums=False):
    """Attention pooling of ``values`` (n, c) over the training points at the queries Q, bandwidth h.

    An infinite bandwidth smooths its column out (:func:`nadaraya.stats.localpoly.drop_infinite`); a
    nearest-neighbour smoother pools with per-query bandwidths (:func:`query_bandwidths`, dense blocks).
    With ``log_sums`` the log-normalisers ``log sum_j K`` (m,) are returned too (only them when
    ``values`` is None).
    """
    kern = kernel or sm.kernel
    if sm.neighbours is not None:
        hq = query_bandwidths(sm, Q, h)
        Qf, Xf, _ = drop_infinite(Q, sm.X, h)
        fin = np.isfinite(np.broadcast_to(np.asarray(h, dtype=float), (sm.X.shape[1],)))
        hq = hq[:, fin] if fin.any() else np.ones((len(Q), 1))
        vals = np.zeros((sm.X.shape[0], 1)) if values is None else values
        out = varying_pooler(Qf, Xf, hq, kernel=kern)(np.arange(len(Q)), vals, exclude_self)
        return out if log_sums else out[0]
    Qf, Xf, hf = drop_infinite(Q, sm.X, h)
    args = dict(kernel=kern, bandwidth=hf, exclude_self=exclude_self, method=sm.method)
    if values is None:  # the log-normalisers only
        return None, log_kernel_sums(Qf, Xf, **args)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptySupportWarning)
        out = attention_pool(Qf, Xf, values, on_empty="ignore", **args)
    return (out, log_kernel_sums(Qf, Xf, **args)) if log_sums else out


def _linear_system(sm: Smoother, Q, Y, h, w, exclude_self, kernel):
    """Local-linear normal equations at each query, in standardised coordinates: A (m, dc+1, dc+1), B (m, dc+1, k)."""
    n, k = Y.shape
    dc = sm.n_continuous
    mu, sd = sm.center
    X = (sm.X[:, :dc] - mu) / sd  # standardised: keeps the moment expansion well conditioned
    q = (Q[:, :dc] - mu) / sd
    outer = (X[:, :, None] * X[:, None, :]).reshape(n, dc * dc)
    cols = [w[:, None], w[:, None] * X, w[:, None] * outer, w[:, None] * Y,
            (w[:, None, None] * X[:, :, None] * Y[:, None, :]).reshape(n, dc * k)]
    pooled = pool(sm, Q, np.concatenate(cols, axis=1), h, exclude_self, kernel)
    m = Q.shape[0]
    s0 = pooled[:, 0]
    s1 = pooled[:, 1 : 1 + dc]
    s2 = pooled[:, 1 + dc : 1 + dc + dc * dc].reshape(m, dc, dc)
    t0 = pooled[:, 1 + dc + dc * dc : 1 + dc + dc * dc + k]
    t1 = pooled[:, 1 + dc + dc * dc + k :].reshape(m, dc, k)
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


def _cells(q, scale, order):
    """The query rows in cells at most ``10**(2 / order)`` units ``scale`` wide: ``(rows, centre, unit)`` each.

    Shifting moments of degree ``2 p`` about a centre ``r`` bandwidths away loses about ``r**(2 p)``
    in relative accuracy, so a cell spans at most ``10**(2 / p)`` bandwidths (~1e4 eps); at most
    :data:`MAX_CELLS` cells (beyond that they widen). ``unit`` (≥ ``scale``, ≥ the cell's reach)
    keeps every power of ``(x - centre) / unit`` of the keys near the cell finite.
    """
    width = 10.0 ** (2.0 / order)
    while True:
        cell = np.floor((q - q.min(axis=0)) / (width * scale)).astype(np.int64)
        labels, inverse = np.unique(cell, axis=0, return_inverse=True)
        if len(labels) <= MAX_CELLS:
            break
        width *= 2.0
    out = []
    for g in range(len(labels)):
        rows = np.flatnonzero(inverse.reshape(-1) == g)
        centre = q[rows].mean(axis=0)
        out.append((rows, centre, np.maximum(scale, np.abs(q[rows] - centre).max(axis=0))))
    return out


def _cell_scale(sm: Smoother, Q, h):
    """The smallest kernel width per continuous column, in sd units, capped at 1 (the cells' unit)."""
    dc = sm.n_continuous
    width = query_bandwidths(sm, Q, h)[:, :dc].min(axis=0) if sm.neighbours is not None and len(Q) else h[:dc]
    width = np.where(np.isfinite(width), width / sm.center[1], 1.0)
    return np.minimum(np.maximum(width, np.finfo(float).tiny), 1.0)


def polynomial_system(order: int):
    """The normal-equation builder of local polynomials of degree ``order`` (any order ≥ 1).

    Raw moments of degree ≤ ``2 order`` are pooled about a centre near the queries (one
    pooling per cell of queries, :func:`_cells`), shifted to each query by the binomial
    expansion and returned in the standardised units of ``sm.center``. Leave-one-out (the
    engines leave key i out of query i only when every key is a query) pools about the data's
    mean, one centre for all: it loses up to ``(|x - mean| / h)**(2 order)`` eps, which a
    bandwidth search's criterion tolerates and which keeps the search at one pooling per trial.
    """

    def moments(X, Y, w, centre, unit, basis, wide):
        U = (X - centre) / unit
        return np.concatenate([w[:, None] * _powers(U, wide), (w[:, None, None] * _powers(U, basis)[:, :, None]
                                                              * Y[:, None, :]).reshape(len(X), -1)], axis=1)

    def system(pooled, v, unit, basis, wide, k):
        """A, B about the queries (``v``: their offsets from the centre in ``unit``), in sd units."""
        m, P = len(v), len(basis)
        S, T = pooled[:, : len(wide)], pooled[:, len(wide) :].reshape(m, P, k)
        s_index, t_index = {g: i for i, g in enumerate(wide)}, {g: i for i, g in enumerate(basis)}
        A = np.empty((m, P, P))
        for a, b in itertools.combinations_with_replacement(range(P), 2):
            delta = tuple(x + y for x, y in zip(basis[a], basis[b]))
            A[:, a, b] = A[:, b, a] = _shift(S, s_index, delta, v) * np.prod(unit ** np.array(delta))
        B = np.stack([_shift(T[:, :, j], t_index, alpha, v) * np.prod(unit ** np.array(alpha))
                      for alpha in basis for j in range(k)], axis=1)
        return A, B.reshape(m, P, k)

    def build(sm: Smoother, Q, Y, h, w, exclude_self, kernel):
        k, dc = Y.shape[1], sm.n_continuous
        mu, sd = sm.center
        X, q = (sm.X[:, :dc] - mu) / sd, (Q[:, :dc] - mu) / sd
        basis, wide = monomials(dc, order), monomials(dc, 2 * order)
        A, B = np.empty((len(Q), len(basis), len(basis))), np.empty((len(Q), len(basis), k))
        if exclude_self or not len(Q):
            cells = [(np.arange(len(Q)), np.zeros(dc), np.ones(dc))]
        else:
            cells = _cells(q, _cell_scale(sm, Q, np.broadcast_to(np.asarray(h, dtype=np.float64), (sm.X.shape[1],))),
                           order)
        for rows, centre, unit in cells:
            pooled = pool(sm, Q[rows], moments(X, Y, w, centre, unit, basis, wide), h, exclude_self, kernel)
            with np.errstate(invalid="ignore", over="ignore"):
                A[rows], B[rows] = system(pooled, (q[rows] - centre) / unit, unit, basis, wide, k)
        return A, B

    return build


#: Normal-equation builders by order (order 0 needs none: it is a ratio of pooled sums).
SYSTEMS = {1: _linear_system, 2: polynomial_system(2), 3: polynomial_system(3)}


def local_fit(sm: Smoother, Q, Y, h, *, exclude_self=False, slopes=False, order=None, kernel=None,
              weights=None, system=False):
    """Local-polynomial fit of Y (n, k) at Q with bandwidth h → (fit (m, k), slopes (m, dc, k) or None[, A, ok]).

    ``order``, ``kernel`` and ``weights`` default to the smoother's; ``slopes``
    returns the first-order coefficients in the original units; with
    ``system`` the normal matrices A and the mask of queries where they are
    finite are returned too.
    """
    order = sm.order if order is None else order
    w = sm.weights if weights is None else weights
    k = Y.shape[1]
    if order == 0:
        pooled = pool(sm, Q, np.concatenate([Y * w[:, None], w[:, None]], axis=1), h, exclude_self, kernel)
        with np.errstate(invalid="ignore", divide="ignore"):
            return pooled[:, :k] / pooled[:, k:], None
    A, B = SYSTEMS[order](sm, Q, Y, h, w, exclude_self, kernel)
    m, p = A.shape[:2]
    ok = np.all(np.isfinite(A), axis=(1, 2))
    beta = np.full((m, p, k), np.nan)
    if ok.any():
        beta[ok] = np.linalg.pinv(A[ok]) @ B[ok]
    dc = sm.n_continuous
    out = beta[:, 0, :], (beta[:, 1 : 1 + dc, :] / sm.center[1][None, :, None] if slopes else None)
    return out + (A, ok) if system else out


def loo_loss(sm: Smoother, Y):
    """The leave-one-out weighted squared error as a function of the column bandwidths h."""
    Y = np.asarray(Y, dtype=np.float64).reshape(sm.X.shape[0], -1)
    w = sm.weights

    def loss(h):
        pred, _ = local_fit(sm, sm.X, Y, np.asarray(h, dtype=np.float64), exclude_self=True)
        r = ((pred - Y) ** 2).sum(axis=1)
        return float(np.sum(w * r) / np.sum(w)) if np.all(np.isfinite(r)) else np.inf

    return loss
