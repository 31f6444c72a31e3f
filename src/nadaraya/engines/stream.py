"""Streaming engine: a multi-threaded Numba online softmax in memory O(m + n).

Each query walks over the keys in tiles, keeping only its running state: the
smallest squared scaled distance ``t_min`` seen so far (every kernel here is
non-increasing in ``t``, so the largest score is ``score(t_min)``), the
denominator ``sum_j K(t_j) / K(t_min)`` and the weighted sum
``sum_j K(t_j) / K(t_min) * v_j``. A tile's distances go to a small per-thread
buffer; when the tile holds a nearer key the running sums are rescaled once by
``K(t_min_old) / K(t_min_new)``, then the tile's weights are summed. No row of
weights, no m x n array and no mask is ever built; ``exclude_self`` marks one
buffer entry. Threads take blocks of 16 queries, which walk the keys together
so that each tile is read from memory once per block.

The weights are the softmax of :meth:`nadaraya.kernels.Kernel.score` with the
maximum subtracted, written in the form that is cheapest to evaluate:
``exp(-(t - t_min) / 2)`` for the Gaussian, ``exp(sqrt(t_min) - sqrt(t))`` for
the Laplace kernel and ``K(t) / K(t_min)`` for the compact kernels (whose
``K`` never underflows inside the support). ``exp`` is a branch-free
range reduction and minimax polynomial that the compiler vectorises (within
2 ulp of the libm ``exp``; weights below ``exp(-708)`` in float64,
``exp(-87)`` in float32, relative to the largest, are dropped). The squared
distances are summed in the dense engine's order without fused multiply-adds,
so ``t`` and the support boundary are bitwise the reference's.

Precision: everything is computed and accumulated in the inputs' dtype:
float32 stays float32 end to end (distances, weights and sums). Within a tile
the sums are split over SIMD lanes; across tiles they are added one tile-sum
at a time (float32 errors of a few 1e-7 of max|v| for 1e5 keys).

Besides :func:`pool`, the engine exposes the online-softmax state itself
(:func:`partials`, :func:`merge`, :func:`finalize`) so that keys can be
sharded (across Dask workers, say): pooling over the union of disjoint key
sets is ``finalize(merge(partials(..., keys_a), partials(..., keys_b)))``.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from typing import NamedTuple

import numba
import numpy as np
from llvmlite import ir
from numba import literal_unroll, njit, prange, types
from numba.extending import intrinsic, overload

from ..kernels import Kernel

__all__ = ["Partials", "pool", "partials", "merge", "finalize", "KERNEL_CODES"]

#: Bytes of keys and values per tile: a tile stays in cache while a block of queries walks it.
TILE_BYTES = 1 << 16

#: Bounds on the keys per tile (the per-thread buffer holds one tile of distances / weights).
TILE_MIN, TILE_MAX = 256, 1024

#: Queries handed to a thread at a time.
_QUERY_BLOCK = 16

#: Up to this many query-key pairs the default is one thread: waking the
#: others would cost more than the work.
SERIAL_PAIRS = 1 << 15

#: Kernel name -> code of the jitted weight function.
KERNEL_CODES = {
    "gaussian": 0,
    "laplace": 1,
    "constant": 2,
    "boxcar": 3,
    "epanechnikov": 4,
    "triangular": 5,
    "biweight": 6,
    "tricube": 7,
    "cosine": 8,
}

# Fast-math flags. None of them lets the compiler assume away inf or NaN
# (no 'ninf', 'nnan'): far keys have t = inf or weight 0, the excluded key has
# t = NaN. 'reassoc' lets the tile sums be vectorised; the exp helpers get no
# 'reassoc', which could undo the exact two-step range reduction. The squared
# distances get no flags at all (no fused multiply-add), to match the
# reference bit for bit.
_FM_SUM = {"nsz", "arcp", "contract", "reassoc"}
_FM_EXP = {"nsz", "contract"}


class Partials(NamedTuple):
    """Online-softmax state of each query over one set of keys.

    Attributes
    ----------
    max_score : ndarray, shape (b, m)
        Largest score ``log K`` over the keys (``-inf`` when no key is in the
        support, or the key set is empty).
    denominator : ndarray, shape (b, m)
        ``sum_j exp(score_j - max_score)`` (0 when ``max_score`` is ``-inf``).
    weighted_sum : ndarray, shape (b, m, k)
        ``sum_j exp(score_j - max_score) * v_j``.
    """

    max_score: np.ndarray
    denominator: np.ndarray
    weighted_sum: np.ndarray


# ------------------------------------------------------------------ jitted helpers


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


def _like(x, value):  # pragma: no cover - replaced by the overload in jitted code
    """``value`` as a scalar of ``x``'s float type (Python float literals are float64 in Numba)."""
    return type(x)(value)


