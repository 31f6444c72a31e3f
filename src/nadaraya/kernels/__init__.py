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

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable

import numpy as np

from ._scalar import (
    ScalarForm,
    exp_nonpositive,
    like,
    _biweight_value,
    _boxcar_value,
    _constant_value,
    _cosine_value,
    _epanechnikov_value,
    _gaussian_reference,
    _gaussian_score,
    _gaussian_weight,
    _laplace_reference,
    _laplace_score,
    _laplace_weight,
    _triangular_value,
    _tricube_value,
)

__all__ = ["Kernel", "KERNELS", "SQUARES", "NumpyOps", "ScalarForm", "get_kernel", "registered", "square", "like",
           "exp_nonpositive"]


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
    scalar : ScalarForm or None
        The weight as scalar formulas for the compiled engines (the
        streaming engine runs every kernel that has one).
    square_of : str or None
        For the squares in :data:`SQUARES`: the name of the registry kernel
        this one is the square of (the tree engine runs it by that kernel's
        formula, squared).
    """

    name: str
    support: float
    poly: tuple[float, ...] | None = None
    exp_abs: tuple[float, ...] | None = None
    scalar: ScalarForm | None = field(default=None, repr=False, compare=False)
    square_of: str | None = None
    _score: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False, default=None)
    _dscore: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False, default=None)

    @property
    def compact(self) -> bool:
        """True when K is zero beyond a finite radius."""
        return bool(np.isfinite(self.support))

    @property
    def closed_support(self) -> bool:
        """True for a compact kernel that is non-zero at its support radius (boxcar): the edge is inside."""
        return self.compact and bool(np.isfinite(self.score(np.array([float(self.support) ** 2]))[0]))

    def score(self, t: np.ndarray) -> np.ndarray:
        """``log K(sqrt(t))`` for squared scaled distances ``t >= 0``; ``-inf`` outside the support."""
        t = np.asarray(t)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return self._score(t, NumpyOps)

    def score_with(self, t, ops):
        """:meth:`score` on another framework's tensor ``t``, through its ``ops`` (see :class:`NumpyOps`).

        The formulas keep autograd finite: square roots and logarithms only
        ever see values inside the support.
        """
        return self._score(t, ops)

    def dscore(self, t: np.ndarray) -> np.ndarray:
        """Derivative of :meth:`score` with respect to ``t`` (finite inside the support).

        Outside the support, or at ``t = 0`` where the derivative of a kernel
        with a cusp is infinite, the value is 0: callers multiply it by the
        attention weight or by ``t``, which vanish there.
        """
        t = np.asarray(t)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            d = self._dscore(t, NumpyOps)
        return np.where(np.isfinite(d), d, 0.0).astype(t.dtype if t.dtype.kind == "f" else float, copy=False)

    def __call__(self, u: np.ndarray) -> np.ndarray:
        """K(u), up to a constant factor (for plotting and hand checks)."""
        u = np.asarray(u, dtype=float)
        return np.exp(self.score(u * u))


class NumpyOps:
    """The few array operations a kernel formula uses, for NumPy.

    Framework modules pass their own object with the same methods, so each
    kernel's formula is written once (see :meth:`Kernel.score_with`).
    """

    where = staticmethod(np.where)
    sqrt = staticmethod(np.sqrt)
    log1p = staticmethod(np.log1p)
    cos = staticmethod(np.cos)
    tan = staticmethod(np.tan)

    @staticmethod
    def full_like(t, value):
        return np.full_like(t, value)


def _safe_sqrt(t, ops):
    """sqrt(t) whose derivative is finite at t = 0 (autograd would give inf * 0 = NaN)."""
    pos = t > 0
    return ops.where(pos, ops.sqrt(ops.where(pos, t, ops.full_like(t, 1.0))), ops.full_like(t, 0.0))


def _inside(fn, closed=False):
    """A formula ``fn(t, ops)`` applied inside the unit support, -inf (or 0 for derivatives) outside."""

    def wrapped(t, ops, outside=-np.inf):
        mask = t <= 1.0 if closed else t < 1.0
        safe = ops.where(mask, t, ops.full_like(t, 0.0))
        return ops.where(mask, fn(safe, ops), ops.full_like(t, outside))

    return wrapped


def _deriv(fn):
    """Derivative formulas are 0 outside the support."""
    return lambda t, ops: fn(t, ops, outside=0.0)


def _make_kernels() -> dict[str, Kernel]:
    zero = lambda t, ops: ops.full_like(t, 0.0)  # noqa: E731
    epan = _inside(lambda s, o: o.log1p(-s))
    tri = _inside(lambda s, o: o.log1p(-_safe_sqrt(s, o)))
    biw = _inside(lambda s, o: 2.0 * o.log1p(-s))
    tric = _inside(lambda s, o: 3.0 * o.log1p(-(s * _safe_sqrt(s, o))))
    cosine = _inside(lambda s, o: o.log1p(o.cos(0.5 * np.pi * _safe_sqrt(s, o)) - 1.0))
    ks = [
        Kernel(
            "gaussian",
            np.inf,
            scalar=ScalarForm(weight=_gaussian_weight, reference=_gaussian_reference, score=_gaussian_score),
            _score=lambda t, o: -0.5 * t,
            _dscore=lambda t, o: o.full_like(t, -0.5),
        ),
        Kernel(
            "laplace",
            np.inf,
            exp_abs=(1.0,),
            scalar=ScalarForm(weight=_laplace_weight, reference=_laplace_reference, score=_laplace_score),
            _score=lambda t, o: -_safe_sqrt(t, o),
            _dscore=lambda t, o: -0.5 / o.sqrt(t),
        ),
        Kernel(
            "boxcar",
            1.0,
            poly=(1.0,),
            scalar=ScalarForm(value=_boxcar_value),
            _score=_inside(lambda s, o: o.full_like(s, 0.0), closed=True),
            _dscore=zero,
        ),
        Kernel(
            "epanechnikov",
            1.0,
            poly=(1.0, 0.0, -1.0),
            scalar=ScalarForm(value=_epanechnikov_value),
            _score=epan,
            _dscore=_deriv(_inside(lambda s, o: -1.0 / (1.0 - s))),
        ),
        Kernel(
            "triangular",
            1.0,
            poly=(1.0, -1.0),
            scalar=ScalarForm(value=_triangular_value),
            _score=tri,
            _dscore=_deriv(_inside(lambda s, o: -0.5 / (o.sqrt(s) * (1.0 - o.sqrt(s))))),
        ),
        Kernel(
            "biweight",
            1.0,
            poly=(1.0, 0.0, -2.0, 0.0, 1.0),
            scalar=ScalarForm(value=_biweight_value),
            _score=biw,
            _dscore=_deriv(_inside(lambda s, o: -2.0 / (1.0 - s))),
        ),
        Kernel(
            "tricube",
            1.0,
            poly=(1.0, 0.0, 0.0, -3.0, 0.0, 0.0, 3.0, 0.0, 0.0, -1.0),
            scalar=ScalarForm(value=_tricube_value),
            _score=tric,
            _dscore=_deriv(_inside(lambda s, o: -4.5 * o.sqrt(s) / (1.0 - s * o.sqrt(s)))),
        ),
        Kernel(
            "cosine",
            1.0,
            scalar=ScalarForm(value=_cosine_value),
            _score=cosine,
            _dscore=_deriv(_inside(lambda s, o: -0.25 * np.pi * o.tan(0.5 * np.pi * o.sqrt(s)) / o.sqrt(s))),
        ),
        Kernel("constant", np.inf, scalar=ScalarForm(value=_constant_value), _score=zero, _dscore=zero),
    ]
    return {k.name: k for k in ks}


#: Registry of kernels by name (read-only).
KERNELS = MappingProxyType(_make_kernels())


def _poly_square(poly):
    """Coefficients of ``P(u)**2`` from those of ``P(u)`` (lowest degree first); exact for small integers."""
    out = [0.0] * (2 * len(poly) - 1)
    for i, a in enumerate(poly):
        for j, b in enumerate(poly):
            out[i + j] += a * b
    return tuple(out)


def _doubled(fn):
    """The formula ``2 fn(t, ops)``: the score (or its derivative) of ``K**2``."""
    return None if fn is None else (lambda t, ops: 2.0 * fn(t, ops))


def _squared(kern: Kernel) -> Kernel:
    """``K**2`` at the same bandwidth, as data: the squared polynomial, the scalar formula with ``power=2``."""
    scalar = kern.scalar
    if scalar is not None:
        scalar = scalar._replace(power=2 * scalar.power) if scalar.value is not None else None
    return Kernel(f"{kern.name}^2", kern.support, poly=None if kern.poly is None else _poly_square(kern.poly),
                  scalar=scalar, square_of=kern.name, _score=_doubled(kern._score), _dscore=_doubled(kern._dscore))


#: ``K**2`` of each registry kernel whose square is no registry kernel at another bandwidth (read-only):
#: polynomials of twice the degree (tricube**2 has degree 18) and cos**2. The smoother's norms
#: ``sum_j l_j**2`` pool with them; every engine that runs the kernel runs its square.
SQUARES = MappingProxyType({f"{name}^2": _squared(KERNELS[name]) for name in ("triangular", "biweight", "tricube",
                                                                              "cosine")})

#: Registry kernels whose square is a registry kernel at ``factor`` times the bandwidth.
_SQUARE_IS = {"gaussian": ("gaussian", 1 / math.sqrt(2.0)), "laplace": ("laplace", 0.5), "boxcar": ("boxcar", 1.0),
              "constant": ("constant", 1.0), "epanechnikov": ("biweight", 1.0)}


def registered(kernel: Kernel) -> bool:
    """Whether ``kernel`` is one of :data:`KERNELS` or :data:`SQUARES` (not one built by the caller)."""
    return KERNELS.get(kernel.name) is kernel or SQUARES.get(kernel.name) is kernel


def square(kernel) -> tuple[Kernel, float]:
    """``K**2`` as a kernel and a bandwidth factor: ``K(u)**2`` is, up to a constant, ``K2(u / factor)``.

    The Gaussian's square is the Gaussian at ``h / sqrt(2)``, the Laplace's the
    Laplace at ``h / 2``, the Epanechnikov's the biweight; boxcar and constant
    are their own squares; the others are in :data:`SQUARES`. A kernel built by
    the caller gets its square built the same way (its polynomial squared, a
    ``value`` formula raised to ``power=2``).

    Examples
    --------
    >>> k2, factor = square("tricube")
    >>> k2.name, factor, len(k2.poly) - 1
    ('tricube^2', 1.0, 18)
    >>> round(square("gaussian")[1] ** 2, 15)  # the Gaussian at h / sqrt(2)
    0.5
    """
    kern = get_kernel(kernel)
    if KERNELS.get(kern.name) is kern:
        if kern.name in _SQUARE_IS:
            name, factor = _SQUARE_IS[kern.name]
            return KERNELS[name], factor
        return SQUARES[f"{kern.name}^2"], 1.0
    return _squared(kern), 1.0


def get_kernel(kernel: str | Kernel) -> Kernel:
    """Return the :class:`Kernel` named ``kernel`` (or ``kernel`` itself): one of :data:`KERNELS`, or of
    :data:`SQUARES` (``"tricube^2"``).

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
    name = kernel.lower()
    if name in SQUARES:
        return SQUARES[name]
    try:
        return KERNELS[name]
    except KeyError:
        raise ValueError(
            f"kernel must be one of {', '.join(sorted(KERNELS))}; got {kernel!r}"
        ) from None
