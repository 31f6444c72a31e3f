import json
import re

import numpy as np
import pytest

import nadaraya as nw
from nadaraya.cli import main
from nadaraya.demo import BACKENDS, FIGURES, run_chapter

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "nested" / "out"
    lines = []
    import nadaraya.demo as demo

    run = demo.run_demo(out, seed=0, echo=lines.append)
    return out, run, lines


def test_demo_through_the_cli_writes_every_file(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    for name in FIGURES:
        assert (out / name).read_bytes()[:8] == PNG, name
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(FIGURES)
    assert "src=\"http" not in html  # readable offline
    summary = json.loads((out / "summary.json").read_text())
    assert summary["config"]["seed"] == 3
    assert [f"epoch {i}, loss" in printed for i in range(1, 6)] == [True] * 5
    for value in summary["test_mse"].values():
        assert f"{value:.4f}" in printed
    assert f"{summary['parametric']['w']:.6f}" in printed
    assert not any(p.name.startswith(".") for p in out.iterdir())  # no staging leftovers


def test_summary_holds_every_number(demo_run):
    out, run, lines = demo_run
    summary = json.loads((out / "summary.json").read_text())
    data = nw.make_dataset(n_train=50, seed=0)
    np.testing.assert_array_equal(summary["data"]["x_train"], data.x_train)
    np.testing.assert_allclose(summary["nonparametric"]["predictions"], nw.attention_pool(data.x_test, data.x_train, data.y_train))
    w = np.array(summary["parametric"]["attention_weights"])
    assert w.shape == (50, 50)
    np.testing.assert_allclose(w.sum(1), 1.0, rtol=1e-12)
    assert len(summary["parametric"]["losses"]) == 5
    assert summary["parametric"]["w"] == run.fit.w


def test_nonparametric_beats_average_pooling_on_the_chapters_data(demo_run):
    _, run, _ = demo_run
    mse = run.mse()
    assert mse["nonparametric attention pooling"] < mse["average pooling"]
    assert mse["parametric attention pooling"] < mse["average pooling"]
    assert run.fit.losses[-1] < run.fit.losses[0]


def test_seed_reproduces_the_whole_run():
    a = run_chapter(seed=5, echo=lambda _: None)
    b = run_chapter(seed=5, echo=lambda _: None)
    c = run_chapter(seed=6, echo=lambda _: None)
    assert a.summary() == b.summary()
    assert a.fit.w_init != c.fit.w_init


def test_options_change_the_run(tmp_path):
    run = run_chapter(n_train=80, epochs=3, lr=0.1, kernel="laplace", bandwidth=0.5, echo=lambda _: None)
    assert run.data.n_train == 80 and len(run.fit.losses) == 3
    assert run.config["kernel"] == "laplace" and run.config["bandwidth"] == 0.5
    expected = nw.attention_pool(run.data.x_test, run.data.x_train, run.data.y_train, kernel="laplace", bandwidth=0.5)
    np.testing.assert_allclose(run.nonparametric, expected)


def test_unwritable_output_folder(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["demo", "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert "out: cannot create folder" in err and "choose a writable path" in err
    assert main(["demo", "--out", str(blocker)]) == 2
    assert "is a file" in capsys.readouterr().err
    assert blocker.read_text() == "x"


def test_existing_folder_keeps_other_files_when_the_run_fails(tmp_path, capsys, monkeypatch):
    import nadaraya.demo

    def fail(**options):
        raise ValueError("the run failed")

    monkeypatch.setattr(nadaraya.demo, "run_chapter", fail)  # fails inside the staged folder
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["demo", "--out", str(tmp_path)]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_compact_kernel_with_a_small_bandwidth_reports_undefined_predictions(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["demo", "--out", str(out), "--kernel", "epanechnikov", "--bandwidth", "0.05"]) == 0
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())  # strict JSON: no NaN
    undefined = summary["undefined_predictions"]["nonparametric attention pooling"]
    assert undefined > 0
    assert summary["nonparametric"]["predictions"].count(None) == undefined
    assert f"note: {undefined} test inputs have no training input" in printed
    assert np.isfinite(summary["test_mse"]["nonparametric attention pooling"])


# --- "attention pooling by similarity" (the newer edition of the section) ---

SIMILARITY_FIGURES = ["kernels.png", "fit_kernels.png", "heatmap_kernels.png", "fit_widths.png", "heatmap_widths.png"]


def _book_weights(kernel, q, k, h):
    """The book's formulas, written out by hand: K((q - k) / h) normalised over the keys."""
    u = (q[:, None] - k[None, :]) / h
    K = {
        "gaussian": np.exp(-(u**2) / 2),
        "boxcar": (np.abs(u) <= 1.0).astype(float),
        "constant": np.ones_like(u),
        "triangular": np.maximum(1 - np.abs(u), 0.0),  # the book's "Epanechikov"
        "epanechnikov": np.maximum(1 - u**2, 0.0),
        "laplace": np.exp(-np.abs(u)),
    }[kernel]
    return K / K.sum(axis=1, keepdims=True)


def test_similarity_section_matches_the_books_formulas(demo_run):
    out, run, lines = demo_run
    summary = json.loads((out / "summary.json").read_text())
    d = nw.make_dataset(n_train=50, seed=0)
    sim = summary["similarity"]
    assert [r["kernel"] for r in sim["kernels"]] == ["gaussian", "boxcar", "constant", "triangular"]
    assert [r["bandwidth"] for r in sim["kernels"]] == [1.0] * 4
    assert [r["bandwidth"] for r in sim["widths"]] == [0.1, 0.2, 0.5, 1.0]
    assert {r["kernel"] for r in sim["widths"]} == {"gaussian"}
    for row in sim["kernels"] + sim["widths"]:
        w = _book_weights(row["kernel"], d.x_test, d.x_train, row["bandwidth"])
        np.testing.assert_allclose(row["attention_weights"], w, rtol=1e-12, atol=1e-15)
        pred = w @ d.y_train
        np.testing.assert_allclose(row["predictions"], pred, rtol=1e-12)
        np.testing.assert_allclose(row["test_mse"], np.mean((pred - d.y_truth) ** 2), rtol=1e-12)
        assert row["undefined_predictions"] == 0
    # the width-1 Gaussian is the chapter's nonparametric pooling; the constant kernel is average pooling
    np.testing.assert_allclose(sim["widths"][-1]["predictions"], summary["nonparametric"]["predictions"], rtol=1e-13)
    np.testing.assert_allclose(sim["kernels"][2]["predictions"], summary["average_pooling"]["predictions"], rtol=1e-13)


def test_similarity_mse_in_the_printed_table_and_the_report(demo_run):
    out, run, lines = demo_run
    printed = "\n".join(lines)
    summary = json.loads((out / "summary.json").read_text())
    html = (out / "report.html").read_text()
    assert "Attention pooling by similarity" in html and "triangular kernel" in html
    for row in summary["similarity"]["kernels"]:
        line = f"{row['kernel']} kernel (bandwidth 1)"
        assert re.search(rf"^{re.escape(line)} +{row['test_mse']:.4f}$", printed, re.M), line
        assert f"<td>{line}</td><td>{row['test_mse']:.4f}</td>" in html
    for row in summary["similarity"]["widths"]:
        assert re.search(rf"^gaussian width {row['bandwidth']:g} +{row['test_mse']:.4f}$", printed, re.M)
    for name in SIMILARITY_FIGURES:
        assert (out / name).read_bytes()[:8] == PNG
        assert f'alt="{FIGURES[name]}"' in html


def test_narrower_gaussian_sharpens_the_attention(demo_run):
    _, run, _ = demo_run
    peak = [c.weights.max(axis=1).mean() for c in run.by_width]  # widths ascending
    assert all(a > b for a, b in zip(peak, peak[1:])), peak
    spread = [np.sum(c.weights * (run.data.x_test[:, None] - run.data.x_train) ** 2, axis=1).mean() for c in run.by_width]
    assert all(a < b for a, b in zip(spread, spread[1:])), spread


def _cli(*args, cwd):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "nadaraya", "demo", *args], cwd=cwd, capture_output=True, text=True)


