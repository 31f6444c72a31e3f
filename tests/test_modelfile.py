"""Model files are validated before they are trusted (issue 9, item 5)."""

import copy
import io
import json
import subprocess
import sys
import tracemalloc
import zipfile

import numpy as np
import pytest

pytest.importorskip("sklearn")

from nadaraya.estimator import NadarayaWatsonClassifier, NadarayaWatsonRegressor  # noqa: E402

INVALID = "is an invalid nadaraya model file: field"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small fitted regressor (order 1, sample weights) saved once; tests copy and corrupt it."""
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 5, (40, 1))
    y = np.sin(X[:, 0]) + rng.normal(0, 0.1, 40)
    path = tmp_path_factory.mktemp("model") / "m.npz"
    model = NadarayaWatsonRegressor(bandwidth=0.4, order=1).fit(X, y, sample_weight=rng.uniform(0.5, 2, 40))
    model.column_names_ = {"x": ["x"], "y": "y"}
    model.save(path)
    return path


def _members(path):
    with np.load(path, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


def _write(path, members):
    """An .npz with these arrays (raw bytes for a member given as bytes)."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, value in members.items():
            if isinstance(value, bytes):
                zf.writestr(name + ".npy", value)
            else:
                buf = io.BytesIO()
                np.lib.format.write_array(buf, np.asanyarray(value), allow_pickle=False)
                zf.writestr(name + ".npy", buf.getvalue())
    return path


def _corrupt(saved, tmp_path, meta=None, **arrays):
    """A copy of the saved model with metadata edits ``meta(dict)`` and arrays replaced (None: removed)."""
    members = _members(saved)
    m = json.loads(str(members["__metadata__"]))
    if meta is not None:
        meta(m)
    members["__metadata__"] = np.array(json.dumps(m))
    for name, value in arrays.items():
        if value is None:
            members.pop(name)
        else:
            members[name] = value
    return _write(tmp_path / "bad.npz", members)


def _cli_predict(model, tmp_path):
    data = tmp_path / "new.csv"
    data.write_text("x\n1.0\n2.0\n")
    return subprocess.run([sys.executable, "-m", "nadaraya", "predict", str(model), str(data), "--out",
                           str(tmp_path / "p.csv")], capture_output=True, text=True, timeout=120)


def test_the_saved_model_itself_loads(saved):
    model = NadarayaWatsonRegressor.load(saved)
    assert model.predict([[1.0]]).shape == (1,)


def test_unknown_member_is_refused_without_reading_it(saved, tmp_path):
    members = _members(saved)
    members["junk"] = np.zeros(1 << 20)  # 8 MiB nobody asked for
    path = _write(tmp_path / "junk.npz", members)
    with pytest.raises(ValueError, match="invalid nadaraya model file: unknown member 'junk'"):
        NadarayaWatsonRegressor.load(path)


def test_a_member_declaring_8_terabytes_is_refused_from_its_header(saved, tmp_path):
    members = _members(saved)
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f8", "fortran_order": False, "shape": (10**12, 1)})
    members["X_"] = buf.getvalue() + b"\0" * 64  # declares 8 TB, holds 64 bytes
    path = _write(tmp_path / "huge.npz", members)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"field 'X_' declares shape \(1000000000000, 1\)"):
            NadarayaWatsonRegressor.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20  # refused before any allocation of the declared size
    run = _cli_predict(path, tmp_path)
    assert run.returncode == 2, run.stderr
    assert "invalid nadaraya model file: field 'X_'" in run.stderr and "Traceback" not in run.stderr


def _set(key, value):
    return lambda m: m.__setitem__(key, value)


@pytest.mark.parametrize(
    "meta, arrays, field",
    [
        (_set("params", ["bandwidth", 0.4]), {}, "params"),
        (_set("params", {"bandwidth": -1.0, "order": 1}), {}, "params"),
        (_set("params", {"bandwidth": 0.4, "order": 1, "shell": "rm"}), {}, "params"),
        (_set("column_names", ["x", "y"]), {}, "column_names"),
        (_set("n_continuous", "1"), {}, "n_continuous"),
        (_set("y_1d", "yes"), {}, "y_1d"),
        (_set("categories", [["b", "a"]]), {}, "categories"),
        (None, {"h_": np.array([-0.4])}, "h_"),
        (None, {"h_": np.array([np.nan])}, "h_"),
        (None, {"h_": np.array([True])}, "h_"),
        (None, {"bandwidth_": np.array([0.5])}, "bandwidth_"),
        (None, {"X_": np.full((40, 1), np.nan)}, "X_"),
        (None, {"X_": np.zeros((40, 1), dtype=complex)}, "X_"),
        (None, {"y_": np.full((40, 1), np.inf)}, "y_"),
        (None, {"residuals_": np.zeros((39, 1))}, "residuals_"),
        (None, {"residuals_": None}, "residuals_"),
        (None, {"sample_weight_": np.ones(39)}, "sample_weight_"),
        (None, {"sample_weight_": -np.ones(40)}, "sample_weight_"),
        (None, {"sample_weight_": np.zeros(40)}, "sample_weight_"),
        (None, {"center_sd": np.array([0.0])}, "center_sd"),
        (None, {"groups_": np.array([3])}, "groups_"),
    ],
)
def test_every_field_is_validated(saved, tmp_path, meta, arrays, field):
    path = _corrupt(saved, tmp_path, meta, **arrays)
    with pytest.raises(ValueError, match=f"{INVALID} '{field}'"):
        NadarayaWatsonRegressor.load(path)


