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

DENSE_MAX_PAIRS = fw.DENSE_MAX_PAIRS  # above this many query-key pairs (shared keys) pooling runs chunked
CHUNK_SIZE = fw.CHUNK_SIZE  # queries and keys per block of the chunked path


def _pool_chunked(ops, qs, ks, vs, kernel, exclude_self, chunk):
    """Shared keys (m, d), (n, d), (n, k) → (m, k) by chunks, each recomputed in the backward pass."""
    grad = torch.is_grad_enabled() and any(t.requires_grad for t in (qs, ks, vs))
    outs = []
    for r0 in range(0, qs.shape[0], chunk):
        qc = qs[r0 : r0 + chunk]
        state = None
        for c0 in range(0, ks.shape[0], chunk):
            args = (ops, qc, ks[c0 : c0 + chunk], vs[c0 : c0 + chunk], kernel, exclude_self, r0, c0)
            part = _checkpoint(fw.block_state, *args, use_reentrant=False) if grad else fw.block_state(*args)
            state = part if state is None else fw.merge_states(ops, state, part)
        outs.append(fw.state_output(ops, state))
    return torch.cat(outs)


def _as_tensor(x, like=None):
    if isinstance(x, torch.Tensor):
        return x
    dtype = like.dtype if isinstance(like, torch.Tensor) and like.is_floating_point() else torch.get_default_dtype()
    device = like.device if isinstance(like, torch.Tensor) else None
    return torch.as_tensor(x, dtype=dtype, device=device)


class _Ops(fw.Ops.of(torch, "where sqrt log1p cos tan exp maximum isfinite matmul full_like")):
    name = "torch"
    chunked = staticmethod(_pool_chunked)
    as_tensor = staticmethod(_as_tensor)
    max_last = staticmethod(lambda s: s.amax(-1, keepdim=True))
    sum_last = staticmethod(lambda s: s.sum(-1, keepdim=True))
    softmax = staticmethod(lambda s: torch.softmax(s, dim=-1))
    expand_dims = staticmethod(torch.unsqueeze)
    stop_gradient = staticmethod(torch.Tensor.detach)
    itemsize = staticmethod(torch.Tensor.element_size)
    float64 = staticmethod(lambda a: torch.as_tensor(a, dtype=torch.float64))
    to_numpy = staticmethod(lambda t: t.detach().cpu().numpy())

    @staticmethod
    def self_mask(s, row0, col0):
        rows = torch.arange(row0, row0 + s.shape[-2], device=s.device)
        cols = torch.arange(col0, col0 + s.shape[-1], device=s.device)
        return rows[:, None] == cols[None, :]


def attention_pool(
    queries, keys, values, *, kernel="gaussian", bandwidth=1.0, exclude_self=False, return_weights=False, chunk_size=None,
    max_bytes=None,
):
    """Nadaraya–Watson attention pooling, differentiable by autograd.

    Same semantics and kernels as :func:`nadaraya.attention_pool`; see the
    module docstring for the shapes. ``bandwidth`` is a positive number or a
    tensor of shape () or (d,) (it may require grad; tensors are not checked
    for positivity, to avoid a host synchronisation).

    Returns
    -------
    Tensor (m,) or (m, k); with ``return_weights=True`` also the (m, n)
    attention weights (this forces the dense path, which first checks that
    they fit in ``max_bytes``, default :data:`nadaraya._limits.MAX_WEIGHTS_BYTES`).

    Examples
    --------
    >>> import torch
    >>> from nadaraya import torch as nwt
    >>> x = torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64)
    >>> nwt.attention_pool(torch.tensor([1.0], dtype=torch.float64), x, x**2)
    tensor([1.5481], dtype=torch.float64)
    """
    return fw.attention_pool(
        _Ops, queries, keys, values, kernel=kernel, bandwidth=bandwidth, exclude_self=exclude_self,
        return_weights=return_weights, max_bytes=max_bytes, chunk_size=chunk_size,
    )


class _NWBase(nn.Module):
    """Shared forward of the parametric designs: map queries and keys, pool, keep the weights."""

    def __init__(self, kernel, chunk_size):
        super().__init__()
        self.kernel = fw.check_kernel(kernel)
        self.chunk_size = chunk_size
        self.attention_weights = None

    def forward(self, queries, keys, values, exclude_self=False):
        # queries (m[, d]); keys (n[, d]) shared or (m, n[, d]) per query; values likewise
        out, self.attention_weights = fw.forward(_Ops, self, queries, keys, values, exclude_self, chunk_size=self.chunk_size)
        return out

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


def train(model, x, y, *, epochs=5, lr=0.5, callback=None, exclude_self=True):
    # the docstring is _framework.TRAIN_DOC, shared by the three frameworks
    lr = fw.check_positive_float(lr, "lr")
    params = [p for p in model.parameters() if p.requires_grad]
    x, y = _as_tensor(x, params[0]), _as_tensor(y, params[0])
    optimizer = torch.optim.SGD(params, lr=lr)

    def step():
        optimizer.zero_grad()
        loss = ((model(x, x, y, exclude_self=exclude_self) - y) ** 2).sum()
        loss.backward()
        optimizer.step()
        return loss.item()

    return fw.train_loop(step, model, epochs=epochs, callback=callback)


train.__doc__ = fw.TRAIN_DOC.format(tensor="Tensor", step="one full-batch step of ``torch.optim.SGD``")


def _chapter_backend():
    """The demo's adapter: NumPy in, NumPy out, computed by this module in float64."""
    model = lambda kernel, w_init: NWKernelRegression(kernel, w_init, dtype=torch.float64)  # noqa: E731
    return fw.chapter_backend(_Ops, attention_pool=attention_pool, train=train, make_model=model)
