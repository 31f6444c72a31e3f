"""The framework modules (nadaraya.torch, .tensorflow, .mxnet, .jax) against the NumPy core: one suite, every backend.

Each test runs once per backend of ``framework_contract.BACKENDS`` whose framework
is installed; MXNet's cases run in .venv-mxnet (``make test-mxnet``). Tests of
what only one framework has (torch's devices, Keras variables, JAX's transforms)
are at the end, parametrised over the backends that have it.
"""

import json

import numpy as np
import pytest

import nadaraya as nw
from framework_contract import BAD_INPUT, chapter_tiles, installed, params
from framework_contract import BACKENDS as ADAPTERS

ALL = sorted(nw.KERNELS)


@pytest.fixture(scope="module", params=params())
def be(request):
    name = request.param
    if not installed(name):
        pytest.skip(f"{ADAPTERS[name].requires} not installed")
    return ADAPTERS[name]()


@pytest.fixture(autouse=True)
def _framework_context(request):
    """The backend's float64 setting (JAX's x64) for the duration of one test, restored after."""
    if "be" not in request.fixturenames:
        yield
        return
    with request.getfixturevalue("be").context():
        yield


def only(*names):
    """Parametrise ``be`` over the named backends only (what only they have)."""
    return pytest.mark.parametrize("be", [p for p in params() if p.id in names], indirect=True)


@pytest.fixture(scope="module")
def data():
    return nw.make_dataset(seed=0)


@pytest.mark.parametrize("kernel", ALL)
@pytest.mark.parametrize("d", [1, 2])
@pytest.mark.parametrize("k", [1, 2])
@pytest.mark.parametrize("exclude_self", [False, True])
def test_attention_pool_equals_numpy_core(be, kernel, d, k, exclude_self):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 5, (30,) if d == 1 else (30, d))
    v = rng.normal(size=(30,) if k == 1 else (30, k))
    q = x if exclude_self else rng.uniform(0, 5, (12,) if d == 1 else (12, d))
    h = 1.5 if d == 1 else np.array([1.5, 2.0])
    args = dict(kernel=kernel, bandwidth=h, exclude_self=exclude_self, on_empty="ignore")
    got, w = be.fw.attention_pool(
        be.t(q), be.t(x), be.t(v), kernel=kernel, bandwidth=be.t(h), exclude_self=exclude_self, return_weights=True
    )
    assert be.dtype(got) == "float64" and got.shape == (q.shape[0],) + v.shape[1:]
    np.testing.assert_allclose(be.np(got), nw.attention_pool(q, x, v, **args), rtol=1e-12, atol=1e-12)
    args.pop("exclude_self")
    wref = nw.attention_weights(q, x, exclude_self=exclude_self, **args)
    np.testing.assert_allclose(be.np(w), wref, rtol=1e-12, atol=1e-15)


def _integer_boxcar(q, k, v, h):
    """Boxcar pooling by exact integer arithmetic: key j counts for query i iff |q_i - k_j|**2 <= h**2."""
    q, k = (np.asarray(a, dtype=np.int64).reshape(len(a), -1) for a in (q, k))
    inside = ((q[:, None, :] - k[None, :, :]) ** 2).sum(-1) <= int(h) ** 2
    return inside @ np.asarray(v, dtype=np.float64) / inside.sum(1)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_boxcar_counts_the_keys_at_the_support_edge(be, dtype):
    # R ksmooth / locfit give [0.5, 2, 3]: keys at |q - k| = h exactly are inside (issue 12 item 1)
    x, y = np.array([4.0, 7.0, 10.0]), np.array([0.0, 1.0, 5.0])
    for h in (3.0, be.t(np.array([3.0]), dtype)):
        got = be.fw.attention_pool(be.t(x, dtype), be.t(x, dtype), be.t(y, dtype), kernel="boxcar", bandwidth=h)
        assert be.dtype(got) == dtype
        np.testing.assert_allclose(be.np(got), [0.5, 2.0, 3.0], rtol=1e-12 if dtype == "float64" else 1e-6)
    # integer data with an integer bandwidth are exact, wherever they sit and in d = 2 (3-4-5 triangles)
    rng = np.random.default_rng(3)
    for d, h, offset in ((1, 3, 0), (1, 7, 4000), (2, 5, 0), (2, 5, 3000)):
        q = rng.integers(0, 30, size=(40, d)) + offset
        k = rng.integers(0, 30, size=(60, d)) + offset
        v = rng.normal(size=60)
        want = _integer_boxcar(q, k, v, h)
        ok = np.isfinite(want)
        close = dict(rtol=0, atol=(1e-12 if dtype == "float64" else 1e-5) * np.abs(v).max())  # relative to max|v|
        args = [be.t(a.astype(np.float64), dtype) for a in (q, k, v)]
        got = be.np(be.fw.attention_pool(*args, kernel="boxcar", bandwidth=float(h)))
        np.testing.assert_array_equal(np.isnan(got), ~ok, err_msg=f"d={d}, h={h}, offset {offset}")
        np.testing.assert_allclose(got[ok], want[ok], **close, err_msg=f"d={d}, h={h}, offset {offset}")
        if be.chunked:  # the memory-flat path divides by the same widened bandwidth
            chunked = be.np(be.fw.attention_pool(*args, kernel="boxcar", bandwidth=float(h), chunk_size=16))
            np.testing.assert_array_equal(np.isnan(chunked), ~ok)
            np.testing.assert_allclose(chunked[ok], want[ok], **close)


