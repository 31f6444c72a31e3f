"""Tree engine: a k-d tree over the keys, for d = 1 … ~8, every kernel, exact or within a certified ``tol``.

Inputs are the engines' canonical arrays (see :mod:`nadaraya.engines`):
queries (b, m, d) and keys (b, n, d) already divided by the bandwidth (so
per-dimension bandwidths cost nothing), values (b, n, k). Per batch element
the keys get a k-d tree (:mod:`.kdtree`, O(n log n), leaves of at most
:data:`LEAF` keys, bounding boxes per node) and the queries are put in Z
(Morton) order, so that neighbouring queries come together: threads take blocks of
:data:`QUERY_BLOCK` consecutive queries one at a time (dynamic scheduling:
a thread the OS deschedules delays one block, not a share of the work). For
the compact kernels a block walks the key tree once for all its queries (a
dual-tree walk on bounding boxes, giving the block's lists of nodes inside
every query's support and of leaves near it); for the Gaussian and Laplace
kernels a block of :data:`EXP_QUERY_BLOCK` queries walks it once too (the runs
no query of the block can drop anything from, and the leaves and far nodes
that each query then tests with its own bound), and the runs are summed for
the block's queries one after the other while they are in cache. Keys are stored
dimension-major in tree order, so a run is summed by vectorised loops (for
one value column in d = 2 or 3, one fused pass computing distances, weights and
both sums). Sums are in float64 whatever the dtype; the
result has the input dtype. Memory is O(m + n): no m × n array, no
neighbour lists (a block's lists hold at most :data:`LIST_MAX` nodes).

**Compact kernels** (:mod:`.compact`) are exact: a node outside a query's
support is skipped, a node inside it is summed from moments centred on the
node when K is a polynomial of u² (boxcar, Epanechnikov, biweight), and the
rest key by key with the dense reference's own support test (a block of queries
whose supports cover most of the cloud sums every key without the tree), so both engines
agree on which keys count and on which queries have none (NaN). Agreement
with the dense reference is to ~1e-15 of max|values| (a rounding certificate
sends the rare query whose moment sums could cancel to the key-by-key path).

**Gaussian and Laplace** (:mod:`.gauss`): weights relative to each query's
nearest key (so the sum of weights ``D >= 1``); a node is dropped when its
weight bound (keys times the weight at its box's nearest point) is at most
``DROP`` of the query's budget and the dropped bounds, it included, stay within
``tol / 9`` of the weight summed so far (the block's whole runs first, then its
test nodes farthest first); for the
Gaussian, nodes with ``|q - c| r <= RHO`` are summed from Taylor far-field
moments (the large-bandwidth case; at ~50 keys per bandwidth ball the nodes
are too sparse for a series to pay, and the walk is pruning only). With
:data:`HERMITE_ORDER` set for d (off by default: see there), nodes of at least
2 p**d keys and half-width <= :data:`HERMITE_WIDTH` also
carry a Hermite far-field series (:mod:`.hermite`, the fast Gauss
transform's), valid at any distance, which a query uses when the series'
error bound fits the same budget as a dropped node's weight (the error is
then counted in ``W`` below).
Error bound, with ``tau = RHO**p exp(2 RHO) / p! <= tol / 16`` the
expansion's relative error per key and ``W`` the dropped weight:

    |f_tree(q) - f(q)| <= (2 tau / (1 - tau) + 2 W / D + rounding) max|v|
                       <= (tol / 8 + tol / 4 + ~1e-14) max|v|  <  (tol / 2 + ~1e-14) max|v|,

because perturbing every weight by a factor within ``1 +- tau`` moves a
weighted mean by at most ``2 tau / (1 - tau) max|v|``, dropping weight W
moves it by at most ``2 W / D max|v|`` (as does an absolute error W in the
weights that a Hermite series makes), and ``W <= tol / 9 * D_computed``
holds by construction (``D_computed >= D / (1 + tau)``). This is the bound of the
sorted 1-D engine (:mod:`nadaraya.engines.sorted1d`). A ``tol`` below
:data:`MIN_TOL` is treated as ``MIN_TOL``: rounding (~1e-14) dominates there
and no float64 engine, the dense one included, agrees to better. The Laplace
kernel has no separable expansion here: it is pruned only, so at bandwidths
comparable to the data's extent it costs about what the stream engine does.

The constant kernel (average pooling) is the mean of the values (of the others
for ``exclude_self``).

All loops are Numba functions (``cache=True``) compiled on first use, for
float64 arrays only (float32 inputs are copied to float64; their support test
is done in float32). Threads: ``num_threads`` (at most ``NUMBA_NUM_THREADS``),
default Numba's setting (never changed); they claim blocks of queries (or of
nodes) one at a time as they go (:mod:`nadaraya.engines._parallel`).
"""

