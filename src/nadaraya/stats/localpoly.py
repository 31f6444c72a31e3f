"""Local polynomial regression of any order from pooled moments.

At a query ``q`` the local polynomial of order ``p`` minimises
``sum_j w_j K((x_j - q) / h) (y_j - sum_a beta_a (x_j - q)**a)**2`` over the
monomials ``a`` of total degree ``<= p``. Its normal equations are made of
pooled moments ``sum_j a_j w_j u_j**a`` (``a_j`` the attention weights,
``u = (x - c) / s`` a centred, scaled coordinate), so every sum is one
:func:`nadaraya.attention_pool` call and no m × n matrix is formed.

Moments about a centre ``c`` are shifted to the query by the binomial
theorem; to keep that shift well conditioned the queries are grouped into
cells a few bandwidths wide, each with its own centre (one pooling call per
cell). ``beta_a * a!`` is the derivative ``d^a m(q)`` (KernSmooth's
``locpoly(drv=k)`` is ``k! beta_k``).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from ..kernels import get_kernel, square
from ..pooling import pool_and_log_sums

__all__ = ["exponents", "LocalPolynomialFit", "local_polynomial", "attention_pooler", "drop_infinite", "smoother_norms",
           "query_cells"]

#: Most pooling calls one fit makes (cells of queries, each with its own centre).
MAX_CELLS = 256


def exponents(d: int, order: int) -> np.ndarray:
    """Monomial exponents of total degree <= ``order`` in ``d`` variables, (T, d), by degree.

    Examples
    --------
    >>> exponents(2, 1).tolist()
    [[0, 0], [1, 0], [0, 1]]
    """
    out = [np.zeros(d, dtype=np.int64)]
    for deg in range(1, order + 1):
        for combo in itertools.combinations_with_replacement(range(d), deg):
            e = np.zeros(d, dtype=np.int64)
            np.add.at(e, list(combo), 1)
            out.append(e)
    return np.array(out)


def _index(exps: np.ndarray) -> dict:
    return {tuple(e): i for i, e in enumerate(exps)}


def drop_infinite(queries, keys, bandwidth):
    """Queries, keys and bandwidths without the dimensions whose bandwidth is infinite (smoothed out).

    With every bandwidth infinite, one zero column at bandwidth 1 remains: every
    key then weighs the same. The pooling engines take finite bandwidths only;
    this is how an infinite one reaches them.
    """
    h = np.broadcast_to(np.asarray(bandwidth, dtype=np.float64).reshape(-1), (np.shape(keys)[1],))
    fin = np.isfinite(h)
    if fin.all():
        return queries, keys, h
    if not fin.any():
        return np.zeros((len(queries), 1)), np.zeros((len(keys), 1)), np.ones(1)
    return np.asarray(queries)[:, fin], np.asarray(keys)[:, fin], h[fin]


def attention_pooler(queries, keys, bandwidth, *, kernel="gaussian", method="auto"):
    """A pooling function ``pool(rows, values, exclude_self) -> (pooled (r, c), log kernel sums (r,))``.

    ``rows`` selects queries (all of them when ``exclude_self``, which leaves
    key i out of query i); both results come from one engine pass
    (:func:`nadaraya.pooling.pool_and_log_sums`). Infinite bandwidths are handled by :func:`drop_infinite`.
    """
    kern = get_kernel(kernel)
    queries, keys, h = drop_infinite(queries, keys, bandwidth)

    def pool(rows, values, exclude_self=False):
        q = queries[rows]
        if exclude_self and len(q) != len(keys):
            raise ValueError("attention_pooler leaves keys out only when every query (the keys) is pooled")
        return pool_and_log_sums(q, keys, values, kernel=kern, bandwidth=h, method=method, exclude_self=exclude_self)

    pool.any_rows_exclusion = False
    return pool


@dataclass(frozen=True)
class LocalPolynomialFit:
    """Local polynomial coefficients at each query.

    Attributes
    ----------
    coef : ndarray (m, T, k)
        ``beta_a`` of the polynomial in ``x - q`` (original units), per output.
    exponents : ndarray (T, d)
        The monomials, ``exponents[0]`` the constant.
    gram : ndarray (m, T, T)
        The normalised normal matrix ``A`` in the scaled coordinates ``(x - q) / scale``.
    row0 : ndarray (m, T)
        The first row of ``A^-1``: the fit's weights on the moments.
    log_sum : ndarray (m,)
        ``log sum_j K_j`` (unweighted); with ``inv00`` it gives the hat-matrix diagonal.
    ok : ndarray (m,) of bool
        Queries whose normal equations are finite (compact kernels may leave some empty).
    """

    @property
    def inv00(self) -> np.ndarray:
        """``(A^-1)[0, 0]``: with ``log_sum`` it gives the weight of a key on itself (hat diagonal)."""
        return self.row0[:, 0]

    coef: np.ndarray
    exponents: np.ndarray
    gram: np.ndarray
    row0: np.ndarray
    log_sum: np.ndarray
    ok: np.ndarray

    @property
    def fit(self) -> np.ndarray:
        """The fitted values (m, k): the constant coefficient."""
        return self.coef[:, 0, :]

    def derivative(self, order: int = 1, dim: int = 0) -> np.ndarray:
        """``d^order m / d x_dim^order`` (m, k) from the coefficients: ``order! * beta``."""
        target = np.zeros(self.exponents.shape[1], dtype=np.int64)
        target[dim] = order
        idx = _index(self.exponents).get(tuple(target))
        if idx is None:
            raise ValueError(
                f"derivative order {order} needs a local polynomial of order >= {order}; "
                f"this fit has order {int(self.exponents.sum(axis=1).max())}"
            )
        return math.factorial(order) * self.coef[:, idx, :]


def default_scale(keys, bandwidth):
    """Coordinate units of the moments: ``min(h, sd)`` per feature (the local spread of the weights).

    The normal matrix in these units is well conditioned both for small bandwidths
    (units of h) and for large or infinite ones (units of the data's spread).
    """
    spread = np.asarray(keys, dtype=np.float64).std(axis=0)
    spread = np.where(spread > 0, spread, 1.0)
    return np.minimum(np.asarray(bandwidth, dtype=np.float64), spread)


def _shift_terms(big: np.ndarray):
    """For each monomial a and each b <= a: (a, b, binomial(a, b), a - b), for moments about a new centre."""
    lookup = _index(big)
    terms = []
    for ia, a in enumerate(big):
        for b in itertools.product(*[range(int(x) + 1) for x in a]):
            b = np.array(b)
            coef = float(np.prod([math.comb(int(x), int(y)) for x, y in zip(a, b)]))
            terms.append((ia, lookup[tuple(b)], coef, a - b))
    return terms


def query_cells(queries, scale, order):
    """Groups of query rows and their centres and coordinate units ``(rows, centre, unit)``.

    Shifting moments of order ``2 p`` across ``r`` bandwidths loses about
    ``r**(2 p)`` in relative accuracy, so a cell spans at most ``10**(2 / p)``
    bandwidths (1e-12 at worst); order 0 needs no shift, hence one cell.
    At most MAX_CELLS cells: beyond that they widen (and the accuracy with them).
    Moments are taken in units of at least half a cell, so no power overflows.
    """
    if len(queries) == 0:
        return []
    if order == 0:
        return [(np.arange(len(queries)), queries.mean(axis=0), scale)]
    width = 10.0 ** (2.0 / order)
    while True:
        cell = np.floor((queries - queries.min(axis=0)) / (width * scale)).astype(np.int64)
        labels, inverse = np.unique(cell, axis=0, return_inverse=True)
        if len(labels) <= MAX_CELLS:
            break
        width *= 2.0
    inverse = inverse.reshape(-1)
    groups = []
    for g in range(len(labels)):
        rows = np.flatnonzero(inverse == g)
        centre = queries[rows].mean(axis=0)
        reach = np.abs(queries[rows] - centre).max(axis=0)
        groups.append((rows, centre, np.maximum(scale, reach)))
    return groups


def _solve(A, B):
    ok = np.all(np.isfinite(A), axis=(1, 2)) & np.all(np.isfinite(B), axis=(1, 2))
    coef = np.full(B.shape, np.nan)
    row0 = np.full(A.shape[:2], np.nan)
    if ok.any():
        inv = np.linalg.pinv(A[ok], hermitian=True)
        coef[ok] = inv @ B[ok]
        row0[ok] = inv[:, 0, :]
    return coef, row0, ok


def _assemble(plan, cells, exclude_self, how):
    """Coefficients, normal matrices, their first inverse rows, log kernel sums and masks over the cells.

    ``how`` is "pool" (the pooler leaves keys out itself) or "subtract" (a key's
    own term, of attention weight ``exp(-log_sum)`` since K(0) = 1, is taken out).
    """
    small, m, k = plan["small"], len(plan["queries"]), plan["values"].shape[1]
    T = len(small)
    out = (np.full((m, T, k), np.nan), np.full((m, T, T), np.nan), np.full((m, T), np.nan),
           np.full(m, -np.inf), np.zeros(m, dtype=bool))
    for rows, centre, unit in cells:
        with np.errstate(invalid="ignore", over="ignore"):  # empty (compact) or degenerate rows give NaN
            _assemble_cell(plan, rows, centre, unit, exclude_self and how, out)
    return out


def _assemble_cell(plan, rows, centre, unit, exclude, out):
    """One cell of :func:`_assemble`: pool the moments about ``centre`` and solve at the cell's queries.

    ``exclude`` is False, "pool" or "subtract" (see :func:`_assemble`).
    """
    coef, gram, row0, log_sum, ok = out
    keys, values, w, queries, scale = plan["keys"], plan["values"], plan["w"], plan["queries"], plan["scale"]
    small, big = plan["small"], plan["big"]
    lookup = _index(big)
    gram_idx = np.array([[lookup[tuple(a + b)] for b in small] for a in small])
    yidx = np.array([lookup[tuple(a)] for a in small])
    n, (T, k) = len(keys), (len(small), values.shape[1])
    u = (keys - centre) / unit
    mono = np.prod(u[:, None, :] ** big[None, :, :], axis=2)  # (n, TB)
    cols = np.concatenate([w[:, None] * mono, (w[:, None, None] * mono[:, yidx, None] * values[:, None, :])
                           .reshape(n, T * k)], axis=1)
    pooled, ls = plan["pooler"](rows, cols, exclude == "pool")
    if exclude == "subtract":
        own = np.exp(-ls)
        with np.errstate(invalid="ignore", divide="ignore"):
            pooled = (pooled - own[:, None] * cols[rows]) / (1.0 - own)[:, None]
            ls = ls + np.log1p(-own)
    P, PY = pooled[:, : len(big)], pooled[:, len(big):].reshape(len(rows), T, k)
    v = (queries[rows] - centre) / unit
    to_scale = unit / scale  # moments in units of ``unit``, shifted to the query, then rescaled to ``scale``
    M = np.zeros_like(P)
    for ia, ib, c, diff in plan["terms"]:
        M[:, ia] += c * np.prod((-v) ** diff, axis=1) * P[:, ib]
    A = (M * np.prod(to_scale ** big, axis=1))[:, gram_idx]
    MY = np.zeros((len(rows), T, k))  # y-moments about the query, from those about the centre
    for ia, ib, c, diff in plan["small_terms"]:
        MY[:, ia, :] += (c * np.prod((-v) ** diff, axis=1))[:, None] * PY[:, ib, :]
    MY *= np.prod(to_scale ** small, axis=1)[None, :, None]
    beta, r0, good = _solve(A, MY)
    coef[rows] = beta / np.prod(scale[None, :] ** small, axis=1)[None, :, None]
    gram[rows], row0[rows], log_sum[rows], ok[rows] = A, r0, ls, good


def local_polynomial(queries, keys, values, bandwidth, *, order, kernel="gaussian", sample_weight=None,
                     exclude_self=False, method="auto", pooler=None, scale=None) -> LocalPolynomialFit:
    """Local polynomial fit of order ``order`` at the queries.

    Parameters
    ----------
    queries : ndarray (m, d)
    keys : ndarray (n, d)
    values : ndarray (n, k)
    bandwidth : float or ndarray (d,)
        Per-dimension kernel width; ``inf`` smooths a feature out of the
        kernel (it stays in the polynomial).
    order : int
        0 local constant (attention pooling), 1 local linear, 2 quadratic, 3 cubic, ...
    sample_weight : ndarray (n,), optional
    exclude_self : bool
        Leave-one-out (the queries are the keys): each key's own term is taken out
        of the pooled moments (its attention weight is ``exp(-log_sum)``, since K(0) = 1).
    pooler : callable, optional
        ``pool(rows, values, exclude_self) -> (pooled, log_sum)``; default :func:`attention_pooler`
        (a per-query bandwidth passes :func:`nadaraya.stats.nn.varying_pooler`).
    scale : ndarray (d,), optional
        Coordinate units of the moments; default :func:`default_scale`.

    Returns
    -------
    LocalPolynomialFit

    Examples
    --------
    >>> import numpy as np
    >>> x = np.linspace(0, 1, 50)[:, None]; y = (x ** 2)[:, 0:1]
    >>> fit = local_polynomial(x[:3], x, y, 0.1, order=2)
    >>> np.allclose(fit.derivative(2)[:, 0], 2.0)
    True
    """
    queries = np.asarray(queries, dtype=np.float64)
    keys = np.asarray(keys, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    n, d = keys.shape
    h = np.broadcast_to(np.asarray(bandwidth, dtype=np.float64).reshape(-1), (d,))
    if pooler is None:
        pooler = attention_pooler(queries, keys, h, kernel=kernel, method=method)
    if exclude_self and queries.shape != keys.shape:
        raise ValueError(f"exclude_self needs the keys as queries; got {queries.shape[0]} queries and {n} keys")
    scale = default_scale(keys, h) if scale is None else np.asarray(scale, dtype=np.float64)
    w = np.ones(n) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    small, big = exponents(d, order), exponents(d, 2 * order)
    plan = dict(keys=keys, values=values, w=w, queries=queries, scale=scale, small=small, big=big,
                terms=_shift_terms(big), small_terms=_shift_terms(small), pooler=pooler)
    cells = query_cells(queries, scale, order)
    direct = not exclude_self or len(cells) == 1 or getattr(pooler, "any_rows_exclusion", False)
    out = _assemble(plan, cells, exclude_self, "pool" if direct else "subtract")
    if not direct:
        # taking a key's own term out of pooled moments loses ~eps / (1 - own weight); one
        # centre for all loses ~eps * (distance / scale)**(2 p): keep the better of the two per key
        one = query_cells(queries, scale, 0)
        one = [(one[0][0], one[0][1], np.maximum(scale, np.abs(queries - one[0][1]).max(axis=0)))]
        alt = _assemble(plan, one, True, "pool")
        v = np.abs(queries - one[0][1]) / scale
        err_shift = np.prod(np.maximum(v, 1.0), axis=1) ** (2 * order)
        with np.errstate(invalid="ignore", over="ignore"):
            err_sub = np.exp(np.logaddexp(out[3], 0.0) - out[3])  # 1 / (1 - own weight); K(0) = 1
        err_sub = np.where(np.isnan(err_sub), np.inf, err_sub)
        pick = err_shift < err_sub
        out = tuple(np.where(pick.reshape((-1,) + (1,) * (o.ndim - 1)), a_, o) for o, a_ in zip(out, alt))
    coef, gram, row0, log_sum, ok = out
    return LocalPolynomialFit(coef, small, gram, row0, log_sum, ok)


def smoother_norms(queries, keys, bandwidth, *, order, kernel="gaussian", sample_weight=None, method="auto",
                   pooler=None, squared_pooler=None, scale=None, fit=None):
    """``||l(q)||**2 = sum_j l_j(q)**2`` of the local polynomial's effective weights at each query (m,).

    ``l(q) = e_1' A^-1 Z' W`` (``W`` = w K); so ``||l||**2 = e_1' A^-1 C A^-1 e_1`` with ``C``
    the same normal matrix under the weights ``w**2 K**2`` — a second local fit
    with the kernel's square (:func:`nadaraya.kernels.square`). ``pooler``/``squared_pooler`` override the poolings
    (per-query bandwidths); ``fit`` reuses a fit of the same queries.
    """
    keys = np.asarray(keys, dtype=np.float64)
    d = keys.shape[1]
    h = np.broadcast_to(np.asarray(bandwidth, dtype=np.float64).reshape(-1), (d,))
    scale = default_scale(keys, h) if scale is None else np.asarray(scale, dtype=np.float64)
    w = np.ones(len(keys)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    zeros = np.zeros((len(keys), 1))
    if fit is None:
        fit = local_polynomial(queries, keys, zeros, h, order=order, kernel=kernel, sample_weight=w,
                               method=method, pooler=pooler, scale=scale)
    sq, factor = square(kernel)
    h2 = h * factor
    fit2 = local_polynomial(queries, keys, zeros, h2, order=order, kernel=sq, sample_weight=w * w,
                            method=method, pooler=squared_pooler, scale=scale)
    quad = np.einsum("mi,mij,mj->m", fit.row0, fit2.gram, fit.row0)
    with np.errstate(over="ignore", invalid="ignore"):
        return quad * np.exp(fit2.log_sum - 2.0 * fit.log_sum)