def test_float32_stays_float32_and_numpy_input_is_accepted(be, data):
    x = be.t(data.x_train, "float32")
    out = be.fw.attention_pool(x, x, x, bandwidth=0.5, exclude_self=True)
    assert be.dtype(out) == "float32"
    ref = nw.attention_pool(data.x_train, data.x_train, data.x_train, bandwidth=0.5, exclude_self=True)
    np.testing.assert_allclose(be.np(out), ref, rtol=2e-5)
    got = be.fw.attention_pool(data.x_train, data.x_train, data.x_train, bandwidth=0.5, exclude_self=True)
    assert be.dtype(got) == be.numpy_dtype
    np.testing.assert_allclose(be.np(got), ref, rtol=1e-12 if be.numpy_dtype == "float64" else 2e-5)


def test_chapter_call_with_per_query_keys_equals_leave_one_out(be, data):
    x, y = be.t(data.x_train), be.t(data.y_train)
    n = x.shape[0]
    keys, values = be.chapter_keys(x, y)
    np.testing.assert_array_equal(be.np(keys), chapter_tiles(data.x_train, data.y_train)[0])
    net = be.model("NWKernelRegression", w_init=2.0)
    tiled = net(x, keys, values)
    assert be.weights(net).shape == (n, n - 1)
    loo = net(x, x, y, exclude_self=True)
    assert be.weights(net).shape == (n, n)
    np.testing.assert_allclose(be.np(tiled), be.np(loo), rtol=1e-13)
    ref = nw.attention_pool(data.x_train, data.x_train, data.y_train, bandwidth=0.5, exclude_self=True)
    np.testing.assert_allclose(be.np(loo), ref, rtol=1e-12)
    functional = be.fw.attention_pool(x, keys, values, bandwidth=0.5)
    np.testing.assert_allclose(be.np(functional), ref, rtol=1e-12)


@pytest.mark.parametrize("kernel", ALL)
@pytest.mark.parametrize("h", [1e-6, 1e6])
def test_gradients_are_finite_at_extreme_bandwidths(be, data, kernel, h):
    out = be.np(be.fw.attention_pool(be.t(data.x_test), be.t(data.x_train), be.t(data.y_train), kernel=kernel, bandwidth=h))
    if not nw.KERNELS[kernel].compact or h == 1e6:
        assert np.isfinite(out).all()

    def defined_sum(q, bw, x, y):  # NaN (no key in the support) left out
        return be.nansum(be.fw.attention_pool(q, x, y, kernel=kernel, bandwidth=bw))

    total, grads = be.grad_of(defined_sum, data.x_test, h, data.x_train, data.y_train)
    assert np.isfinite(total)
    for g in grads:
        assert g is None or np.isfinite(g).all()  # None: the output does not depend on it (boxcar, constant)
    assert grads[-1] is not None