@overload(_like)
def _like_ov(x, value):
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


@njit(fastmath=_FM_EXP)
def _exp64(x):
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


@njit(fastmath=_FM_EXP)
def _exp32(x):
    """``exp(x)`` for float32 ``x <= 0`` (0 below -87, including -inf and NaN).

    As :func:`_exp64`, in float32, with the degree-6 polynomial ``_P32``.
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


def _exp(x):  # pragma: no cover - replaced by the overload in jitted code
    """``exp(x)`` for ``x <= 0`` in ``x``'s precision."""
    return np.exp(x)


@overload(_exp)
def _exp_ov(x):
    if x == types.float32:
        return lambda x: _exp32(x)
    return lambda x: _exp64(x)


# Weight of a key at squared scaled distance t relative to the nearest key so
# far: w(t, ref) = K(t) / K(t_min), with ref = _ref(code, t_min) precomputed.


@njit(fastmath=_FM_EXP)
def _w_gaussian(t, ref):
    """``exp(-(t - t_min) / 2)``; ``ref = t_min``."""
    return _exp(_like(t, -0.5) * (t - ref))


@njit(fastmath=_FM_EXP)
def _w_laplace(t, ref):
    """``exp(sqrt(t_min) - sqrt(t))``; ``ref = sqrt(t_min)``."""
    return _exp(ref - math.sqrt(t))


@njit(fastmath=_FM_EXP)
def _w_constant(t, ref):
    """1 (0 for the excluded key, marked ``t = NaN``)."""
    return _like(t, 1.0) if t == t else _like(t, 0.0)


@njit(fastmath=_FM_EXP)
def _w_boxcar(t, ref):
    """1 for ``t <= 1``, else 0 (the boundary belongs to the support)."""
    return _like(t, 1.0) if t <= _like(t, 1.0) else _like(t, 0.0)


@njit(fastmath=_FM_EXP)
def _w_epanechnikov(t, ref):
    """``(1 - t) * ref`` for ``t < 1``, else 0; ``ref = 1 / (1 - t_min)``."""
    w = (_like(t, 1.0) - t) * ref
    return w if t < _like(t, 1.0) else _like(t, 0.0)


@njit(fastmath=_FM_EXP)
def _w_triangular(t, ref):
    """``(1 - sqrt(t)) * ref`` for ``t < 1``, else 0."""
    w = (_like(t, 1.0) - math.sqrt(t)) * ref
    return w if t < _like(t, 1.0) else _like(t, 0.0)


@njit(fastmath=_FM_EXP)
def _w_biweight(t, ref):
    """``(1 - t)**2 * ref`` for ``t < 1``, else 0."""
    u = _like(t, 1.0) - t
    w = u * u * ref
    return w if t < _like(t, 1.0) else _like(t, 0.0)


@njit(fastmath=_FM_EXP)
def _w_tricube(t, ref):
    """``(1 - t**1.5)**3 * ref`` for ``t < 1``, else 0."""
    u = _like(t, 1.0) - t * math.sqrt(t)
    w = u * u * u * ref
    return w if t < _like(t, 1.0) else _like(t, 0.0)


@njit(fastmath=_FM_EXP)
def _w_cosine(t, ref):
    """``cos(pi sqrt(t) / 2) * ref`` for ``t < 1``, else 0."""
    if t < _like(t, 1.0):
        c = math.cos(_like(t, 0.5 * math.pi) * math.sqrt(t))
        return max(c, _like(t, 0.0)) * ref
    return _like(t, 0.0)


