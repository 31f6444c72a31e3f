"""Streaming engine: a multi-threaded Numba online softmax in memory O(m + n).

Each query walks over the keys in tiles, keeping only its running state: the
smallest squared scaled distance ``t_min`` seen so far (every kernel here is
non-increasing in ``t``, so the largest score is ``score(t_min)``), the
denominator ``sum_j K(t_j) / K(t_min)`` and the weighted sum
``sum_j K(t_j) / K(t_min) * v_j``. A tile's distances go to a small per-thread
buffer; when the tile holds a nearer key the running sums are rescaled once by
``K(t_min_old) / K(t_min_new)``, then the tile's weights are summed. No row of
weights, no m x n array and no mask is ever built; ``exclude_self`` marks one
buffer entry. The queries go in blocks of 16, which walk the keys together
so that each tile is read from memory once per block; threads claim the
blocks one at a time as they go (:mod:`nadaraya.engines._parallel`), so a
thread that another process holds off a core delays only its own block.

The weights are the softmax of :meth:`nadaraya.kernels.Kernel.score` with the
maximum subtracted, written in the form that is cheapest to evaluate, which
each kernel declares as its :class:`~nadaraya.kernels.ScalarForm`:
``exp(-(t - t_min) / 2)`` for the Gaussian, ``exp(sqrt(t_min) - sqrt(t))`` for
the Laplace kernel and ``K(t) / K(t_min)`` for the compact kernels (whose
``K`` never underflows inside the support). The engine holds no per-kernel
code: for each kernel it compiles its loop (:func:`_stream_template`) with
that kernel's jitted formulas, once per kernel and dtype, cached on disk
under a name that carries a digest of the formulas (editing a formula in
:mod:`nadaraya.kernels` recompiles). ``exp`` is a branch-free
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

import hashlib
import math
import types
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numba import njit

from ..kernels import KERNELS, Kernel, ScalarForm, like
from ._jitmath import FM_EXP, bits_of, from_bits, min_bits
from ._parallel import all_done, claim, finish, run_claimed, thread_count
from ._streamloops import FM_SUM, squared_distances, weighted_sums
from .state import Partials, finalize, merge

__all__ = ["NAME", "OPTIONS", "Partials", "supports", "prefer", "pool", "partials", "merge", "finalize"]

#: Registry name (``method="stream"``).
NAME = "stream"

#: Options :func:`pool` and :func:`partials` take (validated by :mod:`nadaraya.pooling`).
OPTIONS = ("num_threads",)

#: Bytes of keys and values per tile: a tile stays in cache while a block of queries walks it.
TILE_BYTES = 1 << 16

#: Bounds on the keys per tile (the per-thread buffer holds one tile of distances / weights).
TILE_MIN, TILE_MAX = 256, 1024

#: Queries handed to a thread at a time.
_QUERY_BLOCK = 16

#: Up to this many query-key pairs the default is one thread: waking the
#: others would cost more than the work.
SERIAL_PAIRS = 1 << 15

# Fast-math flags. None of them lets the compiler assume away inf or NaN
# (no 'ninf', 'nnan'): far keys have t = inf or weight 0, the excluded key has
# t = NaN. 'reassoc' lets the tile sums be vectorised; the exp helpers get no
# 'reassoc', which could undo the exact two-step range reduction. The squared
# distances get no flags at all (no fused multiply-add), to match the
# reference bit for bit. The summation flags are FM_SUM (with the tile loops in _streamloops).


# ------------------------------------------------------------------ the kernel's formulas, jitted


class _Formulas(NamedTuple):
    """A kernel's jitted scalar formulas (see :class:`~nadaraya.kernels.ScalarForm`)."""

    weight: object  # w(t, ref) = K(t) / K(t_min), 0 at t = NaN
    reference: object  # ref(t_min), the per-tile constant of w
    score: object  # log K(t)
    inside: object  # whether t lies in the support


def _formulas(form: ScalarForm) -> _Formulas:
    if form.value is not None:
        value = njit(fastmath=FM_EXP)(form.value)
        if form.power == 2:  # a kernel's square (nadaraya.kernels.square)
            base = value

            @njit(fastmath=FM_EXP)
            def value(t):
                w = base(t)
                return w * w
        elif form.power != 1:
            raise ValueError(f"ScalarForm.power must be 1 or 2; got {form.power!r}")

        @njit(fastmath=FM_EXP)
        def weight(t, ref):
            return value(t) * ref

        @njit
        def reference(t_min):
            return like(t_min, 1.0) / value(t_min)

        @njit
        def score(t):
            return math.log(value(t))

        @njit
        def inside(t):
            return value(t) > 0.0

        return _Formulas(weight, reference, score, inside)

    @njit
    def unbounded(t):
        return t < np.inf

    return _Formulas(njit(fastmath=FM_EXP)(form.weight), njit(form.reference), njit(form.score), unbounded)