@pytest.mark.parametrize("kernel", ["gaussian", "laplace", "epanechnikov", "tricube", "cosine"])
def test_gradients_match_finite_differences(be, data, kernel):
    x, y = be.t(data.x_train), be.t(data.y_train)
    q0, h0 = data.x_test[::5], np.array([0.8])
    weights = np.random.default_rng(0).normal(size=q0.shape[0])

    def f(q, h):
        return be.nansum(be.t(weights) * be.fw.attention_pool(q, x, y, kernel=kernel, bandwidth=h))

    _, (gq, gh) = be.grad_of(f, q0, h0)
    eps = 1e-6
    for i, value in enumerate((q0, h0)):
        for j in range(value.size):
            up, down = [q0.copy(), h0.copy()], [q0.copy(), h0.copy()]
            up[i][j] += eps
            down[i][j] -= eps
            numeric = (be.np(f(*map(be.t, up))) - be.np(f(*map(be.t, down)))) / (2 * eps)
            np.testing.assert_allclose((gq, gh)[i].ravel()[j], numeric, rtol=1e-5, atol=1e-6)


def test_bandwidth_gradient_matches_finite_differences(be, data):
    def loo_sum(bw, x, y):
        return be.nansum(be.fw.attention_pool(x, x, y, bandwidth=bw, exclude_self=True))

    _, (grad, _, _) = be.grad_of(loo_sum, 0.8, data.x_train, data.y_train)
    x, y = be.t(data.x_train), be.t(data.y_train)
    step = 1e-6
    up, down = (be.np(loo_sum(be.t(0.8 + s), x, y)) for s in (step, -step))
    np.testing.assert_allclose(grad.ravel(), (up - down) / (2 * step), rtol=1e-6)


def test_training_matches_numpy_closed_form(be, data):
    net = be.model("NWKernelRegression", w_init=0.6)
    seen = []
    losses = be.fw.train(net, be.t(data.x_train), be.t(data.y_train), epochs=5, lr=0.5, callback=lambda *a: seen.append(a[0]))
    ref = nw.fit_parametric(data.x_train, data.y_train, epochs=5, lr=0.5, w_init=0.6)
    np.testing.assert_allclose(losses, ref.losses, rtol=1e-10)
    np.testing.assert_allclose(be.w(net), [ref.w], rtol=1e-10)
    assert seen == [1, 2, 3, 4, 5]


def test_in_sample_training_matches_numpy_closed_form(be, data):
    net = be.model("NWKernelRegression", w_init=0.6)
    losses = be.fw.train(net, be.t(data.x_train), be.t(data.y_train), epochs=5, lr=0.5, exclude_self=False)
    ref = nw.fit_parametric(data.x_train, data.y_train, epochs=5, lr=0.5, w_init=0.6, exclude_self=False)
    loo = nw.fit_parametric(data.x_train, data.y_train, epochs=5, lr=0.5, w_init=0.6)
    np.testing.assert_allclose(losses, ref.losses, rtol=1e-10)
    np.testing.assert_allclose(be.w(net), [ref.w], rtol=1e-10)
    assert ref.losses[0] < loo.losses[0]  # each input's own pair in its pool


def test_training_in_float32_stays_close(be, data):
    net = be.model("NWKernelRegression", w_init=0.6, dtype="float32")
    losses = be.fw.train(net, be.t(data.x_train, "float32"), be.t(data.y_train, "float32"))
    ref = nw.fit_parametric(data.x_train, data.y_train, w_init=0.6)
    np.testing.assert_allclose(losses, ref.losses, rtol=1e-4)
    np.testing.assert_allclose(be.w(net), [ref.w], rtol=1e-4)
    assert be.w(net).dtype == np.float32


@pytest.mark.parametrize("design", ["NWPerDimRegression", "NWLinearMapRegression"])
def test_other_designs_train_and_show_weights(be, design):
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 5, (60, 2))
    y = 2 * np.sin(x[:, 0]) + 0.1 * x[:, 1] + rng.normal(0, 0.3, 60)
    if design == "NWPerDimRegression":
        net, lr = be.model(design, 2, w_init=[1.0, 1.0]), 0.01
    else:  # two free maps: the loss is much steeper, lr 0.01 overshoots
        net, lr = be.model(design, 2, w_init=1.0), 3e-4
    losses = be.fw.train(net, be.t(x), be.t(y), epochs=10, lr=lr)
    assert np.all(np.diff(losses) < 0)
    net(be.t(x), be.t(x), be.t(y), exclude_self=True)
    w = be.weights(net)
    assert w.shape == (60, 60) and np.allclose(w.sum(1), 1) and np.all(np.diag(w) == 0)
    assert "kernel='gaussian'" in repr(net)


