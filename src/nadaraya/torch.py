"""The chapter in PyTorch: ``from nadaraya import torch as nwt``.

* :func:`attention_pool` — the NumPy core's semantics and kernels, differentiable
  by autograd (in the queries, keys, values and the bandwidth), on any device.
* :class:`NWKernelRegression` — the chapter's parametric attention pooling with
  one learnable ``w``, an :class:`torch.nn.Module`; :class:`NWPerDimRegression`
  (one ``w`` per input dimension) and :class:`NWLinearMapRegression` (learned
  linear maps of queries and keys: the step towards learned attention).
* :func:`train` — the chapter's loop: SGD on the summed squared error with
  leave-one-out keys.

Shapes (m queries, n keys, d dimensions, k outputs): shared keys — queries
(m,) or (m, d), keys (n,) or (n, d), values (n,) or (n, k); or the chapter's
call where every query has its own keys — queries (m,) or (m, d), keys (m, n)
or (m, n, d), values (m, n) or (m, n, k).

Large inputs: with shared keys and ``m * n`` above :data:`DENSE_MAX_PAIRS` (or a
``chunk_size``), pooling runs as a chunked online softmax whose chunks are
recomputed in the backward pass (``torch.utils.checkpoint``), so memory stays
O((m + n) * n / chunk) instead of O(m * n), with autograd. Nothing in
``forward`` synchronises with the host: tensors stay on their device.
"""

from __future__ import annotations

import math

from . import _framework as fw

torch = fw.require("torch", "torch")
nn = torch.nn
_checkpoint = torch.utils.checkpoint.checkpoint

__all__ = [
    "attention_pool",
    "NWKernelRegression",
    "NWPerDimRegression",
    "NWLinearMapRegression",
    "train",
    "DENSE_MAX_PAIRS",
]

#: Above this many query-key pairs (shared keys) pooling runs chunked.
DENSE_MAX_PAIRS = 1 << 24

#: Queries and keys per block of the chunked path.
CHUNK_SIZE = 4096


class _Ops:
    where = staticmethod(torch.where)
    sqrt = staticmethod(torch.sqrt)
    log1p = staticmethod(torch.log1p)
    cos = staticmethod(torch.cos)
    tan = staticmethod(torch.tan)

    @staticmethod
    def full_like(t, value):
        return torch.full_like(t, value)


def _scores(qs, ks, kernel, exclude_self=False, row0=0, col0=0):
    s = kernel.score_with(fw.sqdist(qs, ks), _Ops)
    if exclude_self:
        rows = torch.arange(row0, row0 + qs.shape[-2], device=qs.device)
        cols = torch.arange(col0, col0 + ks.shape[-2], device=qs.device)
        s = s.masked_fill(rows[:, None] == cols[None, :], -math.inf)
    return s


def _partial(qs, ks, vs, kernel, exclude_self, row0, col0):
    """Online-softmax state of a block of queries over a block of keys: (max, denominator, weighted sum)."""
    s = _scores(qs, ks, kernel, exclude_self, row0, col0)
    mx = s.amax(-1).detach()  # a shift: the softmax does not depend on it
    e = torch.exp(s - torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))[:, None])
    return mx, e.sum(-1), e @ vs


def _merge(a, b):
    """Merge two partial states over disjoint key blocks, exactly, in log space."""
    (ma, da, sa), (mb, db, sb) = a, b
    m = torch.maximum(ma, mb)
    safe = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    fa = torch.where(torch.isfinite(ma), torch.exp(ma - safe), torch.zeros_like(ma))
    fb = torch.where(torch.isfinite(mb), torch.exp(mb - safe), torch.zeros_like(mb))
    return m, da * fa + db * fb, sa * fa[:, None] + sb * fb[:, None]


def _pool_chunked(qs, ks, vs, kernel, exclude_self, chunk):
    """Shared keys (m, d), (n, d), (n, k) → (m, k) by chunks, recomputed in backward."""
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (qs, ks, vs))
    outs = []
    for r0 in range(0, qs.shape[0], chunk):
        qc = qs[r0 : r0 + chunk]
        state = None
        for c0 in range(0, ks.shape[0], chunk):
            args = (qc, ks[c0 : c0 + chunk], vs[c0 : c0 + chunk], kernel, exclude_self, r0, c0)
            part = _checkpoint(_partial, *args, use_reentrant=False) if grad else _partial(*args)
            state = part if state is None else _merge(state, part)
        _, den, acc = state
        ok = den[:, None] > 0  # a query with no key in a compact support: NaN, with zero gradient
        outs.append(torch.where(ok, acc / torch.where(ok, den[:, None], torch.ones_like(acc)), torch.full_like(acc, math.nan)))
    return torch.cat(outs)


