"""The explore page's callbacks on a plain Bokeh document (no server, no browser): every control path."""

from __future__ import annotations

import base64

import numpy as np
import pytest

import nadaraya as nw

pytest.importorskip("bokeh", reason="needs the explore extra: pip install 'nadaraya[explore]'")

from bokeh.document import Document  # noqa: E402
from bokeh.events import ButtonClick  # noqa: E402

from nadaraya.explore import state  # noqa: E402
from nadaraya.explore.app import Explorer  # noqa: E402


@pytest.fixture
def page():
    return Explorer(Document())


def col(page, source, name):
    return np.asarray(page.sources[source].data[name], dtype=float)


def upload(page, filename, content: bytes):
    page.upload.set_from_json("value", base64.b64encode(content).decode())  # as the browser sends them
    page.upload.set_from_json("filename", filename)


@pytest.mark.parametrize("kernel", list(nw.KERNELS))
@pytest.mark.parametrize("log_h", [-2.0, -0.7, 0.5])
def test_every_kernel_and_bandwidth_draws_attention_pool(page, kernel, log_h):
    page.kernel.value = kernel
    page.bandwidth.value = log_h
    data = nw.make_dataset(50, 0)
    expected = nw.attention_pool(data.x_test, data.x_train, data.y_train, kernel=kernel, bandwidth=10.0**log_h,
                                 on_empty="ignore")
    np.testing.assert_array_equal(col(page, "fit", "y"), expected)
    assert "error" not in page.status.text
    assert f"<td>{kernel}</td>" in page.summary.text


def test_data_controls_make_the_chapters_data(page):
    page.n_train.value = 80
    page.noise.value = 0.2
    page.seed.value = 4
    data = nw.make_dataset(80, 4, noise=0.2)
    np.testing.assert_array_equal(col(page, "keys", "x"), data.x_train)
    np.testing.assert_array_equal(col(page, "keys", "y"), data.y_train)
    np.testing.assert_array_equal(col(page, "truth", "y"), data.y_truth)
    assert page.heat.data["image"][0].shape == (50, 80)


def test_upload_replaces_the_data_and_a_bad_one_keeps_it(page):
    upload(page, "good.csv", b"t,v\n0,1\n2,3\n1,2\n3,1\n")
    assert "using good.csv" in page.status.text and page.n_train.disabled
    np.testing.assert_array_equal(col(page, "keys", "x"), [0.0, 1.0, 2.0, 3.0])
    assert page.fit_plot.xaxis.axis_label == "t" and len(page.sources["truth"].data["x"]) == 0
    lo, hi = np.log10(state.bandwidth_range(page.points))  # starts at the LOO optimum, within the slider
    assert page.bandwidth.value == np.clip(round(np.log10(page.curve.best_bandwidth), 2), lo, hi)
    before = col(page, "fit", "y")
    upload(page, "bad.csv", b"t,v\n0,1\n1\n")
    assert "bad.csv, line 3: expected 2 fields" in page.status.text and "error" in page.status.text
    np.testing.assert_array_equal(col(page, "keys", "x"), [0.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(col(page, "fit", "y"), before)
    page.chapter_button._trigger_event(ButtonClick(page.chapter_button))  # as a click from the browser arrives
    np.testing.assert_array_equal(col(page, "keys", "x"), nw.make_dataset(50, 0).x_train)
    assert not page.n_train.disabled and page.status.text == ""


def test_changing_kernel_clears_the_training_run(page):
    page.sources["loss"].data = dict(epoch=[1], loss=[3.0])
    page.kernel.value = "laplace"
    assert len(page.sources["loss"].data["loss"]) == 0 and page.fit is None