def test_linear_map_to_fewer_dimensions(be):
    net = be.model("NWLinearMapRegression", 2, d_proj=1)
    x = be.t(np.random.default_rng(5).uniform(0, 5, (20, 2)))
    assert net(x, x, x, exclude_self=True).shape == (20, 2)
    assert net.w_queries.shape == (1, 2)


def test_per_dim_with_equal_weights_is_the_scalar_model(be, data):
    x, y = be.t(data.x_train[:, None]), be.t(data.y_train)
    a = be.model("NWPerDimRegression", 1, w_init=[3.0])(x, x, y, exclude_self=True)
    b = be.model("NWKernelRegression", w_init=3.0)(x, x, y, exclude_self=True)
    np.testing.assert_allclose(be.np(a), be.np(b), rtol=1e-14)


def test_default_w_is_a_seeded_uniform_draw(be):
    a, b, c = be.seeded(3), be.seeded(3), be.seeded(4)
    w = be.w(a)[0]
    assert w == be.w(b)[0] and 0.0 <= w < 1.0 and w != be.w(c)[0]


def test_inputs_are_not_modified(be, data):
    x = be.t(data.x_train)
    before = be.np(x).copy()
    be.fw.attention_pool(x, x, x, exclude_self=True)
    be.fw.train(be.model("NWKernelRegression", w_init=1.0), x, x, epochs=1)
    np.testing.assert_array_equal(be.np(x), before)


@pytest.mark.parametrize("kwargs, match", BAD_INPUT)
def test_bad_input(be, kwargs, match):
    args = dict(queries=np.zeros(3), keys=np.zeros(5), values=np.zeros(5)) | kwargs
    q, k, v = (be.t(args.pop(n)) for n in ("queries", "keys", "values"))
    with pytest.raises(ValueError, match=match):
        be.fw.attention_pool(q, k, v, **args)


def test_bad_model_and_training_input(be, data):
    with pytest.raises(ValueError, match="kernel must be one of"):
        be.model("NWKernelRegression", "gauss")
    net = be.model("NWKernelRegression", w_init=1.0)
    with pytest.raises(ValueError, match="lr must be positive"):
        be.fw.train(net, be.t(data.x_train), be.t(data.y_train), lr=0.0)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        be.fw.train(net, be.t(data.x_train), be.t(data.y_train), epochs=0)


def test_weights_larger_than_max_bytes_are_refused_before_they_are_built(be):
    rng = np.random.default_rng(6)
    x, q = be.t(rng.uniform(0, 5, 300)), be.t(rng.uniform(0, 5, 200))
    need = 200 * 300 * 8
    with pytest.raises(ValueError, match=r"200 x 300 matrix.*above max_bytes=1,000"):
        be.fw.attention_pool(q, x, x, return_weights=True, max_bytes=1000)
    out, w = be.fw.attention_pool(q, x, x, return_weights=True, max_bytes=need)
    assert w.shape == (200, 300)
    keys, values = be.chapter_keys(x[:200], x[:200])  # the chapter's per-query call holds (m, n) too
    with pytest.raises(ValueError, match=r"200 x 199 matrix"):
        be.fw.attention_pool(q, keys, values, max_bytes=1000)
    with pytest.raises(ValueError, match="max_bytes must be a positive number"):
        be.fw.attention_pool(q, x, x, return_weights=True, max_bytes=-1)
    small = be.np(be.fw.attention_pool(q, x, x, max_bytes=1000)) if be.chunked else None  # pools by chunks instead
    if small is not None:
        np.testing.assert_allclose(small, nw.attention_pool(be.np(q), be.np(x), be.np(x)), rtol=1e-12)


