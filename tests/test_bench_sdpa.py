"""The throughput benchmark's torch SDPA peer: the augmented form is the Gaussian pooling, chunked, in its worker.

Runs the worker as the benchmark does (``benchmarks/run.py --worker JSON`` in a
fresh process) and checks its outputs against nadaraya's dense reference on the
same inputs. torch (in the ``test`` extra) is imported only in that process.
No timing is asserted.
"""

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nadaraya as nw

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
N = 300


def _worker(d: int, dtype: str, max_bytes: int) -> dict:
    spec = {"kind": "sdpa", "d": d, "dtype": dtype, "n": N, "threads": 1, "repeats": 1, "budget": 1.0}
    cmd = [sys.executable, str(BENCH / "run.py"), "--worker", json.dumps({**spec, "max_bytes": max_bytes})]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert "error" not in out, out["error"]
    return out


@pytest.fixture(scope="module")
def harness():
    """benchmarks/harness.py, loaded without putting benchmarks/ on sys.path."""
    spec = importlib.util.spec_from_file_location("_bench_harness", BENCH / "harness.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _err(got, q, k, v) -> float:
    ref = nw.attention_pool(*(a.astype(np.float64) for a in (q, k, v)), method="dense")
    return float(np.max(np.abs(np.asarray(got) - ref)) / np.max(np.abs(v)))


@pytest.mark.parametrize("d", [1, 8])
@pytest.mark.parametrize("dtype, tol", [("float64", 1e-13), ("float32", 5e-6)])
def test_sdpa_on_the_augmented_form_is_the_gaussian_pooling_in_chunks(harness, d, dtype, tol):
    itemsize = np.dtype(dtype).itemsize
    res = _worker(d, dtype, max_bytes=64 * N * itemsize)  # 64 query rows a chunk: 5 chunks, the last one short
    q, k, v = harness.make_data(N, N, d, dtype)
    assert len(res["out"]) == N and res["evals_per_s"] > 0
    assert _err(res["out"], q, k, v) < tol
    at_origin, far = (res["probe"][key] for key in ("0.0", "100.0"))
    assert len(at_origin) == len(far) == 200
    np.testing.assert_allclose(at_origin, res["out"][:200], rtol=0, atol=tol)


def test_far_from_the_origin_the_augmented_form_loses_accuracy_and_the_stream_engine_does_not(harness):
    res = _worker(8, "float64", max_bytes=2**28)
    q, k, v = harness.make_data(N, N, 8, "float64")
    assert harness.PROBE_SHIFTS == (0.0, 100.0)
    q, k = harness.shifted(q[: harness.PROBE_M], 100.0), harness.shifted(k, 100.0)
    sdpa_far = _err(res["probe"]["100.0"], q, k, v)
    stream_far = _err(nw.attention_pool(q, k, v, method="stream"), q, k, v)
    assert stream_far < 1e-14
    assert sdpa_far > 100 * stream_far, (sdpa_far, stream_far)
