import warnings

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nadaraya as nw
from conftest import rtol_for

ALL = sorted(nw.KERNELS)
COMPACT = [k for k in ALL if nw.KERNELS[k].compact]


def _reference(q, k, v, kernel, h, exclude_self=False):
    """The docstring's reference implementation, written out independently."""
    q = np.asarray(q, float).reshape(len(q), -1)
    k = np.asarray(k, float).reshape(len(k), -1)
    t = (((q[:, None, :] - k[None, :, :]) / h) ** 2).sum(-1)
    s = nw.KERNELS[kernel].score(t)
    if exclude_self:
        s[np.arange(len(q)), np.arange(len(q))] = -np.inf
    w = np.exp(s - s.max(1, keepdims=True))
    w /= w.sum(1, keepdims=True)
    return w @ v


# ---------------------------------------------------------------- hand-computed examples


def test_gaussian_by_hand_three_points():
    # scores -1/2, 0, -1/2 at keys 0, 1, 2 for the query 1 with h = 1
    a = np.exp(-0.5) / (1 + 2 * np.exp(-0.5))
    c = 1 / (1 + 2 * np.exp(-0.5))
    expected = a * 0 + c * 1 + a * 4
    got = nw.attention_pool([1.0], [0.0, 1.0, 2.0], [0.0, 1.0, 4.0], bandwidth=1.0)
    np.testing.assert_allclose(got, [expected], rtol=1e-14)
    np.testing.assert_allclose(nw.attention_weights([1.0], [0.0, 1.0, 2.0]), [[a, c, a]], rtol=1e-14)


def test_epanechnikov_by_hand_three_points():
    # query 0.25, h = 1.5: u = 1/6, 1/2, 7/6 -> K = 35/36, 3/4, 0
    k1, k2 = 35 / 36, 3 / 4
    got = nw.attention_pool([0.25], [0.0, 1.0, 2.0], [0.0, 1.0, 4.0], kernel="epanechnikov", bandwidth=1.5)
    np.testing.assert_allclose(got, [k2 / (k1 + k2)], rtol=1e-14)
    w = nw.attention_weights([0.25], [0.0, 1.0, 2.0], kernel="epanechnikov", bandwidth=1.5)
    np.testing.assert_allclose(w, [[k1 / (k1 + k2), k2 / (k1 + k2), 0.0]], rtol=1e-14)


def test_constant_kernel_is_average_pooling():
    rng = np.random.default_rng(1)
    x, y = rng.uniform(0, 5, 30), rng.normal(size=30)
    q = rng.uniform(0, 5, 7)
    np.testing.assert_allclose(nw.attention_pool(q, x, y, kernel="constant"), nw.average_pool(y, 7), rtol=1e-14)
    np.testing.assert_allclose(nw.average_pool(y, 7), np.full(7, y.mean()))


def test_average_pool_multi_output_and_errors():
    v = np.arange(6.0).reshape(3, 2)
    np.testing.assert_allclose(nw.average_pool(v, 2), [[2.0, 3.0], [2.0, 3.0]])
    with pytest.raises(ValueError, match="n_queries must be >= 1"):
        nw.average_pool(v, 0)
    with pytest.raises(ValueError, match="values must not be empty"):
        nw.average_pool([], 3)


# ---------------------------------------------------------------- properties


@st.composite
def pooling_problems(draw, dtypes=(np.float32, np.float64), kernels=tuple(ALL)):
    dtype = draw(st.sampled_from(dtypes))
    d = draw(st.integers(1, 3))
    n = draw(st.integers(1, 25))
    m = draw(st.integers(1, 10))
    k = draw(st.integers(1, 2))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    elems = st.floats(-1, 1, allow_nan=False, width=32)
    q = draw(hnp.arrays(dtype, (m, d), elements=elems)) * dtype(scale)
    keys = draw(hnp.arrays(dtype, (n, d), elements=elems)) * dtype(scale)
    v = draw(hnp.arrays(dtype, (n, k), elements=st.floats(-100, 100, width=32)))
    h = scale * draw(st.sampled_from([1e-3, 0.1, 1.0, 10.0]))
    kernel = draw(st.sampled_from(kernels))
    return q, keys, v, h, kernel