@njit
def _kval(code, t):
    """``K(t)`` up to a constant for the compact kernels (0 outside the support); 1 otherwise."""
    one = _like(t, 1.0)
    if code == 3:
        return _w_boxcar(t, one)
    if code == 4:
        return _w_epanechnikov(t, one)
    if code == 5:
        return _w_triangular(t, one)
    if code == 6:
        return _w_biweight(t, one)
    if code == 7:
        return _w_tricube(t, one)
    if code == 8:
        return _w_cosine(t, one)
    return one


@njit
def _inside(code, t):
    """Whether ``t`` lies in the kernel's support (inf is outside for every kernel but the constant)."""
    if code == 0 or code == 1:
        return t < np.inf
    if code == 2:
        return True
    return _kval(code, t) > 0.0


@njit
def _ref(code, t_min):
    """The per-tile constant of the weight function (see the ``_w_*`` docstrings)."""
    if code == 0:
        return t_min
    if code == 1:
        return math.sqrt(t_min)
    if code == 2 or code == 3:
        return _like(t_min, 1.0)
    return _like(t_min, 1.0) / _kval(code, t_min)


@njit
def _score(code, t):
    """``log K(t)``, the score (:meth:`Kernel.score`) in this engine's own arithmetic."""
    if code == 0:
        return _like(t, -0.5) * t
    if code == 1:
        return -math.sqrt(t)
    if code == 2:
        return _like(t, 0.0)
    return math.log(_kval(code, t))


@njit
def _weight(code, t, ref):
    """Scalar dispatch of ``w(t, ref)`` (used once per tile, for the rescale factor)."""
    if code == 0:
        return _w_gaussian(t, ref)
    if code == 1:
        return _w_laplace(t, ref)
    if code == 2:
        return _w_constant(t, ref)
    if code == 3:
        return _w_boxcar(t, ref)
    return _kval(code, t) * ref


@njit
def _squared_distances(q, kt, start, length, buf):
    """``buf[j] = sum_c (q[c] - kt[c, start + j])**2`` for ``j < length``.

    Summed one dimension after the other, in the dense engine's order and
    without fused multiply-adds, so that ``t`` (and hence the support
    boundary) is bitwise the reference's; up to four dimensions per pass over
    the buffer. Loops run over zero-based slices so that no index can be
    negative and the compiler vectorises them.
    """
    d = q.shape[0]
    r0 = kt[0, start : start + length]
    x0 = q[0]
    if d == 1:
        for j in range(length):
            e0 = x0 - r0[j]
            buf[j] = e0 * e0
        return
    r1 = kt[1, start : start + length]
    x1 = q[1]
    for j in range(length):
        e0, e1 = x0 - r0[j], x1 - r1[j]
        buf[j] = e0 * e0 + e1 * e1
    c = 2
    while c + 4 <= d:
        r0, r1 = kt[c, start : start + length], kt[c + 1, start : start + length]
        r2, r3 = kt[c + 2, start : start + length], kt[c + 3, start : start + length]
        x0, x1, x2, x3 = q[c], q[c + 1], q[c + 2], q[c + 3]
        for j in range(length):
            e0, e1, e2, e3 = x0 - r0[j], x1 - r1[j], x2 - r2[j], x3 - r3[j]
            buf[j] = (((buf[j] + e0 * e0) + e1 * e1) + e2 * e2) + e3 * e3
        c += 4
    if c + 2 <= d:
        r0, r1 = kt[c, start : start + length], kt[c + 1, start : start + length]
        x0, x1 = q[c], q[c + 1]
        for j in range(length):
            e0, e1 = x0 - r0[j], x1 - r1[j]
            buf[j] = (buf[j] + e0 * e0) + e1 * e1
        c += 2
    if c < d:
        r0 = kt[c, start : start + length]
        x0 = q[c]
        for j in range(length):
            e0 = x0 - r0[j]
            buf[j] += e0 * e0


