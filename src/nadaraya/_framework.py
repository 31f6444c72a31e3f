"""The core every framework module (torch, tensorflow, mxnet, jax) runs: argument
checks, shape forms, scores, softmax, dense and chunked pooling, the model
forward, the training loop and the demo back-end adapter.

It is written once over a small namespace of tensor operations, :class:`Ops`,
that each framework module fills (a class of static methods). A framework file
keeps only tensor conversion, its Module/Layer/Block, the optimiser step and
what is truly particular to it (how chunks are looped and recomputed in the
backward pass); the kernel formulas live in :mod:`nadaraya.kernels`.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ._checks import check_positive_float, check_positive_int, closed_support_widening
from ._limits import MAX_WEIGHTS_BYTES, check_weights_size
from ._optional import require  # noqa: F401  (re-exported: framework modules call fw.require)
from .kernels import Kernel, get_kernel
from .parametric import ParametricFit

log = logging.getLogger("nadaraya")

#: The loss every back-end minimises: squared error summed over the training examples.
LOSS_CONVENTION = "sum over training examples of (f(x_j) - y_j)^2"


@dataclass(frozen=True)
class Form:
    """How a call's shapes are read.

    ``per_query``: the chapter's call, where every query has its own keys:
    queries (m,) or (m, d), keys (m, n) or (m, n, d), values (m, n) or (m, n, k).
    Otherwise keys are shared: keys (n,) or (n, d), values (n,) or (n, k).
    """

    per_query: bool
    vector_features: bool
    vector_values: bool


def read_form(q_shape, k_shape, v_shape, exclude_self: bool) -> Form:
    """Check the shapes of a framework call and say which form it is (errors name the argument)."""
    qn, kn, vn = len(q_shape), len(k_shape), len(v_shape)
    if qn not in (1, 2):
        raise ValueError(f"queries must have shape (m,) or (m, d); got shape {tuple(q_shape)}")
    per_query = kn == qn + 1
    if not per_query and kn != qn:
        raise ValueError(
            f"keys must have shape (n,) / (n, d) (shared keys) or (m, n) / (m, n, d) (one row per query); "
            f"got shape {tuple(k_shape)} for queries of shape {tuple(q_shape)}"
        )
    rows = 2 if per_query else 1
    if vn not in (rows, rows + 1) or tuple(v_shape[:rows]) != tuple(k_shape[:rows]):
        raise ValueError(
            f"values must have shape {tuple(k_shape[:rows])} or {tuple(k_shape[:rows])} + (k,) to match keys; "
            f"got shape {tuple(v_shape)}"
        )
    if per_query and k_shape[0] != q_shape[0]:
        raise ValueError(f"keys have {k_shape[0]} rows but there are {q_shape[0]} queries; give one row per query")
    if qn == 2 and q_shape[-1] != k_shape[-1]:
        raise ValueError(f"queries have d={q_shape[-1]} features but keys have d={k_shape[-1]}")
    if k_shape[rows - 1] == 0 or q_shape[0] == 0:
        raise ValueError(f"queries and keys must not be empty; got shapes {tuple(q_shape)} and {tuple(k_shape)}")
    if exclude_self:
        if per_query:
            raise ValueError("exclude_self=True needs shared keys (n,) or (n, d); the per-query form already chooses its keys")
        if q_shape[0] != k_shape[0]:
            raise ValueError(
                f"exclude_self=True needs one query per key; got m={q_shape[0]} queries and n={k_shape[0]} keys"
            )
    return Form(per_query=per_query, vector_features=qn == 2, vector_values=vn == rows + 1)


def canonical(q, k, v, exclude_self: bool):
    """Read the form of already-converted tensors and give them the layout every framework pools in.

    Queries (m, d), keys (n, d) or (m, n, d), values (n, k) or (m, n, k): a
    trailing axis of length 1 is added where the call had none. Uses only
    ``.shape`` and ``[..., None]``, which torch, TensorFlow and MXNet share.
    """
    form = read_form(q.shape, k.shape, v.shape, exclude_self)
    if not form.vector_features:
        q, k = q[..., None], k[..., None]
    if not form.vector_values:
        v = v[..., None]
    return q, k, v, form


def finish(out, form: Form):
    """Drop the trailing axis :func:`canonical` added to the values."""
    return out if form.vector_values else out[..., 0]


def sqdist(qs, ks):
    """(..., m, d) and (..., n, d) → (..., m, n), summed over d without an (m, n, d) temporary.

    Only indexing and arithmetic, so the same code runs on torch, TensorFlow
    and MXNet tensors and is differentiated by each one's autograd.
    """
    t = None
    for j in range(qs.shape[-1]):
        diff = qs[..., :, None, j] - ks[..., None, :, j]
        t = diff * diff if t is None else t + diff * diff
    return t


def check_kernel(kernel) -> Kernel:
    return get_kernel(kernel)


def check_bandwidth_value(bandwidth) -> None:
    """Refuse non-positive or non-finite plain-number bandwidths (tensors are checked by the caller)."""
    if isinstance(bandwidth, (int, float, np.floating, np.integer)):
        check_positive_float(bandwidth, "bandwidth")


#: Above this many query-key pairs (shared keys) a framework with a chunked path uses it.
DENSE_MAX_PAIRS = 1 << 24

#: Queries and keys per block of the chunked path.
CHUNK_SIZE = 4096


class Ops:
    """The tensor operations the core uses; each framework module subclasses it with static methods.

    Kernel formulas (:meth:`nadaraya.kernels.Kernel.score_with`) use
    ``where, sqrt, log1p, cos, tan, full_like``; pooling adds the others below.
    ``where(cond, x, y)`` must broadcast ``cond`` against ``x`` and ``y`` (which
    have one shape); a framework without a chunked path leaves :attr:`chunked`
    as None and needs neither ``exp``, ``maximum``, ``isfinite`` nor ``sum_last``.
    """

    #: The module's name, as in ``nadaraya.<name>``.
    name = ""
    #: ``chunked(ops, qs, ks, vs, kernel, exclude_self, chunk) -> out``: a memory-flat path, or None.
    chunked = None

    @classmethod
    def of(cls, namespace, names: str):
        """A subclass whose methods ``names`` (space-separated) are ``namespace``'s functions of those names."""
        return type("Ops", (cls,), {n: staticmethod(getattr(namespace, n)) for n in names.split()})

    @staticmethod
    def float64_mode():
        """A context in which the framework computes in float64 (JAX's 64-bit mode); restored after."""
        return contextlib.nullcontext()

    @classmethod
    def bandwidth(cls, h, like):
        """The bandwidth as a tensor of ``like``'s dtype, of shape () / (1,) or (d,)."""
        return cls.as_tensor(h, like)

    @staticmethod
    def as_tensor(x, like=None):  # pragma: no cover - every framework defines it
        raise NotImplementedError


