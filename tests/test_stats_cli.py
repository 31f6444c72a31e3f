"""Issue 12 on the command line: --classify (string labels), --neighbours, --bandwidth plugin|aicc|gcv, inf."""

import csv
import subprocess
import sys

import numpy as np
import pytest
from r_reference import dataset, fixture, xy

import nadaraya as nw


def _run(args, cwd):
    return subprocess.run([sys.executable, "-m", "nadaraya", *args], capture_output=True, text=True, cwd=cwd)


def _write(path, columns):
    names = list(columns)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(names)
        for row in zip(*(columns[c] for c in names)):
            w.writerow([str(v) for v in row])


def _read(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def test_classifier_on_the_command_line_equals_the_estimator(tmp_path):
    """iris: string labels in, the predicted class and one probability column per class out."""
    d = dataset("iris")
    X = np.c_[d["Sepal.Length"], d["Petal.Width"]].astype(float)
    labels = d["Species"].astype(str)
    _write(tmp_path / "iris.csv", {"sl": X[:, 0], "pw": X[:, 1], "species": labels})
    res = _run(["fit", "iris.csv", "--x", "sl,pw", "--y", "species", "--classify", "--bandwidth", "0.3,0.2",
                "--model", "m.npz"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "classes: setosa, versicolor, virginica" in res.stdout
    res = _run(["predict", "m.npz", "iris.csv", "--out", "p.csv"], tmp_path)
    assert res.returncode == 0, res.stderr
    header, rows = _read(tmp_path / "p.csv")
    assert header[-4:] == ["prediction", "probability_setosa", "probability_versicolor", "probability_virginica"]
    clf = nw.NadarayaWatsonClassifier(bandwidth=[0.3, 0.2]).fit(X, labels)
    np.testing.assert_allclose(np.array([r[-3:] for r in rows], dtype=float), clf.predict_proba(X), rtol=1e-15)
    assert [r[-4] for r in rows] == list(clf.predict(X))
    res = _run(["predict", "m.npz", "iris.csv", "--out", "q.csv", "--std"], tmp_path)
    assert res.returncode == 2 and "holds a classifier" in res.stderr and not (tmp_path / "q.csv").exists()
    res = _run(["fit", "iris.csv", "--x", "sl", "--y", "species", "--classify", "--order", "1", "--model", "c.npz"],
               tmp_path)
    assert res.returncode == 2 and "--classify" in res.stderr


def test_neighbours_on_the_command_line_equal_locfit(tmp_path):
    case = fixture("locfit")["cases"][0]  # cars, nn = 0.3, local linear, pure nearest neighbours
    x, y = xy("cars")
    _write(tmp_path / "cars.csv", {"speed": x, "dist": y})
    q = np.asarray(case["queries"])
    _write(tmp_path / "q.csv", {"speed": q})
    res = _run(["fit", "cars.csv", "--x", "speed", "--y", "dist", "--order", "1", "--neighbours", "0.3",
                "--bandwidth", "none", "--model", "m.npz"], tmp_path)
    assert res.returncode == 0, res.stderr
    res = _run(["predict", "m.npz", "q.csv", "--out", "p.csv", "--std"], tmp_path)
    assert res.returncode == 0, res.stderr
    _, rows = _read(tmp_path / "p.csv")
    np.testing.assert_allclose([float(r[1]) for r in rows], case["fit_queries"], rtol=1e-8)
    res = _run(["fit", "cars.csv", "--x", "speed", "--y", "dist", "--neighbours", "often", "--model", "n.npz"], tmp_path)
    assert res.returncode == 2 and "--neighbours must be" in res.stderr


@pytest.mark.parametrize("name", ["plugin", "aicc", "gcv"])
def test_bandwidth_selectors_on_the_command_line(tmp_path, name):
    x, y = xy("mcycle")
    _write(tmp_path / "mc.csv", {"times": x, "accel": y})
    res = _run(["fit", "mc.csv", "--x", "times", "--y", "accel", "--order", "1", "--bandwidth", name,
                "--model", "m.npz", "--plot", "m.png"], tmp_path)
    assert res.returncode == 0, res.stderr
    model = nw.NadarayaWatsonRegressor.load(tmp_path / "m.npz")
    want = nw.NadarayaWatsonRegressor(bandwidth=name, order=1).fit(x[:, None], y).bandwidth_
    np.testing.assert_allclose(model.bandwidth_, want, rtol=1e-12)
    if name == "plugin":
        np.testing.assert_allclose(model.bandwidth_, fixture("plugin")["mcycle"]["exact"]["h"], rtol=1e-10)


def test_an_infinite_bandwidth_on_the_command_line(tmp_path):
    d = dataset("mtcars")
    cols = {k: d[k].astype(float) for k in ("wt", "hp", "qsec", "mpg")}
    _write(tmp_path / "mt.csv", cols)
    res = _run(["fit", "mt.csv", "--x", "wt,hp,qsec", "--y", "mpg", "--model", "m.npz"], tmp_path)
    assert res.returncode == 0, res.stderr
    assert "qsec=inf (smoothed out)" in res.stdout
    res = _run(["predict", "m.npz", "mt.csv", "--out", "p.csv"], tmp_path)
    assert res.returncode == 0, res.stderr
    _, rows = _read(tmp_path / "p.csv")
    X = np.c_[cols["wt"], cols["hp"], cols["qsec"]]
    model = nw.NadarayaWatsonRegressor.load(tmp_path / "m.npz")
    np.testing.assert_allclose([float(r[-1]) for r in rows], model.predict(X), rtol=1e-15)