def _bits(buf):  # pragma: no cover - replaced by the overload in jitted code
    """``buf`` viewed as signed integers of the same width."""
    return buf.view(np.int64 if buf.dtype == np.float64 else np.int32)


@overload(_bits)
def _bits_ov(buf):
    if buf.dtype == types.float32:
        return lambda buf: buf.view(np.int32)
    return lambda buf: buf.view(np.int64)


def _from_bits(x):  # pragma: no cover - replaced by the overload in jitted code
    """The float with the bits of the signed integer ``x``."""
    return np.array(x).view(np.float64 if np.array(x).dtype == np.int64 else np.float32)[()]


@overload(_from_bits)
def _from_bits_ov(x):
    if x == types.int32:
        return lambda x: _f32_from_bits(x)
    return lambda x: _f64_from_bits(x)


@njit
def _min_bits(bits, current):
    """``min(current, min(bits))`` on the bit patterns of non-negative floats.

    For floats >= +0 (inf included) the bit patterns, read as signed
    integers, are ordered like the floats; an integer minimum vectorises
    where a float one (which must mind NaN) does not.
    """
    for j in range(bits.shape[0]):
        x = bits[j]
        current = x if x < current else current
    return current


def _make_weights(wf):
    """A jitted loop ``t[j] <- wf(t[j], ref)`` returning ``sum_j t[j]``, for the weight function ``wf``."""

    @njit(fastmath=_FM_SUM)
    def weights(t, ref):
        """Overwrite the distances ``t`` with their weights ``w(t, ref)``; return the sum of the weights."""
        den = _like(ref, 0.0)
        for j in range(t.shape[0]):
            w = wf(t[j], ref)
            t[j] = w
            den += w
        return den

    return weights


_weights_gaussian = _make_weights(_w_gaussian)
_weights_laplace = _make_weights(_w_laplace)
_weights_constant = _make_weights(_w_constant)
_weights_boxcar = _make_weights(_w_boxcar)
_weights_epanechnikov = _make_weights(_w_epanechnikov)
_weights_triangular = _make_weights(_w_triangular)
_weights_biweight = _make_weights(_w_biweight)
_weights_tricube = _make_weights(_w_tricube)
_weights_cosine = _make_weights(_w_cosine)


@njit(fastmath=_FM_SUM)
def _weighted_sums(w, vt, start, acc):
    """``acc[c] += sum_j w[j] vt[c, start + j]`` for every output ``c``."""
    for c in range(vt.shape[0]):
        v = vt[c, start : start + w.shape[0]]
        a = _like(w[0], 0.0)
        for j in range(w.shape[0]):
            a += w[j] * v[j]
        acc[c] += a


@njit(fastmath=_FM_SUM)
def _gaussian_sums(t, ref, v, acc):
    """Gaussian weights fused with the one-output sum: ``acc[0] += sum_j w_j v_j``; returns ``sum_j w_j``."""
    den = _like(ref, 0.0)
    a = _like(ref, 0.0)
    for j in range(t.shape[0]):
        w = _w_gaussian(t[j], ref)
        den += w
        a += w * v[j]
    acc[0] += a
    return den