def scores(ops, qs, ks, kernel, exclude_self=False, row0=0, col0=0):
    """Scores ``log K`` of already-scaled queries (.., m, d) against keys (.., n, d); key i = query i masked out.

    ``row0`` / ``col0``: where the block starts, so that the chunked path masks the true diagonal.
    """
    s = kernel.score_with(sqdist(qs, ks), ops)
    if exclude_self:  # query i ignores key i: a score of -inf is a weight of exactly 0
        s = ops.where(ops.self_mask(s, row0, col0), ops.full_like(s, -math.inf), s)
    return s


def softmax(ops, s):
    """Softmax over keys, and which rows have no key (every score -inf: a compact kernel's empty support).

    Those rows get weight 0 here, so that gradients stay finite; :func:`pool`
    reports them as NaN after the arithmetic.
    """
    empty = ops.stop_gradient(ops.max_last(s)) == -math.inf
    w = ops.softmax(ops.where(empty, ops.full_like(s, 0.0), s))
    return ops.where(empty, ops.full_like(w, 0.0), w), empty


def nan_where(ops, empty, x):
    return ops.where(empty, ops.full_like(x, math.nan), x)


def pool_dense(ops, qs, ks, vs, form, kernel, exclude_self, max_bytes=None):
    """Pool already-scaled 2-D/3-D inputs holding the (m, n) weights; returns (output (m, k), weights (m, n))."""
    check_weights_size((qs.shape[0], ks.shape[-2]), ops.itemsize(qs), max_bytes, what=f"nadaraya.{ops.name} pooling")
    if form.per_query:  # (m, 1, d) against (m, n, d): the chapter's batch matrix multiplication
        w, empty = softmax(ops, scores(ops, ops.expand_dims(qs, 1), ks, kernel))  # (m, 1, n)
        return nan_where(ops, empty, ops.matmul(w, vs))[:, 0], nan_where(ops, empty, w)[:, 0]
    w, empty = softmax(ops, scores(ops, qs, ks, kernel, exclude_self))
    return nan_where(ops, empty, ops.matmul(w, vs)), nan_where(ops, empty, w)


