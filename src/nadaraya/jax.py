"""The chapter in JAX with Flax NNX: ``from nadaraya import jax as nwj``.

* :func:`attention_pool` — the NumPy core's semantics and kernels as a pure
  function (``jax.jit``, ``jax.grad`` and ``jax.vmap`` compatible).
* :class:`NWKernelRegression` (one learnable ``w``), :class:`NWPerDimRegression`
  (one ``w`` per dimension), :class:`NWLinearMapRegression` (learned linear maps
  of queries and keys): :class:`flax.nnx.Module` s called like the chapter's
  ``net(queries, keys, values)``; compile one with ``nnx.jit``.
* :func:`train` — the chapter's loop: ``optax.sgd`` on the summed squared error
  with leave-one-out keys.

Shapes as in :mod:`nadaraya.torch`. float64 needs JAX's 64-bit mode
(``jax.config.update("jax_enable_x64", True)`` or ``with jax.enable_x64(True):``).
Large inputs (shared keys, ``m * n`` above :data:`DENSE_MAX_PAIRS`, or a
``chunk_size``) pool as a chunked online softmax (``lax.map`` over query blocks,
``lax.scan`` over key blocks) whose blocks are recomputed in the backward pass
(``jax.checkpoint``): memory stays flat instead of O(m * n).
"""

from __future__ import annotations

import numpy as np

from . import _framework as fw

jax = fw.require("jax", "jax")
jnp = fw.require("jax.numpy", "jax")
nnx = fw.require("flax.nnx", "jax")
optax = fw.require("optax", "jax")

__all__ = ["attention_pool", "NWKernelRegression", "NWPerDimRegression", "NWLinearMapRegression", "train", "DENSE_MAX_PAIRS"]

DENSE_MAX_PAIRS = fw.DENSE_MAX_PAIRS  # above this many query-key pairs (shared keys) pooling runs chunked
_X64 = "run jax.config.update('jax_enable_x64', True) first, or build the model inside `with jax.enable_x64(True):`"


def _blocks(x, size):
    """(n, ...) → (ceil(n / size), size, ...), padded with zeros."""
    pad = -x.shape[0] % size
    return jnp.pad(x, [(0, pad)] + [(0, 0)] * (x.ndim - 1)).reshape((-1, size) + x.shape[1:])


def _pool_chunked(ops, qs, ks, vs, kernel, exclude_self, chunk):
    """Shared keys (m, d), (n, d), (n, k) → (m, k) by blocks, each recomputed in the backward pass."""
    (m, _), (n, _), cq, ck = qs.shape, ks.shape, min(chunk, qs.shape[0]), min(chunk, ks.shape[0])
    kb, vb = _blocks(ks, ck), _blocks(vs, ck)
    starts = jnp.arange(kb.shape[0]) * ck
    offset = jnp.where(starts[:, None] + jnp.arange(ck)[None, :] < n, 0.0, -jnp.inf).astype(qs.dtype)[:, None, :]  # padding

    @jax.checkpoint
    def block(qc, kc, vc, ok, r0, c0):
        return fw.block_state(ops, qc, kc, vc, kernel, exclude_self, r0, c0, key_offset=ok)

    def rows(r0_qc):
        r0, qc = r0_qc
        init = (jnp.full((cq, 1), -jnp.inf, qs.dtype), jnp.zeros((cq, 1), qs.dtype), jnp.zeros((cq, vs.shape[1]), vs.dtype))
        step = lambda state, xs: (fw.merge_states(ops, state, block(qc, *xs[:3], r0, xs[3])), None)  # noqa: E731
        state, _ = jax.lax.scan(step, init, (kb, vb, offset, starts))
        return fw.state_output(ops, state)

    qb = _blocks(qs, cq)
    return jax.lax.map(rows, (jnp.arange(qb.shape[0]) * cq, qb)).reshape((-1, vs.shape[1]))[:m]


def _as_tensor(x, like=None):
    """A floating jax array: in ``like``'s dtype when given, else float dtypes kept (others → the default float)."""
    if isinstance(x, nnx.Variable):
        x = x[...]
    if like is not None:
        return jnp.asarray(x, dtype=like.dtype)
    dtype = getattr(x, "dtype", None) or np.asarray(x).dtype
    return jnp.asarray(x, dtype=jax.dtypes.canonicalize_dtype(dtype if jnp.issubdtype(dtype, jnp.floating) else float))


