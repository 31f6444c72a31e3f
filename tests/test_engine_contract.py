"""Every registered engine against the shared engine contract (tests/engine_contract.py)."""

import dataclasses

import numpy as np
import pytest

import engine_contract as c
import nadaraya as nw
from nadaraya import engines
from nadaraya.kernels import SQUARES, get_kernel

CASES = c.engine_kernel_cases()
IDS = [f"{e}-{k}-d{d}" for e, k, d in CASES]
WITH_PARTIALS = [case for case in CASES if hasattr(engines.get(case[0]), "partials")]


@pytest.mark.parametrize("name", engines.NAMES)
def test_declarations(name):
    c.check_declarations(name)


@pytest.mark.parametrize("name, kernel, d", CASES, ids=IDS)
@pytest.mark.parametrize("exclude_self", [False, True])
@pytest.mark.parametrize("b, k", [(1, 1), (3, 2)])
def test_agrees_with_reference(name, kernel, d, dtype, exclude_self, b, k):
    c.check_agrees_with_reference(name, kernel, d, dtype, exclude_self, b, k)


@pytest.mark.parametrize("name, kernel, d", CASES, ids=IDS)
@pytest.mark.parametrize("scale", [1e6, 1e-6], ids=["tiny-h", "huge-h"])
def test_extreme_bandwidths(name, kernel, d, dtype, scale):
    c.check_extreme_bandwidths(name, kernel, d, dtype, scale)


@pytest.mark.parametrize("name, kernel, d", CASES, ids=IDS)
def test_ties_and_far_queries(name, kernel, d, dtype):
    c.check_ties_and_far_queries(name, kernel, d, dtype)


@pytest.mark.parametrize("name, kernel, d", CASES, ids=IDS)
def test_single_key_and_empty_support(name, kernel, d, dtype):
    c.check_single_key_and_empty_support(name, kernel, d, dtype)


@pytest.mark.parametrize("name, kernel, d", CASES, ids=IDS)
def test_exclude_self_skips_exactly_one_key(name, kernel, d, dtype):
    c.check_exclude_self_skips_exactly_one_key(name, kernel, d, dtype)


@pytest.mark.parametrize("name, kernel, d", [case for case in CASES if case[2] == 3 or case[0] == "sorted"])
def test_inputs_are_not_modified(name, kernel, d):
    c.check_inputs_are_not_modified(name, kernel, d)


@pytest.mark.parametrize("name, kernel, d", WITH_PARTIALS, ids=[f"{e}-{k}-d{d}" for e, k, d in WITH_PARTIALS])
@pytest.mark.parametrize("exclude_self", [False, True])
def test_partials_finalize_to_pool(name, kernel, d, dtype, exclude_self):
    c.check_partials_finalize_to_pool(name, kernel, d, dtype, exclude_self)


def _documented_auto_rule(kernel, m, n, d):
    """The rule "auto" follows, as docs/scale/engines.md states it (written out here, not read from the code)."""
    built_here = nw.KERNELS.get(kernel.name) is kernel or SQUARES.get(kernel.name) is kernel
    if m * n <= 1 << 16 or not built_here:  # the registry's kernels and their squares run on the fast engines
        return "dense"
    if d == 1 and (m * n >= 1 << 23 or kernel.exp_abs is not None):
        return "sorted"
    compact = kernel.compact and m * n >= 1 << 28
    if d >= 2 and (kernel.name == "constant" or compact or (kernel.name == "gaussian" and d <= 3 and m * n >= 1 << 28)):
        return "tree"  # the tree engine's measured crossover (nadaraya.engines.tree.prefer)
    return "stream"


@pytest.mark.parametrize("kernel", c.KERNELS + ["caller-built"])
@pytest.mark.parametrize(
    "m, n", [(256, 256), (257, 256), (1000, 1000), (4096, 2048), (4096, 4096), (10, 10**7), (2**14, 2**14), (2**16, 2**16)]
)
@pytest.mark.parametrize("d", [1, 2, 3, 4])
def test_auto_picks_todays_engine(kernel, m, n, d):
    kern = dataclasses.replace(nw.KERNELS["gaussian"]) if kernel == "caller-built" else get_kernel(kernel)
    assert engines.choose("auto", kern, (1, m, n, d, 1), {}) == _documented_auto_rule(kern, m, n, d)


def test_named_engine_that_cannot_run_says_what_it_needs():
    with pytest.raises(ValueError, match=r"method='sorted' needs 1-D keys \(d=1\) .*got d=2"):
        engines.choose("sorted", nw.KERNELS["gaussian"], (1, 5, 5, 2, 1), {})
    custom = nw.Kernel("custom", np.inf, _score=lambda t, o: -t)
    with pytest.raises(ValueError, match="method='stream' needs a kernel with a ScalarForm"):
        engines.choose("stream", custom, (1, 5, 5, 1, 1), {})
    assert engines.choose("stream", custom, (1, 5, 5, 1, 1), {}, strict=False) == "stream"


def test_registry_partials_fall_back_along_the_order():
    from nadaraya.engines.state import finalize

    q, keys, v = c.problem("registry partials", 1, 30, 30, 1, 2, np.float64)
    gauss = nw.KERNELS["gaussian"]
    want = c.reference(q, keys, v, "gaussian")
    exact = engines.partials("sorted", q, keys, v, gauss)  # sorted is accurate to tol: the stream engine's
    fast = engines.partials("sorted", q, keys, v, gauss, exact=False, tol=1e-13, num_threads=1)
    np.testing.assert_array_equal(exact.max_score, engines.get("stream").partials(q, keys, v, gauss).max_score)
    np.testing.assert_allclose(fast.denominator, 1.0)  # the sorted engine's own (log-normaliser form)
    for p in (exact, fast):
        np.testing.assert_allclose(finalize(p), want, rtol=0, atol=1e-12)
    custom = dataclasses.replace(gauss, scalar=None)  # no fast engine runs it: the dense engine's
    np.testing.assert_allclose(finalize(engines.partials("stream", q, keys, v, custom)), want, rtol=0, atol=1e-12)