from __future__ import annotations

import numpy as np

from ...kernels import KERNELS as _REGISTRY
from ...kernels import registered
from ...kernels import Kernel
from .._parallel import thread_count
from ..state import Partials, finalize
from . import compact, gauss, hermite, leaves, nearest
from .kdtree import build, morton_order

__all__ = ["NAME", "OPTIONS", "EXACT", "REQUIRES", "supports", "prefer", "pool", "partials", "KERNELS"]

NAME = "tree"
#: Options :func:`pool` and :func:`partials` take.
OPTIONS = ("num_threads", "tol")
#: The Gaussian and Laplace sums are accurate to ``tol``, not to rounding.
EXACT = False
#: Largest input dimension the engine accepts (a k-d tree loses its edge well before that).
MAX_DIM = 16
#: Keys per leaf of the key tree, for the compact kernels and for the Gaussian and Laplace kernels
#: (smaller leaves drop more keys but sum shorter runs and test more nodes; measured on the 3-D
#: Gaussian benchmark case with the block walk: 128 beat 64 by 15%, 32 took twice as long).
LEAF = 64
LEAF_EXP = 128
#: The Gaussian and Laplace kernels' key tree splits its nodes only at multiples of this many keys (the
#: nearest to the median), so that every leaf but the last holds whole steps of the fused loop
#: (:data:`.leaves.WINDOW`) and no run ends in a scalar remainder (3-D Gaussian benchmark case, one thread,
#: alternating with main: 1.09x; within the noise with two).
CHUNK = leaves.WINDOW
#: Capacity of a block's lists for the Gaussian and Laplace kernels (a block whose lists would be longer
#: walks the tree per query).
EXP_LIST_MAX = 8192
#: Consecutive queries (in Z order) that share one walk of the key tree for the Gaussian and Laplace
#: kernels (3-D Gaussian benchmark case: 32 and 64 equal, 16 2% slower, 8 15% slower).
EXP_QUERY_BLOCK = 32
#: Nodes of at most this many keys that lie wholly inside a support (compact kernels) or wholly where
#: no key can be dropped (Gaussian, Laplace) are summed as one run of keys, without descending.
DIRECT_MAX = 4096
#: Consecutive queries (in Z order) a thread takes at a time; for the compact kernels a block shares
#: one walk of the key tree (measured best at 16 in 2-D).
QUERY_BLOCK = 16
#: A block of queries (compact kernels) whose lists send at least this share of the keys to key-by-key
#: sums skips the tree and sums every key in long runs (large bandwidths, where little is pruned).
UNPRUNED_SHARE = 0.5
#: Capacity of a block's node lists (a block whose lists would be longer walks the tree per query).
LIST_MAX = 2048
#: Largest weight bound of one dropped node, as a fraction of the query's drop budget (tol / 9 of its weight).
DROP = 2.0**-5
#: Largest ``|q - c| r`` at which a Gaussian node is summed from its Taylor moments.
RHO = 0.5
#: A node gets Taylor moments when it holds at least this many times as many keys as the series has terms.
EXPAND_MIN = 2
#: Largest radius of a node with Taylor moments: a query within ``RHO / TAYLOR_RADIUS`` of its centre can use them.
TAYLOR_RADIUS = 1.0
#: No Taylor moments when the series would have more terms than this (high d, tiny tol).
MAX_TERMS = 4096
#: Order p of the Gaussian's Hermite far-field series per dimension d (``p**d`` terms; none above d = 2),
#: the largest half-width (in bandwidths) of a node that gets one, and how many keys per term it must hold.
#: Off by default: measured on the idle 2-core machine (2026-12-01, after the block walk), the 2-D Gaussian
#: leave-one-out search at n = 10^5 took 18.4 / 18.1 s without and 20.0 / 19.5 s with {2: 16} (one pass at
#: h = 0.23 sd: 1.5 s vs 2.9 s, at 3 sd: 0.58 vs 0.45 s): Hermite nodes are test nodes that each query of a
#: block walks for itself when the series' bound does not fit, which costs more than the series saves at
#: these densities. Correct and tested (tests/test_engine_tree.py::test_hermite_*) for when a block-level
#: test makes it pay.
HERMITE_ORDER: dict = {}
HERMITE_WIDTH = 1.0
HERMITE_KEYS_PER_TERM = 2
#: With the default thread count, problems with at most this many ``m * min(n, 1024)`` run on one thread:
#: waking the others costs more than the work (a rough guess from a busy 2-core machine, not a crossover).
SERIAL_WORK = 1 << 18
#: Smallest tol resolved (see the module docstring).
MIN_TOL = 1e-14