@given(pooling_problems())
def test_weights_are_a_distribution_and_predictions_are_in_range(problem):
    q, keys, v, h, kernel = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nw.EmptySupportWarning)
        w = nw.attention_weights(q, keys, kernel=kernel, bandwidth=h)
        out = nw.attention_pool(q, keys, v, kernel=kernel, bandwidth=h)
    assert w.dtype == q.dtype and out.dtype == q.dtype
    assert w.shape == (q.shape[0], keys.shape[0]) and out.shape == (q.shape[0], v.shape[1])
    ok = ~np.isnan(w[:, 0])
    if not nw.KERNELS[kernel].compact:
        assert ok.all()
    assert np.array_equal(ok, ~np.isnan(out[:, 0]))
    tol = 1e-12 if q.dtype == np.float64 else 1e-5
    assert np.all(w[ok] >= 0)
    np.testing.assert_allclose(w[ok].sum(1), 1.0, rtol=tol)
    span = np.abs(v).max() * tol
    assert np.all(out[ok] >= v.min(0) - span) and np.all(out[ok] <= v.max(0) + span)


@given(pooling_problems(), st.randoms(use_true_random=False))
def test_invariant_to_permuting_training_pairs(problem, random):
    q, keys, v, h, kernel = problem
    perm = np.array(random.sample(range(len(keys)), len(keys)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nw.EmptySupportWarning)
        a = nw.attention_pool(q, keys, v, kernel=kernel, bandwidth=h)
        b = nw.attention_pool(q, keys[perm], v[perm], kernel=kernel, bandwidth=h)
    tol = 1e-10 if q.dtype == np.float64 else 1e-4
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * np.abs(v).max())


# float32 rounds shifted inputs too coarsely; a compact kernel's support edge can move a key in or out
@given(pooling_problems(dtypes=(np.float64,), kernels=("gaussian", "laplace", "constant")), st.integers(-10, 10))
def test_invariant_to_shifting_all_inputs(problem, shift):
    q, keys, v, h, kernel = problem
    shift = shift * np.abs(q).max(initial=1.0)
    a = nw.attention_pool(q, keys, v, kernel=kernel, bandwidth=h)
    b = nw.attention_pool(q + shift, keys + shift, v, kernel=kernel, bandwidth=h)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6 * np.abs(v).max())


def test_shift_invariance_exact_gaussian():
    rng = np.random.default_rng(3)
    x, y, q = rng.uniform(0, 5, 40), rng.normal(size=40), rng.uniform(0, 5, 9)
    a = nw.attention_pool(q, x, y, bandwidth=0.3)
    b = nw.attention_pool(q + 100.0, x + 100.0, y, bandwidth=0.3)
    np.testing.assert_allclose(a, b, rtol=1e-10)


@pytest.mark.parametrize("kernel", ALL)
def test_matches_independent_reference(kernel):
    rng = np.random.default_rng(4)
    x, q = rng.uniform(0, 5, (40, 2)), rng.uniform(0, 5, (11, 2))
    v = rng.normal(size=(40, 3))
    got = nw.attention_pool(q, x, v, kernel=kernel, bandwidth=[3.0, 2.5], on_empty="ignore")
    np.testing.assert_allclose(got, _reference(q / [3.0, 2.5], x / [3.0, 2.5], v, kernel, 1.0), rtol=1e-12)


# ---------------------------------------------------------------- leave-one-out and batches


@pytest.mark.parametrize("kernel", ["gaussian", "laplace", "epanechnikov", "constant"])
def test_leave_one_out_equals_deleting_the_row(kernel):
    rng = np.random.default_rng(5)
    x, y = rng.uniform(0, 5, 25), rng.normal(size=25)
    loo = nw.attention_pool(x, x, y, kernel=kernel, bandwidth=2.0, exclude_self=True)
    for i in range(len(x)):
        rest = np.delete(np.arange(len(x)), i)
        one = nw.attention_pool(x[i : i + 1], x[rest], y[rest], kernel=kernel, bandwidth=2.0)
        np.testing.assert_allclose(loo[i], one[0], rtol=1e-12)
    w = nw.attention_weights(x, x, kernel=kernel, bandwidth=2.0, exclude_self=True)
    assert np.all(np.diag(w) == 0)


