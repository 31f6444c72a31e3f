"""Fast start: what `import nadaraya` and `nadaraya fit` import, and that the CLI's sklearn-free fit is the estimator's.

No timing here (benchmarks/startup.py measures it): these tests pin the
imports that made the start slow, so that the laziness cannot silently regress,
and check that the command line's model file is the one the estimator writes.
"""

import csv
import inspect
import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import nadaraya as nw
from nadaraya.estimator._fitting import PlainRegressor, normal_quantile

#: Heavy modules neither `import nadaraya` nor `nadaraya fit` / `predict` may import (asyncio: only
#: ``predict --scheduler`` needs an event loop).
NEVER = ("sklearn", "scipy.stats", "torch", "dask", "distributed", "tensorflow", "mxnet", "pandas", "asyncio")


def _modules_after(code: str) -> set:
    """The modules loaded in a fresh interpreter after running ``code`` (which may exit)."""
    probe = (
        "import atexit, json, sys\n"
        "atexit.register(lambda: sys.__stdout__.write('\\nMODULES ' + json.dumps(sorted(sys.modules)) + '\\n'))\n"
        + code
    )
    res = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("MODULES ")][-1]
    return set(json.loads(line[len("MODULES "):]))


def _loaded(modules: set, names) -> list:
    return sorted(m for m in modules for n in names if m == n or m.startswith(n + "."))


def _cli(args) -> str:
    """Python code running ``nadaraya ARGS`` as ``python -m nadaraya`` does."""
    return f"import runpy, sys\nsys.argv = ['nadaraya'] + {list(map(str, args))!r}\nrunpy.run_module('nadaraya', run_name='__main__')\n"


def _write_csv(path, columns: dict):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(list(columns))
        for row in zip(*columns.values()):
            w.writerow([repr(float(v)) if not isinstance(v, str) else v for v in row])


@pytest.fixture()
def data_csv(tmp_path):
    d = nw.make_dataset(n_train=80, seed=5)
    rng = np.random.default_rng(1)
    cols = {"x": d.x_train, "z": rng.uniform(0, 3, d.x_train.size), "g": list(rng.choice(["a", "b", "c"], d.x_train.size)),
            "y": d.y_train}
    path = tmp_path / "data.csv"
    _write_csv(path, cols)
    return path, cols


def test_import_nadaraya_loads_no_heavy_dependency():
    mods = _modules_after("import nadaraya\nnadaraya.attention_pool\nnadaraya.select_bandwidth\n")
    assert _loaded(mods, NEVER + ("scipy", "numba", "matplotlib")) == []


def test_estimator_package_loads_sklearn_only_for_the_estimator_classes():
    mods = _modules_after("import nadaraya.estimator, nadaraya.estimator._fitting\n")
    assert _loaded(mods, NEVER) == []
    mods = _modules_after("from nadaraya.estimator import NadarayaWatsonRegressor\n")
    assert "sklearn" in mods  # the estimator itself is scikit-learn's, unchanged


@pytest.mark.parametrize("extra", [[], ["--order", "1"], ["--x", "x,g", "--categorical", "g"]],
                         ids=["1d-plot", "local-linear", "categorical"])
def test_cli_fit_and_predict_import_no_sklearn(data_csv, tmp_path, extra):
    path, _ = data_csv
    model, out = tmp_path / "m.npz", tmp_path / "out.csv"
    args = ["fit", path, "--x", "x", "--y", "y", "--bandwidth", "loo", "--model", model]
    if "--x" in extra:
        args = args[:2] + args[4:]
    mods = _modules_after(_cli(args + extra))
    assert model.exists()
    assert _loaded(mods, NEVER) == []
    mods = _modules_after(_cli(["predict", model, path, "--out", out, "--std"]))
    assert out.exists()
    assert _loaded(mods, NEVER) == []


