"""The demo's back-ends: which module computes the chapter in each framework, and the chapter's initial ``w``.

:mod:`nadaraya.demo` and ``nadaraya explore`` run the same chapter through
:func:`get_backend`; the framework modules provide ``_chapter_backend()``.
"""

from __future__ import annotations

import importlib

import numpy as np

from .parametric import fit_parametric
from .pooling import attention_pool, attention_weights

#: Back-ends of the demo and the module that provides each.
BACKENDS = {"numpy": None, "torch": "nadaraya.torch", "tensorflow": "nadaraya.tensorflow", "mxnet": "nadaraya.mxnet", "jax": "nadaraya.jax"}


def _numpy_backend():
    from ._framework import ChapterBackend

    def pool(queries, keys, values, kernel, bandwidth):
        args = dict(kernel=kernel, bandwidth=bandwidth, on_empty="ignore")
        return attention_pool(queries, keys, values, **args), attention_weights(queries, keys, **args)

    def fit(x, y, kernel, epochs, lr, w_init, callback):
        result = fit_parametric(x, y, kernel=kernel, epochs=epochs, lr=lr, w_init=w_init, callback=callback)
        return result.w, result.losses

    return ChapterBackend("numpy", pool, fit)


def get_backend(name: str):
    """The demo's adapter for ``name`` (numpy, torch, tensorflow, mxnet or jax).

    Raises ValueError for an unknown name and ImportError naming the extra to
    install when the framework is missing.
    """
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {name!r}")
    if name == "numpy":
        return _numpy_backend()
    return importlib.import_module(BACKENDS[name])._chapter_backend()


def initial_w(seed) -> float:
    """The chapter's initial ``w`` for ``seed``: uniform on [0, 1), from a child of ``SeedSequence(seed)``."""
    return float(np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0]).uniform(0.0, 1.0))