def supports(kernel: Kernel, d: int, options=None) -> bool:
    """Whether this engine handles ``kernel`` (a registry kernel or the square of one) for ``d``-dimensional
    keys, 1 <= d <= MAX_DIM."""
    return registered(kernel) and 1 <= int(d) <= MAX_DIM


#: Names of the registry's kernels this engine handles (every one, and their squares).
KERNELS = tuple(_REGISTRY)
REQUIRES = f"a kernel from nadaraya.KERNELS and 1 <= d <= {MAX_DIM}"

#: "auto" takes the tree engine from this many query-key pairs per batch element: compact kernels
#: (any d >= 2), and the Gaussian for d <= GAUSS_AUTO_MAX_DIM from GAUSS_AUTO_PAIRS. Measured crossover
#: against the stream engine (``python benchmarks/tree.py --crossover``, uniform data, Scott's
#: bandwidth, 2 threads, on a busy 2-core machine): compact kernels win 2-4x at m = n = 32,000 and
#: 4-9x at 64,000 in every d from 2 to 8, and lose below ~10,000; the Laplace kernel (pruning only)
#: never wins there. The Gaussian, after the block walk (idle machine, 2026-12-01, m = n, tree / stream
#: speed-up at 8,000 / 16,000 / 32,000 / 64,000): d = 2 1.10 / 1.30 / 1.88 / 2.52, d = 3 0.89 / 1.12 /
#: 1.59 / 2.21, d = 4 0.41 / 0.50 / 0.55 / 0.81; so from 2**28 pairs (16,384 squared) in d <= 3.
COMPACT_AUTO_PAIRS = 1 << 28
GAUSS_AUTO_PAIRS = 1 << 28
GAUSS_AUTO_MAX_DIM = 3


def prefer(kernel: Kernel, shape) -> bool:
    """The "auto" rule for a problem of ``shape`` (b, m, n, d, k); see :data:`COMPACT_AUTO_PAIRS`."""
    _, m, n, d, _ = shape
    if d < 2:
        return False  # the sorted engine's ground
    if kernel.name == "constant":
        return True  # a closed form, O(m + n)
    if kernel.compact:
        return m * n >= COMPACT_AUTO_PAIRS
    return kernel.name == "gaussian" and d <= GAUSS_AUTO_MAX_DIM and m * n >= GAUSS_AUTO_PAIRS


def _margin(dtype, d):
    """Relative slack of the box tests: the float64 box distances against the dtype's per-key ``t``."""
    return 8.0 * (d + 1) * float(np.finfo(dtype).eps)


def _compact_sums(kernel, tk, kt, vt, qs, excl, f32, margin, threads):
    """(sum K v, sum K) per query (tree order) for a compact kernel."""
    e = compact.poly_in_t(kernel.poly)
    degree = -1 if e is None else max(i for i in range(3) if e[i] != 0.0)
    d, kc = kt.shape[0], vt.shape[0]
    count = tk.hi - tk.lo
    if degree >= 0:
        L = compact.moment_terms(degree, d)
        nodes = np.flatnonzero((tk.radius <= 1.0) & (count * (d + kc) >= L * kc))
        M = compact.node_moments(kt, vt, tk.lo, tk.hi, tk.centre, nodes, degree, L, threads=threads)
    else:
        e, nodes, M = (0.0, 0.0, 0.0), np.zeros(0, np.int64), np.zeros((0, 1, kc))
    slot = np.full(tk.lo.shape[0], -1, np.int64)
    slot[nodes] = np.arange(nodes.shape[0])
    out = np.empty((qs.shape[0], kc))
    compact.compact_blocks(
        qs, excl, tk.lo, tk.hi, tk.left, tk.right, tk.bmin, tk.bmax, tk.centre, tk.radius, kt, vt,
        compact.CODES[kernel.name], kernel.name == "boxcar", f32, margin, slot, M, degree, *e,
        compact.CERTIFICATE_RATIO, QUERY_BLOCK, DIRECT_MAX, LIST_MAX, UNPRUNED_SHARE, out, threads=threads,
    )
    return out


