"""Ordered categorical features: the Wang–van Ryzin kernel, as statsmodels ``KernelReg`` var_type "o".

``K(a, b) = 1 - lambda`` if ``a == b``, else ``(1 - lambda) / 2 * lambda**|a - b|`` on the raw
codes (their numeric values, not their ranks), ``0 <= lambda <= 1``. The common
factor ``1 - lambda`` cancels in attention weights, leaving ``1`` against
``lambda**|a - b| / 2``, which is a Gaussian on an embedding of the code:

* a "thermometer" block: for levels ``l_1 < ... < l_c``, component ``i`` is
  ``sqrt(l_{i+1} - l_i) * [a >= l_{i+1}]``, so the squared distance is ``|a - b|``;
  bandwidth ``h = 1 / sqrt(-2 log lambda)`` gives ``exp(-|a - b| / (2 h**2)) = lambda**|a - b|``;
* a one-hot block at the fixed bandwidth ``1 / sqrt(log 2)``: ``exp(-2 / (2 h**2)) = 1/2``
  for ``a != b``.

``lambda = 1`` is ``h = inf`` (the thermometer block drops out); ``lambda = 0`` is
``h = 0`` (only equal codes), computed with a bandwidth so small that every
unequal code gets weight exactly 0.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ONE_HOT_BANDWIDTH", "TINY_BANDWIDTH", "wang_ryzin", "levels", "embed", "bandwidth", "smoothing"]

#: Bandwidth of the one-hot block: weight 1/2 between unequal codes.
ONE_HOT_BANDWIDTH = 1.0 / np.sqrt(np.log(2.0))
#: Stand-in for h = 0 (lambda = 0): any unit distance scores -inf.
TINY_BANDWIDTH = 1e-100


def wang_ryzin(lam, a, b):
    """The Wang–van Ryzin kernel ``K(a, b)`` (statsmodels' ``wang_ryzin``), broadcasting."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    d = np.abs(a - b)
    with np.errstate(invalid="ignore"):
        off = 0.5 * (1 - lam) * np.power(lam, d)
    return np.where(d == 0, 1 - lam, off)


def levels(codes) -> np.ndarray:
    """The sorted distinct values of an ordered column (numeric, finite)."""
    codes = _numeric(codes)
    return np.unique(codes)


def _numeric(codes) -> np.ndarray:
    try:
        codes = np.asarray(codes, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise TypeError("an ordered feature must hold numbers (its codes' differences are used)") from None
    if not np.all(np.isfinite(codes)):
        raise ValueError("an ordered feature must hold finite numbers; got NaN or inf")
    return codes


def embed(codes, lev) -> np.ndarray:
    """The thermometer and one-hot blocks (n, 2 c - 1) of codes among the levels ``lev`` (c,).

    Codes that are not among the levels raise ``ValueError`` (their kernel needs
    an exact level: a code's place between levels has no thermometer).
    """
    codes = _numeric(codes)
    lev = np.asarray(lev, dtype=np.float64)
    pos = np.searchsorted(lev, codes)
    known = (pos < len(lev)) & (lev[np.minimum(pos, len(lev) - 1)] == codes)
    if not known.all():
        bad = np.unique(codes[~known])[:5].tolist()
        raise ValueError(f"ordered feature has codes not seen in fit: {bad}; the seen levels are {lev.tolist()}")
    gaps = np.sqrt(np.diff(lev))
    thermo = (codes[:, None] >= lev[None, 1:]) * gaps[None, :]
    onehot = (pos[:, None] == np.arange(len(lev))[None, :]).astype(np.float64)
    return np.concatenate([thermo, onehot], axis=1)


def bandwidth(lam) -> float:
    """The thermometer block's Gaussian bandwidth for ``lambda`` in [0, 1]."""
    lam = float(lam)
    if not 0 <= lam <= 1:
        raise ValueError(f"the Wang–van Ryzin lambda of an ordered feature must lie in [0, 1]; got {lam}")
    if lam == 1:
        return np.inf
    if lam == 0:
        return TINY_BANDWIDTH
    return float(1.0 / np.sqrt(-2.0 * np.log(lam)))


def smoothing(h) -> float:
    """``lambda`` of a thermometer bandwidth (the inverse of :func:`bandwidth`)."""
    h = float(h)
    if np.isinf(h):
        return 1.0
    if h <= TINY_BANDWIDTH:
        return 0.0
    return float(np.exp(-1.0 / (2.0 * h * h)))
