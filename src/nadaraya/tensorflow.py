"""The chapter in TensorFlow: ``from nadaraya import tensorflow as nwtf``.

* :func:`attention_pool` — the NumPy core's semantics and kernels, differentiable
  by ``tf.GradientTape`` (in the queries, keys, values and the bandwidth).
* :class:`NWKernelRegression` — the chapter's parametric attention pooling with
  one learnable ``w``, a Keras 3 layer; :class:`NWPerDimRegression` (one ``w``
  per input dimension) and :class:`NWLinearMapRegression` (learned linear maps
  of queries and keys: the step towards learned attention).
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

import numpy as np

from . import _framework as fw

tf = fw.require("tensorflow", "tensorflow")
keras = fw.require("keras", "tensorflow")
if keras.backend.backend() != "tensorflow":
    raise ImportError(
        f"nadaraya.tensorflow needs Keras' TensorFlow backend, but KERAS_BACKEND is {keras.backend.backend()!r}; "
        "unset it or set it to 'tensorflow'"
    )

__all__ = ["attention_pool", "NWKernelRegression", "NWPerDimRegression", "NWLinearMapRegression", "train"]


def _as_tensor(x, like=None):
    """A floating tensor: in ``like``'s dtype when given; else tensors as they are and
    arrays in their NumPy dtype (float32 stays float32; Python floats and integers → float64)."""
    if isinstance(x, (tf.Variable, keras.Variable)):
        x = tf.convert_to_tensor(x)  # a read that the tape records
    elif not tf.is_tensor(x):
        a = np.asarray(x)
        x = tf.constant(a, dtype=like.dtype if like is not None else a.dtype if a.dtype.kind == "f" else tf.float64)
    if like is not None:
        return x if x.dtype == like.dtype else tf.cast(x, like.dtype)
    return x if x.dtype.is_floating else tf.cast(x, tf.float64)


class _Ops(fw.Ops.of(tf, "where sqrt cos tan matmul expand_dims stop_gradient")):
    name = "tensorflow"
    as_tensor = staticmethod(_as_tensor)
    log1p, softmax = staticmethod(tf.math.log1p), staticmethod(tf.nn.softmax)
    max_last = staticmethod(lambda s: tf.reduce_max(s, axis=-1, keepdims=True))
    itemsize = staticmethod(lambda t: t.dtype.size)
    float64 = staticmethod(lambda a: tf.constant(a, dtype=tf.float64))
    to_numpy = staticmethod(lambda t: t.numpy())

    @staticmethod
    def full_like(t, value):
        return tf.fill(tf.shape(t), tf.constant(value, dtype=t.dtype))

    @staticmethod
    def self_mask(s, row0, col0):
        return (tf.range(tf.shape(s)[-2]) + row0)[:, None] == (tf.range(tf.shape(s)[-1]) + col0)[None, :]


def attention_pool(
    queries, keys, values, *, kernel="gaussian", bandwidth=1.0, exclude_self=False, return_weights=False, max_bytes=None
):
    """Nadaraya–Watson attention pooling, differentiable by ``tf.GradientTape``.

    Same semantics and kernels as :func:`nadaraya.attention_pool`; see the
    module docstring for the shapes. ``bandwidth`` is a positive number or a
    tensor (or variable) of shape () or (d,). Keys, values and bandwidth take
    the queries' dtype.

    Returns
    -------
    Tensor (m,) or (m, k); with ``return_weights=True`` also the (m, n)
    attention weights. Pooling is dense: it first checks that the (m, n)
    weights fit in ``max_bytes`` (default :data:`nadaraya._limits.MAX_WEIGHTS_BYTES`).

    Notes
    -----
    Reference implementation (shared keys)::

        t = sum_j ((q[:, None, j] - k[None, :, j]) / h[j]) ** 2      # (m, n)
        s = kernel.score(t); s[i, i] = -inf if exclude_self
        return tf.nn.softmax(s, axis=-1) @ v

    Examples
    --------
    >>> import tensorflow as tf
    >>> from nadaraya import tensorflow as nwtf
    >>> x = tf.constant([0.0, 1.0, 2.0], dtype=tf.float64)
    >>> nwtf.attention_pool(tf.constant([1.0], dtype=tf.float64), x, x**2).numpy().round(4)
    array([1.5481])
    """
    return fw.attention_pool(
        _Ops, queries, keys, values, kernel=kernel, bandwidth=bandwidth, exclude_self=exclude_self,
        return_weights=return_weights, max_bytes=max_bytes,
    )


class _NWBase(keras.layers.Layer):
    """Shared call of the parametric designs: map queries and keys, pool, keep the weights."""

    def __init__(self, kernel, *, dtype=None, name=None, **kwargs):
        super().__init__(dtype=dtype, name=name, **kwargs)
        self.kernel = fw.check_kernel(kernel)
        self.attention_weights = None

    def call(self, queries, keys, values, exclude_self=False):
        # queries (m[, d]); keys (n[, d]) shared or (m, n[, d]) per query; values likewise
        out, self.attention_weights = fw.forward(_Ops, self, queries, keys, values, exclude_self)
        return out

    def get_config(self):
        return {**super().get_config(), "kernel": self.kernel.name}

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, kernel={self.kernel.name!r}, dtype={self.dtype}>"


def _initializer(w_init, seed):
    """The chapter's ``tf.random.uniform`` draw by default, else the given values."""
    if w_init is None:
        return keras.initializers.RandomUniform(0.0, 1.0, seed=seed)
    value = np.asarray(w_init, dtype=np.float64)
    return lambda shape, dtype=None: tf.constant(np.broadcast_to(value, shape), dtype=dtype)


