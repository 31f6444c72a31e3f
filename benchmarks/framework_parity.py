"""Largest relative difference of each framework module from the NumPy core, on the chapter's run.

    python benchmarks/framework_parity.py [torch tensorflow jax mxnet]

Prints, per backend and dtype, the largest relative difference of the training losses and learned w
(5 epochs, lr 0.5, w_init 0.6) and of the trained model's test predictions, and the largest absolute
difference of its attention weights (each in [0, 1]; tiny ones underflow in float32), against ``nadaraya.fit_parametric``
and ``nadaraya.attention_pool`` / ``attention_weights``. Backends that are not installed are skipped
(MXNet runs in .venv-mxnet).
"""

import contextlib
import importlib
import sys
import warnings

import numpy as np

import nadaraya as nw


def rel(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))


def run(name, dtype):
    fw = importlib.import_module(f"nadaraya.{name}")
    ctx = contextlib.nullcontext()
    if name == "jax":
        import jax

        ctx = jax.enable_x64(dtype == "float64")
    with ctx:
        t = _converter(name, dtype)
        kw = {"dtype": getattr(__import__("torch"), dtype)} if name == "torch" else {"dtype": dtype}
        data = nw.make_dataset(seed=0)
        net = fw.NWKernelRegression(w_init=0.6, **kw)
        losses = fw.train(net, t(data.x_train), t(data.y_train), epochs=5, lr=0.5)
        ref = nw.fit_parametric(data.x_train, data.y_train, epochs=5, lr=0.5, w_init=0.6)
        w = float(fw._Ops.to_numpy(net.w).ravel()[0])
        pred = np.asarray(fw._Ops.to_numpy(net(t(data.x_test), t(data.x_train), t(data.y_train))))
        weights = np.asarray(fw._Ops.to_numpy(net.attention_weights))
        h = 1 / ref.w
        pref = nw.attention_pool(data.x_test, data.x_train, data.y_train, bandwidth=h)
        wref = nw.attention_weights(data.x_test, data.x_train, bandwidth=h)
        return rel(losses, ref.losses), rel(w, ref.w), rel(pred, pref), float(np.max(np.abs(weights - wref)))


def _converter(name, dtype):
    if name == "torch":
        import torch

        return lambda a: torch.tensor(a, dtype=getattr(torch, dtype))
    if name == "tensorflow":
        import tensorflow as tf

        return lambda a: tf.constant(a, dtype=dtype)
    if name == "mxnet":
        from mxnet import nd

        return lambda a: nd.array(a, dtype=dtype)
    import jax.numpy as jnp

    return lambda a: jnp.asarray(a, dtype=dtype)


def main(names):
    print(f"{'backend':<11} {'dtype':<8} {'losses':>9} {'w':>9} {'predictions':>12} {'weights(abs)':>12}")
    for name in names:
        for dtype in ("float64", "float32"):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DeprecationWarning)
                    numbers = run(name, dtype)
            except ImportError as exc:
                print(f"{name:<11} skipped ({exc})")
                break
            print(f"{name:<11} {dtype:<8} " + " ".join(f"{x:>{w}.1e}" for x, w in zip(numbers, (9, 9, 12, 12))))


if __name__ == "__main__":
    main(sys.argv[1:] or ["torch", "tensorflow", "jax", "mxnet"])
