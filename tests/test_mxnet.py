"""nadaraya.mxnet, run in the MXNet environment (.venv-mxnet); skipped where MXNet is absent."""

import warnings

import numpy as np
import pytest

import nadaraya as nw
from framework_contract import BAD_INPUT, check_bad_input, check_demo_matches_numpy

with warnings.catch_warnings():  # MXNet 1.9.1 still uses np.bool, deprecated since numpy 1.20
    warnings.simplefilter("ignore", DeprecationWarning)
    mx = pytest.importorskip("mxnet")
from mxnet import autograd, nd  # noqa: E402

from nadaraya import mxnet as nwmx  # noqa: E402

pytestmark = [
    pytest.mark.mxnet,
    # mxnet.nd.array looks up scipy.sparse.csr, a namespace SciPy deprecates
    pytest.mark.filterwarnings("ignore:Please import `csr_matrix`:DeprecationWarning"),
]

ALL = sorted(nw.KERNELS)


def t(a):
    return nd.array(np.atleast_1d(np.asarray(a, dtype=np.float64)), dtype=np.float64)


def grad_of(fn, *arrays):
    """Run ``fn`` on copies of ``arrays`` under autograd; return (output, gradients of its sum)."""
    xs = [t(a) for a in arrays]
    for x in xs:
        x.attach_grad()
    with autograd.record():
        out = fn(*xs)
    out.backward()
    return out.asnumpy(), [x.grad.asnumpy() for x in xs]


@pytest.fixture(scope="module")
def data():
    return nw.make_dataset(seed=0)


def chapter_keys(x, y):
    """The chapter's construction: X_tile, Y_tile without the diagonal -> keys, values (n, n - 1)."""
    n = x.shape[0]
    mask = (1 - np.eye(n)).astype(bool)
    return np.tile(x, (n, 1))[mask].reshape((n, -1)), np.tile(y, (n, 1))[mask].reshape((n, -1))


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
    got, w = nwmx.attention_pool(t(q), t(x), t(v), kernel=kernel, bandwidth=t(h), exclude_self=exclude_self, return_weights=True)
    assert got.dtype == np.float64 and got.shape == (q.shape[0],) + v.shape[1:]
    np.testing.assert_allclose(got.asnumpy(), nw.attention_pool(q, x, v, **args), rtol=1e-12, atol=1e-12)
    args.pop("exclude_self")
    wref = nw.attention_weights(q, x, exclude_self=exclude_self, **args)
    np.testing.assert_allclose(w.asnumpy(), wref, rtol=1e-12, atol=1e-15)


def test_float32_stays_float32_and_numbers_are_accepted(data):
    x = nd.array(data.x_train, dtype=np.float32)
    out = nwmx.attention_pool(x, x, x, bandwidth=0.5, exclude_self=True)
    assert out.dtype == np.float32
    ref = nw.attention_pool(data.x_train, data.x_train, data.x_train, bandwidth=0.5, exclude_self=True)
    np.testing.assert_allclose(out.asnumpy(), ref, rtol=2e-5)
    got = nwmx.attention_pool(data.x_train, data.x_train, data.x_train, bandwidth=0.5, exclude_self=True)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got.asnumpy(), ref, rtol=1e-12)


def test_chapter_call_with_per_query_keys_equals_leave_one_out(data):
    keys, values = chapter_keys(data.x_train, data.y_train)
    x, y = t(data.x_train), t(data.y_train)
    n = x.shape[0]
    net = nwmx.NWKernelRegression(w_init=2.0, dtype="float64")
    tiled = net(x, t(keys), t(values))
    assert net.attention_weights.shape == (n, n - 1)
    loo = net(x, x, y, exclude_self=True)
    assert net.attention_weights.shape == (n, n)
    np.testing.assert_allclose(tiled.asnumpy(), loo.asnumpy(), rtol=1e-13)
    ref = nw.attention_pool(data.x_train, data.x_train, data.y_train, bandwidth=0.5, exclude_self=True)
    np.testing.assert_allclose(loo.asnumpy(), ref, rtol=1e-12)
    functional = nwmx.attention_pool(x, t(keys), t(values), bandwidth=0.5)
    np.testing.assert_allclose(functional.asnumpy(), ref, rtol=1e-12)


@pytest.mark.parametrize("kernel", ALL)
@pytest.mark.parametrize("h", [1e-6, 1e6])
def test_gradients_are_finite_at_extreme_bandwidths(data, kernel, h):
    def defined_sum(q, bw, x, y):
        out = nwmx.attention_pool(q, x, y, kernel=kernel, bandwidth=bw)
        return nd.where(out == out, out, nd.zeros_like(out)).sum()  # NaN (no key in the support) left out

    out = nwmx.attention_pool(t(data.x_test), t(data.x_train), t(data.y_train), kernel=kernel, bandwidth=h).asnumpy()
    if not nw.KERNELS[kernel].compact or h == 1e6:
        assert np.isfinite(out).all()
    total, grads = grad_of(defined_sum, data.x_test, h, data.x_train, data.y_train)
    assert np.isfinite(total).all()
    for g in grads:
        assert np.isfinite(g).all()