def test_cli_fit_loads_matplotlib_only_for_a_png_plot(data_csv, tmp_path):
    path, _ = data_csv
    model = tmp_path / "m.npz"
    args = ["fit", path, "--x", "x", "--y", "y", "--bandwidth", "loo", "--model", model]
    mods = _modules_after(_cli(args + ["--no-plot"]))
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in (".npz", ".png", ".svg")) == ["m.npz"]
    assert _loaded(mods, ("matplotlib",) + NEVER) == []
    mods = _modules_after(_cli(args))  # the default draws m.svg, without matplotlib
    assert (tmp_path / "m.svg").read_text().startswith("<svg") and _loaded(mods, ("matplotlib",) + NEVER) == []
    mods = _modules_after(_cli(args + ["--plot", tmp_path / "m.png"]))  # a PNG is matplotlib's
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG" and _loaded(mods, ("matplotlib",))


def test_cli_fit_takes_plot_or_no_plot_not_both(data_csv, tmp_path):
    path, _ = data_csv
    res = subprocess.run([sys.executable, "-m", "nadaraya", "fit", str(path), "--x", "x", "--y", "y", "--model",
                          str(tmp_path / "m.npz"), "--plot", str(tmp_path / "p.png"), "--no-plot"],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "--no-plot" in res.stderr and "not allowed with" in res.stderr
    assert not any(p.suffix in (".npz", ".png") for p in tmp_path.iterdir())


@pytest.mark.parametrize("bandwidth, status", [("loo", 0), ("-1", 2)])
def test_console_entry_exits_quickly_with_the_status_output_and_exit_handlers(data_csv, tmp_path, bandwidth, status):
    # nadaraya.__main__.run (the console script, python -m nadaraya) ends with os._exit after main: the exit handlers
    # must still run, the streams be flushed (stdout is a pipe here: block-buffered) and the status kept
    path, _ = data_csv
    model = tmp_path / "m.npz"
    code = ("import atexit, sys\n"
            "atexit.register(lambda: print('exit handler ran'))\n"
            f"sys.argv = ['nadaraya', 'fit', {str(path)!r}, '--x', 'x', '--y', 'y', '--bandwidth', {bandwidth!r},"
            f" '--model', {str(model)!r}, '--no-plot']\n"
            "from nadaraya.__main__ import run\n"
            "run()\n"
            "print('not reached')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == status, res.stderr
    assert res.stdout.splitlines()[-1] == "exit handler ran" and "not reached" not in res.stdout
    if status == 0:
        assert f"model: {model}" in res.stdout and model.exists()
    else:
        assert "--bandwidth" in res.stderr and not model.exists()


def _members(path) -> dict:
    """Every member of an .npz file as raw bytes (the zip's timestamps aside)."""
    with zipfile.ZipFile(path) as z:
        return {name: z.read(name) for name in z.namelist()}


@pytest.mark.parametrize("options", [
    {"x": ["x"]},
    {"x": ["x", "z"], "kernel": "epanechnikov", "order": 1},
    {"x": ["x", "g"], "categorical": ["g"]},
    {"x": ["z"], "bandwidth": "silverman"},
    {"x": ["x"], "bandwidth": "0.3"},
], ids=["loo", "2d-order1-epanechnikov", "categorical", "silverman", "given"])
def test_cli_model_file_is_the_estimators(data_csv, tmp_path, options):
    pytest.importorskip("sklearn")
    from nadaraya._cliargs import bandwidth as parse_bandwidth
    from nadaraya.cli import _design_matrix
    from nadaraya.estimator import NadarayaWatsonRegressor

    path, cols = data_csv
    xcols, cats = options["x"], options.get("categorical", [])
    kernel, order, bandwidth = options.get("kernel", "gaussian"), options.get("order", 0), options.get("bandwidth", "loo")
    cli_model = tmp_path / "cli.npz"
    args = [sys.executable, "-m", "nadaraya", "fit", str(path), "--x", ",".join(xcols), "--y", "y", "--kernel", kernel,
            "--order", str(order), "--bandwidth", bandwidth, "--model", str(cli_model), "--plot", str(tmp_path / "p.png")]
    if cats:
        args += ["--categorical", ",".join(cats)]
    res = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr

    data = {c: (np.asarray(cols[c], dtype=str) if c in cats else np.asarray(cols[c], dtype=float)) for c in xcols}
    X = _design_matrix(data, xcols, cats)
    est = NadarayaWatsonRegressor(kernel=kernel, bandwidth=parse_bandwidth(bandwidth), order=order,
                                  categorical=[xcols.index(c) for c in cats] or None)
    est.fit(X, np.asarray(cols["y"], dtype=float))
    est.column_names_ = {"x": xcols, "y": "y"}
    est.save(tmp_path / "est.npz")
    assert _members(cli_model) == _members(tmp_path / "est.npz")
    loaded = NadarayaWatsonRegressor.load(cli_model)
    np.testing.assert_array_equal(loaded.predict(X[:10]), est.predict(X[:10]))

    out = tmp_path / "pred.csv"
    res = subprocess.run([sys.executable, "-m", "nadaraya", "predict", str(cli_model), str(path), "--out", str(out),
                          "--std"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    with open(out, newline="") as fh:
        rows = list(csv.DictReader(fh))
    pred, std = est.predict(X, return_std=True)
    np.testing.assert_array_equal([float(r["prediction"]) for r in rows], pred)
    np.testing.assert_array_equal([float(r["std"]) for r in rows], std)


def test_plain_regressor_is_the_estimator(data_csv):
    pytest.importorskip("sklearn")
    from scipy import stats

    from nadaraya.estimator import NadarayaWatsonRegressor

    _, cols = data_csv
    X = np.column_stack([cols["x"], cols["z"]])
    y = np.asarray(cols["y"])
    est = NadarayaWatsonRegressor(order=1).fit(X, y)
    plain = PlainRegressor(order=1).fit(X, y)
    for name in ("h_", "bandwidth_", "X_", "y_", "residuals_", "loo_mse_", "edf_", "n_features_in_"):
        np.testing.assert_array_equal(getattr(plain, name), getattr(est, name), err_msg=name)
    Q = X[::7] + 0.01
    np.testing.assert_array_equal(plain.predict(Q), est.predict(Q))
    for a, b in zip(plain.predict_interval(Q, alpha=0.1), est.predict_interval(Q, alpha=0.1)):
        np.testing.assert_array_equal(a, b)
    assert normal_quantile(0.975) == stats.norm.ppf(0.975)


def test_plain_regressor_reads_the_estimators_files_only(tmp_path):
    pytest.importorskip("sklearn")
    from nadaraya.estimator import NadarayaWatsonClassifier, NadarayaWatsonRegressor

    d = nw.make_dataset(n_train=40, seed=2)
    X = d.x_train[:, None]
    NadarayaWatsonRegressor(kernel="biweight", bandwidth=0.4).fit(X, d.y_train).save(tmp_path / "r.npz")
    plain, est = PlainRegressor.load(tmp_path / "r.npz"), NadarayaWatsonRegressor.load(tmp_path / "r.npz")
    assert plain.get_params() == est.get_params()
    np.testing.assert_array_equal(plain.predict(X + 0.05, return_std=True)[1], est.predict(X + 0.05, return_std=True)[1])
    NadarayaWatsonClassifier().fit(X, d.y_train > 2).save(tmp_path / "c.npz")
    with pytest.raises(ValueError, match="holds a 'NadarayaWatsonClassifier', not a NadarayaWatsonRegressor"):
        PlainRegressor.load(tmp_path / "c.npz")


def test_plain_regressor_takes_the_estimators_parameters():
    pytest.importorskip("sklearn")
    from nadaraya.estimator import NadarayaWatsonRegressor

    signature = inspect.signature(NadarayaWatsonRegressor.__init__).parameters
    assert PlainRegressor.DEFAULTS == {name: p.default for name, p in signature.items() if name != "self"}
    assert PlainRegressor._parameter_checks == NadarayaWatsonRegressor._parameter_checks
    with pytest.raises(TypeError, match="unexpected parameter 'kernal'"):
        PlainRegressor(kernal="gaussian")


@pytest.mark.parametrize("bad, message", [
    (lambda X, y: (X[:1], y[:1]), "at least 2 samples"),
    (lambda X, y: (np.where(X > 2, np.nan, X), y), "X contains NaN"),
    (lambda X, y: (X, np.full_like(y, np.inf)), "y contains NaN or infinity"),
    (lambda X, y: (X, y[:-1]), "samples but y has"),
])
def test_plain_regressor_refuses_bad_input(bad, message):
    d = nw.make_dataset(n_train=30, seed=0)
    X, y = bad(d.x_train[:, None], d.y_train)
    with pytest.raises(ValueError, match=message):
        PlainRegressor().fit(X, y)