def _softmax(s):
    """Softmax over keys → (weights with NaN rows, finite weights, empty-row mask).

    A row with every score -inf (no key inside a compact kernel's support) has
    no estimate: its weights and output are NaN, set after the arithmetic so
    that gradients elsewhere stay finite.
    """
    empty = ~torch.isfinite(s.amax(-1, keepdim=True))
    w = torch.softmax(torch.where(empty, torch.zeros_like(s), s), dim=-1)
    return torch.where(empty, torch.full_like(w, math.nan), w), w, empty


def _pool(qs, ks, vs, form, kernel, exclude_self, want_weights, chunk_size):
    """Pool already-scaled 2-D/3-D inputs; returns (output (m, k), weights or None)."""
    if not form.per_query and (chunk_size is not None or qs.shape[0] * ks.shape[0] > DENSE_MAX_PAIRS) and not want_weights:
        return _pool_chunked(qs, ks, vs, kernel, exclude_self, chunk_size or CHUNK_SIZE), None
    if form.per_query:  # (m, 1, d) against (m, n, d): the chapter's batch matrix multiplication
        w, finite, empty = _softmax(_scores(qs[:, None, :], ks, kernel))  # (m, 1, n)
        out, w, empty = torch.bmm(finite, vs)[:, 0], w[:, 0], empty[:, 0]
    else:
        w, finite, empty = _softmax(_scores(qs, ks, kernel, exclude_self))
        out = finite @ vs
    return torch.where(empty, torch.full_like(out, math.nan), out), w


def _as_tensor(x, like=None):
    if isinstance(x, torch.Tensor):
        return x
    dtype = like.dtype if isinstance(like, torch.Tensor) and like.is_floating_point() else torch.get_default_dtype()
    device = like.device if isinstance(like, torch.Tensor) else None
    return torch.as_tensor(x, dtype=dtype, device=device)


def _canonical(queries, keys, values, exclude_self):
    """Give every call the layout (m, d) / (n, d) or (m, n, d) / values (.., k)."""
    q = _as_tensor(queries)
    return fw.canonical(q, _as_tensor(keys, q), _as_tensor(values, q), exclude_self)


def attention_pool(
    queries, keys, values, *, kernel="gaussian", bandwidth=1.0, exclude_self=False, return_weights=False, chunk_size=None
):
    """Nadaraya–Watson attention pooling, differentiable by autograd.

    Same semantics and kernels as :func:`nadaraya.attention_pool`; see the
    module docstring for the shapes. ``bandwidth`` is a positive number or a
    tensor of shape () or (d,) (it may require grad; tensors are not checked
    for positivity, to avoid a host synchronisation).

    Returns
    -------
    Tensor (m,) or (m, k); with ``return_weights=True`` also the (m, n)
    attention weights (this forces the dense path).

    Examples
    --------
    >>> import torch
    >>> from nadaraya import torch as nwt
    >>> x = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    >>> nwt.attention_pool(torch.tensor([1.0], dtype=torch.float64), x, x**2)
    tensor([1.5481], dtype=torch.float64)
    """
    kern = fw.check_kernel(kernel)
    fw.check_bandwidth_value(bandwidth)
    q, k, v, form = _canonical(queries, keys, values, exclude_self)
    h = _as_tensor(bandwidth, q)
    out, w = _pool(q / h, k / h, v, form, kern, exclude_self, return_weights, chunk_size)
    out = fw.finish(out, form)
    return (out, w) if return_weights else out


class _NWBase(nn.Module):
    """Shared forward of the parametric designs: map queries and keys, pool, keep the weights."""

    def __init__(self, kernel, chunk_size):
        super().__init__()
        self.kernel = fw.check_kernel(kernel)
        self.chunk_size = chunk_size
        self.attention_weights = None

    def forward(self, queries, keys, values, exclude_self=False):
        # queries (m[, d]); keys (n[, d]) shared or (m, n[, d]) per query; values likewise
        q, k, v, form = _canonical(queries, keys, values, exclude_self)
        big = not form.per_query and q.shape[0] * k.shape[-2] > DENSE_MAX_PAIRS
        keep = not big and self.chunk_size is None  # weights are kept only where the dense path runs
        out, w = _pool(
            self._map(q, "queries"), self._map(k, "keys"), v, form, self.kernel, exclude_self, keep, self.chunk_size
        )
        self.attention_weights = None if w is None else w.detach()
        return fw.finish(out, form)

    def extra_repr(self):
        return f"kernel={self.kernel.name!r}"


