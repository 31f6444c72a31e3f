"""`nadaraya explore` in a real browser: headless Debian chromium driven by Selenium.

One server (``nadaraya explore --no-browser --port 0`` as a subprocess) and one
browser serve the whole module; every test loads the page afresh, so it starts
from the page's defaults (a new Bokeh document). Numbers are read back from
the page's BokehJS models and compared with the library computed here.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import nadaraya as nw
from nadaraya.demo import run_chapter

pytest.importorskip("bokeh", reason="needs the explore extra: pip install 'nadaraya[explore]'")
from browser_helpers import chromium  # noqa: E402  (skips this module without chromium and selenium)
from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.support.ui import Select  # noqa: E402

TIMEOUT = 20.0


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app as the user starts it; stopped (SIGTERM) and reaped at the end. Its output goes to a file."""
    log = tmp_path_factory.mktemp("explore-server") / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "nadaraya", "explore", "--no-browser", "--port", "0"],
                                stdout=out, stderr=subprocess.STDOUT, text=True)
    try:
        match = wait_for(lambda: proc.poll() is None and re.search(r"http://127\.0\.0\.1:\d+/", log.read_text()),
                         "the server's address", timeout=60)
        yield match.group(0)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    output = log.read_text()
    assert proc.returncode == 0, f"the server exited with status {proc.returncode}:\n{output}"
    assert "Traceback" not in output and "error" not in output.lower(), f"the server logged errors:\n{output}"


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


def wait_for(predicate, what, timeout=TIMEOUT):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def column(driver, source, name):
    """A column of a named ColumnDataSource on the page, as a float array."""
    values = driver.execute_script(
        "const s = Bokeh.documents[0].get_model_by_name(arguments[0]); return Array.from(s.data[arguments[1]]);",
        source, name)
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def prop(driver, model, name):
    return driver.execute_script("return Bokeh.documents[0].get_model_by_name(arguments[0])[arguments[1]];", model, name)


def widget(driver, model, css):
    """An element inside a Bokeh widget's shadow DOM."""
    return driver.execute_script(
        "const v = Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name(arguments[0]));"
        "return v.el.shadowRoot.querySelector(arguments[1]);", model, css)


def heatmap(driver, source="heat"):
    flat, shape = driver.execute_script(
        "const W = Bokeh.documents[0].get_model_by_name(arguments[0]).data.image[0];"
        "return [Array.from(W), Array.from(W.shape)];", source)
    return np.array([np.nan if v is None else v for v in flat], dtype=float).reshape(shape)


@pytest.fixture
def page(server, browser, tmp_path):
    """The freshly loaded page; ``page.shot(name)`` saves a screenshot under tmp_path."""
    browser.get_log("browser")  # drop what earlier tests logged
    browser.get(server)
    wait_for(lambda: browser.execute_script(
        "return !!(window.Bokeh && Bokeh.documents.length && Bokeh.documents[0].get_model_by_name('fit')"
        " && Bokeh.documents[0].get_model_by_name('fit').data.y.length);"), "the page's first predictions")

    class Page:
        driver = browser

        def shot(self, name):
            path = tmp_path / f"{name}.png"
            browser.save_screenshot(str(path))
            assert path.stat().st_size > 10_000, f"screenshot {path} is (nearly) empty"
            return path

    return Page()


def test_page_loads_without_console_errors(page):
    d = page.driver
    data = nw.make_dataset(50, 0)
    np.testing.assert_array_equal(column(d, "keys", "x"), data.x_train)
    np.testing.assert_array_equal(column(d, "fit", "y"), nw.attention_pool(data.x_test, data.x_train, data.y_train))
    options = prop(d, "kernel", "options")
    assert options == list(nw.KERNELS)
    assert "numpy" in prop(d, "backend", "options")
    time.sleep(0.5)  # let late renders log
    errors = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"console errors: {errors}"
    page.shot("01-loaded")


def test_bandwidth_slider_gives_attention_pool_predictions(page):
    d = page.driver
    data = nw.make_dataset(50, 0)
    before = column(d, "fit", "y")
    handle = widget(d, "bandwidth", ".noUi-handle")
    ActionChains(d).click_and_hold(handle).move_by_offset(-60, 0).release().perform()  # drag to a smaller h
    value = wait_for(lambda: (v := prop(d, "bandwidth", "value")) != 0.0 and v, "the slider to move")
    h = 10.0 ** value
    assert h < 1.0
    expected = nw.attention_pool(data.x_test, data.x_train, data.y_train, bandwidth=h)
    wait_for(lambda: not np.array_equal(column(d, "fit", "y"), before), "new predictions")
    wait_for(lambda: np.array_equal(column(d, "fit", "y"), expected), "the predictions of attention_pool at h", 5)
    np.testing.assert_array_equal(heatmap(d), nw.attention_weights(data.x_test, data.x_train, bandwidth=h))
    np.testing.assert_array_equal(column(d, "current", "h"), [h])
    page.shot("02-bandwidth")


