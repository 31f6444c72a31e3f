"""What every registered engine must do, written once (run by ``test_engine_contract.py``).

The cases are generated from the registry (:data:`nadaraya.engines.ENGINES`),
so a new engine is tested as soon as it is registered: every engine × kernel
(the registry's and their squares, :data:`nadaraya.kernels.SQUARES`) it supports × d × dtype × exclude_self × batch, against an independent
brute-force reference (the ``attention_pool`` docstring's formula). Engines
with a ``tol`` option run at :data:`TOL`, so every engine is held to the
exact engines' tolerance (1e-12 of max|values| in float64, 2e-5 in float32).
Each engine's own test module keeps only what is particular to it.
"""

import warnings
import zlib

import numpy as np

import nadaraya as nw
from conftest import rtol_for
from nadaraya import engines
from nadaraya.kernels import SQUARES, get_kernel

#: The registry's kernels and their squares (what the estimator's smoother norms pool with).
KERNELS = sorted(nw.KERNELS) + sorted(SQUARES)

#: ``tol`` passed to engines that take one (their error bound must then be below the exact engines' tolerance).
TOL = 1e-13


#: More input dimensions to test, per engine (the tree engine is built for d = 2 ... 8).
EXTRA_D = {"tree": (2, 8)}


def engine_kernel_cases(d_values=(1, 3)):
    """(engine, kernel, d) for every registered engine, every registry kernel it supports and every d."""
    return [
        (name, kernel, d)
        for name in engines.NAMES
        for kernel in KERNELS
        for d in d_values + EXTRA_D.get(name, ())
        if engines.get(name).supports(get_kernel(kernel), d, {})
    ]


def options(name: str) -> dict:
    return {"tol": TOL} if "tol" in engines.options_of(engines.get(name)) else {}


def pool(name, q, k, v, kernel, exclude_self=False):
    return engines.get(name).pool(q, k, v, get_kernel(kernel), exclude_self, **options(name))


def reference(q, k, v, kernel, exclude_self=False):
    """Brute force in float64 from the canonical arrays: squared distances in the inputs' dtype (the support test)."""
    kern = get_kernel(kernel)
    out = np.empty(q.shape[:2] + (v.shape[2],))
    for i in range(q.shape[0]):
        diff = q[i][:, None, :] - k[i][None, :, :]  # the inputs' dtype, like every engine
        t = diff[..., 0] * diff[..., 0]
        for j in range(1, diff.shape[2]):
            t = t + diff[..., j] * diff[..., j]
        with np.errstate(divide="ignore", invalid="ignore"):
            s = kern.score(t.astype(np.float64))
        if exclude_self:
            s[np.arange(q.shape[1]), np.arange(q.shape[1])] = -np.inf
        top = s.max(axis=1, keepdims=True)
        empty = ~np.isfinite(top[:, 0])
        w = np.exp(s - np.where(np.isfinite(top), top, 0.0))
        with np.errstate(invalid="ignore"):
            out[i] = (w @ v[i].astype(np.float64)) / w.sum(axis=1, keepdims=True)
        out[i, empty] = np.nan
    return out


def problem(seed_text, b, m, n, d, k, dtype, *, spread=4.0, exclude_self=False):
    """Canonical (b, m, d) queries, (b, n, d) keys with duplicated rows, (b, n, k) values."""
    rng = np.random.default_rng(zlib.crc32(seed_text.encode()))
    keys = rng.uniform(0.0, spread, size=(b, n, d))
    if n >= 6:
        keys[:, 1] = keys[:, 0]
        keys[:, 5] = keys[:, 3]
    queries = keys.copy() if exclude_self else rng.uniform(-0.5, spread + 0.5, size=(b, m, d))
    values = rng.normal(size=(b, n, k))
    return tuple(np.ascontiguousarray(a, dtype=dtype) for a in (queries, keys, values))


def assert_agree(got, want, values, dtype, err_msg=""):
    """The engine's dtype and shape, NaN in the same places, within the dtype's tolerance of max|values|."""
    assert got.dtype == np.dtype(dtype), err_msg
    assert got.shape == want.shape, err_msg
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"NaN pattern differs {err_msg}")
    scale = float(np.abs(values).max()) or 1.0
    np.testing.assert_allclose(got, want, rtol=0, atol=rtol_for(dtype) * scale, equal_nan=True, err_msg=err_msg)


def check_agrees_with_reference(name, kernel, d, dtype, exclude_self, b, k):
    label = f"{name} {kernel} d={d} {np.dtype(dtype).name} exclude_self={exclude_self} b={b} k={k}"
    q, keys, v = problem(label, b, 29, 29, d, k, dtype, exclude_self=exclude_self)
    assert_agree(pool(name, q, keys, v, kernel, exclude_self), reference(q, keys, v, kernel, exclude_self), v, dtype,
                 label)


def check_extreme_bandwidths(name, kernel, d, dtype, scale):
    """Scaled inputs x / h for h = 1e-6 (t up to ~1e13) and h = 1e6 (t ~ 1e-11): softmax, never 0/0."""
    q, keys, v = problem(f"extreme {name} {kernel} {d}", 2, 21, 21, d, 2, np.float64)
    q, keys, v = (np.ascontiguousarray(a, dtype=dtype) for a in (q * scale, keys * scale, v))
    got = pool(name, q, keys, v, kernel)
    assert_agree(got, reference(q, keys, v, kernel), v, dtype, f"{name} {kernel} scale={scale}")
    if not get_kernel(kernel).compact:
        assert np.all(np.isfinite(got)), f"{name} {kernel}: NaN for an unbounded kernel"


