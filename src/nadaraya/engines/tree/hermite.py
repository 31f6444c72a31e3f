"""Hermite far-field expansions of the Gaussian on the k-d tree (the fast Gauss transform's series).

With ``x = k - c`` (c a node's box centre, ``|x_d| <= w_d`` its half-widths),
``y = q - c``, ``s = x / sqrt(2)`` and ``t = y / sqrt(2)``, per dimension ::

    exp(-(y_d - x_d)**2 / 2) = sum_n  s_d**n / n!  h_n(t_d),      h_n(t) = H_n(t) exp(-t**2)

(the generating function of the physicists' Hermite polynomials H_n). A node
stores the moments ``A_a = sum_keys v prod_d s_d**a_d / a_d!`` over the
multi-indices with every ``a_d < p`` (``p**d`` of them); a query far from the
node sums the node as ``exp(t_nn / 2) sum_a A_a prod_d h_(a_d)(t_d)``, whatever
its distance (unlike the Taylor series of :mod:`.gauss`, valid only near the
node): the far-field case of large bandwidths, where a node of a few hundred
keys costs ``p**d`` multiply-adds instead of as many exponentials.

Error bound, per key. By Cramér's inequality ``|H_n(t)| exp(-t**2 / 2) <=
CRAMER sqrt(2**n n!)`` the 1-D remainder after ``p`` terms is at most ::

    delta_d = CRAMER exp(-y_d**2 / 4) w_d**p / sqrt(p!) / (1 - w_d / sqrt(p + 1)),

and with ``B_d = exp(-max(|y_d| - w_d, 0)**2 / 2) + delta_d`` bounding both the
exact factor and its truncation, the product's error is at most
``sum_d delta_d prod_(e != d) B_e`` (telescoping). A query charges the node
``count`` times that bound (relative to its nearest key, times ``exp(t_nn /
2)``), plus the rounding of the ``p**d`` terms (each at most ``CRAMER**d prod_d
w_d**a_d / sqrt(a_d!) exp(-|y|**2 / 4)`` per key), to the same budget as a
dropped node (:mod:`nadaraya.engines.tree`): an absolute error ``E`` in the
weights of the numerator and the denominator moves the estimate by at most
``2 E / (D - E) max|v|``, as dropping weight E does.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .._parallel import all_done, claim, fill_claimed, finish

__all__ = ["CRAMER", "half_widths", "tails", "hermite_moments", "node_error", "add_node"]

#: Cramér's constant (1.086435...), rounded up: ``|H_n(t)| exp(-t**2 / 2) <= CRAMER sqrt(2**n n!)``.
CRAMER = 1.0865
#: Relative rounding of one term of the series (a few ulp: a product of d factors and a multiply-add).
_TERM_ROUNDING = 16.0 * np.finfo(np.float64).eps


def half_widths(bmin, bmax, nodes):
    """Half-widths (len(nodes), d) of the listed nodes' boxes about their centres, rounded up."""
    w = 0.5 * (bmax[nodes] - bmin[nodes]) * (1.0 + 1e-14)
    return w + 4.0 * np.finfo(np.float64).eps * np.maximum(abs(bmin[nodes]), abs(bmax[nodes]))


def tails(w, p):
    """Per node and dimension: the 1-D remainder factor ``w**p / sqrt(p!) / (1 - w / sqrt(p + 1))``, and
    the bound ``CRAMER sum_(n < p) w**n / sqrt(n!)`` on the size of the kept terms (inf where ``w >= sqrt(p + 1)``)."""
    n = np.arange(p)
    lgam = np.array([math.lgamma(k + 1.0) for k in range(p + 1)])
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        rem = np.exp(p * np.log(w) - 0.5 * lgam[p]) / (1.0 - w / math.sqrt(p + 1.0))
        size = CRAMER * np.exp(n * np.log(w)[..., None] - 0.5 * lgam[:p]).sum(axis=-1)
    ok = w < math.sqrt(p + 1.0)
    return np.where(ok, rem, np.inf), np.where(ok, size, np.inf)