def test_leave_one_out_checkbox_pools_at_the_training_inputs(page):
    d = page.driver
    data = nw.make_dataset(50, 0)
    widget(d, "loo", "input[type=checkbox]").click()
    expected = nw.attention_pool(data.x_train, data.x_train, data.y_train, exclude_self=True)
    wait_for(lambda: np.array_equal(column(d, "fit", "y"), expected), "leave-one-out predictions")
    np.testing.assert_array_equal(column(d, "fit", "x"), data.x_train)
    weights = heatmap(d)
    assert weights.shape == (50, 50) and not np.diag(weights).any()
    page.shot("02-leave-one-out")


def test_hover_highlights_the_querys_weights(page):
    d = page.driver
    data = nw.make_dataset(50, 0)
    canvas = widget(d, "heatmap_plot", ".bk-Canvas") or d.execute_script(
        "return Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name('heatmap_plot')).el;")
    ActionChains(d).move_to_element(canvas).move_by_offset(5, 5).move_by_offset(-3, 0).perform()
    row = wait_for(lambda: (r := column(d, "keys", "row")).size and r[0] >= 0 and int(r[0]), "a highlighted query")
    weights = nw.attention_weights(data.x_test, data.x_train)
    np.testing.assert_array_equal(column(d, "keys", "weight"), weights[row])
    assert prop(d, "query_marker", "location") == data.x_test[row]
    page.shot("03-hover")


def train_on_page(d, kernel, backend):
    Select(widget(d, "kernel", "select")).select_by_value(kernel)
    wait_for(lambda: f"<td>{kernel}</td>" in prop(d, "summary", "text"), f"the {kernel} kernel's numbers")
    Select(widget(d, "backend", "select")).select_by_value(backend)
    wait_for(lambda: prop(d, "backend", "value") == backend, f"the {backend} backend")
    widget(d, "train", "button").click()
    wait_for(lambda: "trained" in prop(d, "status", "text"), "training to finish", timeout=60)
    assert "error" not in prop(d, "status", "text")


def assert_page_has_the_demos_run(d, run):
    np.testing.assert_array_equal(column(d, "loss", "loss"), run.fit.losses)
    np.testing.assert_array_equal(column(d, "w_history", "w"), run.fit.w_history)
    np.testing.assert_array_equal(column(d, "parametric", "y"), run.parametric)
    np.testing.assert_array_equal(heatmap(d, "param_heat"), run.parametric_weights)


def test_kernel_and_training_reproduce_the_demo(page):
    d = page.driver
    train_on_page(d, "laplace", "numpy")
    data = nw.make_dataset(50, 0)
    np.testing.assert_array_equal(column(d, "fit", "y"), nw.attention_pool(data.x_test, data.x_train, data.y_train,
                                                                          kernel="laplace"))
    run = run_chapter(n_train=50, seed=0, epochs=5, lr=0.5, kernel="laplace", backend="numpy", echo=lambda line: None)
    assert_page_has_the_demos_run(d, run)
    page.shot("04-trained")


@pytest.mark.slow  # imports PyTorch in the server and here
def test_training_with_torch_reproduces_the_demo(page):
    d = page.driver
    if "torch" not in prop(d, "backend", "options"):
        pytest.skip("PyTorch is not installed (the torch extra)")
    train_on_page(d, "gaussian", "torch")
    run = run_chapter(n_train=50, seed=0, epochs=5, lr=0.5, kernel="gaussian", backend="torch", echo=lambda line: None)
    assert_page_has_the_demos_run(d, run)
    page.shot("04-trained-torch")


GOOD_CSV = "dose,response\n3.0,1.5\n1.0,0.5\n2.0,2.5\n4.0,2.0\n5.0,1.0\n"
BAD_CSV = "dose,response\n1.0,0.5\n2.0,oops\n3.0,1.5\n"


def upload(d, path):
    widget(d, "upload", "input[type=file]").send_keys(str(path))
    wait_for(lambda: d.execute_script("const m = Bokeh.documents[0].get_model_by_name('upload');"
                                      "return m.properties.filename.is_unset ? null : m.filename;") == path.name,
             f"the upload of {path.name}")


def test_bad_csv_shows_the_error_and_keeps_the_data(page, tmp_path):
    d = page.driver
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(GOOD_CSV)
    bad.write_text(BAD_CSV)
    upload(d, good)
    wait_for(lambda: "good.csv" in prop(d, "status", "text"), "the good file in use")
    np.testing.assert_array_equal(column(d, "keys", "x"), [1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(column(d, "keys", "y"), [0.5, 2.5, 1.5, 2.0, 1.0])
    fit_before = column(d, "fit", "y")
    upload(d, bad)
    status = wait_for(lambda: "error" in (t := prop(d, "status", "text")) and t, "the error message")
    assert "bad.csv, line 3, column &#x27;response&#x27;: &#x27;oops&#x27; is not a number" in status
    shown = d.execute_script("return Bokeh.index.find_one(Bokeh.documents[0].get_model_by_name('status'))"
                             ".el.shadowRoot.textContent;")
    assert "bad.csv, line 3, column 'response': 'oops' is not a number" in shown  # what the user reads
    np.testing.assert_array_equal(column(d, "keys", "x"), [1.0, 2.0, 3.0, 4.0, 5.0])
    np.testing.assert_array_equal(column(d, "fit", "y"), fit_before)
    page.shot("05-bad-csv")