def _w_parameter(w_init, shape, dtype, device, generator):
    if w_init is None:
        w = torch.rand(shape, generator=generator, dtype=dtype, device=device)
    else:
        w = torch.as_tensor(w_init, dtype=dtype, device=device).clone().reshape(shape)
    return nn.Parameter(w)


class NWKernelRegression(_NWBase):
    """The chapter's parametric attention pooling: ``softmax(-((q - k) w)**2 / 2) @ v`` with one learnable ``w``.

    Parameters
    ----------
    kernel : str, default "gaussian"
        Score ``log K(|q - k| |w|)``; the chapter's is Gaussian.
    w_init : float, optional
        Initial ``w``; by default ``torch.rand((1,))`` as in the chapter.
    dtype, device, generator :
        For the parameter.
    chunk_size : int, optional
        Force the chunked, memory-flat path (shared keys).

    Examples
    --------
    >>> import torch
    >>> from nadaraya import torch as nwt
    >>> net = nwt.NWKernelRegression(w_init=1.0, dtype=torch.float64)
    >>> x = torch.linspace(0, 5, 6, dtype=torch.float64)
    >>> net(x, x, torch.sin(x), exclude_self=True).shape, net.attention_weights.shape
    (torch.Size([6]), torch.Size([6, 6]))
    """

    def __init__(self, kernel="gaussian", w_init=None, *, dtype=None, device=None, generator=None, chunk_size=None):
        super().__init__(kernel, chunk_size)
        self.w = _w_parameter(w_init, (1,), dtype, device, generator)

    def _map(self, x, role):
        return x * self.w


class NWPerDimRegression(_NWBase):
    """One learnable ``w`` per input dimension: score ``log K(|(q - k) * w|)`` with ``w`` of shape (d,)."""

    def __init__(self, d, kernel="gaussian", w_init=None, *, dtype=None, device=None, generator=None, chunk_size=None):
        super().__init__(kernel, chunk_size)
        self.w = _w_parameter(w_init, (int(d),), dtype, device, generator)

    def _map(self, x, role):
        return x * self.w


class NWLinearMapRegression(_NWBase):
    """Learned linear maps of queries and keys: score ``log K(|W_q q - W_k k|)``.

    With ``W_q = W_k = w I`` this is :class:`NWKernelRegression`; separate maps
    let the model learn which directions matter (kernel regression turning into
    learned attention). Both maps start at ``w_init * I``.
    """

    def __init__(self, d, d_proj=None, kernel="gaussian", w_init=1.0, *, dtype=None, device=None):
        super().__init__(kernel, None)
        d_proj = int(d) if d_proj is None else int(d_proj)
        eye = torch.eye(d_proj, int(d), dtype=dtype, device=device) * float(w_init)
        self.w_queries = nn.Parameter(eye.clone())
        self.w_keys = nn.Parameter(eye.clone())

    def _map(self, x, role):
        return x @ (self.w_queries if role == "queries" else self.w_keys).T


def train(model, x, y, *, epochs=5, lr=0.5, callback=None):
    # the docstring is _framework.TRAIN_DOC, shared by the three frameworks
    lr = fw.check_positive_float(lr, "lr")
    params = [p for p in model.parameters() if p.requires_grad]
    x, y = _as_tensor(x, params[0]), _as_tensor(y, params[0])
    optimizer = torch.optim.SGD(params, lr=lr)

    def step():
        optimizer.zero_grad()
        loss = ((model(x, x, y, exclude_self=True) - y) ** 2).sum()
        loss.backward()
        optimizer.step()
        return loss.item()

    cb = None if callback is None else (lambda epoch, loss, _: callback(epoch, loss, model))
    return fw.train_loop(step, lambda: getattr(model, "w", None), epochs=epochs, callback=cb)


train.__doc__ = fw.TRAIN_DOC.format(tensor="Tensor", step="one full-batch step of ``torch.optim.SGD``")


def _chapter_backend():
    """The demo's adapter: NumPy in, NumPy out, computed by this module in float64."""
    return fw.chapter_backend(
        "torch",
        attention_pool=attention_pool,
        train=train,
        make_model=lambda kernel, w_init: NWKernelRegression(kernel, w_init, dtype=torch.float64),
        to_tensor=lambda a: torch.as_tensor(a, dtype=torch.float64),
        to_numpy=lambda t: t.numpy(),
        w_of=lambda net: net.w.item(),
    )
