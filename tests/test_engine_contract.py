"""Every registered engine against the shared engine contract (tests/engine_contract.py)."""

import pytest

import engine_contract as c
from nadaraya import engines

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
