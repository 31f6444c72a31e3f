"""The chapter in MXNet: ``from nadaraya import mxnet as nwmx``.

MXNet 1.9.1 needs numpy < 1.24, so this module runs in its own environment
(``.venv-mxnet``, versions in ``constraints-mxnet.txt``).

* :func:`attention_pool` — the NumPy core's semantics and kernels on
  ``mxnet.nd`` arrays, differentiable by ``mxnet.autograd`` (in the queries,
  keys, values and the bandwidth).
* :class:`NWKernelRegression` — the chapter's parametric attention pooling with
  one learnable ``w``, a :class:`mxnet.gluon.Block`; :class:`NWPerDimRegression`
  (one ``w`` per input dimension) and :class:`NWLinearMapRegression` (learned
  linear maps of queries and keys: the step towards learned attention).
* :func:`train` — the chapter's loop: SGD on the summed squared error with
  leave-one-out keys.

Shapes (m queries, n keys, d dimensions, k outputs): shared keys — queries
(m,) or (m, d), keys (n,) or (n, d), values (n,) or (n, k); or the chapter's
call where every query has its own keys — queries (m,) or (m, d), keys (m, n)
or (m, n, d), values (m, n) or (m, n, k).

Pooling here is dense, holding the (m, n) scores as the chapter does, after checking
their size against ``max_bytes`` (PyTorch and JAX have a memory-flat path). Scores,
softmax, pooling, shapes, training loop and demo adapter: :mod:`nadaraya._framework`.
"""

from __future__ import annotations

import warnings

import numpy as np

from . import _framework as fw

with warnings.catch_warnings():  # MXNet 1.9.1 still uses np.bool, deprecated since numpy 1.20
    warnings.simplefilter("ignore", DeprecationWarning)
    mx = fw.require("mxnet", "mxnet")
nd, autograd, gluon = mx.nd, mx.autograd, mx.gluon

__all__ = ["attention_pool", "NWKernelRegression", "NWPerDimRegression", "NWLinearMapRegression", "train"]


def _as_tensor(x, like=None):
    """An NDArray: in ``like``'s dtype and context when given, else floating NumPy dtypes kept (others → float64)."""
    if isinstance(x, nd.NDArray):
        return x if like is None or x.dtype == like.dtype else nd.cast(x, like.dtype)
    if like is not None:
        return nd.array(np.asarray(x), ctx=like.context, dtype=like.dtype)
    a = np.asarray(x)
    return nd.array(a, dtype=a.dtype if a.dtype.kind == "f" else np.float64)


class _Ops(fw.Ops.of(nd, "sqrt log1p cos tan")):
    name = "mxnet"
    as_tensor = staticmethod(_as_tensor)
    max_last = staticmethod(lambda s: nd.max(s, axis=-1, keepdims=True))
    softmax = staticmethod(lambda s: nd.softmax(s, axis=-1))
    expand_dims = staticmethod(lambda x, axis: nd.expand_dims(x, axis))
    stop_gradient = staticmethod(lambda t: t.detach())
    itemsize = staticmethod(lambda t: np.dtype(t.dtype).itemsize)
    float64 = staticmethod(lambda a: nd.array(a, dtype=np.float64))
    to_numpy = staticmethod(lambda t: (t.data() if isinstance(t, gluon.Parameter) else t).asnumpy())

    @classmethod
    def bandwidth(cls, h, like):
        return _as_tensor(h if isinstance(h, nd.NDArray) else np.atleast_1d(h), like)  # nd has no 0-d arrays

    @staticmethod
    def where(cond, x, y):  # nd.where does not broadcast its condition
        return nd.where(nd.broadcast_like(cond, x) if cond.shape != x.shape else cond, x, y)

    @staticmethod
    def full_like(t, value):
        return nd.full(t.shape, value, ctx=t.context, dtype=t.dtype)

    @staticmethod
    def matmul(a, b):
        return nd.batch_dot(a, b) if a.ndim == 3 else nd.dot(a, b)

    @staticmethod
    def self_mask(s, row0, col0):
        return nd.eye(s.shape[-2], s.shape[-1], k=row0 - col0, ctx=s.context, dtype=s.dtype)


