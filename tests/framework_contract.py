"""The framework back-ends the shared suite (tests/test_frameworks.py) runs, one small adapter each.

An adapter says how the suite makes a tensor, a model and a gradient in its
framework; every assertion lives in test_frameworks.py, written once. Adding a
framework module is one adapter here and one entry in :data:`BACKENDS`.
"""

import contextlib
import importlib
import importlib.util
import warnings

import numpy as np
import pytest

#: Bad calls of ``attention_pool`` and the message each must give.
BAD_INPUT = [
    (dict(kernel="gauss"), "kernel must be one of"),
    (dict(bandwidth=0.0), "bandwidth must be positive and finite"),
    (dict(bandwidth=-1.0), "bandwidth must be positive and finite"),
    (dict(values=np.zeros(4)), "values must have shape"),
    (dict(keys=np.zeros((2, 2, 2, 2))), "keys must have shape"),
    (dict(queries=np.zeros((3, 2)), keys=np.zeros((5, 3)), values=np.zeros(5)), "queries have d=2"),
    (dict(exclude_self=True), "exclude_self=True needs one query per key"),
]


def chapter_tiles(x, y):
    """The chapter's construction in NumPy: X_tile, Y_tile without the diagonal -> keys, values (n, n - 1)."""
    n = x.shape[0]
    mask = (1 - np.eye(n)).astype(bool)
    return np.tile(x, (n, 1))[mask].reshape((n, -1)), np.tile(y, (n, 1))[mask].reshape((n, -1))


class Backend:
    """What the suite needs from a framework; subclasses fill it (``fw`` is ``nadaraya.<name>``)."""

    name = ""  # nadaraya.<name>
    requires = ""  # the framework's import name
    chunked = False  # has the memory-flat large-input path
    numpy_dtype = "float64"  # the dtype attention_pool gives plain NumPy float64 input

    def __init__(self):
        self.fw = importlib.import_module(f"nadaraya.{self.name}")

    def context(self):
        """Held around every test: where the framework needs a setting for float64 (JAX), it is set here."""
        return contextlib.nullcontext()

    def defaults(self):
        """The framework's own defaults, inside :meth:`context` (for tests of what a user meets)."""
        return contextlib.nullcontext()

    def t(self, a, dtype="float64"):
        raise NotImplementedError

    def np(self, x):
        return np.asarray(x)

    def dtype(self, x) -> str:
        return str(np.dtype(str(x.dtype).replace("torch.", "")))

    def model(self, design, *args, dtype="float64", **kwargs):
        return getattr(self.fw, design)(*args, dtype=dtype, **kwargs)

    def seeded(self, seed):
        return self.fw.NWKernelRegression(seed=seed)

    def w(self, net):
        return self.np(net.w).ravel()

    def weights(self, net):
        return self.np(net.attention_weights)

    def chapter_keys(self, x, y):
        """The chapter's construction of per-query keys and values, in the framework's own operations."""
        return tuple(self.t(a) for a in chapter_tiles(self.np(x), self.np(y)))

    def nansum(self, x):
        """Differentiable sum of the defined (non-NaN) entries."""
        raise NotImplementedError

    def grad_of(self, fn, *arrays):
        """``fn`` (tensors → scalar) at ``arrays``: (value, gradient of each; None where not connected)."""
        raise NotImplementedError


class Torch(Backend):
    name = requires = "torch"
    chunked = True
    numpy_dtype = "float32"  # torch's default dtype

    def t(self, a, dtype="float64"):
        import torch

        return torch.tensor(np.asarray(a), dtype=getattr(torch, dtype))

    def np(self, x):
        return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)

    def model(self, design, *args, dtype="float64", **kwargs):
        import torch

        return super().model(design, *args, dtype=getattr(torch, dtype) if isinstance(dtype, str) else dtype, **kwargs)

    def seeded(self, seed):
        import torch

        return self.fw.NWKernelRegression(generator=torch.Generator().manual_seed(seed))

    def chapter_keys(self, x, y):
        import torch

        n = len(x)
        mask = (1 - torch.eye(n)).bool()
        return x.repeat((n, 1))[mask].reshape(n, -1), y.repeat((n, 1))[mask].reshape(n, -1)

    def nansum(self, x):
        return x[~x.isnan()].sum()

    def grad_of(self, fn, *arrays):
        xs = [self.t(a).requires_grad_(True) for a in arrays]
        out = fn(*xs)
        out.backward()
        return self.np(out), [None if x.grad is None else self.np(x.grad) for x in xs]


