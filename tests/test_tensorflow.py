
import numpy as np
import pytest

import nadaraya as nw
from framework_contract import BAD_INPUT, check_bad_input, check_demo_matches_numpy

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402

from nadaraya import tensorflow as nwtf  # noqa: E402

ALL = sorted(nw.KERNELS)
F64 = tf.float64


def t(a):
    return tf.constant(np.asarray(a), dtype=F64)


@pytest.fixture(scope="module")
def data():
    return nw.make_dataset(seed=0)


def chapter_keys(x, y):
    """The chapter's construction: X_tile, Y_tile without the diagonal -> keys, values (n, n - 1)."""
    n = x.shape[0]
    mask = tf.cast(tf.ones((n, n)) - tf.eye(n), tf.bool)
    keys = tf.reshape(tf.boolean_mask(tf.tile(tf.expand_dims(x, 0), (n, 1)), mask), (n, -1))
    values = tf.reshape(tf.boolean_mask(tf.tile(tf.expand_dims(y, 0), (n, 1)), mask), (n, -1))
    return keys, values


@pytest.mark.parametrize("kernel", ALL)
@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("exclude_self", [False, True])
def test_attention_pool_equals_numpy_core(kernel, d, k, exclude_self):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 5, (30,) if d == 1 else (30, d))
    v = rng.normal(size=(30,) if k == 1 else (30, k))
    q = x if exclude_self else rng.uniform(0, 5, (12,) if d == 1 else (12, d))
    h = 1.5 if d == 1 else np.array([1.5, 2.0])
    args = dict(kernel=kernel, bandwidth=h, exclude_self=exclude_self, on_empty="ignore")
    got, w = nwtf.attention_pool(t(q), t(x), t(v), kernel=kernel, bandwidth=t(h), exclude_self=exclude_self, return_weights=True)
    assert got.dtype == F64 and got.shape == (q.shape[0],) + v.shape[1:]
    np.testing.assert_allclose(got.numpy(), nw.attention_pool(q, x, v, **args), rtol=1e-12, atol=1e-12)
    args.pop("exclude_self")
    wref = nw.attention_weights(q, x, exclude_self=exclude_self, **args)
    np.testing.assert_allclose(w.numpy(), wref, rtol=1e-12, atol=1e-15)


def test_float32_stays_float32(data):
    x = tf.constant(data.x_train, dtype=tf.float32)
    out = nwtf.attention_pool(x, x, x, bandwidth=0.5, exclude_self=True)
    assert out.dtype == tf.float32
    ref = nw.attention_pool(data.x_train, data.x_train, data.x_train, bandwidth=0.5, exclude_self=True)
    np.testing.assert_allclose(out.numpy(), ref, rtol=2e-5)


def test_chapter_call_with_per_query_keys_equals_leave_one_out(data):
    x, y = t(data.x_train), t(data.y_train)
    n = x.shape[0]
    keys, values = chapter_keys(x, y)
    net = nwtf.NWKernelRegression(w_init=2.0, dtype="float64")
    tiled = net(x, keys, values)
    assert net.attention_weights.shape == (n, n - 1)
    loo = net(x, x, y, exclude_self=True)
    assert net.attention_weights.shape == (n, n)
    np.testing.assert_allclose(tiled.numpy(), loo.numpy(), rtol=1e-13)
    ref = nw.attention_pool(data.x_train, data.x_train, data.y_train, bandwidth=0.5, exclude_self=True)
    np.testing.assert_allclose(loo.numpy(), ref, rtol=1e-12)
    functional = nwtf.attention_pool(x, keys, values, bandwidth=0.5)
    np.testing.assert_allclose(functional.numpy(), ref, rtol=1e-12)


@pytest.mark.parametrize("kernel", ALL)
@pytest.mark.parametrize("h", [1e-6, 1e6])
def test_gradients_are_finite_at_extreme_bandwidths(data, kernel, h):
    q, bw = tf.Variable(t(data.x_test)), tf.Variable(t(h))
    x, y = tf.Variable(t(data.x_train)), tf.Variable(t(data.y_train))
    with tf.GradientTape() as tape:
        out = nwtf.attention_pool(q, x, y, kernel=kernel, bandwidth=bw)
        defined = tf.math.is_finite(out)
        total = tf.reduce_sum(tf.boolean_mask(out, defined))
    if not nw.KERNELS[kernel].compact or h == 1e6:
        assert bool(tf.reduce_all(defined))
    grads = tape.gradient(total, [q, bw, x, y], unconnected_gradients=tf.UnconnectedGradients.ZERO)
    for g in grads:
        assert bool(tf.reduce_all(tf.math.is_finite(g)))


