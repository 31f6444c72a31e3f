import numpy as np
import pytest

import nadaraya as nw
from nadaraya.kernels import Kernel, ScalarForm, get_kernel, like

ALL = sorted(nw.KERNELS)
FORMULAS = {
    "gaussian": lambda u: np.exp(-(u**2) / 2),
    "laplace": lambda u: np.exp(-u),
    "boxcar": lambda u: (u <= 1).astype(float),
    "epanechnikov": lambda u: np.clip(1 - u**2, 0, None),
    "triangular": lambda u: np.clip(1 - u, 0, None),
    "biweight": lambda u: np.clip(1 - u**2, 0, None) ** 2,
    "tricube": lambda u: np.clip(1 - u**3, 0, None) ** 3,
    "cosine": lambda u: np.where(u < 1, np.cos(np.pi * np.minimum(u, 1) / 2), 0.0),
    "constant": lambda u: np.ones_like(u),
}


def test_registry_has_the_design_kernels():
    assert set(ALL) == set(FORMULAS)


@pytest.mark.parametrize("name", ALL)
def test_kernel_values_match_their_formula(name):
    u = np.array([0.0, 0.1, 0.5, 0.9, 0.999, 1.0, 1.5, 3.0])
    np.testing.assert_allclose(nw.KERNELS[name](u), FORMULAS[name](u), rtol=1e-13, atol=1e-300, err_msg=name)


@pytest.mark.parametrize("name", [n for n in ALL if nw.KERNELS[n].poly is not None])
def test_polynomial_form_matches_kernel(name):
    kern = nw.KERNELS[name]
    u = np.linspace(0, 0.999, 37)
    poly = sum(c * u**j for j, c in enumerate(kern.poly))
    np.testing.assert_allclose(poly, kern(u), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("name", ALL)
def test_dscore_is_the_derivative_of_score(name):
    kern = nw.KERNELS[name]
    t = np.array([0.04, 0.2, 0.5, 0.8])
    eps = 1e-6
    fd = (kern.score(t + eps) - kern.score(t - eps)) / (2 * eps)
    np.testing.assert_allclose(kern.dscore(t), fd, rtol=1e-6, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("name", ALL)
def test_scores_are_minus_inf_outside_compact_support(name):
    kern = nw.KERNELS[name]
    s = kern.score(np.array([1.5**2, 100.0]))
    if kern.compact:
        assert np.all(s == -np.inf)
    else:
        assert np.all(np.isfinite(s))


def test_unknown_kernel_lists_valid_names():
    with pytest.raises(ValueError, match="kernel must be one of .*epanechnikov.*gaussian.*; got 'gauss'"):
        get_kernel("gauss")


def test_kernel_names_are_case_insensitive():
    assert get_kernel("Gaussian") is nw.KERNELS["gaussian"]


def test_kernel_of_wrong_type():
    with pytest.raises(TypeError, match="kernel must be a kernel name"):
        get_kernel(3)


# ---------------------------------------------------------------- kernels as data: the compiled engines' formulas


@pytest.mark.parametrize("name", ALL)
def test_scalar_form_is_the_score(name):
    kern = nw.KERNELS[name]
    form = kern.scalar
    ts = [0.0, 0.04, 0.25, 0.81, 0.999, 1.0, 2.25, 50.0]
    for t0 in (0.0, 0.04, 0.81):
        for t in ts:
            if t < t0:
                continue  # t_min is the nearest key's: the weights are relative to it
            s, s0 = kern.score(np.array([t, t0]))
            if form.value is not None:
                got_score = np.log(form.value(np.float64(t))) if form.value(np.float64(t)) > 0 else -np.inf
                weight = form.value(np.float64(t)) / form.value(np.float64(t0))
            else:
                got_score = form.score(np.float64(t))
                weight = form.weight(np.float64(t), form.reference(np.float64(t0)))
            assert got_score == pytest.approx(s, rel=1e-14, abs=1e-14), (name, t)
            assert weight == pytest.approx(np.exp(s - s0), rel=1e-13, abs=1e-300), (name, t, t0)
    excluded = form.value(np.float64(np.nan)) if form.value is not None else form.weight(np.float64(np.nan), 0.0)
    assert excluded == 0.0  # the excluded key (t = NaN) weighs nothing



def test_closed_support_is_the_boxcars_only():
    assert [n for n in ALL if nw.KERNELS[n].closed_support] == ["boxcar"]


def _triweight_value(t):
    """``(1 - t)**3`` for ``t < 1``, else 0: a kernel written the way nadaraya.kernels writes them."""
    u = like(t, 1.0) - t
    return u * u * u if t < like(t, 1.0) else like(t, 0.0)


def test_a_new_kernel_is_data_only():
    # Everything a new kernel needs: its score, its polynomial and its scalar formula; no engine edit.
    def inside(t, o):
        return o.where(t < 1.0, 3.0 * o.log1p(-o.where(t < 1.0, t, o.full_like(t, 0.0))), -np.inf)

    triweight = Kernel(
        "triweight",
        1.0,
        poly=(1.0, 0.0, -3.0, 0.0, 3.0, 0.0, -1.0),
        scalar=ScalarForm(value=_triweight_value),
        _score=inside,
        _dscore=lambda t, o: o.where(t < 1.0, -3.0 / (1.0 - o.where(t < 1.0, t, o.full_like(t, 0.0))), 0.0),
    )
    rng = np.random.default_rng(3)
    x, y = rng.uniform(0, 5, 400), rng.normal(size=400)
    q = rng.uniform(0, 5, 300)
    want = nw.attention_pool(q, x, y, kernel=triweight, bandwidth=0.6, method="dense")
    u = np.abs(q[:, None] - x[None, :]) / 0.6
    w = np.clip(1 - u**2, 0, None) ** 3
    np.testing.assert_allclose(want, (w @ y) / w.sum(1), rtol=1e-12)
    for method in ("stream", "sorted"):
        got = nw.attention_pool(q, x, y, kernel=triweight, bandwidth=0.6, method=method)
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-12, err_msg=method)