def test_demo_backend_matches_numpy(be, tmp_path):
    """``nadaraya demo --backend NAME`` prints and saves the NumPy run's numbers, from the framework's defaults."""
    from nadaraya.cli import main

    with be.defaults():
        assert main(["demo", "--backend", be.name, "--out", str(tmp_path / be.name)]) == 0
    assert main(["demo", "--out", str(tmp_path / "numpy")]) == 0
    a = json.loads((tmp_path / be.name / "summary.json").read_text())
    b = json.loads((tmp_path / "numpy" / "summary.json").read_text())
    assert a["config"]["backend"] == be.name
    for key in ("w", "losses", "w_history", "predictions", "attention_weights"):
        np.testing.assert_allclose(a["parametric"][key], b["parametric"][key], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(a["nonparametric"]["predictions"], b["nonparametric"]["predictions"], rtol=1e-12)
    np.testing.assert_allclose(
        a["nonparametric"]["attention_weights"], b["nonparametric"]["attention_weights"], rtol=1e-12, atol=1e-15
    )
    for name, value in b["test_mse"].items():
        np.testing.assert_allclose(a["test_mse"][name], value, rtol=1e-10)
    assert sorted(p.name for p in (tmp_path / be.name).iterdir()) == sorted(p.name for p in (tmp_path / "numpy").iterdir())


# --- the memory-flat large-input path (frameworks that have one) -------------------------------------------


def chunked_backends():
    return only(*[name for name, adapter in ADAPTERS.items() if adapter.chunked])


@chunked_backends()
@pytest.mark.parametrize("kernel", ["gaussian", "laplace", "epanechnikov", "boxcar"])
@pytest.mark.parametrize("exclude_self", [False, True])
def test_chunked_path_equals_dense_values_and_gradients(be, kernel, exclude_self):
    rng = np.random.default_rng(1)
    x, v, h = rng.uniform(0, 5, (67, 2)), rng.normal(size=(67, 3)), np.array([0.7, 1.3])
    dense = be.np(be.fw.attention_pool(be.t(x), be.t(x), be.t(v), kernel=kernel, bandwidth=be.t(h), exclude_self=exclude_self))
    ok = be.t(np.isfinite(dense[:, 0]).astype(float)[:, None])

    def run(chunk_size):
        def f(x_, v_, h_):
            out = be.fw.attention_pool(x_, x_, v_, kernel=kernel, bandwidth=h_, exclude_self=exclude_self, chunk_size=chunk_size)
            return be.nansum(out * ok)

        return be.grad_of(f, x, v, h)

    (sum_dense, g_dense), (sum_chunk, g_chunk) = run(None), run(16)
    chunked = be.fw.attention_pool(be.t(x), be.t(x), be.t(v), kernel=kernel, bandwidth=be.t(h), exclude_self=exclude_self, chunk_size=16)
    np.testing.assert_allclose(be.np(chunked), dense, rtol=1e-12)
    np.testing.assert_allclose(sum_chunk, sum_dense, rtol=1e-12)
    for a, b in zip(g_dense, g_chunk):
        a = np.zeros(1) if a is None else a
        b = np.zeros(1) if b is None else b
        np.testing.assert_allclose(b, a, rtol=1e-10, atol=1e-12)


@chunked_backends()
def test_chunked_path_at_tiny_bandwidth_matches_numpy(be):
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0, 5, 200), rng.normal(size=200)
    q = rng.uniform(0, 5, 50)
    got = be.fw.attention_pool(be.t(q), be.t(x), be.t(y), bandwidth=1e-6, chunk_size=32)
    np.testing.assert_allclose(be.np(got), nw.attention_pool(q, x, y, bandwidth=1e-6), rtol=1e-12)


# --- torch only -------------------------------------------------------------------------------------------


@only("torch")
@pytest.mark.parametrize("kernel", ["gaussian", "laplace", "epanechnikov", "tricube", "cosine"])
def test_torch_gradcheck_of_every_output(be, data, kernel):
    import torch

    q, bw = be.t(data.x_test[::5]).requires_grad_(True), be.t(0.8).requires_grad_(True)
    x, y = be.t(data.x_train), be.t(data.y_train)
    assert torch.autograd.gradcheck(
        lambda q_, b_: be.fw.attention_pool(q_, x, y, kernel=kernel, bandwidth=b_), (q, bw), eps=1e-6, atol=1e-6
    )