@pytest.mark.parametrize("kernel", ["gaussian", "laplace", "epanechnikov", "tricube", "cosine"])
def test_gradients_match_finite_differences(data, kernel):
    x, y = t(data.x_train), t(data.y_train)
    q = t(data.x_test[::5])
    weights = t(np.random.default_rng(0).normal(size=q.shape[0]))

    def f(q_, h_):
        return tf.reduce_sum(weights * nwtf.attention_pool(q_, x, y, kernel=kernel, bandwidth=h_))

    theoretical, numerical = tf.test.compute_gradient(f, [q, t(0.8)], delta=1e-6)
    for a, b in zip(theoretical, numerical):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_bandwidth_may_be_a_keras_variable(data):
    bw = keras.Variable(0.8, dtype="float64")
    x, y = t(data.x_train), t(data.y_train)
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(nwtf.attention_pool(x, x, y, bandwidth=bw, exclude_self=True))
    (grad,) = tape.gradient(out, [bw])
    step = 1e-6
    up, down = (tf.reduce_sum(nwtf.attention_pool(x, x, y, bandwidth=0.8 + s, exclude_self=True)) for s in (step, -step))
    np.testing.assert_allclose(grad.numpy(), (up - down).numpy() / (2 * step), rtol=1e-6)


def test_training_matches_numpy_closed_form(data):
    net = nwtf.NWKernelRegression(w_init=0.6, dtype="float64")
    seen = []
    losses = nwtf.train(net, t(data.x_train), t(data.y_train), epochs=5, lr=0.5, callback=lambda *a: seen.append(a[0]))
    ref = nw.fit_parametric(data.x_train, data.y_train, epochs=5, lr=0.5, w_init=0.6)
    np.testing.assert_allclose(losses, ref.losses, rtol=1e-10)
    np.testing.assert_allclose(net.w.numpy()[0], ref.w, rtol=1e-10)
    assert seen == [1, 2, 3, 4, 5]


def test_training_in_float32_stays_close(data):
    net = nwtf.NWKernelRegression(w_init=0.6, dtype="float32")
    x, y = (tf.constant(a, dtype=tf.float32) for a in (data.x_train, data.y_train))
    losses = nwtf.train(net, x, y)
    ref = nw.fit_parametric(data.x_train, data.y_train, w_init=0.6)
    np.testing.assert_allclose(losses, ref.losses, rtol=1e-4)
    np.testing.assert_allclose(net.w.numpy()[0], ref.w, rtol=1e-4)
    assert net.w.dtype == "float32"


@pytest.mark.parametrize("design", ["per_dim", "linear_map"])
def test_other_designs_train_and_show_weights(design):
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 5, (60, 2))
    y = 2 * np.sin(x[:, 0]) + 0.1 * x[:, 1] + rng.normal(0, 0.3, 60)
    if design == "per_dim":
        net, lr = nwtf.NWPerDimRegression(2, w_init=[1.0, 1.0], dtype="float64"), 0.01
    else:  # two free maps: the loss is much steeper, lr 0.01 overshoots
        net, lr = nwtf.NWLinearMapRegression(2, w_init=1.0, dtype="float64"), 3e-4
    losses = nwtf.train(net, t(x), t(y), epochs=10, lr=lr)
    assert np.all(np.diff(losses) < 0)
    net(t(x), t(x), t(y), exclude_self=True)
    w = net.attention_weights.numpy()
    assert w.shape == (60, 60) and np.allclose(w.sum(1), 1) and np.all(np.diag(w) == 0)
    assert "kernel='gaussian'" in repr(net)


def test_linear_map_to_fewer_dimensions(data):
    net = nwtf.NWLinearMapRegression(2, d_proj=1, dtype="float64")
    x = t(np.random.default_rng(5).uniform(0, 5, (20, 2)))
    assert net(x, x, x, exclude_self=True).shape == (20, 2)
    assert net.w_queries.shape == (1, 2)


def test_per_dim_with_equal_weights_is_the_scalar_model(data):
    x, y = t(data.x_train[:, None]), t(data.y_train)
    a = nwtf.NWPerDimRegression(1, w_init=[3.0], dtype="float64")(x, x, y, exclude_self=True)
    b = nwtf.NWKernelRegression(w_init=3.0, dtype="float64")(x, x, y, exclude_self=True)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-14)


def test_default_w_is_a_seeded_uniform_draw():
    a, b = nwtf.NWKernelRegression(seed=3), nwtf.NWKernelRegression(seed=3)
    assert a.w.numpy()[0] == b.w.numpy()[0] and 0.0 <= a.w.numpy()[0] < 1.0


def test_inputs_are_not_modified(data):
    x = tf.Variable(t(data.x_train))
    before = x.numpy().copy()
    nwtf.attention_pool(x, x, x, exclude_self=True)
    net = nwtf.NWKernelRegression(w_init=1.0, dtype="float64")
    nwtf.train(net, x, x, epochs=1)
    np.testing.assert_array_equal(x.numpy(), before)


@pytest.mark.parametrize("kwargs, match", BAD_INPUT)
def test_bad_input(kwargs, match):
    check_bad_input(nwtf, t, kwargs, match)


def test_bad_model_and_training_input(data):
    with pytest.raises(ValueError, match="kernel must be one of"):
        nwtf.NWKernelRegression("gauss")
    net = nwtf.NWKernelRegression(w_init=1.0, dtype="float64")
    with pytest.raises(ValueError, match="lr must be positive"):
        nwtf.train(net, t(data.x_train), t(data.y_train), lr=0.0)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        nwtf.train(net, t(data.x_train), t(data.y_train), epochs=0)


def test_demo_backend_tensorflow_matches_numpy(tmp_path):
    check_demo_matches_numpy(tmp_path, "tensorflow")