class TensorFlow(Backend):
    name = requires = "tensorflow"

    def t(self, a, dtype="float64"):
        import tensorflow as tf

        return tf.constant(np.asarray(a), dtype=dtype)

    def np(self, x):
        return x.numpy() if hasattr(x, "numpy") else np.asarray(x)

    def dtype(self, x):
        return x.dtype.name

    def chapter_keys(self, x, y):
        import tensorflow as tf

        n = x.shape[0]
        mask = tf.cast(tf.ones((n, n)) - tf.eye(n), tf.bool)
        keys = tf.reshape(tf.boolean_mask(tf.tile(tf.expand_dims(x, 0), (n, 1)), mask), (n, -1))
        values = tf.reshape(tf.boolean_mask(tf.tile(tf.expand_dims(y, 0), (n, 1)), mask), (n, -1))
        return keys, values

    def nansum(self, x):
        import tensorflow as tf

        return tf.reduce_sum(tf.boolean_mask(x, tf.math.is_finite(x)))

    def grad_of(self, fn, *arrays):
        import tensorflow as tf

        xs = [tf.Variable(self.t(a)) for a in arrays]
        with tf.GradientTape() as tape:
            out = fn(*xs)
        return out.numpy(), [None if g is None else g.numpy() for g in tape.gradient(out, xs)]


class MXNet(Backend):
    name = requires = "mxnet"

    def __init__(self):
        with warnings.catch_warnings():  # MXNet 1.9.1 still uses np.bool, deprecated since numpy 1.20
            warnings.simplefilter("ignore", DeprecationWarning)
            super().__init__()

    def t(self, a, dtype="float64"):
        from mxnet import nd

        return nd.array(np.atleast_1d(np.asarray(a, dtype=dtype)), dtype=dtype)  # nd has no 0-d arrays

    def np(self, x):
        if hasattr(x, "data") and callable(x.data):  # a gluon Parameter
            x = x.data()
        return x.asnumpy() if hasattr(x, "asnumpy") else np.asarray(x)

    def dtype(self, x):
        return np.dtype(x.dtype).name

    def nansum(self, x):
        from mxnet import nd

        return nd.where(x == x, x, nd.zeros_like(x)).sum()

    def grad_of(self, fn, *arrays):
        from mxnet import autograd

        xs = [self.t(a) for a in arrays]
        for x in xs:
            x.attach_grad()
        with autograd.record():
            out = fn(*xs)
        out.backward()
        return out.asnumpy(), [x.grad.asnumpy() for x in xs]


class Jax(Backend):
    name = "jax"
    requires = ("jax", "flax", "optax")
    chunked = True

    def context(self):
        import jax

        return jax.enable_x64(True)  # a context: JAX's 64-bit mode is restored after each test

    def defaults(self):
        import jax

        return jax.enable_x64(False)

    def t(self, a, dtype="float64"):
        import jax.numpy as jnp

        return jnp.asarray(np.asarray(a), dtype=dtype)

    def np(self, x):
        return np.asarray(x[...] if hasattr(x, "get_value") else x)  # an nnx Variable, or an array

    def dtype(self, x):
        return x.dtype.name

    def nansum(self, x):
        import jax.numpy as jnp

        return jnp.sum(jnp.where(jnp.isnan(x), 0.0, x))

    def grad_of(self, fn, *arrays):
        import jax

        xs = [self.t(a) for a in arrays]
        value, grads = jax.value_and_grad(fn, argnums=tuple(range(len(xs))))(*xs)
        return np.asarray(value), [np.asarray(g) for g in grads]


#: name -> adapter; the suite runs each one whose framework is installed (MXNet only in .venv-mxnet).
BACKENDS = {"torch": Torch, "tensorflow": TensorFlow, "mxnet": MXNet, "jax": Jax}


def params():
    """The suite's backend parameters: MXNet's carry the ``mxnet`` marker (`make test-mxnet` selects them)."""
    # mxnet.nd.array looks up scipy.sparse.csr, a namespace SciPy deprecates
    mxnet = [pytest.mark.mxnet, pytest.mark.filterwarnings("ignore:Please import `csr_matrix`:DeprecationWarning")]
    return [pytest.param(name, marks=mxnet if name == "mxnet" else [], id=name) for name in BACKENDS]


def installed(name) -> bool:
    requires = BACKENDS[name].requires
    return all(importlib.util.find_spec(m) is not None for m in ([requires] if isinstance(requires, str) else requires))
