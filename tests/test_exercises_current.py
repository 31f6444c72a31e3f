"""The current edition's exercises ("Attention Pooling by Similarity"), checked against references written here."""

import warnings

import numpy as np
import pytest
from test_kernels import FORMULAS as PROFILES  # each kernel's K(u), written out independently of nadaraya.kernels

import nadaraya as nw


def parzen_classes(X, y, Xq, kernel, h):
    """Parzen-window classification: one kernel density estimate per class, the largest times its prior
    wins (the first class in sorted order on a tie); queries where every density is zero get the most
    frequent class. Returns (classes, posterior probabilities or NaN rows)."""
    classes, counts = np.unique(y, return_counts=True)
    r = np.sqrt(((Xq[:, None, :] - X[None, :, :]) ** 2).sum(axis=-1)) / h
    K = PROFILES[kernel](r)
    # prior n_c / n times the density (1 / (n_c h^d)) sum_{i in c} K: proportional to the class's kernel sum
    scores = np.stack([K[:, y == c].sum(axis=1) for c in classes], axis=1)
    total = scores.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        posterior = scores / total
    pick = np.where(total[:, 0] > 0, np.argmax(scores, axis=1), np.argmax(counts))
    return classes[pick], posterior


def _toy(seed=0, n=240):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2))
    y = np.where(X[:, 0] * X[:, 1] > 0, "a", np.where(X[:, 0] > 0, "b", "c"))
    return X, y, rng.uniform(-3.5, 3.5, (400, 2))


@pytest.mark.parametrize("kernel", sorted(PROFILES))
def test_parzen_windows_are_nadaraya_watson_classification(kernel):
    assert set(PROFILES) == set(nw.KERNELS)  # every registry kernel has its profile here
    X, y, Xq = _toy()
    h = 0.6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", nw.EmptySupportWarning)
        clf = nw.NadarayaWatsonClassifier(kernel=kernel, bandwidth=h, method="dense").fit(X, y)
        classes, proba = clf.predict(Xq), clf.predict_proba(Xq)
    expected, posterior = parzen_classes(X, y, Xq, kernel, h)
    np.testing.assert_array_equal(classes, expected)
    np.testing.assert_allclose(proba, posterior, rtol=1e-12, atol=1e-15)
    if kernel in ("boxcar", "epanechnikov"):  # some queries lie outside every support: the prior's class
        assert np.isnan(posterior).any()


@pytest.mark.parametrize("kernel", ["constant", "boxcar"])
def test_parzen_and_nadaraya_watson_break_ties_alike(kernel):
    """Equal kernel sums in two classes: both rules take the first class in sorted order."""
    X = np.array([[0.0], [0.1], [0.2], [0.3]])
    y = np.array(["b", "a", "b", "a"])  # two of each: every query sees a tie
    Xq = np.array([[0.15], [0.05], [0.25]])
    clf = nw.NadarayaWatsonClassifier(kernel=kernel, bandwidth=10.0).fit(X, y)
    expected, _ = parzen_classes(X, y, Xq, kernel, 10.0)
    np.testing.assert_array_equal(clf.predict(Xq), expected)
    np.testing.assert_array_equal(expected, ["a", "a", "a"])


def _softmax_attention(Q, K, V, scale):
    s = Q @ K.T * scale
    w = np.exp(s - s.max(axis=1, keepdims=True))
    return (w / w.sum(axis=1, keepdims=True)) @ V


def test_on_the_unit_sphere_the_gaussian_kernel_is_dot_product_attention():
    """exp(-|q - k|^2 / (2 h^2)) = exp(-1 / h^2) exp(q.k / h^2) for unit q and k: the constant cancels in
    the softmax, so Gaussian pooling is dot-product attention with scale 1 / h^2; off the sphere the
    |k|^2 term weighs short keys up and the two differ."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    Q, K, V = rng.normal(size=(60, 4)), rng.normal(size=(90, 4)), rng.normal(size=(90, 3))
    unit = lambda A: A / np.linalg.norm(A, axis=1, keepdims=True)  # noqa: E731
    h = 0.7
    pooled = nw.attention_pool(unit(Q), unit(K), V, bandwidth=h, kernel="gaussian")
    np.testing.assert_allclose(pooled, _softmax_attention(unit(Q), unit(K), V, 1 / h**2), rtol=0, atol=1e-12)
    sdpa = torch.nn.functional.scaled_dot_product_attention(
        *(torch.from_numpy(a)[None] for a in (unit(Q), unit(K), V)), scale=1 / h**2)[0].numpy()
    np.testing.assert_allclose(pooled, sdpa, rtol=0, atol=1e-12)
    off = nw.attention_pool(Q, K, V, bandwidth=h, kernel="gaussian")
    assert np.abs(off - _softmax_attention(Q, K, V, 1 / h**2)).max() > 0.1


def test_in_sample_training_runs_away_and_leave_one_out_settles():
    """Exercise 2: on the in-sample loss w grows at every epoch and the loss keeps falling (towards 0 at
    w = inf: each input attends to itself alone); on leave-one-out keys w settles."""
    d = nw.make_dataset(n_train=50, seed=0)
    kw = dict(w_init=1.0, lr=0.1, epochs=200)
    loo = nw.fit_parametric(d.x_train, d.y_train, **kw)
    ins = nw.fit_parametric(d.x_train, d.y_train, exclude_self=False, **kw)
    assert abs(loo.w_history[-1] - loo.w_history[100]) < 0.05 * loo.w
    assert np.all(np.diff(ins.w_history) > 0) and ins.w > 2 * loo.w
    assert np.all(np.diff(ins.losses) < 0) and ins.losses[-1] < 0.5 * loo.losses[-1]
    test_mse = lambda fit: np.mean(  # noqa: E731
        (nw.attention_pool(d.x_test, d.x_train, d.y_train, bandwidth=fit.bandwidth) - d.y_truth) ** 2)
    assert test_mse(ins) > test_mse(loo)


@pytest.mark.parametrize("kernel", ["gaussian", "laplace", "epanechnikov"])
def test_the_in_sample_gradient_is_the_derivative_of_the_loss(kernel):
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0, 5, 40), rng.normal(size=40)
    x[1] = x[0]  # a repeated input: the Laplace score's derivative at distance 0 is infinite, its term 0
    for exclude_self in (False, True):
        loss, grad = nw.parametric_loss(0.8, x, y, kernel=kernel, exclude_self=exclude_self)
        step = 1e-6
        up, down = (nw.parametric_loss(0.8 + s, x, y, kernel=kernel, exclude_self=exclude_self)[0]
                    for s in (step, -step))
        assert np.isfinite(loss) and grad == pytest.approx((up - down) / (2 * step), rel=1e-6)