def test_leave_one_out_equals_the_chapters_tiles():
    # the chapter: X_tile (n, n) minus the diagonal -> keys (n, n - 1), one row per query
    data = nw.make_dataset(n_train=20, seed=2)
    x, y = data.x_train, data.y_train
    n = len(x)
    mask = ~np.eye(n, dtype=bool)
    keys = np.tile(x, (n, 1))[mask].reshape(n, n - 1)
    values = np.tile(y, (n, 1))[mask].reshape(n, n - 1)
    tiled = nw.attention_pool(x[:, None], keys, values, batched=True)[:, 0]
    np.testing.assert_allclose(nw.attention_pool(x, x, y, exclude_self=True), tiled, rtol=1e-13)


@pytest.mark.parametrize("d", [None, 2])
@pytest.mark.parametrize("k", [None, 3])
def test_batched_equals_a_loop_over_the_batch(d, k):
    rng = np.random.default_rng(6)
    b, m, n = 4, 6, 9
    qs = rng.normal(size=(b, m) + ((d,) if d else ()))
    ks = rng.normal(size=(b, n) + ((d,) if d else ()))
    vs = rng.normal(size=(b, n) + ((k,) if k else ()))
    out = nw.attention_pool(qs, ks, vs, bandwidth=0.7, batched=True)
    w = nw.attention_weights(qs, ks, bandwidth=0.7, batched=True)
    assert out.shape == (b, m) + ((k,) if k else ())
    assert w.shape == (b, m, n)
    for i in range(b):
        np.testing.assert_allclose(out[i], nw.attention_pool(qs[i], ks[i], vs[i], bandwidth=0.7), rtol=1e-14)
        np.testing.assert_allclose(w[i], nw.attention_weights(qs[i], ks[i], bandwidth=0.7), rtol=1e-14)


def test_batched_is_inferred_from_3d_queries():
    rng = np.random.default_rng(7)
    q, k, v = rng.normal(size=(2, 3, 1)), rng.normal(size=(2, 5, 1)), rng.normal(size=(2, 5))
    assert nw.attention_pool(q, k, v).shape == (2, 3)


def test_batched_leave_one_out():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(3, 10)), rng.normal(size=(3, 10))
    out = nw.attention_pool(x, x, y, batched=True, exclude_self=True)
    for i in range(3):
        np.testing.assert_allclose(out[i], nw.attention_pool(x[i], x[i], y[i], exclude_self=True), rtol=1e-14)


# ---------------------------------------------------------------- bandwidths and stability


def test_per_dimension_bandwidth_equals_rescaled_inputs():
    rng = np.random.default_rng(9)
    x, q, v = rng.normal(size=(30, 2)), rng.normal(size=(5, 2)), rng.normal(size=30)
    h = np.array([0.5, 2.0])
    np.testing.assert_allclose(
        nw.attention_pool(q, x, v, bandwidth=h), nw.attention_pool(q / h, x / h, v, bandwidth=1.0), rtol=1e-13
    )


@pytest.mark.parametrize("kernel", ALL)
@pytest.mark.parametrize("h", [1e-6, 1e6])
def test_stable_at_extreme_bandwidths(kernel, h, dtype):
    data = nw.make_dataset(seed=0)
    x, y = data.x_train.astype(dtype), data.y_train.astype(dtype)
    q = data.x_test.astype(dtype)
    kern = nw.KERNELS[kernel]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nw.EmptySupportWarning)
        out = nw.attention_pool(q, x, y, kernel=kernel, bandwidth=h)
        w = nw.attention_weights(q, x, kernel=kernel, bandwidth=h)
    assert out.dtype == dtype
    if h == 1e6:
        # every key is (almost) equally close: close to average pooling, exactly the reference
        ref = _reference(q.astype(float), x.astype(float), y.astype(float), kernel, h)
        np.testing.assert_allclose(out, ref, rtol=rtol_for(dtype) * 10)
        np.testing.assert_allclose(out, np.full(len(q), y.mean()), rtol=1e-5)
    elif kern.compact:
        # no test input lies within 1e-6 of a training input: no estimate
        assert np.isnan(out).all()
    elif kernel == "constant":
        np.testing.assert_allclose(out, y.mean(), rtol=rtol_for(dtype) * 10)
    else:
        # the nearest key takes all the weight
        nearest = np.abs(q[:, None] - x[None, :]).argmin(1)
        np.testing.assert_allclose(out, y[nearest], rtol=rtol_for(dtype))
        assert np.isfinite(w).all()