def _renamed_npy(saved, tmp_path):
    np.save(tmp_path / "a.npy", np.arange(3.0))
    return (tmp_path / "a.npy").rename(tmp_path / "a.npz")


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda s, t: _corrupt(s, t, h_=np.array([-0.4])), f"{INVALID} 'h_'"),
        (lambda s, t: _corrupt(s, t, sample_weight_=-np.ones(40)), f"{INVALID} 'sample_weight_'"),
        (lambda s, t: _corrupt(s, t, _set("format_version", 2)), "written by a newer nadaraya"),
        (_renamed_npy, "is a single NumPy array (.npy), not a nadaraya model file"),
    ],
    ids=["h", "weights", "future-version", "npy"],
)
def test_bad_model_files_exit_2_from_the_command_line(saved, tmp_path, make, message):
    run = _cli_predict(make(saved, tmp_path), tmp_path)
    assert run.returncode == 2, run.stderr
    assert message in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "p.csv").exists()


def test_a_npy_renamed_npz_says_so(tmp_path):
    path = tmp_path / "m.npz"
    np.save(tmp_path / "a.npy", np.arange(3.0))
    (tmp_path / "a.npy").rename(path)
    with pytest.raises(ValueError, match=r"is a single NumPy array \(\.npy\), not a nadaraya model file"):
        NadarayaWatsonRegressor.load(path)


def test_a_zip_that_is_not_an_npz_says_so(tmp_path):
    path = tmp_path / "m.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="is a zip archive but not a nadaraya model file .*'readme.txt'"):
        NadarayaWatsonRegressor.load(path)


def test_a_folder_says_it_is_a_folder(tmp_path):
    with pytest.raises(ValueError, match="is a folder, not a file"):
        NadarayaWatsonRegressor.load(tmp_path)


def test_missing_and_wrong_headers(saved, tmp_path):
    members = _members(saved)
    members.pop("__metadata__")
    with pytest.raises(ValueError, match="not a nadaraya model file: it has no '__metadata__' member"):
        NadarayaWatsonRegressor.load(_write(tmp_path / "none.npz", members))
    members["__metadata__"] = np.array("{not json")
    with pytest.raises(ValueError, match="not a nadaraya model file: its metadata is not JSON"):
        NadarayaWatsonRegressor.load(_write(tmp_path / "text.npz", members))
    with pytest.raises(ValueError, match=r"not a nadaraya model file \(format 'other'"):
        NadarayaWatsonRegressor.load(_corrupt(saved, tmp_path, _set("format", "other")))
    members["__metadata__"] = np.array([1.0, 2.0])
    with pytest.raises(ValueError, match="member '__metadata__' has dtype float64; expected text"):
        NadarayaWatsonRegressor.load(_write(tmp_path / "num.npz", members))


def test_format_versions(saved, tmp_path):
    with pytest.raises(ValueError, match=r"written by a newer nadaraya \(model format version 2\).*upgrade nadaraya"):
        NadarayaWatsonRegressor.load(_corrupt(saved, tmp_path, _set("format_version", 2)))
    with pytest.raises(ValueError, match=r"field 'format_version' must be the integer 1; got '1' \(str\)") as info:
        NadarayaWatsonRegressor.load(_corrupt(saved, tmp_path, _set("format_version", "1")))
    assert "has model format version 1; this nadaraya reads version 1" not in str(info.value)
    with pytest.raises(ValueError, match="has model format version 0; this nadaraya reads version 1"):
        NadarayaWatsonRegressor.load(_corrupt(saved, tmp_path, _set("format_version", 0)))


def test_a_file_keeps_the_variance_it_was_fitted_with(saved, tmp_path):
    """The default is variance="global"; a file fitted with the local variance (the default before) stays local,
    and so does one written before the parameter existed (no "variance", no "residual_variance")."""
    Q = np.array([[0.5], [2.5], [4.5]])
    model = NadarayaWatsonRegressor.load(saved)
    assert model.variance == "global"
    local_std = copy.deepcopy(model).set_params(variance="local").predict(Q, return_std=True)[1]
    assert not np.allclose(local_std, model.predict(Q, return_std=True)[1])

    def local(m):
        m["params"]["variance"] = "local"

    def before_the_parameter(m):
        del m["params"]["variance"], m["residual_variance"]

    for edit in (local, before_the_parameter):
        old = NadarayaWatsonRegressor.load(_corrupt(saved, tmp_path, edit))
        assert old.variance == "local"
        np.testing.assert_array_equal(old.predict(Q, return_std=True)[1], local_std)


def test_a_classifier_file_is_validated_too(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(30, 2))
    clf = NadarayaWatsonClassifier(bandwidth=0.8).fit(X, X[:, 0] > 0)
    clf.save(tmp_path / "c.npz")
    again = NadarayaWatsonClassifier.load(tmp_path / "c.npz")
    np.testing.assert_array_equal(again.predict(X), clf.predict(X))
    members = _members(tmp_path / "c.npz")
    members["y_"] = members["y_"] * 2.0
    with pytest.raises(ValueError, match=f"{INVALID} 'y_' must be one-hot"):
        NadarayaWatsonClassifier.load(_write(tmp_path / "bad.npz", members))