def hermite_moments(kt, vt, lo, hi, centre, nodes, p, threads=1):
    """Moments ``A`` (len(nodes), p**d, kc) of the listed nodes (multi-index ``a`` at ``sum_d a_d p**(d-1-d)``).

    On up to ``threads`` threads, which claim the nodes as they go (:mod:`nadaraya.engines._parallel`).
    """
    return fill_claimed(_moments_loop, (nodes.shape[0], p ** kt.shape[0], vt.shape[0]), threads, kt, vt, lo, hi, centre,
                        nodes, p)


@njit(cache=True)
def _tensor(f, p, d, out):
    """``out[a] = prod_d f[d, a_d]`` over every multi-index (f (d, p)), built one dimension at a time."""
    size = 1
    out[0] = 1.0
    for c in range(d):
        for i in range(size - 1, -1, -1):  # backwards: slot i * p + k is written after slot i is read
            base = out[i]
            for k in range(p - 1, -1, -1):
                out[i * p + k] = base * f[c, k]
        size *= p


@njit(cache=True, nogil=True)
def _moments_loop(kt, vt, lo, hi, centre, nodes, p, A, claims):
    d = kt.shape[0]
    kc = vt.shape[0]
    T = A.shape[1]
    r2 = 1.0 / math.sqrt(2.0)
    s = claim(claims)
    while s < nodes.shape[0]:
        j = nodes[s]
        f = np.empty((d, p))
        prod = np.empty(T)
        for i in range(lo[j], hi[j]):
            for c in range(d):
                x = (kt[c, i] - centre[j, c]) * r2
                f[c, 0] = 1.0
                for n in range(1, p):
                    f[c, n] = f[c, n - 1] * x / n
            _tensor(f, p, d, prod)
            for col in range(kc):
                v = vt[col, i]
                for a in range(T):
                    A[s, a, col] += v * prod[a]
        finish(claims)
        s = claim(claims)
    return all_done(claims, nodes.shape[0])


@njit(cache=True)
def node_error(y, w, rem, size, count, t_nn, p):
    """Bound on the node's total weight error (relative to the nearest key) when summed from its series.

    ``y = q - c`` (d,), ``w``, ``rem``, ``size`` the node's half-widths and :func:`tails` (d,).
    """
    d = y.shape[0]
    Y = 0.0
    for c in range(d):
        Y += y[c] * y[c]
    err = 0.0
    for c in range(d):
        delta = CRAMER * math.exp(-0.25 * y[c] * y[c]) * rem[c]
        others = 1.0
        for e in range(d):
            if e != c:
                gap = max(abs(y[e]) - w[e], 0.0)
                others *= math.exp(-0.5 * gap * gap) + CRAMER * math.exp(-0.25 * y[e] * y[e]) * rem[e]
        err += delta * others
    rounding = _TERM_ROUNDING * p**d * math.exp(-0.25 * Y)
    for c in range(d):
        rounding *= size[c]
    return count * (err + rounding) * math.exp(0.5 * t_nn)


@njit(cache=True)
def add_node(y, A, s, p, t_nn, g, prod, acc):
    """``acc[col] += exp(t_nn / 2) sum_a A[s, a, col] prod_d h_(a_d)(y_d / sqrt(2))`` (g (d, p), prod (p**d,) scratch)."""
    d = y.shape[0]
    kc = acc.shape[0]
    T = A.shape[1]
    for c in range(d):
        t = y[c] / math.sqrt(2.0)
        e = math.exp(-t * t + 0.5 * t_nn / d)  # exp(t_nn / 2) shared out over the dimensions
        g[c, 0] = e
        if p > 1:
            g[c, 1] = 2.0 * t * e
        for n in range(1, p - 1):
            g[c, n + 1] = 2.0 * t * g[c, n] - 2.0 * n * g[c, n - 1]
    _tensor(g, p, d, prod)
    for col in range(kc):
        tot = 0.0
        for a in range(T):
            tot += A[s, a, col] * prod[a]
        acc[col] += tot
