"""Key-by-key sums over a run of keys (a leaf), written so that the compiler vectorises them.

Keys and values are stored dimension-major in tree order, ``kt`` (d, n) and
``vt`` (kc, n) (the last row of ``vt`` is ones, so the weight sum comes with
the weighted sums), and each loop runs over one contiguous run: squared
distances into a buffer, one coordinate at a time in the dense reference's
order and without fused multiply-adds (so ``t`` is bitwise the reference's,
and float32 inputs get their ``t`` in float32), then the weights, then one
dot product per value column. The Gaussian and Laplace sums of one value
column in d = 2 or 3 in float64 (the common case) take one fused pass instead
(:func:`fused_block`: distance, weight and both sums per key, no buffer), for
the queries of a block one after the other over the same run while it is in
cache; there ``t`` may be contracted into fused multiply-adds (a relative
~1e-16 on a weight, far inside the ``tol`` these kernels are summed to).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .._jitmath import exp64
from .._streamloops import FM_SUM, squared_distances

__all__ = ["run_t", "exp_run", "fused_block", "fused_ok", "exp_block", "compact_run", "SQUARED"]

# the sums take the stream engine's flags FM_SUM: reassociated (split over SIMD lanes), never assuming away inf or NaN

# compact kernel codes (as in .compact.CODES)
_BOXCAR, _EPAN, _TRIANGULAR, _BIWEIGHT, _TRICUBE = 3, 4, 5, 6, 7
#: A kernel's code plus this is its square's (:data:`nadaraya.kernels.SQUARES`): the kernel's weights, squared.
SQUARED = 16


@njit(cache=True)
def run_t(q, kt, a, b, f32, buf):
    """``buf[j] = |q - k_(a + j)|**2`` for the keys ``a <= i < b`` (float32 arithmetic when ``f32``)."""
    L = b - a
    d = q.shape[0]
    if f32:
        r = kt[0, a:b]
        x32 = np.float32(q[0])
        for j in range(L):
            e32 = x32 - np.float32(r[j])
            buf[j] = e32 * e32
        for c in range(1, d):
            r = kt[c, a:b]
            x32 = np.float32(q[c])
            for j in range(L):
                e32 = x32 - np.float32(r[j])
                buf[j] = np.float64(np.float32(buf[j]) + e32 * e32)
        return
    squared_distances(q, kt, a, L, buf)  # the stream engine's loop: the reference's order, four dimensions a pass


@njit(cache=True, fastmath=FM_SUM)
def _dots(w, vt, a, b, acc):
    """``acc[col] += sum_j w[j] vt[col, a + j]``."""
    L = b - a
    for col in range(vt.shape[0]):
        v = vt[col, a:b]
        s = 0.0
        for j in range(L):
            s += w[j] * v[j]
        acc[col] += s


@njit(cache=True, fastmath={"nsz", "contract"})
def _exp_weights(buf, L, laplace, t_nn, s_nn):
    """``buf[j] <- exp(-(t - t_nn) / 2)`` (Gaussian) or ``exp(sqrt(t_nn) - sqrt(t))`` (Laplace)."""
    if laplace:
        for j in range(L):
            buf[j] = exp64(s_nn - math.sqrt(buf[j]))
    else:
        for j in range(L):
            buf[j] = exp64(-0.5 * (buf[j] - t_nn))


@njit(cache=True, fastmath=FM_SUM)
def _exp_sums1(buf, L, laplace, t_nn, s_nn, vt, a, acc):
    """One value column: the weights of :func:`_exp_weights` fused with ``acc += (sum w v, sum w)`` (one pass)."""
    v = vt[0, a : a + L]
    sv = 0.0
    sw = 0.0
    if laplace:
        for j in range(L):
            w = exp64(s_nn - math.sqrt(buf[j]))
            sv += w * v[j]
            sw += w
    else:
        h = 0.5 * t_nn
        for j in range(L):
            w = exp64(h - 0.5 * buf[j])
            sv += w * v[j]
            sw += w
    acc[0] += sv
    acc[1] += sw


#: Keys per step of the vectorised fused loop (SIMD width times the compiler's unrolling: 8 x 4 with
#: AVX-512, measured; a multiple of the narrower units' steps). A run is summed in whole steps: its tail
#: as the last ``WINDOW`` keys of the run with the ones already summed masked out, since a step costs
#: about what 5 keys do in the scalar remainder loop the compiler would otherwise run (so tails of up to 5
#: keys go there).
WINDOW = 32


@njit(cache=True, fastmath=FM_SUM, inline="always")
def _fused_loop(x0, x1, x2, r0, r1, r2, v, h, s_nn, jlo, jx, laplace, three):
    """``(sum w v, sum w)`` over one window of keys, those at ``j < jlo`` and ``j == jx`` left out;
    ``laplace`` and ``three`` are literals at every call (the loop is inlined there), so each compiles to
    one branch-free vectorised loop."""
    sv = 0.0
    sw = 0.0
    for j in range(v.shape[0]):
        e0 = x0 - r0[j]
        e1 = x1 - r1[j]
        t = e0 * e0 + e1 * e1
        if three:
            e2 = x2 - r2[j]
            t += e2 * e2
        w = exp64(s_nn - math.sqrt(t)) if laplace else exp64(h - 0.5 * t)
        w = 0.0 if j < jlo or j == jx else w
        sv += w * v[j]
        sw += w
    return sv, sw


@njit(cache=True, fastmath=FM_SUM, inline="always")
def _fused_one(x0, x1, x2, h, s_nn, e, kt, vt, a, b, laplace, three):
    """(sum w v, sum w) of one query (coordinates x0, x1, x2; ``h = t_nn / 2``) over keys a..b-1 but e."""
    d = kt.shape[0]
    L = b - a
    main = L - L % WINDOW if b >= WINDOW and L % WINDOW > 5 else L  # a .. a + main in whole steps
    c = b - WINDOW  # the rest: the run's last WINDOW keys, those before a + main masked out
    sv, sw = _fused_loop(x0, x1, x2, kt[0, a : a + main], kt[1, a : a + main], kt[d - 1, a : a + main],
                         vt[0, a : a + main], h, s_nn, 0, e - a, laplace, three)
    if main < L:
        sv2, sw2 = _fused_loop(x0, x1, x2, kt[0, c:b], kt[1, c:b], kt[d - 1, c:b], vt[0, c:b], h, s_nn,
                               WINDOW - (L - main), e - c, laplace, three)
        sv += sv2
        sw += sw2
    return sv, sw


@njit(cache=True, fastmath=FM_SUM, inline="always")
def _fused_any(x0, x1, x2, h, s_nn, e, kt, vt, a, b, laplace, three):
    """:func:`_fused_one` for run-time ``laplace`` and ``three``: each of the four cases calls it with
    literals, so each compiles to its own branch-free loop."""
    if laplace:
        if three:
            return _fused_one(x0, x1, x2, h, s_nn, e, kt, vt, a, b, True, True)
        return _fused_one(x0, x1, x2, h, s_nn, e, kt, vt, a, b, True, False)
    if three:
        return _fused_one(x0, x1, x2, h, s_nn, e, kt, vt, a, b, False, True)
    return _fused_one(x0, x1, x2, h, s_nn, e, kt, vt, a, b, False, False)


@njit(cache=True, fastmath=FM_SUM)
def fused_block(qs, i0, use, t_nn, excl, kt, vt, a, b, laplace, acc):
    """``acc[r] += (sum w v, sum w)`` over keys a..b-1 for the queries ``i0 + r`` with ``use[r]``.

    Float64, one value column, d = 2 or 3 (see :func:`fused_ok`), weights relative to each query's
    nearest key as in :func:`exp_run`, in one pass per query: the block's queries share the run while it
    is in cache, and one call serves them all. The distances may be contracted into fused multiply-adds
    here, so ``t`` can differ from the reference's in the last bit (a weight off by a relative ~1e-16).
    """
    d = qs.shape[1]
    for r in range(use.shape[0]):
        if use[r]:
            i = i0 + r
            sv, sw = _fused_any(qs[i, 0], qs[i, 1], qs[i, d - 1], 0.5 * t_nn[i], math.sqrt(t_nn[i]), excl[i], kt, vt,
                                a, b, laplace, d == 3)
            acc[r, 0] += sv
            acc[r, 1] += sw


@njit(cache=True, fastmath=FM_SUM)
def _fused_run(q, kt, vt, a, b, excl, laplace, t_nn, s_nn, acc):
    """:func:`exp_run`'s sums in one fused pass (as :func:`fused_block`, for one query)."""
    sv, sw = _fused_any(q[0], q[1], q[q.shape[0] - 1], 0.5 * t_nn, s_nn, excl, kt, vt, a, b, laplace, q.shape[0] == 3)
    acc[0] += sv
    acc[1] += sw