def attention_pool(
    queries, keys, values, *, kernel="gaussian", bandwidth=1.0, exclude_self=False, return_weights=False, max_bytes=None
):
    """Nadaraya–Watson attention pooling, differentiable by ``mxnet.autograd``.

    Same semantics and kernels as :func:`nadaraya.attention_pool`; see the
    module docstring for the shapes. ``bandwidth`` is a positive number or an
    NDArray of shape (1,) or (d,) (it may have a gradient attached). Keys,
    values and bandwidth take the queries' dtype.

    Returns
    -------
    NDArray (m,) or (m, k); with ``return_weights=True`` also the (m, n)
    attention weights. Pooling is dense: it first checks that the (m, n)
    weights fit in ``max_bytes`` (default :data:`nadaraya._limits.MAX_WEIGHTS_BYTES`).

    Notes
    -----
    Reference implementation (shared keys)::

        t = sum_j ((q[:, None, j] - k[None, :, j]) / h[j]) ** 2      # (m, n)
        s = kernel.score(t); s[i, i] = -inf if exclude_self
        return nd.dot(nd.softmax(s, axis=-1), v)

    Examples
    --------
    >>> from mxnet import nd
    >>> from nadaraya import mxnet as nwmx
    >>> x = nd.array([0.0, 1.0, 2.0], dtype="float64")
    >>> nwmx.attention_pool(nd.array([1.0], dtype="float64"), x, x**2).asnumpy().round(4)
    array([1.5481])
    """
    return fw.attention_pool(
        _Ops, queries, keys, values, kernel=kernel, bandwidth=bandwidth, exclude_self=exclude_self,
        return_weights=return_weights, max_bytes=max_bytes,
    )


class _NWBase(gluon.Block):
    """Shared forward of the parametric designs: map queries and keys, pool, keep the weights."""

    def __init__(self, kernel, **kwargs):
        super().__init__(**kwargs)
        self.kernel = fw.check_kernel(kernel)
        self.attention_weights = None

    def __call__(self, queries, keys, values, exclude_self=False):
        # gluon's Block.__call__ passes positional arguments only
        return super().__call__(queries, keys, values, bool(exclude_self))

    def forward(self, queries, keys, values, exclude_self=False):
        # queries (m[, d]); keys (n[, d]) shared or (m, n[, d]) per query; values likewise
        out, self.attention_weights = fw.forward(_Ops, self, queries, keys, values, exclude_self, like=self._first().data())
        return out

    def _first(self):
        return next(iter(self.params.values()))

    def _parameter(self, name, value, dtype, ctx):
        """A parameter initialised to ``value`` (a NumPy array)."""
        p = self.params.get(name, shape=value.shape, dtype=dtype, init=mx.init.Zero())
        p.initialize(ctx=ctx)
        p.set_data(nd.array(value, ctx=ctx, dtype=dtype))
        return p

    def __repr__(self):
        return f"{type(self).__name__}(kernel={self.kernel.name!r})"


def _w_value(w_init, shape, seed):
    """Initial ``w``: the given values, or U[0, 1) drawn with ``numpy.random.default_rng(seed)``."""
    if w_init is None:
        return np.random.default_rng(seed).uniform(0.0, 1.0, shape)
    return np.broadcast_to(np.asarray(w_init, dtype=np.float64), shape).copy()