class NWKernelRegression(_NWBase):
    """The chapter's parametric attention pooling: ``softmax(-((q - k) w)**2 / 2) @ v`` with one learnable ``w``.

    Parameters
    ----------
    kernel : str, default "gaussian"
        Score ``log K(|q - k| |w|)``; the chapter's is Gaussian.
    w_init : float, optional
        Initial ``w``; by default drawn from U[0, 1) as the chapter's ``tf.random.uniform``.
    seed : int, optional
        Seed of that draw.
    dtype : str, optional
        Keras dtype (policy) of the layer; inputs are cast to it.

    Examples
    --------
    >>> import tensorflow as tf
    >>> from nadaraya import tensorflow as nwtf
    >>> net = nwtf.NWKernelRegression(w_init=1.0, dtype="float64")
    >>> x = tf.linspace(tf.constant(0.0, tf.float64), 5.0, 6)
    >>> net(x, x, tf.sin(x), exclude_self=True).shape, net.attention_weights.shape
    (TensorShape([6]), TensorShape([6, 6]))
    """

    def __init__(self, kernel="gaussian", w_init=None, *, seed=None, dtype=None, **kwargs):
        super().__init__(kernel, dtype=dtype, **kwargs)
        self.w = self.add_weight(shape=(1,), initializer=_initializer(w_init, seed), name="w")
        self.built = True

    def _map(self, x, role):
        return x * self.w


class NWPerDimRegression(_NWBase):
    """One learnable ``w`` per input dimension: score ``log K(|(q - k) * w|)`` with ``w`` of shape (d,)."""

    def __init__(self, d, kernel="gaussian", w_init=None, *, seed=None, dtype=None, **kwargs):
        super().__init__(kernel, dtype=dtype, **kwargs)
        self.d = int(d)
        self.w = self.add_weight(shape=(self.d,), initializer=_initializer(w_init, seed), name="w")
        self.built = True

    def _map(self, x, role):
        return x * self.w

    def get_config(self):
        return {**super().get_config(), "d": self.d}


class NWLinearMapRegression(_NWBase):
    """Learned linear maps of queries and keys: score ``log K(|W_q q - W_k k|)``.

    With ``W_q = W_k = w I`` this is :class:`NWKernelRegression`; separate maps
    let the model learn which directions matter (kernel regression turning into
    learned attention). Both maps start at ``w_init * I``.
    """

    def __init__(self, d, d_proj=None, kernel="gaussian", w_init=1.0, *, dtype=None, **kwargs):
        super().__init__(kernel, dtype=dtype, **kwargs)
        self.d, self.d_proj = int(d), int(d) if d_proj is None else int(d_proj)
        eye = _initializer(np.eye(self.d_proj, self.d) * float(w_init), None)
        self.w_queries = self.add_weight(shape=(self.d_proj, self.d), initializer=eye, name="w_queries")
        self.w_keys = self.add_weight(shape=(self.d_proj, self.d), initializer=eye, name="w_keys")
        self.built = True

    def _map(self, x, role):
        return tf.linalg.matvec(self.w_queries if role == "queries" else self.w_keys, x)

    def get_config(self):
        return {**super().get_config(), "d": self.d, "d_proj": self.d_proj}


def train(model, x, y, *, epochs=5, lr=0.5, callback=None, exclude_self=True):
    # the docstring is _framework.TRAIN_DOC, shared by the three frameworks
    lr = fw.check_positive_float(lr, "lr")
    variables = model.trainable_variables
    like = tf.convert_to_tensor(variables[0])
    x, y = _as_tensor(x, like), _as_tensor(y, like)

    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(model(x, x, y, exclude_self=exclude_self) - y))
        for var, grad in zip(variables, tape.gradient(loss, variables)):
            var.assign_sub(lr * grad)
        return float(loss)

    return fw.train_loop(step, model, epochs=epochs, callback=callback)


train.__doc__ = fw.TRAIN_DOC.format(tensor="Tensor", step="one full-batch step ``w <- w - lr * dL/dw`` (``tf.GradientTape``)")


def _chapter_backend():
    """The demo's adapter: NumPy in, NumPy out, computed by this module in float64."""
    model = lambda kernel, w_init: NWKernelRegression(kernel, w_init, dtype="float64")  # noqa: E731
    return fw.chapter_backend(_Ops, attention_pool=attention_pool, train=train, make_model=model)
