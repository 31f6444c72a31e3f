import numpy as np
import pytest

import nadaraya as nw
from nadaraya.kernels import get_kernel

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