class NWKernelRegression(_NWBase):
    """The chapter's parametric attention pooling: ``softmax(-((q - k) w)**2 / 2) @ v`` with one learnable ``w``.

    Parameters
    ----------
    kernel : str, default "gaussian"
        Score ``log K(|q - k| |w|)``; the chapter's is Gaussian.
    w_init : float, optional
        Initial ``w``; by default drawn from U[0, 1) with
        ``numpy.random.default_rng(seed)`` (the chapter's ``torch.rand((1,))``).
    seed : int, optional
    dtype : str, default "float32"
    ctx : mxnet.Context, optional
        For the parameter (default: the current context).

    Examples
    --------
    >>> from mxnet import nd
    >>> from nadaraya import mxnet as nwmx
    >>> net = nwmx.NWKernelRegression(w_init=1.0, dtype="float64")
    >>> x = nd.arange(6, dtype="float64")
    >>> net(x, x, nd.sin(x), exclude_self=True).shape, net.attention_weights.shape
    ((6,), (6, 6))
    """

    def __init__(self, kernel="gaussian", w_init=None, *, seed=None, dtype="float32", ctx=None, **kwargs):
        super().__init__(kernel, **kwargs)
        self.w = self._parameter("w", _w_value(w_init, (1,), seed), dtype, ctx)

    def _map(self, x, role):
        return x * self.w.data(x.context)


class NWPerDimRegression(_NWBase):
    """One learnable ``w`` per input dimension: score ``log K(|(q - k) * w|)`` with ``w`` of shape (d,)."""

    def __init__(self, d, kernel="gaussian", w_init=None, *, seed=None, dtype="float32", ctx=None, **kwargs):
        super().__init__(kernel, **kwargs)
        self.w = self._parameter("w", _w_value(w_init, (int(d),), seed), dtype, ctx)

    def _map(self, x, role):
        return x * self.w.data(x.context)


class NWLinearMapRegression(_NWBase):
    """Learned linear maps of queries and keys: score ``log K(|W_q q - W_k k|)``.

    With ``W_q = W_k = w I`` this is :class:`NWKernelRegression`; separate maps
    let the model learn which directions matter (kernel regression turning into
    learned attention). Both maps start at ``w_init * I``.
    """

    def __init__(self, d, d_proj=None, kernel="gaussian", w_init=1.0, *, dtype="float32", ctx=None, **kwargs):
        super().__init__(kernel, **kwargs)
        d_proj = int(d) if d_proj is None else int(d_proj)
        eye = np.eye(d_proj, int(d)) * float(w_init)
        self.w_queries = self._parameter("w_queries", eye, dtype, ctx)
        self.w_keys = self._parameter("w_keys", eye, dtype, ctx)

    def _map(self, x, role):
        w = self.w_queries if role == "queries" else self.w_keys
        return nd.dot(x, w.data(x.context), transpose_b=True)


def train(model, x, y, *, epochs=5, lr=0.5, callback=None, exclude_self=True):
    # the docstring is _framework.TRAIN_DOC, shared by the three frameworks
    lr = fw.check_positive_float(lr, "lr")
    params = model.collect_params()
    like = model._first().data()
    x, y = _as_tensor(x, like), _as_tensor(y, like)
    trainer = gluon.Trainer(params, "sgd", {"learning_rate": lr}, kvstore=None)

    def step():
        with autograd.record():
            loss = ((model(x, x, y, exclude_self=exclude_self) - y) ** 2).sum()
        loss.backward()
        trainer.step(1)  # batch size 1: the update is lr times the gradient of the summed loss
        return loss.asscalar()

    w_of = lambda net: None if getattr(net, "w", None) is None else net.w.data().asnumpy()  # noqa: E731
    return fw.train_loop(step, model, epochs=epochs, callback=callback, w_of=w_of)


train.__doc__ = fw.TRAIN_DOC.format(tensor="NDArray", step="one full-batch step of ``gluon.Trainer(..., 'sgd')``")


def _chapter_backend():
    """The demo's adapter: NumPy in, NumPy out, computed by this module in float64."""
    model = lambda kernel, w_init: NWKernelRegression(kernel, w_init, dtype="float64")  # noqa: E731
    return fw.chapter_backend(_Ops, attention_pool=attention_pool, train=train, make_model=model)