def _make_loops(wf):
    """Jitted tile loops for the weight function ``wf``: weights in place, and weights fused with one output."""

    @njit(fastmath=FM_SUM)
    def weights(t, ref):
        """Overwrite the distances ``t`` with their weights ``w(t, ref)``; return the sum of the weights."""
        den = like(ref, 0.0)
        for j in range(t.shape[0]):
            w = wf(t[j], ref)
            t[j] = w
            den += w
        return den

    @njit(fastmath=FM_SUM)
    def sums(t, ref, v, acc):
        """Weights fused with the one-output sum: ``acc[0] += sum_j w_j v_j``; returns ``sum_j w_j``."""
        den = like(ref, 0.0)
        a = like(ref, 0.0)
        for j in range(t.shape[0]):
            w = wf(t[j], ref)
            den += w
            a += w * v[j]
        acc[0] += a
        return den

    return weights, sums


def _stream_template(queries, kt, vt, exclude_self, key_offset, tile, t_min, den, acc, claims):
    """Online softmax of every query over all keys, for one kernel.

    Fills ``t_min`` (b, m), ``den`` (b, m) and ``acc`` (b, m, k).

    On return ``t_min`` holds the largest score ``log K(t_min)`` (-inf where
    ``den`` is 0), and ``den`` and ``acc`` are relative to ``K(t_min)``.

    The work is cut into blocks of ``_QUERY_BLOCK`` queries, which every
    thread running this function claims one at a time from ``claims`` (see
    :mod:`nadaraya.engines._parallel`) until none is left; returns whether
    every block was finished by then. A block walks the keys tile by
    tile, so a tile is read from memory once and then from cache by every
    query of the block. Per query and tile: distances into the thread's buffer (the
    excluded key's set to NaN, which is never the minimum and which every
    weight function maps to 0), the tile's nearest key ``tt``, a rescale of
    the running sums when ``tt < t_min``, then the tile's weights
    ``K(t) / K(t_min)`` are summed. ``acc`` must be zeroed.

    Never called itself: :func:`_compiled` compiles a copy whose globals
    ``_WEIGHT``, ``_REFERENCE``, ``_SCORE``, ``_INSIDE``, ``_WEIGHTS`` and
    ``_SUMS`` are the kernel's jitted formulas and loops.
    """
    b, m, _ = queries.shape
    n, k = kt.shape[2], vt.shape[1]
    per_batch = (m + _QUERY_BLOCK - 1) // _QUERY_BLOCK
    n_blocks = b * per_batch
    blk = claim(claims)
    while blk < n_blocks:
        bi = blk // per_batch
        i0 = (blk - bi * per_batch) * _QUERY_BLOCK
        i1 = min(m, i0 + _QUERY_BLOCK)
        keys, values = kt[bi], vt[bi]
        buf = np.empty(max(tile, 1), dtype=queries.dtype)
        bits = bits_of(buf)
        inf_bits = bits_of(np.full(1, np.inf, dtype=buf.dtype))[0]
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
                squared_distances(q, keys, start, length, t)
                cut = i - key_offset - start
                if exclude_self and 0 <= cut < length:
                    t[cut] = np.nan
                tt = from_bits(min_bits(bits[:length], inf_bits))
                if not _INSIDE(tt):
                    continue  # tt is the tile's nearest key: the whole tile is outside the support
                if not have[r] or tt < t_min[bi, i]:
                    new_ref = _REFERENCE(tt)
                    if have[r]:
                        f = _WEIGHT(t_min[bi, i], new_ref)  # K(t_min_old) / K(t_min_new) <= 1
                        den[bi, i] *= f
                        for c in range(k):
                            a[c] *= f
                    t_min[bi, i] = tt
                    refs[r] = new_ref
                    have[r] = True
                ref = refs[r]
                if k == 1:
                    den[bi, i] += _SUMS(t, ref, values[0, start : start + length], a)
                    continue
                den[bi, i] += _WEIGHTS(t, ref)
                weighted_sums(t, values, start, a)
        for i in range(i0, i1):
            t_min[bi, i] = _SCORE(t_min[bi, i]) if den[bi, i] > 0.0 else -np.inf
        finish(claims)
        blk = claim(claims)
    return all_done(claims, n_blocks)


