"""The page's Bokeh figures and the little JavaScript that highlights one query's weights.

Figures only draw columns of named ``ColumnDataSource`` objects that
:mod:`nadaraya.explore.app` fills from :mod:`nadaraya.explore.state`; the
JavaScript only indexes a row of the weight matrix already sent by the
server (it computes no estimate).
"""

from __future__ import annotations

from bokeh import events
from bokeh.models import ColumnDataSource, CustomJS, LinearColorMapper, Range1d, Span
from bokeh.palettes import Reds256
from bokeh.plotting import figure

PALETTE = tuple(reversed(Reds256))  # light for small weights, dark red for large (the book's 'Reds')

#: Shows row ``r`` of a heatmap's weights as marker sizes on the training points.
#: ``how``: "heat" (row under the pointer), "fit" (query nearest the pointer),
#: "pin" (the pinned row: on leaving a plot and after new weights arrive).
HIGHLIGHT_JS = """
const src = how === "pin" ? main : heat;
const W = src.data.image[0];
const q = src.data.queries[0];
if (W == null || q == null) { return; }
const [m, n] = W.shape;
let r = -1;
if (how === "heat") {
  r = Math.floor(cb_obj.y);
} else if (how === "fit") {
  let best = Infinity;
  for (let i = 0; i < q.length; i++) {
    const d = Math.abs(q[i] - cb_obj.x);
    if (d < best) { best = d; r = i; }
  }
} else {
  r = pin.data.row[0];
}
if (!(r >= 0 && r < m)) { r = -1; }
if (pins) { pin.data = {row: [r]}; }
const weight = new Float64Array(n);
const size = new Float64Array(n);
if (r >= 0) {
  let top = 0;
  for (let j = 0; j < n; j++) { weight[j] = W[r * n + j]; if (weight[j] > top) { top = weight[j]; } }
  for (let j = 0; j < n; j++) { size[j] = top > 0 ? 22 * Math.sqrt(weight[j] / top) : 0; }
}
keys.data = {x: keys.data.x, y: keys.data.y, weight: weight, size: size, row: new Float64Array(n).fill(r)};
marker.location = r >= 0 ? q[r] : null;
marker.visible = r >= 0;
"""


def source(name: str, **columns) -> ColumnDataSource:
    return ColumnDataSource(data=columns, name=name)


def fit_figure(sources: dict, marker: Span):
    """Truth, nonparametric and parametric predictions, training points and the highlighted query's weights."""
    p = figure(name="fit_plot", title="Fit: hover or click to see which keys a query attends to", width=520,
               height=420, x_axis_label="x", y_axis_label="y", tools="pan,wheel_zoom,reset,save")
    p.scatter("x", "y", source=sources["keys"], size="size", color="firebrick", alpha=0.35,
              legend_label="attention of the query")
    p.line("x", "y", source=sources["truth"], color="black", line_width=2, legend_label="Truth")
    p.line("x", "y", source=sources["fit"], color="steelblue", line_width=2, legend_label="Pred")
    p.line("x", "y", source=sources["parametric"], color="darkorange", line_width=2, line_dash="dashed",
           legend_label="Pred, learned w")
    p.scatter("x", "y", source=sources["keys"], size=5, color="black", alpha=0.6, legend_label="training points")
    p.add_layout(marker)
    _legend_below(p)
    return p


def _legend_below(p) -> None:
    legend = p.legend[0]
    legend.orientation = "horizontal"
    legend.click_policy = "hide"
    legend.label_text_font_size = "8pt"
    legend.ncols = 3
    p.add_layout(legend, "below")


def heatmap_figure(name: str, title: str, src: ColumnDataSource, mapper: LinearColorMapper):
    """Attention weights (queries × keys) as an image, query 0 at the top like the book's ``show_heatmaps``."""
    p = figure(name=name, title=title, width=380, height=420, x_range=Range1d(0, 1), y_range=Range1d(1, 0),
               x_axis_label="sorted training inputs (keys)", y_axis_label="queries", tools="reset,save")
    p.image(image="image", x=0, y=0, dw="dw", dh="dh", color_mapper=mapper, source=src)
    return p


def error_figure(sources: dict):
    """Leave-one-out and test error over the bandwidth, the current and the optimal bandwidth, average pooling."""
    p = figure(name="error_plot", title="Error against bandwidth", width=520, height=360, x_axis_type="log",
               x_axis_label="bandwidth h (1 / w)", y_axis_label="mean squared error", tools="pan,wheel_zoom,reset,save")
    curve = sources["curve"]
    p.line("h", "loo", source=curve, color="steelblue", line_width=2, legend_label="leave-one-out")
    p.line("h", "test", source=curve, color="black", line_dash="dashed", legend_label="test (vs truth)")
    p.line("h", "average_loo", source=curve, color="grey", legend_label="average pooling, leave-one-out")
    p.line("h", "average_test", source=curve, color="grey", line_dash="dotted", legend_label="average pooling, test")
    p.scatter("h", "loo", source=sources["current"], size=11, color="firebrick", legend_label="current h")
    p.scatter("h", "loo", source=sources["best"], size=15, marker="star", color="green", legend_label="LOO optimum")
    _legend_below(p)
    return p


def training_figures(sources: dict):
    """The book's Animator: loss by epoch, and the learned w by epoch."""
    loss = figure(name="loss_plot", title="Training loss", width=380, height=360, x_axis_label="epoch",
                  y_axis_label="loss", tools="reset,save")
    loss.line("epoch", "loss", source=sources["loss"], color="steelblue", line_width=2)
    loss.scatter("epoch", "loss", source=sources["loss"], color="steelblue", size=6)
    w = figure(name="w_plot", title="Learned w", width=380, height=360, x_axis_label="epoch", y_axis_label="w",
               tools="reset,save")
    w.line("epoch", "w", source=sources["w_history"], color="darkorange", line_width=2)
    w.scatter("epoch", "w", source=sources["w_history"], color="darkorange", size=6)
    return loss, w


def wire_highlight(fit_plot, heat_plot, param_plot, heat, param_heat, keys, pin, marker) -> None:
    """Hover shows a query's weights on the fit plot; a click pins it; leaving a plot goes back to the pin."""

    def js(how, heat_src, pins=False):
        args = dict(how=how, heat=heat_src, main=heat, keys=keys, pin=pin, marker=marker, pins=pins)
        return CustomJS(args=args, code=HIGHLIGHT_JS)

    heat_plot.js_on_event(events.MouseMove, js("heat", heat))
    heat_plot.js_on_event(events.Tap, js("heat", heat, pins=True))
    param_plot.js_on_event(events.MouseMove, js("heat", param_heat))
    fit_plot.js_on_event(events.MouseMove, js("fit", heat))
    fit_plot.js_on_event(events.Tap, js("fit", heat, pins=True))
    for p in (heat_plot, param_plot, fit_plot):
        p.js_on_event(events.MouseLeave, js("pin", heat))
    heat.js_on_change("data", js("pin", heat))