def _exp_sums(kernel, tk, kt, vt, qs, excl, t_nn, f32, tol, threads):
    """(sum w v, sum w) per query (tree order), weights relative to the nearest key."""
    tol = max(float(tol), MIN_TOL)
    d, kc = kt.shape[0], vt.shape[0]
    laplace = kernel.name == "laplace"
    parent, dim, inv = gauss.multi_indices(d, 1 if laplace else gauss.taylor_order(tol, RHO))
    T = parent.shape[0]
    count = tk.hi - tk.lo
    nodes = np.zeros(0, np.int64) if laplace or T > MAX_TERMS else _taylor_nodes(tk, T)
    E = gauss.taylor_moments(kt, vt, tk.lo, tk.hi, tk.centre, nodes, parent, dim, inv, threads=threads)
    slot = np.full(tk.lo.shape[0], -1, np.int64)
    slot[nodes] = np.arange(nodes.shape[0])
    far = _hermite_nodes(laplace, tk, kt, vt, count, threads)
    out = np.empty((qs.shape[0], kc))
    dropped = np.empty(qs.shape[0])
    gauss.gauss_blocks(
        qs, excl, t_nn, tol / 9.0, DROP * tol / 9.0, 1.0 - _margin(np.float32 if f32 else np.float64, d), tk.lo,
        tk.hi, tk.left, tk.right, tk.bmin, tk.bmax, tk.centre,
        tk.radius, kt, vt, laplace, f32, slot, E, parent, dim, RHO, EXP_QUERY_BLOCK, DIRECT_MAX, EXP_LIST_MAX, far,
        out, dropped,
        threads=threads,
    )
    return out


def _taylor_nodes(tk, terms):
    """The nodes of tree ``tk`` that get Gaussian Taylor moments of ``terms`` terms: at least
    ``EXPAND_MIN`` keys per term and radius at most ``TAYLOR_RADIUS``."""
    return np.flatnonzero((tk.hi - tk.lo >= EXPAND_MIN * terms) & (tk.radius <= TAYLOR_RADIUS))


def _hermite_nodes(laplace, tk, kt, vt, count, threads):
    """The Gaussian's far-field series (:mod:`.hermite`): (slot per node, moments, half-widths, tails, order)."""
    d = kt.shape[0]
    p = HERMITE_ORDER.get(d, 0)
    nodes = np.zeros(0, np.int64)
    if not laplace and p:
        w = (tk.bmax - tk.bmin).max(axis=1) * 0.5
        nodes = np.flatnonzero((count >= HERMITE_KEYS_PER_TERM * p**d) & (w <= HERMITE_WIDTH))
    p = max(p, 1)
    A = hermite.hermite_moments(kt, vt, tk.lo, tk.hi, tk.centre, nodes, p, threads=threads)
    hw = hermite.half_widths(tk.bmin, tk.bmax, nodes)
    rem, size = hermite.tails(hw, p)
    slot = np.full(tk.lo.shape[0], -1, np.int64)
    slot[nodes] = np.arange(nodes.shape[0])
    return slot, A, hw, rem, size, p


