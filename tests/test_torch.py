
import numpy as np
import pytest

import nadaraya as nw
from framework_contract import BAD_INPUT, check_bad_input, check_demo_matches_numpy

torch = pytest.importorskip("torch")
from nadaraya import torch as nwt  # noqa: E402

ALL = sorted(nw.KERNELS)
F64 = torch.float64


def t(a, **kw):
    return torch.tensor(np.asarray(a), dtype=F64, **kw)


@pytest.fixture(scope="module")
def data():
    return nw.make_dataset(seed=0)


@pytest.mark.parametrize("kernel", ALL)
@pytest.mark.parametrize("d, k", [(1, None), (2, 2)])
@pytest.mark.parametrize("exclude_self", [False, True])
def test_attention_pool_equals_numpy_core(kernel, d, k, exclude_self):
    rng = np.random.default_rng(0)
    shape = (30,) if d == 1 else (30, d)
    x = rng.uniform(0, 5, shape)
    v = rng.normal(size=(30,) if k is None else (30, k))
    q = x if exclude_self else rng.uniform(0, 5, (12,) if d == 1 else (12, d))
    h = 1.5 if d == 1 else np.array([1.5, 2.0])
    ref = nw.attention_pool(q, x, v, kernel=kernel, bandwidth=h, exclude_self=exclude_self, on_empty="ignore")
    got, w = nwt.attention_pool(t(q), t(x), t(v), kernel=kernel, bandwidth=t(h), exclude_self=exclude_self, return_weights=True)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12, atol=1e-12)
    wref = nw.attention_weights(q, x, kernel=kernel, bandwidth=h, exclude_self=exclude_self, on_empty="ignore")
    np.testing.assert_allclose(w.numpy(), wref, rtol=1e-12, atol=1e-15)


def test_chapter_call_with_per_query_keys_equals_leave_one_out(data):
    x, y = t(data.x_train), t(data.y_train)
    n = len(x)
    # the chapter: X_tile, Y_tile without the diagonal -> keys, values (n, n - 1)
    mask = (1 - torch.eye(n)).bool()
    keys = x.repeat((n, 1))[mask].reshape(n, -1)
    values = y.repeat((n, 1))[mask].reshape(n, -1)
    net = nwt.NWKernelRegression(w_init=2.0, dtype=F64)
    tiled = net(x, keys, values)
    assert net.attention_weights.shape == (n, n - 1)
    loo = net(x, x, y, exclude_self=True)
    assert net.attention_weights.shape == (n, n)
    np.testing.assert_allclose(tiled.detach().numpy(), loo.detach().numpy(), rtol=1e-13)
    ref = nw.attention_pool(data.x_train, data.x_train, data.y_train, bandwidth=0.5, exclude_self=True)
    np.testing.assert_allclose(loo.detach().numpy(), ref, rtol=1e-12)


@pytest.mark.parametrize("kernel", ALL)
@pytest.mark.parametrize("h", [1e-6, 1e6])
def test_gradients_are_finite_at_extreme_bandwidths(data, kernel, h):
    q = t(data.x_test, requires_grad=True)
    bw = t(h, requires_grad=True)
    x, y = t(data.x_train, requires_grad=True), t(data.y_train, requires_grad=True)
    out = nwt.attention_pool(q, x, y, kernel=kernel, bandwidth=bw)
    defined = torch.isfinite(out)
    if not nw.KERNELS[kernel].compact or h == 1e6:
        assert defined.all()
    out[defined].sum().backward()
    for g in (q.grad, bw.grad, x.grad, y.grad):
        assert g is None or torch.isfinite(g).all()  # None: the output does not depend on it (boxcar, constant)
    assert y.grad is not None


@pytest.mark.parametrize("kernel", ["gaussian", "laplace", "epanechnikov", "tricube", "cosine"])
def test_gradients_match_finite_differences(data, kernel):
    q = t(data.x_test[::5], requires_grad=True)
    bw = t(0.8, requires_grad=True)
    x, y = t(data.x_train), t(data.y_train)
    assert torch.autograd.gradcheck(
        lambda q_, b_: nwt.attention_pool(q_, x, y, kernel=kernel, bandwidth=b_), (q, bw), eps=1e-6, atol=1e-6
    )


@pytest.mark.parametrize("kernel", ["gaussian", "laplace", "epanechnikov", "boxcar"])
@pytest.mark.parametrize("exclude_self", [False, True])
def test_chunked_path_equals_dense_values_and_gradients(kernel, exclude_self):
    rng = np.random.default_rng(1)
    x = t(rng.uniform(0, 5, (67, 2)), requires_grad=True)
    v = t(rng.normal(size=(67, 3)), requires_grad=True)
    bw = t([0.7, 1.3], requires_grad=True)
    dense = nwt.attention_pool(x, x, v, kernel=kernel, bandwidth=bw, exclude_self=exclude_self)
    chunked = nwt.attention_pool(x, x, v, kernel=kernel, bandwidth=bw, exclude_self=exclude_self, chunk_size=16)
    np.testing.assert_allclose(chunked.detach().numpy(), dense.detach().numpy(), rtol=1e-12)
    ok = torch.isfinite(dense[:, 0])
    g_dense = torch.autograd.grad(dense[ok].sum(), (x, v, bw), allow_unused=True)
    g_chunk = torch.autograd.grad(chunked[ok].sum(), (x, v, bw), allow_unused=True)
    for a, b in zip(g_dense, g_chunk):
        a = torch.zeros(1, dtype=F64) if a is None else a
        b = torch.zeros(1, dtype=F64) if b is None else b
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-10, atol=1e-12)