@njit(cache=True)
def fused_ok(d, kc, f32):
    """Whether :func:`fused_block` serves inputs of dimension d with kc sums (values and ones)."""
    return not f32 and kc == 2 and 2 <= d <= 3


@njit(cache=True)
def exp_run(q, kt, vt, a, b, excl, laplace, f32, t_nn, s_nn, buf, acc):
    """Add the Gaussian or Laplace weights (relative to the nearest key) of keys a..b-1, times values, to acc.

    ``t`` is computed as the nearest key's ``t_nn`` was (float32 arithmetic when ``f32``), so no weight exceeds 1;
    except where :func:`fused_ok`: then one fused pass (:func:`_fused_run`, ``buf`` unused), whose ``t`` may
    be off in the last bit (a weight off by a relative ~1e-16, possibly 1 + 1e-16).
    """
    if fused_ok(q.shape[0], vt.shape[0], f32):
        _fused_run(q, kt, vt, a, b, excl, laplace, t_nn, s_nn, acc)
        return
    L = b - a
    run_t(q, kt, a, b, f32, buf)
    if a <= excl < b:
        buf[excl - a] = np.inf  # weight 0
    if vt.shape[0] == 2:
        _exp_sums1(buf, L, laplace, t_nn, s_nn, vt, a, acc)
        return
    _exp_weights(buf, L, laplace, t_nn, s_nn)
    _dots(buf, vt, a, b, acc)


