import json

import numpy as np
import pytest

import nadaraya as nw
from nadaraya.cli import main
from nadaraya.demo import FIGURES, run_chapter

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
