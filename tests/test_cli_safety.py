"""The command line never destroys a file.

Outputs may not name inputs, signals leave no partial output, file modes follow the umask.
"""

import os
import signal
import stat
import time

import numpy as np
import pytest

from cli_helpers import chapter_files, fit_model, popen_cli, run_cli, write_csv

pytest.importorskip("sklearn")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("safety")
    data, new = chapter_files(folder)
    return folder, data, new, fit_model(folder, data)


def _snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# ---------------------------------------------------------------- outputs never overwrite inputs


def _assert_refused(res, folder, before, option):
    assert res.returncode == 2, res.stderr
    assert option in res.stderr and "Traceback" not in res.stderr
    assert _snapshot(folder) == before  # nothing written, nothing replaced


@pytest.mark.parametrize("target", ["model", "data"])
def test_predict_out_may_not_be_an_input(tmp_path, fitted, target):
    _, data, new, model = fitted
    work = tmp_path / "w"
    work.mkdir()
    m, d = work / "m.npz", work / "d.csv"
    m.write_bytes(model.read_bytes())
    d.write_bytes(new.read_bytes())
    before = _snapshot(work)
    out = m if target == "model" else d
    res = run_cli("predict", m, d, "--out", out)
    _assert_refused(res, work, before, "--out")
    assert f"is the input file {target}" in res.stderr
    res = run_cli("predict", m, d, "--out", work / ".." / "w" / out.name)  # another spelling of the same path
    _assert_refused(res, work, before, "--out")


@pytest.mark.parametrize("link", ["hard", "symbolic"])
def test_predict_out_may_not_be_a_link_to_an_input(tmp_path, fitted, link):
    _, _, new, model = fitted
    d = tmp_path / "d.csv"
    d.write_bytes(new.read_bytes())
    alias = tmp_path / "alias.csv"
    (os.link if link == "hard" else os.symlink)(d, alias)
    before = d.read_bytes()
    res = run_cli("predict", model, d, "--out", alias)
    assert res.returncode == 2 and "--out" in res.stderr and "is the input file data" in res.stderr
    assert d.read_bytes() == before and alias.read_bytes() == before


@pytest.mark.parametrize("option", ["--model", "--plot"])
def test_fit_outputs_may_not_be_the_data(tmp_path, fitted, option):
    _, data, _, _ = fitted
    d = tmp_path / ("d.svg" if option == "--plot" else "d.csv")  # a plot's suffix, so that the path check decides
    d.write_bytes(data.read_bytes())
    before = _snapshot(tmp_path)
    outputs = {"--model": tmp_path / "m.npz", "--plot": tmp_path / "m.png", option: d}
    res = run_cli("fit", d, "--x", "x", "--y", "y", "--bandwidth", "0.3", *[a for kv in outputs.items() for a in kv])
    _assert_refused(res, tmp_path, before, option)
    assert "is the input file data" in res.stderr


def test_fit_default_plot_may_not_be_the_data(tmp_path, fitted):
    _, data, _, _ = fitted
    d = tmp_path / "d.svg"  # the default plot path is MODEL with .svg: d.svg
    d.write_bytes(data.read_bytes())
    before = _snapshot(tmp_path)
    res = run_cli("fit", d, "--x", "x", "--y", "y", "--bandwidth", "0.3", "--model", tmp_path / "d.npz")
    _assert_refused(res, tmp_path, before, "--plot")


def test_fit_model_and_plot_may_not_be_one_file(tmp_path, fitted):
    _, data, _, _ = fitted
    before = _snapshot(tmp_path)
    res = run_cli("fit", data, "--x", "x", "--y", "y", "--model", tmp_path / "m.svg")  # default --plot: m.svg too
    _assert_refused(res, tmp_path, before, "--model and --plot are the same file")


def test_a_prediction_column_already_in_the_input_is_refused(tmp_path, fitted):
    _, _, new, model = fitted
    once = tmp_path / "once.csv"
    assert run_cli("predict", model, new, "--out", once).returncode == 0
    before = _snapshot(tmp_path)
    res = run_cli("predict", model, once, "--out", tmp_path / "twice.csv")  # once.csv has 'prediction' already
    _assert_refused(res, tmp_path, before, "already has a column 'prediction'")
    assert "rename or drop that column" in res.stderr
    help_text = run_cli("predict", "--help").stdout
    assert "is refused" in help_text and "rename" in help_text  # the choice is documented


# ---------------------------------------------------------------- SIGTERM and SIGHUP clean up like SIGINT


def _signal_when(proc, appeared, signum, what):
    """Send ``signum`` to ``proc`` as soon as ``appeared()`` is true (polling), then wait for it."""
    deadline = time.monotonic() + 120  # a hang guard, not a benchmark
    while not appeared():
        assert proc.poll() is None, f"the command ended before {what} appeared: {proc.communicate()}"
        assert time.monotonic() < deadline, f"{what} never appeared"
        time.sleep(0.002)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


SIGNALS = [signal.SIGTERM, signal.SIGHUP, signal.SIGINT]


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_during_predict_leaves_no_part_file(tmp_path, fitted, signum):
    _, _, _, model = fitted
    rows = 400_000  # writing them takes long enough to catch the .part file
    big = write_csv(tmp_path / "big.csv", ["id", "x"], zip(range(rows), np.linspace(0, 5, rows)))
    out = tmp_path / "out.csv"
    proc = popen_cli("predict", model, big, "--out", out, "--std")
    status, err = _signal_when(proc, lambda: list(tmp_path.glob(".out.csv.*.part")), signum, "the .part file")
    assert status == (130 if signum == signal.SIGINT else 128 + signum), err
    assert "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.csv"]  # no output, no partial file


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_signal_during_demo_leaves_no_folder(tmp_path, signum):
    out = tmp_path / "demo"
    proc = popen_cli("demo", "--out", out, "--epochs", "50")
    status, err = _signal_when(proc, lambda: out.is_dir() and any(out.glob(".nadaraya-*")), signum,
                               "the staging folder")
    assert status == (130 if signum == signal.SIGINT else 128 + signum), err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # neither the staging folder nor a half demo folder


# ---------------------------------------------------------------- file modes follow the umask


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002], ids=oct)
def test_new_files_get_the_mode_the_umask_gives(tmp_path, fitted, umask):
    _, data, new, _ = fitted
    model, plot, out = tmp_path / "m.npz", tmp_path / "m.svg", tmp_path / "p.csv"
    assert run_cli("fit", data, "--x", "x", "--y", "y", "--bandwidth", "0.3", "--model", model, umask=umask).returncode == 0
    assert run_cli("predict", model, new, "--out", out, umask=umask).returncode == 0
    res = run_cli("demo", "--out", tmp_path / "demo", "--epochs", "1", umask=umask)
    assert res.returncode == 0, res.stderr
    for path in (model, plot, out, *(tmp_path / "demo").iterdir()):
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask, path.name


def test_a_replaced_file_keeps_its_mode(tmp_path, fitted):
    _, _, new, model = fitted
    out = tmp_path / "p.csv"
    out.write_text("old")
    out.chmod(0o640)
    assert run_cli("predict", model, new, "--out", out, umask=0o077).returncode == 0
    assert out.read_text().startswith("id,x,prediction")
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    demo = tmp_path / "demo"
    assert run_cli("demo", "--out", demo, "--epochs", "1").returncode == 0
    (demo / "report.html").chmod(0o604)
    assert run_cli("demo", "--out", demo, "--epochs", "1", umask=0o077).returncode == 0
    assert stat.S_IMODE((demo / "report.html").stat().st_mode) == 0o604
