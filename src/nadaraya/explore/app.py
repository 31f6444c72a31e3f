"""The explore page: controls, figures and the callbacks that refill them from :mod:`nadaraya.explore.state`.

One :class:`Explorer` per browser tab (Bokeh document); it holds that tab's
data and last training run, and nothing is shared between tabs.
"""

from __future__ import annotations

import base64
import binascii
import html
import threading
import time
from functools import partial

import numpy as np
from bokeh.core.property.descriptors import UnsetValueError
from bokeh.layouts import column, row
from bokeh.models import (Button, Checkbox, CustomJSTickFormatter, Div, FileInput, LinearColorMapper, Select, Slider,
                          Span, Spinner, TextInput)

from ..kernels import KERNELS
from . import figures, state

#: Longest pause between two epochs of the training animation (seconds), so each step can be seen.
EPOCH_PAUSE = 0.25


def _nan_to_none(x) -> float | None:
    return None if not np.isfinite(x) else float(x)


class Explorer:
    """The widgets, sources and callbacks of one page."""

    def __init__(self, doc):
        self.doc = doc
        self.points = state.chapter_points()
        self.generation = 0  # bumped when the data or kernel change: a training run of older ones is dropped
        self.fit = None
        self._quiet = False
        s = figures.source
        self.sources = {
            "keys": s("keys", x=[], y=[], weight=[], size=[], row=[]),
            "truth": s("truth", x=[], y=[]),
            "fit": s("fit", x=[], y=[]),
            "parametric": s("parametric", x=[], y=[]),
            "curve": s("curve", h=[], loo=[], test=[], average_loo=[], average_test=[]),
            "current": s("current", h=[], loo=[]),
            "best": s("best", h=[], loo=[]),
            "loss": s("loss", epoch=[], loss=[]),
            "w_history": s("w_history", epoch=[], w=[]),
        }
        self.heat = s("heat", image=[], dw=[], dh=[], queries=[])
        self.param_heat = s("param_heat", image=[], dw=[], dh=[], queries=[])
        self.pin = s("pin", row=[-1])
        self.mapper = LinearColorMapper(palette=figures.PALETTE, low=0, high=1, nan_color="lightgrey")
        self.param_mapper = LinearColorMapper(palette=figures.PALETTE, low=0, high=1, nan_color="lightgrey")
        self._widgets()
        self._figures()
        self.new_data()
        doc.title = "nadaraya explore"
        doc.add_root(self.layout())

    # ---- construction ------------------------------------------------------------------------------------------

    def _widgets(self):
        lo, hi = state.bandwidth_range(self.points)
        fmt = CustomJSTickFormatter(code="return Math.pow(10, tick).toPrecision(3)")  # the slider moves log10 h
        self.bandwidth = Slider(name="bandwidth", title="bandwidth h", start=np.log10(lo), end=np.log10(hi),
                                value=0.0, step=0.01, format=fmt, width=300)
        self.kernel = Select(name="kernel", title="kernel", value="gaussian", options=list(KERNELS), width=140)
        self.loo = Checkbox(name="loo", label="leave-one-out (queries are the training inputs, each ignoring its own key)",
                            active=False)
        self.n_train = Slider(name="n_train", title="training points", start=3, end=500, value=50, step=1, width=300)
        self.noise = Slider(name="noise", title="noise (standard deviation)", start=0.0, end=2.0, value=0.5, step=0.05,
                            width=300)
        self.seed = Spinner(name="seed", title="seed", low=0, step=1, value=0, mode="int", width=90)
        self.lr = Spinner(name="lr", title="learning rate", low=1e-6, step=0.1, value=0.5, mode="float", width=110)
        self.epochs = Spinner(name="epochs", title="epochs", low=1, high=500, step=1, value=5, mode="int", width=90)
        backends = state.available_backends()
        self.backend = Select(name="backend", title="backend", value="numpy", options=backends, width=120)
        self.train_button = Button(name="train", label="train w (SGD)", button_type="primary", width=130)
        self.upload = FileInput(name="upload", accept=".csv,text/csv", width=260, title="use my data (CSV)")
        self.x_column = TextInput(name="x_column", title="x column", width=130)
        self.y_column = TextInput(name="y_column", title="y column", width=130)
        self.chapter_button = Button(name="chapter_data", label="back to the chapter's data", width=200)
        self.status = Div(name="status", text="", width=900)
        self.summary = Div(name="summary", text="", width=900)
        for widget, callback in ((self.bandwidth, self.on_pooling), (self.loo, self.on_pooling),
                                 (self.kernel, self.on_kernel), (self.n_train, self.on_chapter_data),
                                 (self.noise, self.on_chapter_data), (self.seed, self.on_seed)):
            prop = "active" if widget is self.loo else "value"
            widget.on_change(prop, lambda attr, old, new, cb=callback: self._guarded(cb))
        self._last_upload = None
        for attr in ("value", "filename"):  # the browser sends both; whichever arrives second reads the file
            self.upload.on_change(attr, lambda attr, old, new: self._guarded(self.on_upload))
        self.train_button.on_click(lambda: self._guarded(self.on_train))
        self.chapter_button.on_click(lambda: self._guarded(self.on_chapter_data))

    def _figures(self):
        self.marker = Span(name="query_marker", dimension="height", location=0, visible=False,
                           line_color="firebrick", line_dash="dotted", line_width=2)
        self.fit_plot = figures.fit_figure(self.sources, self.marker)
        self.heat_plot = figures.heatmap_figure("heatmap_plot", "Attention weights, nonparametric", self.heat,
                                                self.mapper)
        self.param_plot = figures.heatmap_figure("param_heatmap_plot", "Attention weights, learned w",
                                                 self.param_heat, self.param_mapper)
        self.error_plot = figures.error_figure(self.sources)
        self.loss_plot, self.w_plot = figures.training_figures(self.sources)
        figures.wire_highlight(self.fit_plot, self.heat_plot, self.param_plot, self.heat, self.param_heat,
                               self.sources["keys"], self.pin, self.marker)

    def layout(self):
        return column(
            Div(text="<h2>Attention pooling: Nadaraya&ndash;Watson kernel regression</h2>"),
            row(self.kernel, self.bandwidth, self.loo),
            row(self.n_train, self.noise, self.seed),
            row(self.upload, self.x_column, self.y_column, self.chapter_button),
            row(self.lr, self.epochs, self.backend, self.train_button),
            self.status,
            row(self.fit_plot, self.heat_plot, self.param_plot),
            row(self.error_plot, self.loss_plot, self.w_plot),
            self.summary,
            name="explore",
        )

    # ---- callbacks -------------------------------------------------------------------------------------------

    def _guarded(self, callback):
        """Run a callback; bad input shows its message and leaves the page as it was."""
        if self._quiet:  # a widget set by another callback, which redraws once at its end
            return
        try:
            callback()
        except (ValueError, TypeError, ImportError) as exc:
            self.show_status(str(exc), error=True)

    def show_status(self, text: str, *, error: bool = False) -> None:
        colour = "#b00020" if error else "#1b5e20"
        css = "error" if error else "info"
        self.status.text = f'<div class="{css}" style="color:{colour}">{html.escape(text)}</div>' if text else ""

    @property
    def h(self) -> float:
        return 10.0 ** self.bandwidth.value

    def on_pooling(self):
        view = state.pooling_view(self.points, self.kernel.value, self.h, bool(self.loo.active))
        p = self.points  # the highlighted query's weights follow in the browser, from the new heatmap
        self.sources["fit"].data = dict(x=view.queries, y=view.predictions)
        self._set_heatmap(self.heat, self.heat_plot, self.mapper, view.weights, view.queries)
        loo_now = state.loo_mse(p, self.kernel.value, self.h)
        self.sources["current"].data = dict(h=[self.h], loo=[_nan_to_none(loo_now)])
        self.heat_plot.title.text = (f"Attention weights, nonparametric, h = {self.h:.4g}"
                                     + (" (leave-one-out)" if view.leave_one_out else ""))
        self._summary(view, loo_now)

    def _set_heatmap(self, src, plot, mapper, weights, queries):
        m, n = weights.shape
        plot.x_range.end, plot.y_range.start = n, m
        top = np.nanmax(weights) if np.isfinite(weights).any() else 1.0
        mapper.high = float(top) if top > 0 else 1.0
        src.data = dict(image=[weights], dw=[n], dh=[m], queries=[np.asarray(queries, dtype=float)])

    def _summary(self, view, loo_now):
        c, p = self.curve, self.points
        rows = [("data", p.label), ("kernel", self.kernel.value), ("bandwidth h", f"{self.h:.6g} (w = {1 / self.h:.6g})"),
                ("leave-one-out MSE at h", f"{loo_now:.6g}"),
                ("leave-one-out optimum", f"h = {c.best_bandwidth:.6g}, MSE {c.best_loo:.6g}"),
                ("average pooling, leave-one-out MSE", f"{c.average_loo:.6g}")]
        if p.y_truth is not None:
            test_now = state.truth_mse(p, self.sources["fit"].data["y"]) if not view.leave_one_out else float("nan")
            rows += [("test MSE, nonparametric at h", f"{test_now:.6g}" if not view.leave_one_out
                      else "(turn leave-one-out off: it predicts at the training inputs)"),
                     ("test MSE, average pooling", f"{c.average_test:.6g}")]
        if view.undefined:
            rows.append(("undefined predictions", f"{view.undefined} queries have no key inside the kernel's support"))
        if self.fit is not None:
            fit = self.fit
            rows += [("learned w", f"{fit.w:.6g} (h = {fit.bandwidth:.6g}) after {fit.losses.size} epochs"),
                     ("final training loss", f"{fit.losses[-1]:.6g}")]
            if p.y_truth is not None:
                rows.append(("test MSE, parametric", f"{state.truth_mse(p, self.sources['parametric'].data['y']):.6g}"))
        cells = "".join(f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(a)}</th>"
                        f"<td>{html.escape(b)}</td></tr>" for a, b in rows)
        self.summary.text = f"<table>{cells}</table>"

    def new_data(self, curve=None):
        """The data or the kernel changed: recompute the error curve (unless given), clear training, redraw."""
        self.generation += 1
        self.fit = None
        p = self.points
        self.curve = c = state.error_curve(p, self.kernel.value) if curve is None else curve
        g = c.bandwidths.size
        self.sources["curve"].data = dict(h=c.bandwidths, loo=c.loo, test=c.test, average_loo=np.full(g, c.average_loo),
                                          average_test=np.full(g, c.average_test))
        best = [] if not np.isfinite(c.best_bandwidth) else [c.best_bandwidth]
        self.sources["best"].data = dict(h=best, loo=[c.best_loo] if best else [])
        self.sources["truth"].data = dict(x=p.x_test if p.y_truth is not None else [],
                                          y=p.y_truth if p.y_truth is not None else [])
        for name in ("parametric", "loss", "w_history"):
            self.sources[name].data = {k: [] for k in self.sources[name].data}
        self.param_heat.data = dict(image=[], dw=[], dh=[], queries=[])
        self.fit_plot.xaxis.axis_label, self.fit_plot.yaxis.axis_label = p.x_name, p.y_name
        n = p.n_train
        self.sources["keys"].data = dict(x=p.x_train, y=p.y_train, weight=np.zeros(n), size=np.zeros(n),
                                         row=np.full(n, -1.0))
        self.on_pooling()

    def on_kernel(self):
        self.new_data()

    def on_seed(self):
        if self.points.y_truth is not None:  # the chapter's data depend on the seed; uploaded data do not
            self.on_chapter_data()
        else:
            self.new_data()

    def on_chapter_data(self):
        self.points = state.chapter_points(int(self.n_train.value), float(self.noise.value), int(self.seed.value))
        self._set_range(self.bandwidth.value)
        self.n_train.disabled = self.noise.disabled = False
        self.show_status("")
        self.new_data()

    def _set_range(self, log_h):
        """Fit the slider to the data's bandwidth range, with its value at ``log_h`` (clipped, on the slider's step)."""
        lo, hi = np.log10(state.bandwidth_range(self.points))
        value = float(np.clip(round(float(log_h), 2), lo, hi))
        self._quiet = True
        try:
            self.bandwidth.update(start=float(lo), end=float(hi), value=value)
        finally:
            self._quiet = False

    def on_upload(self):
        try:
            upload = (self.upload.filename, self.upload.value)
        except UnsetValueError:  # the other half has not arrived yet
            return
        if upload == self._last_upload:
            return
        self._last_upload = upload
        try:
            content = base64.b64decode(self.upload.value, validate=True)
        except (binascii.Error, TypeError):
            raise ValueError(f"{self.upload.filename}: the upload arrived damaged; choose the file again") from None
        points = state.csv_points(content, self.upload.filename, self.x_column.value, self.y_column.value)
        curve = state.error_curve(points, self.kernel.value)
        self.points = points
        start = np.log10(curve.best_bandwidth) if np.isfinite(curve.best_bandwidth) else np.mean(
            np.log10(state.bandwidth_range(points)))
        self._set_range(start)  # uploaded data start at their leave-one-out bandwidth
        self.n_train.disabled = self.noise.disabled = True
        self.show_status(f"using {points.label}")
        self.new_data(curve)

    # ---- training --------------------------------------------------------------------------------------------

    def on_train(self):
        kernel, points, generation = self.kernel.value, self.points, self.generation
        epochs, lr, seed, backend = int(self.epochs.value), float(self.lr.value), int(self.seed.value), self.backend.value
        for name in ("loss", "w_history"):
            self.sources[name].data = {k: [] for k in self.sources[name].data}
        self.train_button.disabled = True
        self.show_status(f"training w with {backend}: {epochs} epochs, lr {lr:g}")
        pause = min(EPOCH_PAUSE, 2.0 / epochs)

        def on_epoch(epoch, loss, w):
            pred, weights = state.parametric_pooling(points, kernel, w, backend)
            self.doc.add_next_tick_callback(partial(self._show_epoch, generation, epoch, loss, w, pred, weights))
            time.sleep(pause)

        def run():
            try:
                fit = state.train(points, kernel, epochs=epochs, lr=lr, seed=seed, backend=backend, callback=on_epoch)
            except Exception as exc:  # shown on the page; the server keeps running
                self.doc.add_next_tick_callback(partial(self._train_failed, f"{type(exc).__name__}: {exc}"))
                return
            self.doc.add_next_tick_callback(partial(self._train_done, generation, fit))

        self.sources["w_history"].data = dict(epoch=[0], w=[state.demo.initial_w(seed)])
        threading.Thread(target=run, name="nadaraya-explore-train", daemon=True).start()

    def _show_epoch(self, generation, epoch, loss, w, pred, weights):
        if generation != self.generation:
            return
        self.sources["loss"].stream(dict(epoch=[epoch], loss=[loss]))
        self.sources["w_history"].stream(dict(epoch=[epoch], w=[w]))
        self.sources["parametric"].data = dict(x=self.points.x_test, y=pred)
        self._set_heatmap(self.param_heat, self.param_plot, self.param_mapper, weights, self.points.x_test)
        self.param_plot.title.text = f"Attention weights, w = {w:.4g} (epoch {epoch})"

    def _train_done(self, generation, fit):
        self.train_button.disabled = False
        if generation != self.generation:
            self.show_status("the data or kernel changed during training; train again", error=True)
            return
        self.fit = fit
        self.show_status(f"trained: w = {fit.w:.6g} (h = {fit.bandwidth:.6g}), final loss {fit.losses[-1]:.6g}")
        self.on_pooling()

    def _train_failed(self, message):
        self.train_button.disabled = False
        self.show_status(f"training failed: {message}", error=True)


def build_document(doc) -> None:
    """Bokeh's ``FunctionHandler`` entry: fill a new document with the page."""
    Explorer(doc)