@njit(cache=True)
def exp_block(qs, i0, use, t_nn, excl, kt, vt, a, b, laplace, f32, buf, acc):
    """``acc[r] += (sum w v, sum w)`` over keys a..b-1 for the queries ``i0 + r`` with ``use[r]``.

    :func:`fused_block` where it serves the inputs, else :func:`exp_run` per query, in pieces of
    ``buf.shape[0]`` keys.
    """
    if fused_ok(qs.shape[1], vt.shape[0], f32):
        fused_block(qs, i0, use, t_nn, excl, kt, vt, a, b, laplace, acc)
        return
    step = buf.shape[0]
    for r in range(use.shape[0]):
        if use[r]:
            i = i0 + r
            s_nn = math.sqrt(t_nn[i])
            for c in range(a, b, step):
                exp_run(qs[i], kt, vt, c, min(b, c + step), excl[i], laplace, f32, t_nn[i], s_nn, buf, acc[r])


@njit(cache=True, fastmath={"nsz", "contract"})
def _compact_weights(buf, L, code, closed):
    """``buf[j] <- K(t)`` inside the support (``t < 1``, ``<= 1`` when closed), else 0; returns the count inside.

    One branch-free loop per kernel (the kernel test is outside the loop), so each one vectorises.
    """
    inside = 0
    if code == _BOXCAR:  # closed: t <= 1
        for j in range(L):
            ok = buf[j] <= 1.0 if closed else buf[j] < 1.0
            buf[j] = 1.0 if ok else 0.0
            inside += ok
    elif code == _EPAN:
        for j in range(L):
            t = buf[j]
            ok = t < 1.0
            buf[j] = (1.0 - t) if ok else 0.0
            inside += ok
    elif code == _TRIANGULAR:
        for j in range(L):
            t = buf[j]
            ok = t < 1.0
            buf[j] = (1.0 - math.sqrt(t)) if ok else 0.0
            inside += ok
    elif code == _BIWEIGHT:
        for j in range(L):
            t = buf[j]
            ok = t < 1.0
            buf[j] = (1.0 - t) * (1.0 - t) if ok else 0.0
            inside += ok
    elif code == _TRICUBE:
        for j in range(L):
            t = buf[j]
            ok = t < 1.0
            u = 1.0 - t * math.sqrt(t) if ok else 0.0
            buf[j] = u * u * u
            inside += ok
    else:  # cosine
        for j in range(L):
            t = buf[j]
            ok = t < 1.0
            w = math.cos(0.5 * math.pi * math.sqrt(t)) if ok else 0.0
            buf[j] = w if w > 0.0 else 0.0
            inside += ok
    return inside


@njit(cache=True, fastmath={"nsz", "contract"})
def _square(buf, L):
    """``buf[j] <- buf[j]**2``."""
    for j in range(L):
        buf[j] *= buf[j]


@njit(cache=True)
def compact_run(q, kt, vt, a, b, excl, code, closed, f32, buf, acc):
    """Add ``K v`` over keys a..b-1 inside the support to acc; returns (keys inside, sum of their weights).

    A code from :data:`SQUARED` on is the square of the kernel ``code - SQUARED``.
    """
    L = b - a
    run_t(q, kt, a, b, f32, buf)
    if a <= excl < b:
        buf[excl - a] = np.inf
    if code >= SQUARED:
        inside = _compact_weights(buf, L, code - SQUARED, closed)
        _square(buf, L)
    else:
        inside = _compact_weights(buf, L, code, closed)
    kc = vt.shape[0]
    before = acc[kc - 1]
    _dots(buf, vt, a, b, acc)
    return inside, acc[kc - 1] - before
