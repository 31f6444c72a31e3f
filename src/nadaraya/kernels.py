"""Kernel shapes for attention pooling.

A kernel is the similarity K(u) of the bandwidth-scaled distance
``u = ||(q - k) / h||`` (radial, the book's convention). Only its logarithm,
the *score*, is ever used: attention weights are a softmax of scores, so
constant factors of K cancel and are left out.

Every kernel here is written as a function of ``t = u**2`` (the squared scaled
distance), which is what the engines compute; ``score(t) = log K(sqrt(t))``.

=============  ==========================  =========
name           K(u), up to a constant      support
=============  ==========================  =========
gaussian       exp(-u**2 / 2)              all u
laplace        exp(-u)                     all u
boxcar         1                           u <= 1
epanechnikov   1 - u**2                    u < 1
triangular     1 - u                       u < 1
biweight       (1 - u**2)**2               u < 1
tricube        (1 - u**3)**3               u < 1
cosine         cos(pi u / 2)               u < 1
constant       1 (average pooling)         all u
=============  ==========================  =========
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable

import numpy as np

__all__ = ["Kernel", "KERNELS", "get_kernel"]


@dataclass(frozen=True)
class Kernel:
    """A radial kernel, described by its score ``log K`` as a function of u**2.

    Attributes
    ----------
    name : str
        Registry name.
    support : float
        Radius in u outside which K is zero (``inf`` for unbounded kernels).
    poly : tuple of float or None
        For compact polynomial kernels, coefficients ``c_j`` of
        ``K(u) = sum_j c_j u**j`` on ``u <= support`` (lowest degree first);
        the sorted 1-D engine sums these moments exactly.
    exp_abs : tuple of float or None
        For kernels of the form ``poly(u) * exp(-u)``, the coefficients of the
        polynomial (lowest degree first).
    """

    name: str
    support: float
    poly: tuple[float, ...] | None = None
    exp_abs: tuple[float, ...] | None = None
    _score: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False, default=None)
    _dscore: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False, default=None)

    @property
    def compact(self) -> bool:
        """True when K is zero beyond a finite radius."""
        return bool(np.isfinite(self.support))

    def score(self, t: np.ndarray) -> np.ndarray:
        """``log K(sqrt(t))`` for squared scaled distances ``t >= 0``; ``-inf`` outside the support."""
        t = np.asarray(t)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return self._score(t)

    def dscore(self, t: np.ndarray) -> np.ndarray:
        """Derivative of :meth:`score` with respect to ``t`` (finite inside the support).

        Outside the support, or at ``t = 0`` where the derivative of a kernel
        with a cusp is infinite, the value is 0: callers multiply it by the
        attention weight or by ``t``, which vanish there.
        """
        t = np.asarray(t)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            d = self._dscore(t)
        return np.where(np.isfinite(d), d, 0.0).astype(t.dtype if t.dtype.kind == "f" else float, copy=False)

    def __call__(self, u: np.ndarray) -> np.ndarray:
        """K(u), up to a constant factor (for plotting and hand checks)."""
        u = np.asarray(u, dtype=float)
        return np.exp(self.score(u * u))


def _inside(t, fn, radius2=1.0, closed=False):
    """Apply ``fn`` where ``t`` lies inside the support and return -inf elsewhere."""
    mask = t <= radius2 if closed else t < radius2
    safe = np.where(mask, t, 0.0)
    return np.where(mask, fn(safe), -np.inf)


def _make_kernels() -> dict[str, Kernel]:
    zero = np.zeros_like
    ks = [
        Kernel("gaussian", np.inf, _score=lambda t: -0.5 * t, _dscore=lambda t: np.full_like(t, -0.5)),
        Kernel(
            "laplace",
            np.inf,
            exp_abs=(1.0,),
            _score=lambda t: -np.sqrt(t),
            _dscore=lambda t: -0.5 / np.sqrt(t),
        ),
        Kernel(
            "boxcar",
            1.0,
            poly=(1.0,),
            _score=lambda t: _inside(t, zero, closed=True),
            _dscore=lambda t: zero(t),
        ),
        Kernel(
            "epanechnikov",
            1.0,
            poly=(1.0, 0.0, -1.0),
            _score=lambda t: _inside(t, lambda s: np.log1p(-s)),
            _dscore=lambda t: _inside(t, lambda s: -1.0 / (1.0 - s)),
        ),
        Kernel(
            "triangular",
            1.0,
            poly=(1.0, -1.0),
            _score=lambda t: _inside(t, lambda s: np.log1p(-np.sqrt(s))),
            _dscore=lambda t: _inside(t, lambda s: -0.5 / (np.sqrt(s) * (1.0 - np.sqrt(s)))),
        ),
        Kernel(
            "biweight",
            1.0,
            poly=(1.0, 0.0, -2.0, 0.0, 1.0),
            _score=lambda t: _inside(t, lambda s: 2.0 * np.log1p(-s)),
            _dscore=lambda t: _inside(t, lambda s: -2.0 / (1.0 - s)),
        ),
        Kernel(
            "tricube",
            1.0,
            poly=(1.0, 0.0, 0.0, -3.0, 0.0, 0.0, 3.0, 0.0, 0.0, -1.0),
            _score=lambda t: _inside(t, lambda s: 3.0 * np.log1p(-(s**1.5))),
            _dscore=lambda t: _inside(t, lambda s: -4.5 * np.sqrt(s) / (1.0 - s**1.5)),
        ),
        Kernel(
            "cosine",
            1.0,
            _score=lambda t: _inside(t, lambda s: np.log(np.cos(0.5 * np.pi * np.sqrt(s)))),
            _dscore=lambda t: _inside(
                t, lambda s: -0.25 * np.pi * np.tan(0.5 * np.pi * np.sqrt(s)) / np.sqrt(s)
            ),
        ),
        Kernel("constant", np.inf, _score=lambda t: zero(t), _dscore=lambda t: zero(t)),
    ]
    return {k.name: k for k in ks}


#: Registry of kernels by name (read-only).
KERNELS = MappingProxyType(_make_kernels())


def get_kernel(kernel: str | Kernel) -> Kernel:
    """Return the :class:`Kernel` named ``kernel`` (or ``kernel`` itself).

    Raises
    ------
    ValueError
        If the name is unknown; the message lists the valid names.
    TypeError
        If ``kernel`` is neither a string nor a :class:`Kernel`.
    """
    if isinstance(kernel, Kernel):
        return kernel
    if not isinstance(kernel, str):
        raise TypeError(f"kernel must be a kernel name (str), got {type(kernel).__name__}")
    try:
        return KERNELS[kernel.lower()]
    except KeyError:
        raise ValueError(
            f"kernel must be one of {', '.join(sorted(KERNELS))}; got {kernel!r}"
        ) from None
