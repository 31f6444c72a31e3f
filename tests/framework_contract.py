"""Checks every framework module (torch, tensorflow, mxnet) must pass, written once.

Each test module parametrises over these cases and calls the helpers with its
own module and tensor conversion.
"""

import json

import numpy as np
import pytest

#: Bad calls of ``attention_pool`` and the message each must give.
BAD_INPUT = [
    (dict(kernel="gauss"), "kernel must be one of"),
    (dict(bandwidth=0.0), "bandwidth must be positive and finite"),
    (dict(bandwidth=-1.0), "bandwidth must be positive and finite"),
    (dict(values=np.zeros(4)), "values must have shape"),
    (dict(keys=np.zeros((2, 2, 2, 2))), "keys must have shape"),
    (dict(queries=np.zeros((3, 2)), keys=np.zeros((5, 3)), values=np.zeros(5)), "queries have d=2"),
    (dict(exclude_self=True), "exclude_self=True needs one query per key"),
]


def check_bad_input(module, to_tensor, kwargs, match):
    args = dict(queries=np.zeros(3), keys=np.zeros(5), values=np.zeros(5)) | kwargs
    q, k, v = (to_tensor(args.pop(n)) for n in ("queries", "keys", "values"))
    with pytest.raises(ValueError, match=match):
        module.attention_pool(q, k, v, **args)


def check_demo_matches_numpy(tmp_path, backend):
    """``nadaraya demo --backend NAME`` prints and saves the NumPy run's numbers."""
    from nadaraya.cli import main

    assert main(["demo", "--backend", backend, "--out", str(tmp_path / backend)]) == 0
    assert main(["demo", "--out", str(tmp_path / "numpy")]) == 0
    a = json.loads((tmp_path / backend / "summary.json").read_text())
    b = json.loads((tmp_path / "numpy" / "summary.json").read_text())
    assert a["config"]["backend"] == backend
    for key in ("w", "losses", "w_history", "predictions", "attention_weights"):
        np.testing.assert_allclose(a["parametric"][key], b["parametric"][key], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(a["nonparametric"]["predictions"], b["nonparametric"]["predictions"], rtol=1e-12)
    np.testing.assert_allclose(
        a["nonparametric"]["attention_weights"], b["nonparametric"]["attention_weights"], rtol=1e-12, atol=1e-15
    )
    for name, value in b["test_mse"].items():
        np.testing.assert_allclose(a["test_mse"][name], value, rtol=1e-10)
