import csv
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import nadaraya as nw
from nadaraya.cli import main

from cli_helpers import run_cli

pytest.importorskip("sklearn")


@pytest.fixture()
def csv_files(tmp_path):
    d = nw.make_dataset(n_train=150, seed=3)
    rng = np.random.default_rng(0)
    data = tmp_path / "data.csv"
    with open(data, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["x", "noise", "group", "y"])
        for x, y in zip(d.x_train, d.y_train):
            w.writerow([x, rng.normal(), rng.choice(["a", "b"]), y])
    new = tmp_path / "new.csv"
    with open(new, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "x", "noise", "group"])
        for i, x in enumerate(d.x_test):
            w.writerow([i, x, 0.0, "a"])
    return tmp_path, data, new, d


def test_fit_then_predict_round_trip(csv_files, capsys):
    tmp, data, new, d = csv_files
    model = tmp / "model.npz"
    assert main(["fit", str(data), "--x", "x", "--y", "y", "--model", str(model)]) == 0
    out = capsys.readouterr()
    assert "bandwidth: x=" in out.out and "leave-one-out mean squared error" in out.out
    assert "effective degrees of freedom" in out.out
    assert "bandwidth search 24/24" in out.err  # progress of the search
    assert ET.parse(tmp / "model.svg").getroot().tag == "{http://www.w3.org/2000/svg}svg"
    fitted = nw.NadarayaWatsonRegressor.load(model)
    pred_path = tmp / "pred.csv"
    assert main(["predict", str(model), str(new), "--out", str(pred_path), "--std"]) == 0
    rows = list(csv.DictReader(open(pred_path)))
    assert list(rows[0]) == ["id", "x", "noise", "group", "prediction", "std"]
    pred = np.array([float(r["prediction"]) for r in rows])
    np.testing.assert_allclose(pred, fitted.predict(d.x_test[:, None]), rtol=1e-15)
    direct = nw.NadarayaWatsonRegressor().fit(d.x_train[:, None], d.y_train)
    np.testing.assert_allclose(pred, direct.predict(d.x_test[:, None]), rtol=1e-12)
    assert all(float(r["std"]) > 0 for r in rows)


@pytest.mark.parametrize("name, magic", [("p.svg", b"<svg"), ("p.SVG", b"<svg"), ("p.png", b"\x89PNG"),
                                         ("p.pdf", b"%PDF")])
def test_fit_plot_format_follows_the_suffix(csv_files, capsys, name, magic):
    tmp, data, _, _ = csv_files
    assert main(["fit", str(data), "--x", "x", "--y", "y", "--bandwidth", "0.3", "--model", str(tmp / "m.npz"),
                 "--plot", str(tmp / name)]) == 0
    assert (tmp / name).read_bytes().startswith(magic)
    assert f"fit plot: {tmp / name}" in capsys.readouterr().out


@pytest.mark.parametrize("columns", ["x", "x,noise"], ids=["plotted", "not-plotted"])
def test_fit_plot_with_an_unknown_suffix_is_refused_before_the_fit(csv_files, columns):
    tmp, data, _, _ = csv_files
    res = run_cli("fit", data, "--x", columns, "--y", "y", "--model", tmp / "m.npz", "--plot", tmp / "fit.jpg")
    assert res.returncode == 2
    assert "--plot" in res.stderr and ".svg, .png, .pdf" in res.stderr and "bandwidth search" not in res.stderr
    assert sorted(p.name for p in tmp.iterdir()) == ["data.csv", "new.csv"]


def test_fit_several_columns_with_a_category_and_order_1(csv_files, capsys):
    tmp, data, new, _ = csv_files
    model = tmp / "m.npz"
    args = ["fit", str(data), "--x", "x,noise,group", "--categorical", "group", "--y", "y", "--order", "1",
            "--bandwidth", "0.3,1.0,0.2", "--model", str(model)]
    assert main(args) == 0
    assert "group=0.2 (lambda)" in capsys.readouterr().out
    assert sorted(tmp.glob("m.*")) == [model]  # a fit plot (m.svg) only for 1-D inputs
    assert main(["predict", str(model), str(new), "--out", str(tmp / "p.csv")]) == 0


def test_fit_in_a_subprocess(csv_files):
    tmp, data, _, _ = csv_files
    res = subprocess.run([sys.executable, "-m", "nadaraya", "fit", str(data), "--x", "x", "--y", "y", "--bandwidth", "scott",
                          "--model", str(tmp / "s.npz")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "bandwidth: x=" in res.stdout


@pytest.mark.parametrize(
    "content, match",
    [
        ("x,y\n1,2\n3\n", "data.csv, line 3: expected 2 fields"),
        ("x,y\n1,2\n3,abc\n", "data.csv, line 3, column 'y': 'abc' is not a number"),
        ("x,y\n1,2\n,4\n", "data.csv, line 3, column 'x': an empty cell"),
        ("x,y\n1,2\n3,nan\n", "line 3, column 'y': 'nan' is not a finite number"),
        ("a,y\n1,2\n", "column 'x' (named by --x) not found; available columns: a, y"),
        ("", "the file is empty"),
        ("x,y\n", "no data rows"),
    ],
)
def test_bad_csv_names_the_line_and_column_and_writes_nothing(tmp_path, capsys, content, match):
    data = tmp_path / "data.csv"
    data.write_text(content)
    model = tmp_path / "model.npz"
    assert main(["fit", str(data), "--x", "x", "--y", "y", "--model", str(model)]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data.csv"]


def test_predict_errors(csv_files, capsys):
    tmp, data, new, _ = csv_files
    model = tmp / "model.npz"
    assert main(["fit", str(data), "--x", "x", "--y", "y", "--bandwidth", "0.3", "--model", str(model)]) == 0
    (tmp / "bad.csv").write_text("id,z\n1,2\n")
    assert main(["predict", str(model), str(tmp / "bad.csv"), "--out", str(tmp / "out.csv")]) == 2
    assert "column 'x' (named by the model) not found" in capsys.readouterr().err
    assert not (tmp / "out.csv").exists()
    (tmp / "junk.npz").write_bytes(b"not a zip")
    assert main(["predict", str(tmp / "junk.npz"), str(new), "--out", str(tmp / "out.csv")]) == 2
    assert "not a readable nadaraya model file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["fit", str(data), "--x", "x", "--y", "y", "--bandwidth", "-2", "--model", str(model)])
    assert exit_.value.code == 2
    assert "--bandwidth must be loo, scott, silverman, plugin, aicc, gcv, none (with --neighbours) or positive numbers" in capsys.readouterr().err
    assert main(["fit", str(data), "--x", "x", "--y", "y", "--categorical", "group", "--model", str(model)]) == 2
    assert "--categorical columns must be among --x" in capsys.readouterr().err
