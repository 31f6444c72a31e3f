"""`nadaraya fit`'s default SVG plot as a browser renders it: every label inside the figure, none overlapping."""

from __future__ import annotations

import numpy as np
import pytest

from browser_helpers import chromium  # skips this module without chromium and selenium
from cli_helpers import run_cli, write_csv

#: Screen boxes of the figure's parts (getBoundingClientRect: after transforms such as the rotated y label).
BOXES_JS = """
const svg = document.documentElement;
if (svg.localName !== "svg") { return {root: svg.localName}; }  // a malformed file shows an error page
const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
const texts = sel => Array.from(svg.querySelectorAll(sel)).map(box);
return {root: svg.localName, figure: box(svg), texts: texts('text'), xticks: texts('g.xticks text'), yticks: texts('g.yticks text'),
        legend: box(svg.querySelector('g.legend')), title: box(svg.querySelector('text.title')),
        ylabel: box(svg.querySelector('text.ylabel')), xlabel: box(svg.querySelector('text.xlabel')),
        curve: Array.from(svg.querySelectorAll('polyline.fit')).map(p => p.getTotalLength()),
        points: svg.querySelectorAll('g.points circle').length};
"""


@pytest.fixture(scope="module")
def browser():
    with chromium(window=(800, 600)) as driver:
        yield driver


def _overlap(a, b, gap=0.0) -> bool:
    """Whether boxes (left, top, right, bottom) overlap or come closer than ``gap`` pixels."""
    return a[0] < b[2] + gap and b[0] < a[2] + gap and a[1] < b[3] + gap and b[1] < a[3] + gap


@pytest.mark.parametrize("x0, span, scale", [(0.0, 5.0, 1.0), (1.7e9, 1000.0, 1e6), (-1090810.37, 0.01, -3e13)],
                         ids=["unit", "timestamps-and-millions", "long-labels-on-both-axes"])
def test_the_default_fit_plot_renders_with_every_label_inside_and_apart(tmp_path, browser, x0, span, scale):
    rng = np.random.default_rng(4)
    x = np.sort(rng.uniform(0.0, 5.0, 400))
    y = np.sin(x) + rng.normal(0.0, 0.3, x.size)
    write_csv(tmp_path / "data.csv", ["time of day", "response (units)"],
              zip((x0 + span * x / 5).tolist(), (scale * y).tolist()))
    res = run_cli("fit", tmp_path / "data.csv", "--x", "time of day", "--y", "response (units)", "--bandwidth", "loo",
                  "--model", tmp_path / "m.npz")
    assert res.returncode == 0, res.stderr
    browser.get((tmp_path / "m.svg").as_uri())
    parts = browser.execute_script(BOXES_JS)
    assert parts["root"] == "svg"
    left, top, right, bottom = parts["figure"]
    assert (right - left, bottom - top) == (560, 400)
    for text in parts["texts"]:
        assert left <= text[0] and text[2] <= right and top <= text[1] and text[3] <= bottom, text
        assert text[2] > text[0] and text[3] > text[1]  # drawn, with a font
    for ticks in (parts["xticks"], parts["yticks"]):
        assert len(ticks) >= 3
        assert not any(_overlap(a, b, gap=4) for i, a in enumerate(ticks) for b in ticks[i + 1:])
    assert not any(_overlap(parts["ylabel"], t) for t in parts["yticks"])
    assert not any(_overlap(parts["xlabel"], t) for t in parts["xticks"])
    assert not _overlap(parts["title"], parts["legend"])
    assert len(parts["curve"]) == 1 and parts["curve"][0] > 300  # the curve spans the plot
    assert parts["points"] == 400
    assert browser.get_log("browser") == []  # no error loading the file