def test_kernels_and_widths_options_through_the_cli(tmp_path):
    proc = _cli("--out", "o", "--kernels", "epanechnikov, laplace", "--widths", "0.3,2", "--bandwidth", "0.8", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["config"]["kernels"] == ["epanechnikov", "laplace"] and summary["config"]["widths"] == [0.3, 2.0]
    sim = summary["similarity"]
    assert [(r["kernel"], r["bandwidth"]) for r in sim["kernels"]] == [("epanechnikov", 0.8), ("laplace", 0.8)]
    assert [(r["kernel"], r["bandwidth"]) for r in sim["widths"]] == [("gaussian", 0.3), ("gaussian", 2.0)]
    d = nw.make_dataset(n_train=50, seed=0)
    for row in sim["kernels"] + sim["widths"]:
        pred = _book_weights(row["kernel"], d.x_test, d.x_train, row["bandwidth"]) @ d.y_train
        np.testing.assert_allclose(row["predictions"], pred, rtol=1e-12)
        assert f"{row['test_mse']:.4f}" in proc.stdout
    assert "epanechnikov kernel (bandwidth 0.8)" in proc.stdout and "gaussian width 2" in proc.stdout
    html = (tmp_path / "o" / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(FIGURES)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--kernels", "gaussian,gauss"], "--kernels: kernels: each must be one of"),
        (["--kernels", ","], "--kernels: kernels must name at least one kernel"),
        (["--kernels", "boxcar,boxcar"], "--kernels: kernels must not repeat a kernel"),
        (["--widths", "0.1,-2"], "--widths: widths: each width must be positive and finite, got -2.0"),
        (["--widths", "0.1,x"], "--widths: widths must be positive numbers, comma-separated; got '0.1,x'"),
        (["--widths", "inf"], "--widths: widths: each width must be positive and finite, got inf"),
        (["--widths", "1,1.0"], "--widths: widths must not repeat a width"),
    ],
)
def test_bad_kernels_or_widths_exit_2_naming_the_option(tmp_path, args, message):
    proc = _cli("--out", "o", *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "o").exists()


