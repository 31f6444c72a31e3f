"""The suite's guard (conftest.py) fails a test, or a wider-scoped fixture, that leaves global state behind."""

from pathlib import Path

import pytest

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

MISBEHAVING = '''
import os, warnings
import numba

def test_clean_before(): pass

def test_chdir(tmp_path): os.chdir(tmp_path)
def test_clean_after_chdir(): pass

def test_setenv(): os.environ["NADARAYA_GUARD_PROBE"] = "1"
def test_clean_after_setenv(): assert "NADARAYA_GUARD_PROBE" not in os.environ  # the guard undid it

def test_simplefilter(): warnings.simplefilter("ignore")
def test_clean_after_simplefilter(): pass

def test_numba_threads(): numba.set_num_threads(max(1, numba.config.NUMBA_NUM_THREADS - 1))
def test_clean_after_numba(): pass

def test_undone_changes_are_fine(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NADARAYA_GUARD_PROBE", "2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
'''

DASK_DEFAULT = '''
import distributed
import pytest

@pytest.fixture(scope="module")
def default_client():
    client = distributed.Client(processes=False, n_workers=1, dashboard_address=None)  # the default client
    yield client
    client.close()

def test_with_a_default_client_from_a_module_fixture(default_client): pass
def test_still_inside_that_module_fixture(default_client): pass
'''

DASK = '''
import dask
import distributed
import pytest

def test_dask_config(): dask.config.set({"array.chunk-size": "1MiB"})
def test_clean_after_dask_config(): pass

@pytest.fixture(scope="module")
def explicit_client():
    client = distributed.Client(processes=False, n_workers=1, dashboard_address=None, set_as_default=False)
    yield client
    client.close()

def test_explicit_client_is_fine(explicit_client):
    assert explicit_client.submit(sum, [1, 2]).result() == 3
    with explicit_client.as_current():  # undone at the end of the block
        assert dask.delayed(sum)([1, 2]).compute() == 3
'''


@pytest.fixture()
def inner(pytester):
    pytester.makeconftest(ROOT_CONFTEST.read_text())
    return pytester


def test_the_guard_catches_cwd_env_warnings_and_numba(inner):
    import numba

    inner.makepyfile(test_misbehaving=MISBEHAVING)
    result = inner.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    out = result.stdout.str()
    failing = ["test_chdir", "test_setenv", "test_simplefilter"]
    if numba.config.NUMBA_NUM_THREADS > 1:
        failing.append("test_numba_threads")
    for name in failing:
        assert f"test_misbehaving.py::{name} left global state behind" in out, out
    assert "cwd is" in out and "os.environ changed: NADARAYA_GUARD_PROBE" in out
    assert "warnings filters changed" in out
    assert ("numba.get_num_threads() is" in out) == (numba.config.NUMBA_NUM_THREADS > 1)
    result.assert_outcomes(passed=10, errors=len(failing))  # errors at teardown; the clean tests after still pass


def test_the_guard_catches_dask_config_and_a_default_client_of_a_module_fixture(inner):
    pytest.importorskip("distributed")
    inner.makepyfile(test_dask_default=DASK_DEFAULT, test_dask_state=DASK)
    result = inner.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider")
    out = result.stdout.str()
    assert "test_dask_state.py::test_dask_config left global state behind: dask.config changed" in out, out
    for name in ("test_with_a_default_client_from_a_module_fixture", "test_still_inside_that_module_fixture"):
        assert f"ERROR at setup of {name}" in out, out  # both tests inside the module fixture fail
    # at least once per failing test (pytest repeats it in the summary, truncated to the terminal's width outside CI)
    assert out.count("a default Dask client is set") >= 2, out
    result.assert_outcomes(passed=3, errors=3)