class _Ops(fw.Ops.of(jnp, "where sqrt log1p cos tan exp maximum isfinite matmul full_like expand_dims")):
    name = "jax"
    chunked = staticmethod(_pool_chunked)
    as_tensor = staticmethod(_as_tensor)
    stop_gradient = staticmethod(jax.lax.stop_gradient)
    max_last = staticmethod(lambda s: jnp.max(s, axis=-1, keepdims=True))
    sum_last = staticmethod(lambda s: jnp.sum(s, axis=-1, keepdims=True))
    softmax = staticmethod(lambda s: jax.nn.softmax(s, axis=-1))
    itemsize = staticmethod(lambda t: t.dtype.itemsize)
    float64 = staticmethod(lambda a: jnp.asarray(a, dtype=jnp.float64))
    float64_mode = staticmethod(lambda: jax.enable_x64(True))
    to_numpy = staticmethod(lambda t: np.asarray(t[...] if isinstance(t, nnx.Variable) else t))

    @staticmethod
    def self_mask(s, row0, col0):
        return (jnp.arange(s.shape[-2]) + row0)[:, None] == (jnp.arange(s.shape[-1]) + col0)[None, :]


def attention_pool(
    queries, keys, values, *, kernel="gaussian", bandwidth=1.0, exclude_self=False, return_weights=False, chunk_size=None,
    max_bytes=None,
):
    """Nadaraya–Watson attention pooling, a pure JAX function (jit, grad and vmap compatible).

    :func:`nadaraya.attention_pool`'s semantics and kernels. ``bandwidth``: a positive number or an
    array of shape () or (d,) (traced values are not checked); the other keywords are static under jit.

    Returns
    -------
    Array (m,) or (m, k), and with ``return_weights=True`` the (m, n) weights:
    that call pools densely, after checking the weights fit in ``max_bytes``
    (default :data:`nadaraya._limits.MAX_WEIGHTS_BYTES`).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from nadaraya import jax as nwj
    >>> x = jnp.array([0.0, 1.0, 2.0])
    >>> nwj.attention_pool(jnp.array([1.0]), x, x**2).round(4)
    Array([1.5481], dtype=float32)
    """
    return fw.attention_pool(
        _Ops, queries, keys, values, kernel=kernel, bandwidth=bandwidth, exclude_self=exclude_self,
        return_weights=return_weights, max_bytes=max_bytes, chunk_size=chunk_size,
    )


class AttentionWeights(nnx.Variable):  # not a parameter: no gradient, not trained
    """The attention weights of a model's last call."""


class _NWBase(nnx.Module):
    """Shared call of the designs: map queries and keys, pool, keep the weights (an :class:`AttentionWeights`)."""

    def __init__(self, kernel, chunk_size):
        self.kernel = fw.check_kernel(kernel)
        self.chunk_size = chunk_size
        self.weights_ = AttentionWeights(None)

    @property
    def attention_weights(self):
        """The (m, n) attention weights of the last call, or None (before a call, or where the chunked path ran)."""
        return self.weights_.get_value()

    def __call__(self, queries, keys, values, exclude_self=False):  # shapes: see the module docstring
        out, w = fw.forward(_Ops, self, queries, keys, values, exclude_self, chunk_size=self.chunk_size)
        self.weights_ = AttentionWeights(w)
        return out

    def __repr__(self):
        return f"{type(self).__name__}(kernel={self.kernel.name!r})"


def _param(value, shape, dtype, seed, rngs):
    """A parameter: ``value`` broadcast to ``shape``, or the chapter's U[0, 1) draw (``jax.random.uniform``)."""
    dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    if dtype != jax.dtypes.canonicalize_dtype(dtype):
        raise ValueError(f"dtype={dtype.name} needs JAX's 64-bit mode: {_X64}")
    if value is None:
        key = rngs.params() if rngs is not None else jax.random.key(0 if seed is None else seed)
        return nnx.Param(jax.random.uniform(key, shape, dtype))
    return nnx.Param(jnp.broadcast_to(jnp.asarray(value, dtype), shape))