def test_run_chapter_validates_kernels_and_widths():
    with pytest.raises(ValueError, match="kernels must name at least one kernel"):
        run_chapter(kernels=[], echo=lambda _: None)
    with pytest.raises(ValueError, match=r"widths: each width must be positive and finite, got 0.0"):
        run_chapter(widths=[0.0], echo=lambda _: None)
    run = run_chapter(kernels="cosine", widths=0.5, echo=lambda _: None)
    assert [c.kernel for c in run.by_kernel] == ["cosine"] and [c.bandwidth for c in run.by_width] == [0.5]


def test_compact_kernels_of_the_comparison_report_undefined_predictions():
    lines = []
    run = run_chapter(bandwidth=0.05, kernels=["boxcar", "gaussian"], echo=lines.append)
    boxcar = run.by_kernel[0]
    assert boxcar.undefined() > 0
    assert any(f"note: {boxcar.undefined()} test inputs have no training input inside the support of boxcar" in ln
               for ln in lines)
    summary = run.summary()["similarity"]["kernels"][0]
    assert summary["predictions"].count(None) == boxcar.undefined()
    ok = ~np.isnan(boxcar.predictions)
    np.testing.assert_allclose(summary["test_mse"], np.mean((boxcar.predictions[ok] - run.data.y_truth[ok]) ** 2))


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b not in ("numpy", "mxnet")])  # mxnet: own venv
def test_similarity_section_is_the_same_in_each_framework(backend):
    pytest.importorskip(backend)
    ref = run_chapter(echo=lambda _: None)
    other = run_chapter(backend=backend, echo=lambda _: None)
    for a, b in zip(ref.by_kernel + ref.by_width, other.by_kernel + other.by_width):
        assert (a.kernel, a.bandwidth) == (b.kernel, b.bandwidth)
        np.testing.assert_allclose(b.predictions, a.predictions, rtol=1e-10, atol=1e-12, err_msg=a.label)
        np.testing.assert_allclose(b.weights, a.weights, rtol=1e-10, atol=1e-12, err_msg=a.label)
