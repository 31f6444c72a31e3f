"""CSV input through the command line: Excel's BOM, duplicate names, overflowing values, folders, text columns."""

import csv

import pytest

from cli_helpers import chapter_files, fit_model, run_cli, write_csv

pytest.importorskip("sklearn")


def _fit(data, model, *extra):
    return run_cli("fit", data, "--x", "x", "--y", "y", "--bandwidth", "0.5", "--model", model, *extra)


def test_a_utf8_bom_is_accepted_by_fit_and_predict(tmp_path):
    data, new = chapter_files(tmp_path)
    bom_data, bom_new = tmp_path / "bom.csv", tmp_path / "bom_new.csv"
    bom_data.write_bytes(b"\xef\xbb\xbf" + data.read_bytes())  # Excel's "CSV UTF-8"
    bom_new.write_bytes(b"\xef\xbb\xbf" + new.read_bytes())
    res = _fit(bom_data, tmp_path / "m.npz")
    assert res.returncode == 0, res.stderr
    res = run_cli("predict", tmp_path / "m.npz", bom_new, "--out", tmp_path / "p.csv")
    assert res.returncode == 0, res.stderr
    with open(tmp_path / "p.csv", newline="", encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == ["id", "x", "prediction"]  # no BOM glued to the first name


def test_duplicate_header_names_are_refused_naming_the_column(tmp_path):
    data = write_csv(tmp_path / "d.csv", ["x", "y", "x"], [[1, 2, 3], [2, 3, 4], [3, 4, 5]])
    res = _fit(data, tmp_path / "m.npz")
    assert res.returncode == 2
    assert "d.csv, line 1: column 'x' appears more than once in the header" in res.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]


@pytest.mark.parametrize("column, values", [("x", [1e308, -1e308, 0.5]), ("x", [1e200, 2e200, 3e200]),
                                            ("y", [1e308, -1e308, 1.0])])
@pytest.mark.parametrize("bandwidth", ["scott", "silverman", "loo"])
def test_values_whose_spread_overflows_are_refused_naming_the_column(tmp_path, column, values, bandwidth):
    rows = [[v, i] if column == "x" else [i, v] for i, v in enumerate(values)] + [[1, 2], [2, 3]]
    data = write_csv(tmp_path / "d.csv", ["x", "y"], rows)
    res = run_cli("fit", data, "--x", "x", "--y", "y", "--bandwidth", bandwidth, "--model", tmp_path / "m.npz")
    assert res.returncode == 2, res.stderr
    assert f"d.csv, column {column!r}: values up to" in res.stderr and "overflow float64" in res.stderr
    assert "Traceback" not in res.stderr and sorted(p.name for p in tmp_path.iterdir()) == ["d.csv"]


def test_large_values_whose_spread_is_finite_are_accepted(tmp_path):
    data = write_csv(tmp_path / "d.csv", ["x", "y"], [[i * 1e150, i % 3] for i in range(30)])
    res = run_cli("fit", data, "--x", "x", "--y", "y", "--bandwidth", "scott", "--model", tmp_path / "m.npz")
    assert res.returncode == 0, res.stderr


def test_a_folder_as_the_data_file_says_it_is_a_folder(tmp_path):
    folder = tmp_path / "data.csv"
    folder.mkdir()
    res = _fit(folder, tmp_path / "m.npz")
    assert res.returncode == 2 and "is a folder; give the path of a CSV file" in res.stderr
    data, _ = chapter_files(tmp_path / "data.csv")
    model = fit_model(tmp_path, data)
    res = run_cli("predict", model, folder, "--out", tmp_path / "p.csv")
    assert res.returncode == 2 and "is a folder" in res.stderr


def test_a_text_column_in_x_suggests_categorical(tmp_path):
    data = write_csv(tmp_path / "d.csv", ["x", "group", "y"], [[i, "ab"[i % 2], i] for i in range(20)])
    res = run_cli("fit", data, "--x", "x,group", "--y", "y", "--model", tmp_path / "m.npz")
    assert res.returncode == 2
    assert "d.csv, line 2, column 'group': 'a' is not a number; if 'group' holds categories, pass --categorical group" \
        in res.stderr
    res = run_cli("fit", data, "--x", "x,group", "--categorical", "group", "--y", "y", "--bandwidth", "1,0.2",
                  "--model", tmp_path / "m.npz")
    assert res.returncode == 0, res.stderr