_WEIGHT = _REFERENCE = _SCORE = _INSIDE = _WEIGHTS = _SUMS = None  # set per kernel in the compiled copies

_JITMATH_SOURCE = b"".join((Path(__file__).parent / name).read_bytes() for name in ("_jitmath.py", "_parallel.py", "_streamloops.py"))


def _digest(form: ScalarForm) -> str:
    """A digest of the kernel's formulas and of the jitted helpers: the on-disk cache entry's name carries it."""
    h = hashlib.sha1(_JITMATH_SOURCE)
    for fn in form:
        if callable(fn):
            code = fn.__code__
            h.update(code.co_code + repr((code.co_consts, code.co_names)).encode())
    h.update(repr(form.power).encode())
    return h.hexdigest()[:12]


@lru_cache(maxsize=None)
def _compiled(name: str, form: ScalarForm):
    """:func:`_stream_template` compiled for one kernel (``nogil``, cached on disk per kernel and dtype)."""
    f = _formulas(form)
    weights, sums = _make_loops(f.weight)
    glb = dict(globals(), _WEIGHT=f.weight, _REFERENCE=f.reference, _SCORE=f.score, _INSIDE=f.inside)
    glb.update(_WEIGHTS=weights, _SUMS=sums)
    tmpl = _stream_template
    fn = types.FunctionType(tmpl.__code__, glb, tmpl.__name__, tmpl.__defaults__, tmpl.__closure__)
    fn.__qualname__ = f"_stream_{''.join(c if c.isalnum() else '_' for c in name)}_{_digest(form)}"
    fn.__doc__ = tmpl.__doc__
    return njit(nogil=True, fastmath=FM_SUM, cache=True)(fn)


# ------------------------------------------------------------------ Python API


def supports(kernel: Kernel, d: int, options=None) -> bool:
    """Whether this engine runs ``kernel``: every kernel with a :class:`~nadaraya.kernels.ScalarForm`, any d."""
    return kernel.scalar is not None


#: Names of the registry's kernels this engine runs (all of them; :mod:`nadaraya.dask` reads it).
KERNEL_CODES = tuple(name for name, kern in KERNELS.items() if kern.scalar is not None)

#: What :func:`supports` needs, for the error when ``method="stream"`` cannot run.
REQUIRES = "a kernel with a ScalarForm (every kernel in nadaraya.KERNELS)"


def prefer(kernel: Kernel, shape) -> bool:
    """The "auto" rule: this engine runs whatever reaches it (it is last in the registry's order)."""
    return True


def _kernel_loop(kernel: Kernel):
    if kernel.scalar is None:
        raise ValueError(
            f"the stream engine supports kernels with a ScalarForm (every kernel in nadaraya.KERNELS); "
            f"got {kernel.name!r}, which has none. Use method='dense' for other kernels"
        )
    return _compiled(kernel.name, kernel.scalar)


def _tile(d: int, k: int, itemsize: int) -> int:
    """Keys per tile: a power of two near ``TILE_BYTES / ((d + k) * itemsize)``, within the bounds."""
    size = TILE_BYTES // ((d + k) * itemsize)
    return int(min(TILE_MAX, max(TILE_MIN, 1 << max(size, 1).bit_length() - 1)))


def _run(queries, keys, values, kernel, exclude_self, key_offset, num_threads):
    """The engine's state: max score (b, m), denominator (b, m) and weighted sum (b, m, k)."""
    loop = _kernel_loop(kernel)
    b, m, _ = queries.shape
    dtype = values.dtype
    kt = np.ascontiguousarray(keys.transpose(0, 2, 1))  # (b, d, n): a tile of one coordinate is contiguous
    vt = np.ascontiguousarray(values.transpose(0, 2, 1))  # (b, k, n)
    max_score = np.empty((b, m), dtype=dtype)
    den = np.empty((b, m), dtype=dtype)
    acc = np.zeros((b, m, values.shape[2]), dtype=dtype)
    threads = thread_count(num_threads)
    if num_threads is None and b * m * keys.shape[1] <= SERIAL_PAIRS:
        threads = 1
    tile = _tile(queries.shape[2], values.shape[2], dtype.itemsize)
    args = (queries, kt, vt, bool(exclude_self), int(key_offset), tile, max_score, den, acc)
    run_claimed(loop, min(threads, max(1, b * -(-m // _QUERY_BLOCK))), *args)
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
