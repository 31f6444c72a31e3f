"""The command line's SVG fit plot: read back through its own axes, as a reader of the figure would."""

from __future__ import annotations

import base64
import io
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nadaraya._svgplot import HEIGHT, MAX_MARKERS, WIDTH, fit_plot_svg, nice_ticks, tick_labels

NS = {"s": "http://www.w3.org/2000/svg"}


def _number(label: str) -> float:
    return float(label.replace("\u2212", "-"))


def _axes(root):
    """Pixel -> value maps of both axes, fitted to the tick marks and their printed labels."""
    maps = []
    for axis, attr in (("xticks", "x1"), ("yticks", "y1")):
        group = root.find(f".//s:g[@class='{axis}']", NS)
        pixels = [float(line.get(attr)) for line in group.findall("s:line", NS)]
        values = [_number(text.text) for text in group.findall("s:text", NS)]
        assert len(pixels) == len(values) >= 3
        slope, offset = np.polyfit(pixels, values, 1)
        np.testing.assert_allclose(np.polyval([slope, offset], pixels), values, rtol=0, atol=0.006 * abs(slope))  # 0.01 px
        maps.append(lambda p, s=slope, o=offset: s * np.asarray(p) + o)
    return maps


def _points(element) -> np.ndarray:
    return np.array([[float(v) for v in pair.split(",")] for pair in element.get("points").split()])


@given(lo=st.floats(-1e7, 1e7), span=st.floats(1e-6, 1e8))
def test_ticks_are_round_steps_inside_the_range_with_distinct_labels(lo, span):
    hi = lo + span
    if not hi > lo:
        return
    ticks, decimals = nice_ticks(lo, hi)
    step = ticks[1] - ticks[0]
    assert 3 <= ticks.size <= 9
    rounding = 8 * np.finfo(float).eps * max(abs(lo), abs(hi))  # of tick values, k * step
    assert ticks[0] >= lo - 1e-9 * step - rounding and ticks[-1] <= hi + 1e-9 * step + rounding
    np.testing.assert_allclose(np.diff(ticks), step, rtol=1e-9, atol=rounding)
    mantissa = step / 10.0 ** math.floor(math.log10(step) + 1e-12)
    assert min(abs(mantissa - f) for f in (1, 2, 2.5, 5, 10)) < (1e-9 + rounding / step) * mantissa
    labels = tick_labels(ticks, decimals)
    assert len(set(labels)) == ticks.size
    np.testing.assert_allclose([_number(t) for t in labels], ticks, rtol=0, atol=1e-2 * step + rounding)


def test_the_curve_band_and_points_read_back_through_the_axes():
    rng = np.random.default_rng(1)
    x = rng.uniform(-3.0, 40.0, 300)
    y = 1e3 * np.sin(x / 5) + rng.normal(0, 100, x.size)
    grid = np.linspace(x.min(), x.max(), 200)
    fit = 1e3 * np.sin(grid / 5)
    band = (fit - 150 - grid, fit + 150)
    root = ET.fromstring(fit_plot_svg(grid, fit, band, x, y, title="t", xlabel="x", ylabel="y"))
    assert (root.get("width"), root.get("height")) == (str(WIDTH), str(HEIGHT))
    to_x, to_y = _axes(root)
    (line,) = root.findall(".//s:polyline[@class='fit']", NS)
    px = _points(line)
    resolution = 0.012  # coordinates are written to 0.01 px, and so are the ticks the axes are read from
    np.testing.assert_allclose(to_x(px[:, 0]), grid, atol=resolution * abs(to_x(1) - to_x(0)))
    np.testing.assert_allclose(to_y(px[:, 1]), fit, atol=resolution * abs(to_y(1) - to_y(0)))
    (polygon,) = root.findall(".//s:polygon[@class='band']", NS)
    edge = _points(polygon)
    np.testing.assert_allclose(to_y(edge[:200, 1]), band[0], atol=resolution * abs(to_y(1) - to_y(0)))
    np.testing.assert_allclose(to_y(edge[200:, 1])[::-1], band[1], atol=resolution * abs(to_y(1) - to_y(0)))
    circles = root.findall(".//s:g[@class='points']/s:circle", NS)
    drawn = np.array([[float(c.get("cx")), float(c.get("cy"))] for c in circles])
    np.testing.assert_allclose(to_x(drawn[:, 0]), x, atol=resolution * abs(to_x(1) - to_x(0)))
    np.testing.assert_allclose(to_y(drawn[:, 1]), y, atol=resolution * abs(to_y(1) - to_y(0)))
    legend = [t.text for t in root.findall(".//s:g[@class='legend']/s:text", NS)]
    assert legend == ["fit", "95% band", "data (n = 300)"]