def test_chunked_path_at_tiny_bandwidth_matches_numpy():
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0, 5, 200), rng.normal(size=200)
    q = rng.uniform(0, 5, 50)
    got = nwt.attention_pool(t(q), t(x), t(y), bandwidth=1e-6, chunk_size=32)
    np.testing.assert_allclose(got.numpy(), nw.attention_pool(q, x, y, bandwidth=1e-6), rtol=1e-12)


def test_large_input_path_keeps_memory_flat_with_autograd():
    # n = 1e5 keys: the dense path would save m * n scores for backward; the chunked path saves O(m + n)
    rng = np.random.default_rng(3)
    n, m = 100_000, 500
    x = t(rng.uniform(0, 5, n))
    y = t(2 * np.sin(x.numpy()) + rng.normal(0, 0.5, n))
    net = nwt.NWKernelRegression(w_init=20.0, dtype=F64)
    q = x[:m]
    saved = []

    def pack(tensor):
        saved.append(tensor.numel())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = net(q, x, y)
    out.sum().backward()
    assert m * n > nwt.DENSE_MAX_PAIRS and net.attention_weights is None
    assert sum(saved) < 10 * (m + n)
    assert torch.isfinite(net.w.grad).all()
    ref = nw.attention_pool(q.numpy(), x.numpy(), y.numpy(), bandwidth=1 / 20.0)
    np.testing.assert_allclose(out.detach().numpy(), ref, rtol=1e-10)


def test_training_matches_numpy_closed_form(data):
    net = nwt.NWKernelRegression(w_init=0.6, dtype=F64)
    seen = []
    losses = nwt.train(net, t(data.x_train), t(data.y_train), epochs=5, lr=0.5, callback=lambda *a: seen.append(a[0]))
    ref = nw.fit_parametric(data.x_train, data.y_train, epochs=5, lr=0.5, w_init=0.6)
    np.testing.assert_allclose(losses, ref.losses, rtol=1e-10)
    np.testing.assert_allclose(net.w.item(), ref.w, rtol=1e-10)
    assert seen == [1, 2, 3, 4, 5]


def test_training_in_float32_stays_close(data):
    net = nwt.NWKernelRegression(w_init=0.6, dtype=torch.float32)
    losses = nwt.train(net, torch.tensor(data.x_train, dtype=torch.float32), torch.tensor(data.y_train, dtype=torch.float32))
    ref = nw.fit_parametric(data.x_train, data.y_train, w_init=0.6)
    np.testing.assert_allclose(losses, ref.losses, rtol=1e-4)
    assert net.w.dtype == torch.float32


@pytest.mark.parametrize("design", ["per_dim", "linear_map"])
def test_other_designs_train_and_show_weights(design):
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 5, (60, 2))
    y = 2 * np.sin(x[:, 0]) + 0.1 * x[:, 1] + rng.normal(0, 0.3, 60)
    if design == "per_dim":
        net = nwt.NWPerDimRegression(2, w_init=[1.0, 1.0], dtype=F64)
    else:
        net = nwt.NWLinearMapRegression(2, w_init=1.0, dtype=F64)
    losses = nwt.train(net, t(x), t(y), epochs=10, lr=3e-4)
    assert losses[-1] < losses[0]
    net(t(x), t(x), t(y), exclude_self=True)
    w = net.attention_weights.numpy()
    assert w.shape == (60, 60) and np.allclose(w.sum(1), 1) and np.all(np.diag(w) == 0)
    assert "kernel='gaussian'" in repr(net)


def test_per_dim_with_equal_weights_is_the_scalar_model(data):
    x, y = t(data.x_train[:, None]), t(data.y_train)
    a = nwt.NWPerDimRegression(1, w_init=[3.0], dtype=F64)(x, x, y, exclude_self=True)
    b = nwt.NWKernelRegression(w_init=3.0, dtype=F64)(x, x, y, exclude_self=True)
    np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-14)


def test_default_w_comes_from_torch_rand_like_the_chapter():
    g = torch.Generator().manual_seed(0)
    net = nwt.NWKernelRegression(generator=g)
    assert net.w.item() == torch.rand((1,), generator=torch.Generator().manual_seed(0)).item()


def test_inputs_are_not_modified(data):
    x = t(data.x_train)
    before = x.clone()
    nwt.attention_pool(x, x, x, exclude_self=True)
    assert torch.equal(x, before)


@pytest.mark.parametrize("kwargs, match", BAD_INPUT)
def test_bad_input(kwargs, match):
    check_bad_input(nwt, t, kwargs, match)


def test_demo_backend_torch_matches_numpy(tmp_path):
    check_demo_matches_numpy(tmp_path, "torch")


def _check_device(device):
    rng = np.random.default_rng(5)
    x = torch.tensor(rng.uniform(0, 5, 3000), dtype=F64, device=device)
    y = torch.sin(x)
    net = nwt.NWKernelRegression(w_init=5.0, dtype=F64, device=device, chunk_size=512)
    out = net(x, x, y, exclude_self=True)
    out.sum().backward()
    assert out.device.type == device and net.w.grad.device.type == device
    ref = nw.attention_pool(x.cpu().numpy(), x.cpu().numpy(), y.cpu().numpy(), bandwidth=0.2, exclude_self=True)
    np.testing.assert_allclose(out.detach().cpu().numpy(), ref, rtol=1e-10)


def test_large_input_path_on_cpu():
    _check_device("cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_large_input_path_on_cuda():
    _check_device("cuda")
