"""What the framework modules (torch, tensorflow, mxnet) share: argument checks,
shape forms, the training loop and the demo back-end adapter.

Framework files only convert tensors and call into this module and
:mod:`nadaraya.kernels`; the kernel formulas, the loss convention and the
chapter's run are written once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ._checks import check_positive_float, check_positive_int
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


#: The docstring of every framework's ``train`` (``{tensor}``: its tensor type; ``{step}``: its update).
TRAIN_DOC = """Train ``model`` as in the chapter: SGD, summed squared loss, leave-one-out keys.

    Each epoch is {step} on ``L = sum_j (model(x_j; other pairs) - y_j)**2``
    (the loss is taken before the step, as the chapter prints it; MXNet's
    ``L2Loss`` would be half of it).

    Parameters
    ----------
    model : NWKernelRegression or another design of this module
    x : {tensor} (n,) or (n, d)
    y : {tensor} (n,)
    epochs : int, default 5
    lr : float, default 0.5
    callback : callable, optional
        ``callback(epoch, loss, model)`` after each epoch.

    Returns
    -------
    list of float
        The loss of each epoch.
    """


def train_loop(step: Callable[[], float], get_w: Callable[[], object], *, epochs, callback=None) -> list[float]:
    """The chapter's loop: ``epochs`` full-batch steps; ``step()`` returns the loss before its update.

    ``callback(epoch, loss, w)`` runs after each epoch; each epoch is also logged.
    """
    epochs = check_positive_int(epochs, "epochs")
    losses = []
    for epoch in range(1, epochs + 1):
        loss = float(step())
        if not np.isfinite(loss):
            raise ValueError(f"training diverged at epoch {epoch} (loss {loss}); use a smaller learning rate lr")
        losses.append(loss)
        w = get_w()
        log.info("epoch %d, loss %.6f, w %s", epoch, loss, w)
        if callback is not None:
            callback(epoch, loss, w)
    return losses


def w_init_value(w_init, rng_draw: Callable[[], float]) -> float:
    value = float(rng_draw()) if w_init is None else float(w_init)
    if not np.isfinite(value):
        raise ValueError(f"w_init must be finite, got {w_init}")
    return value


def chapter_backend(name, *, attention_pool, train, make_model, to_tensor, to_numpy, w_of) -> ChapterBackend:
    """Build a framework's demo adapter from its own pieces (the same recipe for every framework).

    ``make_model(kernel, w_init)`` builds the chapter's one-``w`` model in
    float64; ``to_tensor`` / ``to_numpy`` convert arrays; ``w_of(model)`` reads
    ``w`` as a float.
    """

    def pool(queries, keys, values, kernel, bandwidth):
        t = to_tensor
        out, w = attention_pool(t(queries), t(keys), t(values), kernel=kernel, bandwidth=bandwidth, return_weights=True)
        return to_numpy(out), to_numpy(w)

    def fit(x, y, kernel, epochs, lr, w_init, callback):
        net = make_model(kernel, w_init)
        losses = train(
            net, to_tensor(x), to_tensor(y), epochs=epochs, lr=lr, callback=lambda e, loss, m: callback(e, loss, w_of(m))
        )
        return w_of(net), losses

    return ChapterBackend(name, pool, fit)


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