def test_tiny_bandwidth_ties_split_evenly():
    out = nw.attention_pool([1.0], [0.0, 2.0, 5.0], [1.0, 3.0, 10.0], bandwidth=1e-6)
    np.testing.assert_allclose(out, [2.0], rtol=1e-12)


# ---------------------------------------------------------------- empty support


@pytest.mark.parametrize("kernel", COMPACT)
def test_query_without_key_in_support_is_nan_with_a_counting_warning(kernel):
    keys, values = [0.0, 1.0], [1.0, 2.0]
    with pytest.warns(nw.EmptySupportWarning, match="2 of 3 queries have no key inside the support"):
        out = nw.attention_pool([5.0, 0.2, -7.0], keys, values, kernel=kernel, bandwidth=0.5)
    assert np.isnan(out[0]) and np.isnan(out[2]) and np.isfinite(out[1])
    with pytest.warns(nw.EmptySupportWarning):
        w = nw.attention_weights([5.0], keys, kernel=kernel, bandwidth=0.5)
    assert np.isnan(w).all()


def test_empty_support_can_be_silenced_or_raised():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = nw.attention_pool([5.0], [0.0], [1.0], kernel="boxcar", on_empty="ignore")
    assert np.isnan(out).all()
    with pytest.raises(ValueError, match="1 of 1 queries have no key inside the support of the boxcar kernel"):
        nw.attention_pool([5.0], [0.0], [1.0], kernel="boxcar", on_empty="raise")


def test_boxcar_support_includes_its_edge():
    out = nw.attention_pool([1.0], [0.0, 3.0], [2.0, 9.0], kernel="boxcar", bandwidth=1.0)
    np.testing.assert_allclose(out, [2.0])


# ---------------------------------------------------------------- dtypes and inputs are not modified


def test_float32_stays_float32_and_ints_become_float64():
    x32 = np.linspace(0, 1, 10, dtype=np.float32)
    assert nw.attention_pool(x32, x32, x32).dtype == np.float32
    xi = np.arange(10)
    assert nw.attention_pool(xi, xi, xi).dtype == np.float64


def test_inputs_are_not_modified():
    rng = np.random.default_rng(10)
    q, k, v = rng.normal(size=5), rng.normal(size=8), rng.normal(size=8)
    copies = q.copy(), k.copy(), v.copy()
    nw.attention_pool(q, k, v, bandwidth=0.5)
    nw.attention_pool(k, k, v, bandwidth=0.5, exclude_self=True)
    for a, b in zip((q, k, v), copies):
        np.testing.assert_array_equal(a, b)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(queries=[np.nan]), ValueError, r"queries contains NaN or infinite values \(first at index 0\)"),
        (dict(keys=[0.0, np.inf, 1.0]), ValueError, r"keys contains NaN or infinite values \(first at index 1\)"),
        (dict(values=[0.0, 1.0]), ValueError, "keys and values must have the same length n; got 3 keys and 2 values"),
        (dict(queries=[]), ValueError, r"queries must not be empty; got shape \(0,\)"),
        (dict(keys=np.zeros((3, 1, 1))), ValueError, "keys must have shape .*got a 3-D array"),
        (dict(values=np.zeros((3, 1, 1))), ValueError, "values must have shape"),
        (dict(queries=np.zeros((2, 2))), ValueError, "same number of features d; got d=2 for queries and d=1"),
        (dict(bandwidth=-0.5), ValueError, r"bandwidth must be positive and finite, got -0.5"),
        (dict(bandwidth=0.0), ValueError, r"bandwidth must be positive and finite, got 0.0"),
        (dict(bandwidth=np.nan), ValueError, r"bandwidth must be positive and finite, got nan"),
        (dict(bandwidth=[1.0, 2.0]), ValueError, r"one value per input dimension \(d=1\)"),
        (dict(bandwidth="wide"), TypeError, "bandwidth must be a positive number"),
        (dict(bandwidth=True), ValueError, "bandwidth must be positive and finite .*got True"),
        (dict(bandwidth=np.array([True])), ValueError, "bandwidth must be positive and finite"),
        (dict(queries=np.ma.masked_array([0.5, 1.5], mask=[0, 1])), TypeError, "queries is a numpy masked array"),
        (dict(keys=np.ma.masked_array([0.0, 1.0, 2.0])), TypeError, "keys is a numpy masked array"),
        (dict(values=np.ma.masked_array([1.0, 2.0, 3.0], mask=[1, 0, 0])), TypeError, "values is a numpy masked"),
        (dict(kernel="gauss"), ValueError, "kernel must be one of"),
        (dict(method="magic"), ValueError, "method must be one of auto, dense"),
        (dict(on_empty="zero"), ValueError, "on_empty must be one of warn, ignore, raise"),
        (dict(queries=["a"]), TypeError, "queries must be an array of real numbers"),
        (dict(exclude_self=True), ValueError, "exclude_self=True needs one query per key"),
    ],
)
def test_bad_input_raises_a_clear_error(kwargs, error, match):
    args = dict(queries=[0.5, 1.5], keys=[0.0, 1.0, 2.0], values=[1.0, 2.0, 3.0]) | kwargs
    q, k, v = args.pop("queries"), args.pop("keys"), args.pop("values")
    with pytest.raises(error, match=match):
        nw.attention_pool(q, k, v, **args)


