import numpy as np
import pytest

import nadaraya as nw

SMOOTH = ["gaussian", "laplace", "epanechnikov", "biweight", "tricube", "triangular", "cosine"]


def _loo_loss(w, x, y, kernel):
    """The chapter's loss from the public pooling function."""
    f = nw.attention_pool(x, x, y, kernel=kernel, bandwidth=1.0 / abs(w), exclude_self=True)
    return float(((f - y) ** 2).sum())


@pytest.mark.parametrize("kernel", SMOOTH)
@pytest.mark.parametrize("w", [0.3, 1.7])
def test_closed_form_gradient_equals_finite_differences(kernel, w):
    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(0, 5, 30))
    y = 2 * np.sin(x) + x**0.8 + rng.normal(0, 0.5, 30)
    loss, grad = nw.parametric_loss(w, x, y, kernel=kernel)
    eps = 1e-6
    fd = (nw.parametric_loss(w + eps, x, y, kernel=kernel)[0] - nw.parametric_loss(w - eps, x, y, kernel=kernel)[0]) / (2 * eps)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(loss, _loo_loss(w, x, y, kernel), rtol=1e-12)


def test_gradient_in_several_dimensions():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(25, 3)), rng.normal(size=25)
    _, grad = nw.parametric_loss(0.8, x, y)
    fd = (nw.parametric_loss(0.8 + 1e-6, x, y)[0] - nw.parametric_loss(0.8 - 1e-6, x, y)[0]) / 2e-6
    np.testing.assert_allclose(grad, fd, rtol=1e-5)


def test_gaussian_gradient_by_hand():
    # dL/dw = sum_i 2 r_i sum_j a_ij (y_j - f_i) (-w d_ij^2)
    x, y, w = np.array([0.0, 1.0, 2.0]), np.array([0.0, 1.0, 4.0]), 1.0
    d2 = (x[:, None] - x[None, :]) ** 2
    s = -0.5 * (w**2) * d2
    np.fill_diagonal(s, -np.inf)
    a = np.exp(s) / np.exp(s).sum(1, keepdims=True)
    f = a @ y
    grad = np.sum(2 * (f - y) * np.sum(a * (y[None, :] - f[:, None]) * (-w * d2), axis=1))
    loss, g = nw.parametric_loss(w, x, y)
    np.testing.assert_allclose(loss, np.sum((f - y) ** 2), rtol=1e-14)
    np.testing.assert_allclose(g, grad, rtol=1e-14)


def test_training_follows_gradient_descent_and_is_reproducible():
    data = nw.make_dataset(seed=0)
    seen = []
    fit = nw.fit_parametric(data.x_train, data.y_train, seed=4, callback=lambda *a: seen.append(a))
    again = nw.fit_parametric(data.x_train, data.y_train, seed=4)
    assert fit.w == again.w and np.array_equal(fit.losses, again.losses)
    assert fit.w_init == np.random.default_rng(4).uniform(0, 1)
    assert [e for e, _, _ in seen] == [1, 2, 3, 4, 5]
    # each step is w <- w - lr * dL/dw, and the recorded loss is the loss before the step
    for i in range(5):
        loss, grad = nw.parametric_loss(fit.w_history[i], data.x_train, data.y_train)
        assert fit.losses[i] == pytest.approx(loss, rel=1e-14)
        assert fit.w_history[i + 1] == pytest.approx(fit.w_history[i] - 0.5 * grad, rel=1e-14)
    assert fit.losses[-1] < fit.losses[0]
    assert fit.bandwidth == pytest.approx(1 / abs(fit.w))


def test_training_errors_are_clear():
    data = nw.make_dataset(seed=0)
    with pytest.raises(ValueError, match="lr must be positive and finite"):
        nw.fit_parametric(data.x_train, data.y_train, lr=-1)
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        nw.fit_parametric(data.x_train, data.y_train, epochs=0)
    with pytest.raises(ValueError, match="y must have shape"):
        nw.fit_parametric(data.x_train, data.y_train[:-1])
    with pytest.raises(ValueError, match="no other training input inside the boxcar kernel's support"):
        nw.parametric_loss(100.0, [0.0, 1.0, 3.0], [1.0, 2.0, 3.0], kernel="boxcar")
    with pytest.raises(ValueError, match="diverged"):
        nw.fit_parametric([0.0, 1.0, 2.0], [0.0, 1e200, 0.0], lr=1e100, w_init=1.0)
