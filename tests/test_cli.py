import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import nadaraya
from nadaraya.cli import main


def _run(args, cwd):
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "nadaraya", *args], cwd=cwd, capture_output=True, text=True, env=env)


def test_demo_in_a_subprocess_uses_the_default_folder(tmp_path):
    res = _run(["demo", "--n-train", "40", "--epochs", "2"], cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert "epoch 2, loss" in res.stdout
    summary = json.loads((tmp_path / "nadaraya-demo" / "summary.json").read_text())
    assert summary["config"]["n_train"] == 40


def test_console_script_is_installed():
    script = Path(sys.executable).with_name("nadaraya")
    res = subprocess.run([str(script), "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and nadaraya.__version__ in res.stdout


def test_bad_input_in_a_subprocess_exits_2_without_traceback(tmp_path):
    res = _run(["demo", "--bandwidth", "0"], cwd=tmp_path)
    assert res.returncode == 2
    assert "bandwidth must be positive and finite" in res.stderr and "Traceback" not in res.stderr
    assert not (tmp_path / "nadaraya-demo").exists()


def test_usage_errors_exit_2(capsys):
    for argv in (["demo", "--seed", "x"], ["frobnicate"], []):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = exc.code
        assert code == 2


def test_missing_framework_names_the_extra(tmp_path, capsys, monkeypatch):
    # a framework that cannot be imported (None in sys.modules makes `import` fail)
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    monkeypatch.delitem(sys.modules, "nadaraya.tensorflow", raising=False)
    out = tmp_path / "out"
    assert main(["demo", "--backend", "tensorflow", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "pip install 'nadaraya[tensorflow]'" in err and "Traceback" not in err
    assert not out.exists()


@pytest.mark.parametrize(
    "args, message",
    [
        (["demo", "--seed", "-1"], "--seed must be a non-negative integer, got '-1'"),
        (["demo", "--seed", "1.5"], "--seed must be a non-negative integer, got '1.5'"),
        (["demo", "--n-train", "0"], "--n-train must be a positive integer, got '0'"),
        (["demo", "--epochs", "0"], "--epochs must be a positive integer, got '0'"),
        (["demo", "--lr", "nan"], "--lr must be positive and finite, got 'nan'"),
        (["demo", "--lr", "-1"], "--lr must be positive and finite, got '-1'"),
        (["demo", "--bandwidth", "0"], "--bandwidth must be positive and finite, got '0'"),
        (["demo", "--bandwidth", "inf"], "--bandwidth must be positive and finite, got 'inf'"),
        (["demo", "--kernel", "gauss"], "--kernel: invalid choice: 'gauss'"),
        (["demo", "--backend", "jaxx"], "--backend: invalid choice: 'jaxx'"),
        (["fit", "d.csv", "--x", "x", "--y", "y", "--model", "m.npz", "--bandwidth", "-2"],
         "--bandwidth must be loo, scott, silverman, plugin, aicc, gcv, none (with --neighbours) or positive numbers"),
        (["fit", "d.csv", "--x", "x", "--y", "y", "--model", "m.npz", "--bandwidth", "1,x"],
         "--bandwidth must be loo, scott, silverman, plugin, aicc, gcv, none (with --neighbours) or positive numbers"),
        (["fit", "d.csv", "--x", ",", "--y", "y", "--model", "m.npz"], "--x must name at least one column"),
        (["fit", "d.csv", "--x", "a,a", "--y", "y", "--model", "m.npz"], "--x must name each column once; 'a' is repeated"),
        (["fit", "d.csv", "--x", "x", "--y", "y", "--model", "m.npz", "--order", "4"], "--order: invalid choice"),
        (["fit", "d.csv", "--x", "x", "--y", "y", "--model", "m.npz", "--kernel", "x"], "--kernel: invalid choice"),
        (["fit", "d.csv", "--x", "a,b", "--y", "y", "--model", "m.npz", "--bandwidth", "1,2,3"],
         "--bandwidth gives 3 values for 2 --x columns"),
        (["fit", "d.csv", "--x", "a", "--y", "a", "--model", "m.npz"], "--y column 'a' is also an --x column"),
        (["fit", "d.csv", "--x", "a", "--y", "y", "--model", "m.npz", "--categorical", "b"],
         "--categorical columns must be among --x"),
        (["predict", "m.npz", "d.csv", "--out", "p.csv", "--chunk-rows", "0"], "--chunk-rows must be a positive integer"),
        (["predict", "m.npz", "d.csv", "--out", "p.csv", "--chunk-rows", "5"], "--chunk-rows sets the rows per Dask task"),
    ],
)
def test_every_message_names_its_option(tmp_path, args, message):
    res = _run(args, cwd=tmp_path)
    assert res.returncode == 2, res.stderr
    assert message in res.stderr and "Traceback" not in res.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written