def test_bad_bandwidth_vector_length_in_2d():
    with pytest.raises(ValueError, match=r"\(d=2\); got shape \(3,\)"):
        nw.attention_pool(np.zeros((1, 2)), np.zeros((3, 2)), np.zeros(3), bandwidth=[1.0, 1.0, 1.0])


def test_batch_sizes_must_agree():
    with pytest.raises(ValueError, match="share the batch size b; got 2, 3, 3"):
        nw.attention_pool(np.zeros((2, 4, 1)), np.zeros((3, 5, 1)), np.zeros((3, 5)))


def test_leave_one_out_needs_two_keys():
    with pytest.raises(ValueError, match="exclude_self=True needs at least 2 keys"):
        nw.attention_pool([0.0], [0.0], [1.0], exclude_self=True)


# ---------------------------------------------------------------- the size limit of attention_weights


@pytest.mark.parametrize(
    "q_shape, k_shape",
    [((100_000,), (100_000,)), ((100, 20_000, 1), (100, 20_000, 1))],
    ids=["1e5 x 1e5", "batched (100, 20000, 1)"],
)
def test_attention_weights_refuses_a_huge_matrix_without_allocating_it(q_shape, k_shape):
    import tracemalloc

    q, k = np.zeros(q_shape), np.zeros(k_shape)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"attention_weights would build a .* matrix of .* MiB, above max_bytes"):
            nw.attention_weights(q, k)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20 * (q.nbytes + k.nbytes), f"peak {peak / 2**20:.0f} MiB before refusing"


def test_attention_weights_max_bytes_is_per_call():
    q, k = np.linspace(0, 1, 30), np.linspace(0, 1, 40)
    with pytest.raises(ValueError, match="above max_bytes=1,000"):
        nw.attention_weights(q, k, max_bytes=1000)
    w = nw.attention_weights(q, k, max_bytes=30 * 40 * 8)
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-14)
    with pytest.raises(ValueError, match="max_bytes must be a positive number"):
        nw.attention_weights(q, k, max_bytes=-1)


@pytest.mark.parametrize("method", ["auto", "dense", "stream", "sorted"])
def test_log_kernel_sums_fall_back_to_an_exact_engine(method):
    x = np.linspace(0, 3, 40)
    want = np.log(np.exp(-0.5 * ((x[:, None] - x[None, :]) / 0.3) ** 2).sum(1))
    np.testing.assert_allclose(nw.log_kernel_sums(x, x, bandwidth=0.3, method=method), want, rtol=1e-13)
    # a caller-built kernel no fast engine knows (the estimator's squared kernels): the dense engine's sums
    squared = nw.Kernel("gaussian^2", np.inf, _score=lambda t, o: -1.0 * t, _dscore=lambda t, o: o.full_like(t, -1.0))
    got = nw.log_kernel_sums(x, x, kernel=squared, bandwidth=0.3, method=method)
    np.testing.assert_allclose(got, np.log(np.exp(-(((x[:, None] - x[None, :]) / 0.3) ** 2)).sum(1)), rtol=1e-13)