def check_ties_and_far_queries(name, kernel, d, dtype):
    """Keys on a grid, each twice, unsorted; queries halfway between and far outside the data."""
    grid = np.repeat(np.arange(11.0, -1.0, -1.0), 2) * 0.5
    keys = np.stack([grid] * d, axis=-1)[None]
    near = np.arange(0.25, 5.5, 0.5)
    queries = np.stack([np.concatenate([near, [-1e3, 60.0]])] * d, axis=-1)[None]
    values = np.random.default_rng(4).normal(size=(1, keys.shape[1], 2))
    q, keys, v = (np.ascontiguousarray(a, dtype=dtype) for a in (queries, keys, values))
    got = pool(name, q, keys, v, kernel)
    assert_agree(got, reference(q, keys, v, kernel), v, dtype, f"{name} {kernel}")
    far = got[0, -2:]
    assert np.all(np.isnan(far)) if get_kernel(kernel).compact else np.all(np.isfinite(far)), f"{name} {kernel}"


def check_single_key_and_empty_support(name, kernel, d, dtype):
    q = np.zeros((1, 4, d), dtype=dtype)
    q[0, :, 0] = [0.1, 0.5, 7.0, -40.0]
    keys = np.zeros((1, 1, d), dtype=dtype)
    v = np.array([[[3.0, -1.0]]], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # engines do not warn: pooling does
        got = pool(name, q, keys, v, kernel)
    assert_agree(got, reference(q, keys, v, kernel), v, dtype, f"{name} {kernel}")
    np.testing.assert_allclose(got[0, :2], [[3.0, -1.0]] * 2, rtol=4 * np.finfo(dtype).eps)
    if get_kernel(kernel).compact:
        assert np.all(np.isnan(got[0, 2:])), "queries with no key in the support must be NaN in every output"


def check_exclude_self_skips_exactly_one_key(name, kernel, d, dtype):
    keys = np.zeros((2, 2, d), dtype=dtype)
    keys[:, 1, 0] = 0.5
    v = np.array([[[1.0], [2.0]], [[5.0], [-3.0]]], dtype=dtype)
    got = pool(name, keys, keys, v, kernel, True)
    np.testing.assert_allclose(got[..., 0], [[2.0, 1.0], [-3.0, 5.0]], rtol=4 * np.finfo(dtype).eps, err_msg=name)


def check_inputs_are_not_modified(name, kernel, d):
    q, keys, v = problem(f"untouched {name}", 2, 12, 12, d, 2, np.float64, exclude_self=True)
    copies = [a.copy() for a in (q, keys, v)]
    pool(name, q, keys, v, kernel, True)
    if hasattr(engines.get(name), "partials"):
        engines.get(name).partials(q, keys, v, get_kernel(kernel), True, **options(name))
    for a, c in zip((q, keys, v), copies):
        np.testing.assert_array_equal(a, c)


def check_partials_finalize_to_pool(name, kernel, d, dtype, exclude_self):
    """Partials finalize to the pooling, give the log-normaliser, and merge over two key shards."""
    from nadaraya.engines.state import finalize, merge

    engine = engines.get(name)
    q, keys, v = problem(f"partials {name} {kernel} {d}", 2, 23, 23, d, 2, dtype, exclude_self=exclude_self)
    whole = engine.partials(q, keys, v, get_kernel(kernel), exclude_self, **options(name))
    assert whole.max_score.shape == whole.denominator.shape == q.shape[:2]
    assert whole.weighted_sum.shape == q.shape[:2] + (v.shape[2],)
    assert_agree(finalize(whole), reference(q, keys, v, kernel, exclude_self), v, dtype, f"{name} {kernel}")
    want = engines.log_sums("dense", q, keys, get_kernel(kernel), exclude_self)
    with np.errstate(divide="ignore"):
        got = whole.max_score + np.log(whole.denominator)
    np.testing.assert_allclose(got, want, rtol=rtol_for(dtype), atol=rtol_for(dtype), err_msg=f"{name} {kernel}")
    if exclude_self:
        return  # shards of keys with exclude_self need key offsets (stream's own tests)
    a = engine.partials(q, keys[:, :9], v[:, :9], get_kernel(kernel), **options(name))
    b = engine.partials(q, keys[:, 9:], v[:, 9:], get_kernel(kernel), **options(name))
    assert_agree(finalize(merge(a, b)), reference(q, keys, v, kernel), v, dtype, f"{name} {kernel} sharded")


def check_declarations(name):
    """The module-level names of the engine contract (see :mod:`nadaraya.engines`)."""
    engine = engines.get(name)
    assert engine.NAME == name
    assert set(engines.options_of(engine)) <= {"num_threads", "tol"}
    assert isinstance(getattr(engine, "REQUIRES", ""), str)
    assert isinstance(getattr(engine, "EXACT", True), bool)
    for kernel in KERNELS:
        assert engine.supports(get_kernel(kernel), 1, {}) in (True, False)