def pool(ops, qs, ks, vs, form, kernel, exclude_self, *, force_dense=False, chunk_size=None, max_bytes=None):
    """Dense pooling, or the framework's chunked path for large shared-key inputs; returns (output, weights or None).

    The chunked path runs when the framework has one, the keys are shared,
    ``force_dense`` is false, and ``chunk_size`` is given or ``m * n`` exceeds
    :data:`DENSE_MAX_PAIRS` or the (m, n) weights would not fit in ``max_bytes``;
    it returns no weights. Otherwise the dense path checks ``max_bytes`` first.
    """
    pairs = qs.shape[0] * ks.shape[0]
    limit = MAX_WEIGHTS_BYTES if max_bytes is None else max_bytes
    big = chunk_size is not None or pairs > DENSE_MAX_PAIRS or pairs * ops.itemsize(qs) > limit
    if ops.chunked is not None and not form.per_query and not force_dense and big:
        return ops.chunked(ops, qs, ks, vs, kernel, exclude_self, chunk_size or CHUNK_SIZE), None
    return pool_dense(ops, qs, ks, vs, form, kernel, exclude_self, max_bytes)


def block_state(ops, qs, ks, vs, kernel, exclude_self, row0, col0, key_offset=None):
    """Online-softmax state of a block of queries over a block of keys: (max, denominator, weighted sum).

    ``key_offset`` (1, n), optional: 0 for keys that count, -inf for padding of fixed-size blocks
    (added, not selected: nothing of shape (m, n) is kept for the backward pass).
    """
    s = scores(ops, qs, ks, kernel, exclude_self, row0, col0)
    if key_offset is not None:
        s = s + key_offset
    mx = ops.stop_gradient(ops.max_last(s))  # (m, 1), a shift: the softmax does not depend on it
    e = ops.exp(s - ops.where(ops.isfinite(mx), mx, ops.full_like(mx, 0.0)))
    return mx, ops.sum_last(e), ops.matmul(e, vs)


def merge_states(ops, a, b):
    """Merge two block states over disjoint key blocks, exactly, in log space."""
    (ma, da, sa), (mb, db, sb) = a, b
    m = ops.maximum(ma, mb)
    zero = ops.full_like(m, 0.0)
    safe = ops.where(ops.isfinite(m), m, zero)
    fa = ops.where(ops.isfinite(ma), ops.exp(ma - safe), zero)
    fb = ops.where(ops.isfinite(mb), ops.exp(mb - safe), zero)
    return m, da * fa + db * fb, sa * fa + sb * fb


def state_output(ops, state):
    """Weighted sum / denominator; a query with no key in a compact support is NaN, with zero gradient."""
    _, den, acc = state
    ok = den > 0
    return ops.where(ok, acc / ops.where(ok, den, ops.full_like(den, 1.0)), ops.full_like(acc, math.nan))


def _extent(ops, x, j):
    """``max |x[..., j]|`` over every point of the (..., d) tensor ``x``, as a (1,) tensor."""
    c = ops.where(x[..., j] < 0, -x[..., j], x[..., j])
    while len(c.shape) > 1:
        c = ops.max_last(c)[..., 0]
    return ops.max_last(c)


def edge_bandwidth(ops, q, k, h, kernel):
    """``h``, or ``h (1 + delta)`` for a closed-support kernel (boxcar): :func:`nadaraya._checks.bandwidth_divisor`
    in the framework's operations (jit-safe; the factor is detached, a constant to autograd; no range check)."""
    if not kernel.closed_support:
        return h
    per_dim = len(h.shape) == 1 and h.shape[0] > 1
    squares = 0.0
    for j in range(q.shape[-1]):
        a, b = _extent(ops, q, j), _extent(ops, k, j)
        s = ops.where(a > b, a, b) / (h[j : j + 1] if per_dim else h)
        squares = squares + s * s  # no overflow within the accepted range (|x_j| / h_j <= sqrt(max / d) / 2)
    widening = closed_support_widening(ops.sqrt(squares), q.shape[-1], np.dtype(f"float{8 * ops.itemsize(q)}"))
    return h * ops.stop_gradient(widening)


def canonical_of(ops, queries, keys, values, exclude_self, like=None):
    """Convert a call's arrays (keys and values to the queries' dtype, or all to ``like``'s) and :func:`canonical`."""
    q = ops.as_tensor(queries, like)
    return canonical(q, ops.as_tensor(keys, q), ops.as_tensor(values, q), exclude_self)


def attention_pool(ops, queries, keys, values, *, kernel, bandwidth, exclude_self, return_weights, max_bytes, chunk_size=None):
    """The body of every framework's ``attention_pool`` (see the framework modules for the shapes)."""
    kern = check_kernel(kernel)
    check_bandwidth_value(bandwidth)
    q, k, v, form = canonical_of(ops, queries, keys, values, exclude_self)
    h = edge_bandwidth(ops, q, k, ops.bandwidth(bandwidth, q), kern)  # h, widened for the boxcar's support edge
    out, w = pool(
        ops, q / h, k / h, v, form, kern, exclude_self, force_dense=return_weights, chunk_size=chunk_size, max_bytes=max_bytes
    )
    out = finish(out, form)
    return (out, w) if return_weights else out