@only("torch")
def test_torch_large_input_path_keeps_memory_flat_with_autograd(be):
    # n = 1e5 keys: the dense path would save m * n scores for backward; the chunked path saves O(m + n)
    import torch

    rng = np.random.default_rng(3)
    n, m = 100_000, 500
    x = be.t(rng.uniform(0, 5, n))
    y = be.t(2 * np.sin(be.np(x)) + rng.normal(0, 0.5, n))
    net = be.model("NWKernelRegression", w_init=20.0)
    q = x[:m]
    saved = []

    def pack(tensor):
        saved.append(tensor.numel())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = net(q, x, y)
    out.sum().backward()
    assert m * n > be.fw.DENSE_MAX_PAIRS and net.attention_weights is None
    assert sum(saved) < 10 * (m + n)
    assert torch.isfinite(net.w.grad).all()
    ref = nw.attention_pool(be.np(q), be.np(x), be.np(y), bandwidth=1 / 20.0)
    np.testing.assert_allclose(be.np(out), ref, rtol=1e-10)


@only("torch")
def test_torch_default_w_comes_from_torch_rand_like_the_chapter(be):
    import torch

    assert be.w(be.seeded(0))[0] == torch.rand((1,), generator=torch.Generator().manual_seed(0)).item()


def _check_torch_device(be, device):
    import torch

    rng = np.random.default_rng(5)
    x = torch.tensor(rng.uniform(0, 5, 3000), dtype=torch.float64, device=device)
    y = torch.sin(x)
    net = be.model("NWKernelRegression", w_init=5.0, dtype=torch.float64, device=device, chunk_size=512)
    out = net(x, x, y, exclude_self=True)
    out.sum().backward()
    assert out.device.type == device and net.w.grad.device.type == device
    ref = nw.attention_pool(be.np(x), be.np(x), be.np(y), bandwidth=0.2, exclude_self=True)
    np.testing.assert_allclose(be.np(out), ref, rtol=1e-10)


@only("torch")
def test_torch_large_input_path_on_cpu(be):
    _check_torch_device(be, "cpu")


@only("torch")
@pytest.mark.gpu
def test_torch_large_input_path_on_cuda(be):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    _check_torch_device(be, "cuda")


# --- tensorflow only --------------------------------------------------------------------------------------


@only("tensorflow")
def test_tensorflow_bandwidth_may_be_a_keras_variable(be, data):
    import keras
    import tensorflow as tf

    bw = keras.Variable(0.8, dtype="float64")
    x, y = be.t(data.x_train), be.t(data.y_train)
    with tf.GradientTape() as tape:
        out = tf.reduce_sum(be.fw.attention_pool(x, x, y, bandwidth=bw, exclude_self=True))
    (grad,) = tape.gradient(out, [bw])
    step = 1e-6
    up, down = (tf.reduce_sum(be.fw.attention_pool(x, x, y, bandwidth=0.8 + s, exclude_self=True)) for s in (step, -step))
    np.testing.assert_allclose(grad.numpy(), (up - down).numpy() / (2 * step), rtol=1e-6)


# --- jax only: the transforms, the 64-bit mode, memory ----------------------------------------------------


@only("jax")
@pytest.mark.parametrize("kernel", ["gaussian", "epanechnikov", "boxcar"])
@pytest.mark.parametrize("chunk_size", [None, 16])
def test_jax_attention_pool_under_jit_and_vmap_equals_numpy(be, kernel, chunk_size):
    import jax

    rng = np.random.default_rng(7)
    q, x, v = rng.uniform(0, 5, (3, 40)), rng.uniform(0, 5, (3, 50)), rng.normal(size=(3, 50))

    def pool(q_, x_, v_, h_):
        return be.fw.attention_pool(q_, x_, v_, kernel=kernel, bandwidth=h_, chunk_size=chunk_size)

    got = jax.jit(jax.vmap(pool, in_axes=(0, 0, 0, None)))(be.t(q), be.t(x), be.t(v), be.t(0.7))
    ref = [nw.attention_pool(q[i], x[i], v[i], kernel=kernel, bandwidth=0.7, on_empty="ignore") for i in range(3)]
    np.testing.assert_allclose(be.np(got), np.stack(ref), rtol=1e-12, atol=1e-14)
    jitted = jax.jit(pool)(be.t(q[0]), be.t(x[0]), be.t(v[0]), be.t(0.7))
    np.testing.assert_allclose(be.np(jitted), ref[0], rtol=1e-12, atol=1e-14)


