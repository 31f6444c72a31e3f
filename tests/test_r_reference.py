"""The committed R fixtures are what R computes: re-run tests/r/fixtures.R and compare (needs R)."""

import json
import math
import shutil
import subprocess

import pytest
from r_reference import FIXTURES, SCRIPT

pytestmark = pytest.mark.r


def _close(a, b, path=""):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, (int, float)):
        assert a == b or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-300), f"{path}: {a} != {b}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


@pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript is not installed (`make test` installs it)")
def test_fixtures_reproduce(tmp_path):
    subprocess.run(["Rscript", str(SCRIPT), str(tmp_path)], check=True, capture_output=True, timeout=600)
    for committed in sorted(FIXTURES.glob("*.json")):
        fresh = json.loads((tmp_path / committed.name).read_text())
        old = json.loads(committed.read_text())
        assert fresh.pop("versions") == old.pop("versions"), f"{committed.name}: R or package versions changed"
        _close(fresh, old, committed.stem)