def forward(ops, model, queries, keys, values, exclude_self, *, like=None, chunk_size=None):
    """The forward of every parametric design: canonical shapes, ``model._map`` of queries and keys, pooling.

    Returns (output, attention weights or None where the chunked path ran).
    """
    q, k, v, form = canonical_of(ops, queries, keys, values, exclude_self, like)
    out, w = pool(ops, model._map(q, "queries"), model._map(k, "keys"), v, form, model.kernel, exclude_self, chunk_size=chunk_size)
    return finish(out, form), None if w is None else ops.stop_gradient(w)


#: The docstring of every framework's ``train`` (``{tensor}``: its tensor type; ``{step}``: its update).
TRAIN_DOC = """Train ``model`` as in the chapter: SGD, summed squared loss, leave-one-out keys (by default).

    Each epoch is {step} on ``L = sum_j (model(x_j; other pairs) - y_j)**2`` (the loss is taken
    before the step, as the chapter prints it; MXNet's ``L2Loss`` would be half of it).

    Parameters
    ----------
    model : NWKernelRegression or another design of this module
    x : {tensor} (n,) or (n, d)
    y : {tensor} (n,)
    epochs : int, default 5
    lr : float, default 0.5
    callback : callable, optional
        ``callback(epoch, loss, model)`` after each epoch.
    exclude_self : bool, default True
        Leave each pair's own key out (the chapter); False: the in-sample loss, lowered by w without end.

    Returns
    -------
    list of float
        The loss of each epoch.
    """


def train_loop(step: Callable[[], float], model, *, epochs, callback=None, w_of=lambda model: getattr(model, "w", None)):
    """The chapter's loop: ``epochs`` full-batch steps; ``step()`` returns the loss before its update.

    ``callback(epoch, loss, model)`` runs after each epoch; each epoch is also logged with ``w_of(model)``.
    """
    epochs = check_positive_int(epochs, "epochs")
    losses = []
    for epoch in range(1, epochs + 1):
        loss = float(step())
        if not np.isfinite(loss):
            raise ValueError(f"training diverged at epoch {epoch} (loss {loss}); use a smaller learning rate lr")
        losses.append(loss)
        log.info("epoch %d, loss %.6f, w %s", epoch, loss, w_of(model))
        if callback is not None:
            callback(epoch, loss, model)
    return losses


def chapter_backend(ops, *, attention_pool, train, make_model) -> ChapterBackend:
    """Build a framework's demo adapter from its own pieces (the same recipe for every framework).

    ``make_model(kernel, w_init)`` builds the chapter's one-``w`` model in
    float64; ``ops.float64`` / ``ops.to_numpy`` convert arrays (and parameters);
    both run inside ``ops.float64_mode()``.
    """
    to_tensor = ops.float64

    def to_numpy(t):
        return np.asarray(ops.to_numpy(t))

    def w_of(net):
        return float(to_numpy(net.w).ravel()[0])

    def pool(queries, keys, values, kernel, bandwidth):
        t = to_tensor
        with ops.float64_mode():
            out, w = attention_pool(t(queries), t(keys), t(values), kernel=kernel, bandwidth=bandwidth, return_weights=True)
            return to_numpy(out), to_numpy(w)

    def fit(x, y, kernel, epochs, lr, w_init, callback):
        with ops.float64_mode():
            net = make_model(kernel, w_init)
            cb = lambda e, loss, m: callback(e, loss, w_of(m))  # noqa: E731
            losses = train(net, to_tensor(x), to_tensor(y), epochs=epochs, lr=lr, callback=cb)
            return w_of(net), losses

    return ChapterBackend(ops.name, pool, fit)


@dataclass
class ChapterBackend:
    """What the demo needs from a framework: pooling with weights, and the chapter's training.

    ``pool(queries, keys, values, kernel, bandwidth) -> (predictions, weights)`` and
    ``fit(x, y, kernel, epochs, lr, w_init, callback) -> (w, losses)`` take and
    return NumPy arrays and floats.
    """

    name: str
    pool: Callable
    fit: Callable

    def fit_parametric(self, x, y, *, kernel, epochs, lr, w_init, callback=None) -> ParametricFit:
        ws = [float(w_init)]

        def record(epoch, loss, w):
            ws.append(float(w))
            if callback is not None:
                callback(epoch, loss, float(w))

        w, losses = self.fit(x, y, kernel, epochs, check_positive_float(lr, "lr"), float(w_init), record)
        return ParametricFit(
            w=float(w), w_init=float(w_init), losses=np.asarray(losses), w_history=np.asarray(ws), kernel=kernel.name
        )