@njit(parallel=True, fastmath=_FM_SUM, cache=True)
def _stream(code, queries, kt, vt, exclude_self, key_offset, tile, t_min, den, acc):
    """Online softmax of every query over all keys; fills ``t_min`` (b, m), ``den`` (b, m), ``acc`` (b, m, k).

    On return ``t_min`` holds the largest score ``log K(t_min)`` (-inf where
    ``den`` is 0), and ``den`` and ``acc`` are relative to ``K(t_min)``.

    Threads take blocks of queries; a block walks the keys tile by tile, so
    a tile is read from memory once and then from cache by every query of
    the block. Per query and tile: distances into the thread's buffer (the
    excluded key's set to NaN, which is never the minimum and which every
    weight function maps to 0), the tile's nearest key ``tt``, a rescale of
    the running sums when ``tt < t_min``, then the tile's weights
    ``K(t) / K(t_min)`` are summed. ``acc`` must be zeroed.
    """
    b, m, _ = queries.shape
    n, k = kt.shape[2], vt.shape[1]
    per_batch = (m + _QUERY_BLOCK - 1) // _QUERY_BLOCK
    for blk in prange(b * per_batch):
        bi = blk // per_batch
        i0 = (blk - bi * per_batch) * _QUERY_BLOCK
        i1 = min(m, i0 + _QUERY_BLOCK)
        keys, values = kt[bi], vt[bi]
        buf = np.empty(max(tile, 1), dtype=queries.dtype)
        bits = _bits(buf)
        inf_bits = _bits(np.full(1, np.inf, dtype=buf.dtype))[0]
        refs = np.ones(i1 - i0, dtype=buf.dtype)
        have = np.zeros(i1 - i0, dtype=np.bool_)
        for i in range(i0, i1):
            t_min[bi, i] = np.inf
            den[bi, i] = 0.0
        for start in range(0, n, tile):
            length = min(tile, n - start)
            t = buf[:length]
            for i in range(i0, i1):
                r = i - i0
                q, a = queries[bi, i], acc[bi, i]
                _squared_distances(q, keys, start, length, t)
                cut = i - key_offset - start
                if exclude_self and 0 <= cut < length:
                    t[cut] = np.nan
                tt = _from_bits(_min_bits(bits[:length], inf_bits))
                if not _inside(code, tt):
                    continue  # tt is the tile's nearest key: the whole tile is outside the support
                if not have[r] or tt < t_min[bi, i]:
                    new_ref = _ref(code, tt)
                    if have[r]:
                        f = _weight(code, t_min[bi, i], new_ref)  # K(t_min_old) / K(t_min_new) <= 1
                        den[bi, i] *= f
                        for c in range(k):
                            a[c] *= f
                    t_min[bi, i] = tt
                    refs[r] = new_ref
                    have[r] = True
                ref = refs[r]
                if code == 0 and k == 1:
                    den[bi, i] += _gaussian_sums(t, ref, values[0, start : start + length], a)
                    continue
                if code == 0:
                    s = _weights_gaussian(t, ref)
                elif code == 1:
                    s = _weights_laplace(t, ref)
                elif code == 2:
                    s = _weights_constant(t, ref)
                elif code == 3:
                    s = _weights_boxcar(t, ref)
                elif code == 4:
                    s = _weights_epanechnikov(t, ref)
                elif code == 5:
                    s = _weights_triangular(t, ref)
                elif code == 6:
                    s = _weights_biweight(t, ref)
                elif code == 7:
                    s = _weights_tricube(t, ref)
                else:
                    s = _weights_cosine(t, ref)
                den[bi, i] += s
                _weighted_sums(t, values, start, a)
        for i in range(i0, i1):
            t_min[bi, i] = _score(code, t_min[bi, i]) if den[bi, i] > 0.0 else -np.inf


# ------------------------------------------------------------------ Python API


