"""Scalar formulas of the kernels' weights, which the compiled engines jit (:class:`ScalarForm`).

Plain Python functions of floats that use only arithmetic, :mod:`math`,
:func:`like` and :func:`exp_nonpositive`; :mod:`nadaraya.engines._jitmath`
gives those two their jitted versions. Re-exported by :mod:`nadaraya.kernels`.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

__all__ = ["ScalarForm", "like", "exp_nonpositive"]


def like(x, value):
    """``value`` as a scalar of ``x``'s float type.

    The compiled engines overload this (Python float literals are float64
    in Numba, which would turn float32 arithmetic into float64).
    """
    return type(x)(value)


def exp_nonpositive(x):
    """``exp(x)`` for ``x <= 0``, 0 for NaN; the compiled engines substitute a vectorisable ``exp``.

    (Theirs also flushes to 0 below ``-708`` in float64, ``-87`` in float32.)
    """
    return type(x)(math.exp(x)) if x >= -708.0 else type(x)(0.0)


class ScalarForm(NamedTuple):
    """A kernel's weight as scalar formulas of ``t = u**2``, which compiled engines jit.

    Plain Python functions of floats that use only arithmetic, :mod:`math`,
    :func:`like` and :func:`exp_nonpositive` (so that Numba can compile them
    and float32 stays float32). The streaming engine builds its loops from
    them, so a kernel with a ``ScalarForm`` runs there with no engine edit.
    Give either

    * ``value(t)``: ``K`` up to a constant, 0 outside the support and at
      ``t = NaN`` (the engines' mark for an excluded key), for kernels whose
      ``K`` does not underflow where it is non-zero (compact ones, constant);
      the weights are ``value(t) / value(t_min)``; or
    * ``weight(t, ref)``, ``reference(t_min)`` and ``score(t)`` for kernels
      whose ``K`` underflows (Gaussian, Laplace): ``weight(t,
      reference(t_min)) = K(t) / K(t_min)`` evaluated without forming ``K``
      (0 at ``t = NaN``), and ``score = log K``; the support is ``t < inf``.

    ``power`` raises ``value`` to that power (a kernel's square, see
    :func:`square`, reuses the kernel's own formula with ``power=2``).
    """

    value: Callable | None = None
    weight: Callable | None = None
    reference: Callable | None = None
    score: Callable | None = None
    power: int = 1


def _gaussian_weight(t, ref):
    """``exp(-(t - t_min) / 2)``; ``ref = t_min``."""
    return exp_nonpositive(like(t, -0.5) * (t - ref))


def _gaussian_reference(t_min):
    return t_min


def _gaussian_score(t):
    return like(t, -0.5) * t


def _laplace_weight(t, ref):
    """``exp(sqrt(t_min) - sqrt(t))``; ``ref = sqrt(t_min)``."""
    return exp_nonpositive(ref - math.sqrt(t))


def _laplace_reference(t_min):
    return math.sqrt(t_min)


def _laplace_score(t):
    return -math.sqrt(t)


def _constant_value(t):
    """1 (0 for the excluded key, marked ``t = NaN``)."""
    return like(t, 1.0) if t == t else like(t, 0.0)


def _boxcar_value(t):
    """1 for ``t <= 1``, else 0 (the boundary belongs to the support)."""
    return like(t, 1.0) if t <= like(t, 1.0) else like(t, 0.0)


def _epanechnikov_value(t):
    """``1 - t`` for ``t < 1``, else 0."""
    w = like(t, 1.0) - t
    return w if t < like(t, 1.0) else like(t, 0.0)


def _triangular_value(t):
    """``1 - sqrt(t)`` for ``t < 1``, else 0."""
    w = like(t, 1.0) - math.sqrt(t)
    return w if t < like(t, 1.0) else like(t, 0.0)


def _biweight_value(t):
    """``(1 - t)**2`` for ``t < 1``, else 0."""
    u = like(t, 1.0) - t
    w = u * u
    return w if t < like(t, 1.0) else like(t, 0.0)


def _tricube_value(t):
    """``(1 - t**1.5)**3`` for ``t < 1``, else 0."""
    u = like(t, 1.0) - t * math.sqrt(t)
    w = u * u * u
    return w if t < like(t, 1.0) else like(t, 0.0)


def _cosine_value(t):
    """``cos(pi sqrt(t) / 2)`` for ``t < 1``, else 0."""
    if t < like(t, 1.0):
        c = math.cos(like(t, 0.5 * math.pi) * math.sqrt(t))
        return max(c, like(t, 0.0))
    return like(t, 0.0)
