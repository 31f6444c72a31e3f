"""nadaraya.explore.state (the page's numbers, no Bokeh) and the `nadaraya explore` command line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import nadaraya as nw
from nadaraya.demo import run_chapter
from nadaraya.explore import state


def gaussian_reference(q, x, y, h, exclude_self=False):
    """Nadaraya-Watson by hand: exp(-u^2/2) weights, normalised after subtracting each row's maximum."""
    s = -0.5 * ((q[:, None] - x[None, :]) / h) ** 2
    if exclude_self:
        np.fill_diagonal(s, -np.inf)
    w = np.exp(s - s.max(axis=1, keepdims=True))
    w /= w.sum(axis=1, keepdims=True)
    return w @ y, w


@pytest.fixture
def points():
    return state.chapter_points(40, 0.5, 3)


def test_chapter_points_are_the_demos_data():
    p = state.chapter_points(50, 0.5, 0)
    d = nw.make_dataset(50, 0)
    for a, b in ((p.x_train, d.x_train), (p.y_train, d.y_train), (p.x_test, d.x_test), (p.y_truth, d.y_truth)):
        np.testing.assert_array_equal(a, b)
    assert "50 training pairs" in p.label


@pytest.mark.parametrize("leave_one_out", [False, True])
@pytest.mark.parametrize("h", [0.05, 0.7, 3.0])
def test_pooling_view_matches_a_hand_computed_reference(points, leave_one_out, h):
    view = state.pooling_view(points, "gaussian", h, leave_one_out)
    q = points.x_train if leave_one_out else points.x_test
    pred, w = gaussian_reference(q, points.x_train, points.y_train, h, leave_one_out)
    np.testing.assert_array_equal(view.queries, q)
    np.testing.assert_allclose(view.predictions, pred, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(view.weights, w, rtol=1e-12, atol=1e-15)
    assert view.undefined == 0


def test_compact_kernel_with_a_tiny_bandwidth_counts_undefined_queries(points):
    view = state.pooling_view(points, "boxcar", 1e-3, False)
    assert 0 < view.undefined == int(np.isnan(view.predictions).sum())
    assert np.isnan(view.weights[np.isnan(view.predictions)]).all()


def brute_force_loo(x, y, h):
    errors = []
    for i in range(x.size):
        keep = np.arange(x.size) != i
        pred, _ = gaussian_reference(x[i : i + 1], x[keep], y[keep], h)
        errors.append((pred[0] - y[i]) ** 2)
    return float(np.mean(errors))


def test_error_curve_against_brute_force_leave_one_out(points):
    curve = state.error_curve(points, "gaussian", n_grid=9)
    lo, hi = state.bandwidth_range(points)
    np.testing.assert_allclose(curve.bandwidths[[0, -1]], [lo, hi], rtol=1e-12)
    expected = [brute_force_loo(points.x_train, points.y_train, h) for h in curve.bandwidths]
    np.testing.assert_allclose(curve.loo, expected, rtol=1e-10)
    y = points.y_train
    average = np.mean([(np.delete(y, i).mean() - y[i]) ** 2 for i in range(y.size)])
    np.testing.assert_allclose(curve.average_loo, average, rtol=1e-12)
    np.testing.assert_allclose(curve.average_test, np.mean((y.mean() - points.y_truth) ** 2), rtol=1e-12)
    test = [np.mean((gaussian_reference(points.x_test, points.x_train, y, h)[0] - points.y_truth) ** 2)
            for h in curve.bandwidths]
    np.testing.assert_allclose(curve.test, test, rtol=1e-10)
    # the optimum is no worse than any grid point, and its value is the leave-one-out error there
    assert curve.best_loo <= np.nanmin(curve.loo) + 1e-12
    np.testing.assert_allclose(curve.best_loo, brute_force_loo(points.x_train, y, curve.best_bandwidth), rtol=1e-10)


def test_error_curve_of_a_compact_kernel_is_nan_where_undefined(points):
    curve = state.error_curve(points, "epanechnikov", n_grid=12)
    assert np.isnan(curve.loo[0]) and np.isfinite(curve.loo[-1])


@pytest.mark.parametrize("kernel", ["gaussian", "laplace"])
def test_training_reproduces_the_demo(kernel):
    p = state.chapter_points(50, 0.5, 2)
    seen = []
    fit = state.train(p, kernel, epochs=4, lr=0.3, seed=2, callback=lambda e, loss, w: seen.append((e, loss, w)))
    run = run_chapter(n_train=50, seed=2, epochs=4, lr=0.3, kernel=kernel, echo=lambda line: None)
    np.testing.assert_array_equal(fit.losses, run.fit.losses)
    np.testing.assert_array_equal(fit.w_history, run.fit.w_history)
    assert [s[0] for s in seen] == [1, 2, 3, 4] and seen[-1][2] == fit.w
    pred, weights = state.parametric_pooling(p, kernel, fit.w)
    np.testing.assert_array_equal(pred, run.parametric)
    np.testing.assert_array_equal(weights, run.parametric_weights)


def test_parametric_pooling_refuses_w_zero(points):
    with pytest.raises(ValueError, match="w must be finite and non-zero"):
        state.parametric_pooling(points, "gaussian", 0.0)


def test_available_backends_are_demo_backends():
    names = state.available_backends()
    assert names[0] == "numpy" and set(names) <= set(nw.demo.BACKENDS)


def test_csv_points_two_columns_sorted():
    p = state.csv_points(b"a,b\n3,30\n1,10\n2,25\n", "my.csv")
    np.testing.assert_array_equal(p.x_train, [1.0, 2.0, 3.0])
    np.testing.assert_array_equal(p.y_train, [10.0, 25.0, 30.0])
    np.testing.assert_allclose(p.x_test[[0, -1]], [1.0, 3.0])
    assert p.y_truth is None and (p.x_name, p.y_name) == ("a", "b")
    assert np.isnan(state.truth_mse(p, np.zeros(p.x_test.size)))


def test_csv_points_named_columns_of_a_wider_file():
    p = state.csv_points(b"id,x,y\nu,1,2\nv,2,4\nw,3,5\n", "wide.csv", "x", "y")
    np.testing.assert_array_equal(p.y_train, [2.0, 4.0, 5.0])


@pytest.mark.parametrize(
    "content, columns, message",
    [
        (b"x,y\n1,2\n2,oops\n3,4\n", ("", ""), r"bad\.csv, line 3, column 'y': 'oops' is not a number"),
        (b"x,y\n1,2\n2,\n3,4\n", ("", ""), r"bad\.csv, line 3, column 'y': an empty cell"),
        (b"x,y\n1,2\n2,3,4\n", ("", ""), r"bad\.csv, line 3: expected 2 fields"),
        (b"a,b,c\n1,2,3\n", ("", ""), r"has 3 columns \(a, b, c\).*'x column' and 'y column'"),
        (b"x,y\n1,2\n", ("x", "z"), r"column 'z' not found; available columns: x, y"),
        (b"x,y\n1,2\n", ("x", ""), r"name both the 'x column' and the 'y column'"),
        (b"x,y\n1,2\n2,3\n", ("", ""), r"2 data rows; leave-one-out needs at least 3"),
        (b"x,y\n1,2\n1,3\n1,4\n", ("", ""), r"column 'x' is constant"),
        (b"", ("", ""), r"the file is empty"),
        (b"x,y\n\xff\xfe,1\n", ("", ""), r"not a UTF-8 text file"),
        (b"x,y\n1,inf\n2,3\n3,4\n", ("", ""), r"'inf' is not a finite number"),
    ],
)
def test_csv_points_bad_input_names_the_problem(content, columns, message):
    with pytest.raises(ValueError, match=message):
        state.csv_points(content, "bad.csv", *columns)


def test_csv_points_refuses_more_rows_than_the_page_shows():
    rows = "".join(f"{i},{i}\n" for i in range(state.MAX_ROWS + 1))
    with pytest.raises(ValueError, match=rf"{state.MAX_ROWS + 1} data rows, more than the {state.MAX_ROWS}"):
        state.csv_points(("x,y\n" + rows).encode(), "big.csv")


def test_state_module_does_not_import_bokeh():
    code = "import sys, nadaraya.explore.state, nadaraya.cli; print('bokeh' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def run_cli(*args, prelude=""):
    code = prelude + "import sys; from nadaraya.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=60)


def test_explore_help_names_the_options():
    out = run_cli("explore", "--help")
    assert out.returncode == 0
    assert "--port" in out.stdout and "--no-browser" in out.stdout and "127.0.0.1" in out.stdout


def test_explore_refuses_a_bad_port():
    out = run_cli("explore", "--no-browser", "--port", "70000")
    assert out.returncode == 2
    assert "--port must be between 0 (a free port) and 65535; got 70000" in out.stderr


def test_explore_on_a_busy_port_says_so():
    import socket

    pytest.importorskip("bokeh")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run_cli("explore", "--no-browser", "--port", str(port))
    assert out.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in out.stderr and "choose another --port" in out.stderr


def test_explore_without_bokeh_names_the_extra():
    block = (
        "import sys, importlib.abc\n"
        "class Block(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'bokeh' or name.startswith('bokeh.'):\n"
        "            raise ImportError(f'No module named {name!r}')\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    out = run_cli("explore", "--no-browser", prelude=block)
    assert out.returncode == 1
    assert "pip install 'nadaraya[explore]'" in out.stderr
    assert "Traceback" not in out.stderr
