import json
import os
import subprocess
import sys
from pathlib import Path

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