class NWKernelRegression(_NWBase):
    """The chapter's parametric attention pooling: ``softmax(-((q - k) w)**2 / 2) @ v`` with one learnable ``w``.

    Parameters
    ----------
    kernel : str, default "gaussian"
        The score is ``log K(|q - k| |w|)`` (the chapter's kernel is Gaussian).
    w_init : float, optional
        Initial ``w``; default a ``jax.random.uniform`` draw from [0, 1) (the chapter's
        ``torch.rand((1,))``) keyed by ``rngs.params()``, else ``jax.random.key(seed or 0)``.
    seed : int, optional
    rngs : flax.nnx.Rngs, optional
    dtype : str, optional
        Of the parameter (default: JAX's default float); inputs are cast to it.
    chunk_size : int, optional
        Force the chunked, memory-flat path (shared keys).

    Examples
    --------
    >>> import jax.numpy as jnp
    >>> from nadaraya import jax as nwj
    >>> net = nwj.NWKernelRegression(w_init=1.0)
    >>> x = jnp.linspace(0, 5, 6)
    >>> net(x, x, jnp.sin(x), exclude_self=True).shape, net.attention_weights.shape
    ((6,), (6, 6))
    """

    def __init__(self, kernel="gaussian", w_init=None, *, seed=None, rngs=None, dtype=None, chunk_size=None):
        super().__init__(kernel, chunk_size)
        self.w = _param(w_init, (1,), dtype, seed, rngs)

    def _map(self, x, role):
        return x * self.w[...]


class NWPerDimRegression(_NWBase):
    """One learnable ``w`` per input dimension: score ``log K(|(q - k) * w|)`` with ``w`` of shape (d,)."""

    def __init__(self, d, kernel="gaussian", w_init=None, *, seed=None, rngs=None, dtype=None, chunk_size=None):
        super().__init__(kernel, chunk_size)
        self.w = _param(w_init, (int(d),), dtype, seed, rngs)

    def _map(self, x, role):
        return x * self.w[...]


class NWLinearMapRegression(_NWBase):
    """Learned linear maps of queries and keys: score ``log K(|W_q q - W_k k|)``, both maps starting at ``w_init * I``."""

    def __init__(self, d, d_proj=None, kernel="gaussian", w_init=1.0, *, dtype=None):
        super().__init__(kernel, None)
        eye = np.eye(int(d) if d_proj is None else int(d_proj), int(d)) * float(w_init)
        self.w_queries, self.w_keys = _param(eye, eye.shape, dtype, None, None), _param(eye, eye.shape, dtype, None, None)

    def _map(self, x, role):
        return x @ (self.w_queries if role == "queries" else self.w_keys)[...].T


def train(model, x, y, *, epochs=5, lr=0.5, callback=None, exclude_self=True):
    # the docstring is _framework.TRAIN_DOC, shared by the framework modules
    lr = fw.check_positive_float(lr, "lr")
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    like = jax.tree.leaves(params)[0]
    x, y = _as_tensor(x, like), _as_tensor(y, like)
    sgd = optax.sgd(lr)
    state = [params, sgd.init(params)]

    @jax.jit
    def update(params, opt_state):
        def loss_of(p):
            return jnp.sum((nnx.merge(graphdef, p, rest)(x, x, y, exclude_self=exclude_self) - y) ** 2)

        loss, grads = jax.value_and_grad(loss_of)(params)
        updates, opt_state = sgd.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    def step():
        params, opt_state, loss = update(*state)
        state[:] = params, opt_state
        nnx.update(model, params)
        return loss

    return fw.train_loop(step, model, epochs=epochs, callback=callback)


train.__doc__ = fw.TRAIN_DOC.format(tensor="Array", step="one full-batch step of ``optax.sgd`` (jitted)")


def _chapter_backend():
    """The demo's adapter: NumPy in, NumPy out, computed by this module in float64."""
    model = lambda kernel, w_init: NWKernelRegression(kernel, w_init, dtype="float64")  # noqa: E731
    return fw.chapter_backend(_Ops, attention_pool=attention_pool, train=train, make_model=model)