@contextmanager
def _threads(num_threads):
    """Run with ``num_threads`` Numba threads (at most ``NUMBA_NUM_THREADS``), restoring the count after."""
    if num_threads is None:
        yield
        return
    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(num_threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


def _code(kernel: Kernel) -> int:
    try:
        return KERNEL_CODES[kernel.name]
    except KeyError:
        raise ValueError(
            f"the stream engine supports the kernels {', '.join(KERNEL_CODES)}; got {kernel.name!r}. "
            "Use method='dense' for other kernels"
        ) from None


def _tile(d: int, k: int, itemsize: int) -> int:
    """Keys per tile: a power of two near ``TILE_BYTES / ((d + k) * itemsize)``, within the bounds."""
    size = TILE_BYTES // ((d + k) * itemsize)
    return int(min(TILE_MAX, max(TILE_MIN, 1 << max(size, 1).bit_length() - 1)))


def _run(queries, keys, values, kernel, exclude_self, key_offset, num_threads):
    """The engine's state: max score (b, m), denominator (b, m) and weighted sum (b, m, k)."""
    code = _code(kernel)
    b, m, _ = queries.shape
    dtype = values.dtype
    kt = np.ascontiguousarray(keys.transpose(0, 2, 1))  # (b, d, n): a tile of one coordinate is contiguous
    vt = np.ascontiguousarray(values.transpose(0, 2, 1))  # (b, k, n)
    max_score = np.empty((b, m), dtype=dtype)
    den = np.empty((b, m), dtype=dtype)
    acc = np.zeros((b, m, values.shape[2]), dtype=dtype)
    if num_threads is None and b * m * keys.shape[1] <= SERIAL_PAIRS:
        num_threads = 1
    with _threads(num_threads):
        tile = _tile(queries.shape[2], values.shape[2], dtype.itemsize)
        _stream(code, queries, kt, vt, bool(exclude_self), int(key_offset), tile, max_score, den, acc)
    return max_score, den, acc


def partials(queries, keys, values, kernel: Kernel, exclude_self=False, *, key_offset=0, num_threads=None) -> Partials:
    """Online-softmax state of (b, m, d) queries over one set of (b, n, d) keys and (b, n, k) values.

    Parameters
    ----------
    queries, keys, values : ndarray
        As for :func:`pool` (already divided by the bandwidth). ``n = 0`` is
        allowed: the result is an empty partial.
    kernel : Kernel
    exclude_self : bool, default False
        Query ``i`` skips the key whose global index is ``i``.
    key_offset : int, default 0
        Global index of this set's first key: key ``j`` here is global key
        ``key_offset + j``. (Queries that are themselves a shard starting at
        global index ``query_offset`` pass ``key_offset - query_offset``.)
    num_threads : int, optional
        Numba threads, at most ``NUMBA_NUM_THREADS`` (default: Numba's current
        setting; one thread for fewer than ``SERIAL_PAIRS`` query-key pairs).

    Returns
    -------
    Partials
        In the inputs' dtype. Combine shards with :func:`merge` and get the
        pooled values with :func:`finalize`.
    """
    return Partials(*_run(queries, keys, values, kernel, exclude_self, key_offset, num_threads))


def _factor(score: np.ndarray, top: np.ndarray) -> np.ndarray:
    """``exp(score - top)``, 0 where ``score`` is -inf (and so wherever ``top`` is)."""
    finite = np.isfinite(score)
    return np.where(finite, np.exp(np.where(finite, score - np.where(finite, top, 0), 0)), 0).astype(score.dtype)


def merge(a: Partials, b: Partials) -> Partials:
    """Partials over the union of two disjoint key sets.

    ``M = max(M_a, M_b)``; ``den = den_a exp(M_a - M) + den_b exp(M_b - M)``,
    the same for the weighted sums. Exact up to rounding, associative and
    commutative; an empty partial (``M = -inf``) is the identity.
    """
    top = np.maximum(a.max_score, b.max_score)
    fa = _factor(a.max_score, top)
    fb = _factor(b.max_score, top)
    return Partials(
        top,
        a.denominator * fa + b.denominator * fb,
        a.weighted_sum * fa[..., None] + b.weighted_sum * fb[..., None],
    )


def finalize(p: Partials) -> np.ndarray:
    """Pooled values ``weighted_sum / denominator`` (b, m, k); NaN where the denominator is 0."""
    den = p.denominator[..., None]
    empty = den == 0
    out = p.weighted_sum / np.where(empty, 1, den)
    return np.where(empty, np.nan, out).astype(p.weighted_sum.dtype, copy=False)


def pool(queries, keys, values, kernel: Kernel, exclude_self=False, *, num_threads=None) -> np.ndarray:
    """Attention pooling of (b, m, d) queries over (b, n, d) keys and (b, n, k) values → (b, m, k).

    Inputs are validated, C-contiguous, of one float dtype, and divided by the
    bandwidth. Queries with no key inside a compact kernel's support get NaN.
    Runs on ``num_threads`` Numba threads, at most ``NUMBA_NUM_THREADS``
    (default: Numba's current setting; one thread for fewer than
    ``SERIAL_PAIRS`` query-key pairs). Compiles on the first call for each
    dtype (cached on disk).
    """
    _, den, acc = _run(queries, keys, values, kernel, exclude_self, 0, num_threads)
    return finalize(Partials(None, den, acc))