@only("jax")
@pytest.mark.parametrize("kernel", ["gaussian", "laplace", "epanechnikov", "boxcar"])  # every kernel: un-jitted, above
@pytest.mark.parametrize("h", [1e-6, 1e6])
def test_jax_jitted_gradients_are_finite_at_extreme_bandwidths(be, data, kernel, h):
    import jax

    def loss(q, bw, x, y):
        return be.nansum(be.fw.attention_pool(q, x, y, kernel=kernel, bandwidth=bw, chunk_size=16))

    grads = jax.jit(jax.grad(loss, argnums=(0, 1, 2, 3)))(*map(be.t, (data.x_test, h, data.x_train, data.y_train)))
    assert all(np.isfinite(be.np(g)).all() for g in grads)


@only("jax")
def test_jax_model_under_nnx_jit_keeps_its_weights(be, data):
    from flax import nnx

    net = be.model("NWKernelRegression", w_init=2.0)
    x, y = be.t(data.x_train), be.t(data.y_train)
    eager = net(x, x, y, exclude_self=True)
    w_eager = be.weights(net)
    net.weights_ = type(net.weights_)(None)
    jitted = nnx.jit(lambda m, a, b: m(a, a, b, exclude_self=True))(net, x, y)
    np.testing.assert_allclose(be.np(jitted), be.np(eager), rtol=1e-13)
    np.testing.assert_allclose(be.weights(net), w_eager, rtol=1e-13)


@only("jax")
@pytest.mark.parametrize("n", [100_000, 400_000])
def test_jax_large_input_path_keeps_memory_flat_with_autograd(be, n):
    # the dense path would hold m * n scores for the backward pass; the chunked one a few blocks and O(m + n)
    import jax

    rng = np.random.default_rng(3)
    m = 500
    x = be.t(rng.uniform(0, 5, n))
    y = be.t(2 * np.sin(be.np(x)) + rng.normal(0, 0.5, n))
    q = x[:m]

    def loss(w):
        return be.fw.attention_pool(q * w, x * w, y).sum()

    grad = jax.jit(jax.grad(loss))
    temp = grad.lower(be.t(20.0)).compile().memory_analysis().temp_size_in_bytes
    assert m * n > be.fw.DENSE_MAX_PAIRS and temp < 0.1 * m * n * 8
    assert np.isfinite(be.np(grad(be.t(20.0))))
    if n == 100_000:
        net = be.model("NWKernelRegression", w_init=20.0)
        out = net(q, x, y)
        assert net.attention_weights is None
        np.testing.assert_allclose(be.np(out), nw.attention_pool(be.np(q), be.np(x), be.np(y), bandwidth=1 / 20.0), rtol=1e-10)


@only("jax")
def test_jax_default_w_is_jax_random_uniform_like_the_chapter(be):
    import jax
    from flax import nnx

    assert be.w(be.seeded(0))[0] == jax.random.uniform(jax.random.key(0), (1,))[0]
    a, b = be.fw.NWKernelRegression(rngs=nnx.Rngs(params=5)), be.fw.NWKernelRegression(rngs=nnx.Rngs(params=5))
    assert be.w(a)[0] == be.w(b)[0]


@only("jax")
def test_jax_float64_without_64_bit_mode_is_refused_and_the_demo_leaves_the_mode_off(be):
    import jax

    with be.defaults():
        with pytest.raises(ValueError, match="dtype=float64 needs JAX's 64-bit mode"):
            be.fw.NWKernelRegression(w_init=1.0, dtype="float64")
        out, w = be.fw._chapter_backend().pool(np.arange(3.0), np.arange(4.0), np.arange(4.0), nw.KERNELS["gaussian"], 1.0)
        assert out.dtype == np.float64 and w.shape == (3, 4)
        assert not jax.config.jax_enable_x64


def test_missing_jax_extra_is_named(monkeypatch):
    import sys

    monkeypatch.delitem(sys.modules, "nadaraya.jax", raising=False)
    monkeypatch.setitem(sys.modules, "optax", None)  # as if not installed
    with pytest.raises(ImportError, match=r"pip install 'nadaraya\[jax\]'"):
        import nadaraya.jax  # noqa: F401