def test_non_finite_values_split_the_curve_and_the_band_and_drop_points():
    grid = np.linspace(0.0, 1.0, 100)
    fit, lo, hi = np.sin(grid), np.sin(grid) - 0.1, np.sin(grid) + 0.1
    fit[40:45] = np.nan
    lo[70] = -np.inf
    x, y = np.array([0.1, 0.5, np.nan, 0.7]), np.array([0.2, np.inf, 0.3, 0.4])
    text = fit_plot_svg(grid, fit, (lo, hi), x, y)
    root = ET.fromstring(text)
    assert [_points(p).shape[0] for p in root.findall(".//s:polyline[@class='fit']", NS)] == [40, 55]
    assert [_points(p).shape[0] for p in root.findall(".//s:polygon[@class='band']", NS)] == [140, 58]
    assert len(root.findall(".//s:g[@class='points']/s:circle", NS)) == 2
    assert "nan" not in text.lower() and "inf" not in text.lower()


@pytest.mark.parametrize("x, y", [(np.full(5, 2.0), np.full(5, -7.0)), (np.arange(5.0), np.zeros(5))],
                         ids=["one-point-repeated", "flat"])
def test_degenerate_data_gets_finite_axes(x, y):
    grid = np.linspace(x.min(), x.max(), 10)
    text = fit_plot_svg(grid, np.full(10, y[0]), None, x, y)
    root = ET.fromstring(text)
    to_x, to_y = _axes(root)
    assert np.isfinite(to_x(0.0)) and np.isfinite(to_y(0.0))
    assert "nan" not in text.lower() and not root.findall(".//s:polygon", NS)


def test_column_names_are_escaped_and_characters_xml_cannot_hold_replaced():
    odd = 'a<b & "c">\u00e9\U0001F600'
    root = ET.fromstring(fit_plot_svg([0, 1], [0, 1], None, [0, 1], [1, 0], title=odd, xlabel=odd,
                                      ylabel="y\x0bz\x00\ufffe"))
    texts = {t.get("class"): t.text for t in root.iter("{http://www.w3.org/2000/svg}text") if t.get("class")}
    assert texts == {"title": odd, "xlabel": odd, "ylabel": "y\ufffdz\ufffd\ufffd"}


@pytest.mark.parametrize("value", [0.3, -2.5e7, 0.0, 1e-300])
def test_constant_up_to_rounding_is_drawn_as_constant(value):
    noise = value * np.finfo(float).eps * np.array([0, 1, -2, 3, 0] * 4)  # a fit's rounding: a few ulps
    root = ET.fromstring(fit_plot_svg(np.arange(20.0), value + noise, None, np.arange(20.0), np.full(20, value)))
    _, to_y = _axes(root)
    labels = [_number(t.text) for t in root.findall(".//s:g[@class='yticks']/s:text", NS)]
    assert len(set(labels)) == len(labels) >= 3
    assert max(labels) - min(labels) >= 0.05 * max(abs(value), 1e-3) or max(labels) - min(labels) >= 0.5
    line = _points(root.find(".//s:polyline[@class='fit']", NS))
    assert np.ptp(line[:, 1]) < 0.02  # a flat line, not rounding noise blown up to the plot's height


def test_values_spanning_more_than_float64_are_refused():
    with pytest.raises(ValueError, match="span more than float64"):
        fit_plot_svg([0, 1], [-1.7e308, 1.7e308], None, [0, 1], [0, 1])


def test_many_points_are_one_image_of_the_same_circles():
    Image = pytest.importorskip("PIL.Image")  # Pillow comes with matplotlib
    rng = np.random.default_rng(2)
    n = MAX_MARKERS + 1
    x = np.concatenate([rng.uniform(0.0, 0.1, n - 1), [1.0]])  # points at the left and one at the far right
    y = np.concatenate([rng.uniform(0.0, 1.0, n - 1), [1.0]])
    text = fit_plot_svg([0.0, 1.0], [0.5, 0.5], None, x, y)
    assert len(text) < 200_000
    root = ET.fromstring(text)
    assert not root.findall(".//s:circle", NS)[1:]  # the legend's marker only
    (image,) = root.findall(".//s:image", NS)
    data = image.get("href").removeprefix("data:image/png;base64,")
    picture = Image.open(io.BytesIO(base64.b64decode(data)))
    picture.load()
    alpha = np.asarray(picture.convert("RGBA"))[..., 3]
    assert alpha.shape[1] == round(2 * float(image.get("width"))) and alpha.shape[0] == round(2 * float(image.get("height")))
    to_x, to_y = _axes(root)
    x0, y0 = float(image.get("x")), float(image.get("y"))

    def box(xa, xb, ya, yb):  # the image's pixels over data x in [xa, xb], y in [ya, yb]
        px = [(np.interp(v, to_x([0.0, WIDTH]), [0.0, WIDTH]) - x0) * 2 for v in (xa, xb)]
        py = sorted((np.interp(v, to_y([HEIGHT, 0.0]), [HEIGHT, 0.0]) - y0) * 2 for v in (ya, yb))
        return alpha[int(py[0]):int(py[1]), int(px[0]):int(px[1])]

    assert box(0.01, 0.09, 0.1, 0.9).min() > 0.9 * 255  # ~30 points' discs on each pixel: opaque
    assert box(0.2, 0.95, -0.05, 1.05).max() == 0  # nothing between
    assert box(0.98, 1.02, 0.98, 1.02).max() > 0  # the lone point at the top right