@pytest.mark.parametrize("kernel", ["gaussian", "laplace", "epanechnikov", "tricube", "cosine"])
def test_gradients_match_finite_differences(data, kernel):
    x, y = t(data.x_train), t(data.y_train)
    q0, h0 = data.x_test[::5], np.array([0.8])
    weights = np.random.default_rng(0).normal(size=q0.shape[0])

    def f(q, h):
        return (t(weights) * nwmx.attention_pool(q, x, y, kernel=kernel, bandwidth=h)).sum()

    _, (gq, gh) = grad_of(f, q0, h0)
    eps = 1e-6
    for value, grad in ((q0, gq), (h0, gh)):
        for i in range(value.size):
            up, down = value.copy(), value.copy()
            up[i] += eps
            down[i] -= eps
            args_up = (up, h0) if value is q0 else (q0, up)
            args_down = (down, h0) if value is q0 else (q0, down)
            numeric = (f(*map(t, args_up)).asscalar() - f(*map(t, args_down)).asscalar()) / (2 * eps)
            np.testing.assert_allclose(grad[i], numeric, rtol=1e-5, atol=1e-6)


def test_training_matches_numpy_closed_form(data):
    net = nwmx.NWKernelRegression(w_init=0.6, dtype="float64")
    seen = []
    losses = nwmx.train(net, t(data.x_train), t(data.y_train), epochs=5, lr=0.5, callback=lambda *a: seen.append(a[0]))
    ref = nw.fit_parametric(data.x_train, data.y_train, epochs=5, lr=0.5, w_init=0.6)
    np.testing.assert_allclose(losses, ref.losses, rtol=1e-10)
    np.testing.assert_allclose(net.w.data().asscalar(), ref.w, rtol=1e-10)
    assert seen == [1, 2, 3, 4, 5]


def test_training_in_float32_stays_close(data):
    net = nwmx.NWKernelRegression(w_init=0.6)
    x, y = (nd.array(a, dtype=np.float32) for a in (data.x_train, data.y_train))
    losses = nwmx.train(net, x, y)
    ref = nw.fit_parametric(data.x_train, data.y_train, w_init=0.6)
    np.testing.assert_allclose(losses, ref.losses, rtol=1e-4)
    np.testing.assert_allclose(net.w.data().asscalar(), ref.w, rtol=1e-4)
    assert net.w.data().dtype == np.float32


@pytest.mark.parametrize("design", ["per_dim", "linear_map"])
def test_other_designs_train_and_show_weights(design):
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 5, (60, 2))
    y = 2 * np.sin(x[:, 0]) + 0.1 * x[:, 1] + rng.normal(0, 0.3, 60)
    if design == "per_dim":
        net, lr = nwmx.NWPerDimRegression(2, w_init=[1.0, 1.0], dtype="float64"), 0.01
    else:  # two free maps: the loss is much steeper, lr 0.01 overshoots
        net, lr = nwmx.NWLinearMapRegression(2, w_init=1.0, dtype="float64"), 3e-4
    losses = nwmx.train(net, t(x), t(y), epochs=10, lr=lr)
    assert np.all(np.diff(losses) < 0)
    net(t(x), t(x), t(y), exclude_self=True)
    w = net.attention_weights.asnumpy()
    assert w.shape == (60, 60) and np.allclose(w.sum(1), 1) and np.all(np.diag(w) == 0)
    assert "kernel='gaussian'" in repr(net)


def test_linear_map_to_fewer_dimensions():
    net = nwmx.NWLinearMapRegression(2, d_proj=1, dtype="float64")
    x = t(np.random.default_rng(5).uniform(0, 5, (20, 2)))
    assert net(x, x, x, exclude_self=True).shape == (20, 2)
    assert net.w_queries.shape == (1, 2)


def test_per_dim_with_equal_weights_is_the_scalar_model(data):
    x, y = t(data.x_train[:, None]), t(data.y_train)
    a = nwmx.NWPerDimRegression(1, w_init=[3.0], dtype="float64")(x, x, y, exclude_self=True)
    b = nwmx.NWKernelRegression(w_init=3.0, dtype="float64")(x, x, y, exclude_self=True)
    np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-14)


def test_default_w_is_a_seeded_uniform_draw():
    a, b = nwmx.NWKernelRegression(seed=3), nwmx.NWKernelRegression(seed=3)
    w = a.w.data().asscalar()
    assert w == b.w.data().asscalar() and 0.0 <= w < 1.0


def test_inputs_are_not_modified(data):
    x = t(data.x_train)
    before = x.asnumpy().copy()
    nwmx.attention_pool(x, x, x, exclude_self=True)
    nwmx.train(nwmx.NWKernelRegression(w_init=1.0, dtype="float64"), x, x, epochs=1)
    np.testing.assert_array_equal(x.asnumpy(), before)


@pytest.mark.parametrize("kwargs, match", BAD_INPUT)
def test_bad_input(kwargs, match):
    check_bad_input(nwmx, t, kwargs, match)


def test_bad_model_and_training_input(data):
    with pytest.raises(ValueError, match="kernel must be one of"):
        nwmx.NWKernelRegression("gauss")
    net = nwmx.NWKernelRegression(w_init=1.0, dtype="float64")
    with pytest.raises(ValueError, match="lr must be positive"):
        nwmx.train(net, t(data.x_train), t(data.y_train), lr=0.0)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        nwmx.train(net, t(data.x_train), t(data.y_train), epochs=0)


def test_demo_backend_mxnet_matches_numpy(tmp_path):
    check_demo_matches_numpy(tmp_path, "mxnet")