def _one(q, k, v, kernel, exclude_self, key_offset, tol, threads):
    """Partials of one batch element in float64: (max score (m,), denominator (m,), sums (m, k))."""
    m, d = q.shape
    n, kv = v.shape
    own = np.arange(m) - key_offset if exclude_self else np.full(m, -1)
    own = np.where((own >= 0) & (own < n), own, -1)
    if n == 0:
        return np.full(m, -np.inf), np.zeros(m), np.zeros((m, kv))
    if kernel.name == "constant":
        v64 = v.astype(np.float64)
        sums = np.broadcast_to(v64.sum(axis=0), (m, kv)) - np.where(own[:, None] >= 0, v64[own], 0.0)
        den = n - (own >= 0).astype(np.float64)
        return np.where(den > 0, 0.0, -np.inf), den, sums
    f32 = q.dtype == np.float32
    tk = build(k, LEAF, 1) if kernel.compact else build(k, LEAF_EXP, CHUNK)
    kt = np.ascontiguousarray(tk.points.T)  # (d, n) in tree order: a leaf's coordinates are contiguous
    vt = np.empty((kv + 1, n))  # (k + 1, n): the values, then ones (for the weight sums)
    vt[:kv] = v[tk.perm].T
    vt[kv] = 1.0
    qperm = morton_order(q)
    qs = np.ascontiguousarray(q[qperm], dtype=np.float64)
    excl = np.where(own[qperm] >= 0, tk.pos[own[qperm]], -1)
    if kernel.compact:
        out = _compact_sums(kernel, tk, kt, vt, qs, excl, f32, _margin(q.dtype, d), threads)
        den = out[:, kv]
        score = np.where(den > 0, 0.0, -np.inf)  # the sums are of K itself, relative to K(0) = 1 >= every K
    else:
        t_nn = np.empty(m)
        nearest.nearest_blocks(qs, excl, tk.lo, tk.hi, tk.left, tk.right, tk.bmin, tk.bmax, kt, f32,
                               1.0 - _margin(q.dtype, d), QUERY_BLOCK, max(LEAF, LEAF_EXP), t_nn, threads=threads)
        out = _exp_sums(kernel, tk, kt, vt, qs, excl, t_nn, f32, tol, threads)
        den = out[:, kv]
        score = -0.5 * t_nn if kernel.name == "gaussian" else -np.sqrt(t_nn)
    back = np.empty_like(qperm)
    back[qperm] = np.arange(m)
    return score[back], den[back], out[back, :kv]


def _run(queries, keys, values, kernel, exclude_self, key_offset, num_threads, tol):
    b, m, _ = queries.shape
    dtype = values.dtype
    max_score = np.empty((b, m), dtype)
    den = np.empty((b, m), dtype)
    sums = np.empty((b, m, values.shape[2]), dtype)
    threads = thread_count(num_threads)
    if num_threads is None and b * m * min(keys.shape[1], 1024) <= SERIAL_WORK:
        threads = 1
    for i in range(b):
        max_score[i], den[i], sums[i] = _one(
            queries[i], keys[i], values[i], kernel, exclude_self, key_offset, tol, threads
        )
    return Partials(max_score, den, sums)


def partials(queries, keys, values, kernel: Kernel, exclude_self=False, *, key_offset=0, num_threads=None,
             tol=1e-10) -> Partials:
    """Online-softmax state (:class:`~nadaraya.engines.state.Partials`) of queries over one set of keys.

    Arguments as for :func:`pool`, plus ``key_offset`` (the global index of
    this set's first key, for ``exclude_self`` on key shards, as in
    :func:`nadaraya.engines.stream.partials`); ``n = 0`` gives an empty
    partial. ``max_score`` is, for the Gaussian and Laplace kernels, the
    score of the nearest key (``denominator`` and ``weighted_sum`` are within
    the module's bound relative to it); for the compact kernels 0, the score
    of ``K(0) = 1``, which no key exceeds (the sums are of ``K`` itself, as
    :func:`pool` divides them: no nearest-key search, and the same numbers).
    """
    return _run(queries, keys, values, kernel, exclude_self, key_offset, num_threads, tol)


def pool(queries, keys, values, kernel: Kernel, exclude_self=False, *, num_threads=None, tol=1e-10) -> np.ndarray:
    """Attention pooling of (b, m, d) queries over (b, n, d) keys and (b, n, k) values → (b, m, k).

    Exact for the compact kernels (NaN rows for queries with no key in the
    support), within ``(tol / 2 + ~1e-14) max|values|`` for the Gaussian and
    Laplace kernels (see the module docstring).
    """
    return finalize(_run(queries, keys, values, kernel, exclude_self, 0, num_threads, tol))
