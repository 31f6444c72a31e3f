"""Numba helpers of the compiled engines: a vectorisable ``exp`` and bit tricks.

(How engine loops share work between threads is :mod:`nadaraya.engines._parallel`.)

Importing this module registers the jitted implementations of
:func:`nadaraya.kernels.like` and :func:`nadaraya.kernels.exp_nonpositive`,
the two primitives the kernels' :class:`~nadaraya.kernels.ScalarForm`
formulas use, so those formulas compile in any engine that imports it.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import literal_unroll, njit, types
from numba.extending import intrinsic, overload

from ..kernels import exp_nonpositive, like

# Fast-math flags of the exp helpers: no 'reassoc' (it could undo the exact
# two-step range reduction) and nothing that lets the compiler assume away
# inf or NaN.
FM_EXP = {"nsz", "contract"}


@intrinsic
def _f64_from_bits(typingctx, bits):
    """Reinterpret an int64 as the float64 with the same bits."""
    if bits != types.int64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _f32_from_bits(typingctx, bits):
    """Reinterpret an int32 as the float32 with the same bits."""
    if bits != types.int32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


@overload(like)
def _like_ov(x, value):
    """:func:`nadaraya.kernels.like` in jitted code: the literal in ``x``'s float type."""
    if x == types.float32:
        return lambda x, value: np.float32(value)
    return lambda x, value: np.float64(value)


_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # low 32 bits zero: k * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
# Near-minimax polynomials for exp(r) on |r| <= ln2 / 2 (mpmath.chebyfit):
# degree 11 for float64 (error 3e-18), degree 6 for float32 (error 2e-9),
# coefficients from the highest degree down.
_P64 = (
    2.5110037605963777e-08, 2.763263963904103e-07, 2.755724091857897e-06, 2.4801485482328494e-05,
    0.00019841269890047113, 0.0013888888952314775, 0.008333333333319601, 0.0416666666664881,
    0.1666666666666668, 0.5000000000000019, 1.0, 1.0,
)
_P32 = tuple(np.float32(c) for c in (0.0013941108, 0.008375126, 0.04166635, 0.16666415, 0.5, 1.0, 1.0))

_LOG2E_F = np.float32(_LOG2E)
_LN2_HI_F = np.float32(0.693359375)  # 355 / 512: k * _LN2_HI_F is exact
_LN2_LO_F = np.float32(-2.12194440e-4)
_HALF_F = np.float32(0.5)
_EXP_MIN_F = np.float32(-87.0)


@njit(fastmath=FM_EXP)
def exp64(x):
    """``exp(x)`` for float64 ``x <= 0`` (0 below -708, including -inf and NaN).

    ``x = k ln2 + r`` with ``k = round(x / ln2)``, ``|r| <= ln2 / 2`` (the
    product ``k ln2`` in two exact parts); ``exp(x) = 2**k * P(r)`` with the
    degree-11 polynomial ``_P64``; ``2**k`` is built from its bits.
    """
    xc = x if x > -708.0 else -708.0
    k = np.int64(xc * _LOG2E - 0.5)
    kf = np.float64(k)
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
    p = _P64[0]
    for c in literal_unroll(_P64[1:]):
        p = p * r + c
    p = p * _f64_from_bits((k + 1023) << 52)
    return p if x >= -708.0 else 0.0


@njit(fastmath=FM_EXP)
def exp32(x):
    """``exp(x)`` for float32 ``x <= 0`` (0 below -87, including -inf and NaN).

    As :func:`exp64`, in float32, with the degree-6 polynomial ``_P32``.
    """
    xc = x if x > _EXP_MIN_F else _EXP_MIN_F
    k = np.int32(xc * _LOG2E_F - _HALF_F)
    kf = np.float32(k)
    r = (xc - kf * _LN2_HI_F) - kf * _LN2_LO_F
    p = _P32[0]
    for c in literal_unroll(_P32[1:]):
        p = p * r + c
    p = p * _f32_from_bits(np.int32((k + 127) << 23))
    return p if x >= _EXP_MIN_F else np.float32(0.0)


@overload(exp_nonpositive)
def _exp_ov(x):
    """:func:`nadaraya.kernels.exp_nonpositive` in jitted code: :func:`exp32` or :func:`exp64`."""
    if x == types.float32:
        return lambda x: exp32(x)
    return lambda x: exp64(x)


def bits_of(buf):  # pragma: no cover - replaced by the overload in jitted code
    """``buf`` viewed as signed integers of the same width."""
    return buf.view(np.int64 if buf.dtype == np.float64 else np.int32)


@overload(bits_of)
def _bits_of_ov(buf):
    if buf.dtype == types.float32:
        return lambda buf: buf.view(np.int32)
    return lambda buf: buf.view(np.int64)


def from_bits(x):  # pragma: no cover - replaced by the overload in jitted code
    """The float with the bits of the signed integer ``x``."""
    return np.array(x).view(np.float64 if np.array(x).dtype == np.int64 else np.float32)[()]


@overload(from_bits)
def _from_bits_ov(x):
    if x == types.int32:
        return lambda x: _f32_from_bits(x)
    return lambda x: _f64_from_bits(x)


@njit
def min_bits(bits, current):
    """``min(current, min(bits))`` on the bit patterns of non-negative floats.

    For floats >= +0 (inf included) the bit patterns, read as signed
    integers, are ordered like the floats; an integer minimum vectorises
    where a float one (which must mind NaN) does not.
    """
    for j in range(bits.shape[0]):
        x = bits[j]
        current = x if x < current else current
    return current
