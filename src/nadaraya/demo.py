"""The chapter "Attention pooling: Nadaraya–Watson kernel regression", end to end.

:func:`run_chapter` computes every number of the chapter (pure arrays, no
files), including the newer edition's "Attention pooling by similarity"
comparisons (four kernels, four Gaussian widths; see :mod:`nadaraya._similarity`);
:func:`write_outputs` draws the figures and writes ``report.html`` and
``summary.json``; :func:`run_demo` does both, all-or-nothing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import plotting
from ._similarity import (BOOK_KERNELS, BOOK_WIDTHS, SIMILARITY_TEXT, Comparison, check_kernels, check_widths, compare,
                          kernel_title, masked_mse, width_title)
from ._checks import check_positive_float, check_positive_int
from ._output import staged_folder
from .data import Dataset, make_dataset
from .kernels import get_kernel
from .parametric import ParametricFit
from ._backends import BACKENDS, get_backend, initial_w  # noqa: F401  (demo.BACKENDS etc. are public)
from .pooling import average_pool
from .report import write_report

__all__ = ["ChapterRun", "run_chapter", "write_outputs", "run_demo", "FIGURES"]

log = logging.getLogger(__name__)

#: Files the demo writes, with captions.
FIGURES = {
    "fit_average.png": "Average pooling",
    "fit_nonparametric.png": "Nonparametric attention pooling",
    "fit_parametric.png": "Parametric attention pooling (learned w)",
    "heatmap_nonparametric.png": "Attention weights, nonparametric",
    "heatmap_parametric.png": "Attention weights, parametric",
    "loss.png": "Training loss by epoch",
    "kernels.png": "Kernels K(u)",
    "fit_kernels.png": "Attention pooling with each kernel",
    "heatmap_kernels.png": "Attention weights with each kernel",
    "fit_widths.png": "Gaussian attention pooling with each width",
    "heatmap_widths.png": "Attention weights with each Gaussian width",
}


@dataclass(frozen=True)
class ChapterRun:
    """Every number of one run of the chapter."""

    data: Dataset
    config: dict
    average: np.ndarray
    nonparametric: np.ndarray
    nonparametric_weights: np.ndarray
    fit: ParametricFit
    parametric: np.ndarray
    parametric_weights: np.ndarray
    by_kernel: list[Comparison] = field(default_factory=list)
    by_width: list[Comparison] = field(default_factory=list)

    def predictions(self) -> dict:
        return {
            "average pooling": self.average,
            "nonparametric attention pooling": self.nonparametric,
            "parametric attention pooling": self.parametric,
        }

    def undefined(self) -> dict:
        """Number of test inputs without an estimate (no key inside a compact kernel's support)."""
        return {name: int(np.isnan(pred).sum()) for name, pred in self.predictions().items()}

    def mse(self) -> dict:
        """Test mean squared error against the noise-free truth, per estimator, over defined predictions."""
        return {name: masked_mse(pred, self.data.y_truth) for name, pred in self.predictions().items()}

    def comparisons(self) -> dict:
        """The "attention pooling by similarity" rows: ``{"kernels": [...], "widths": [...]}``."""
        return {"kernels": self.by_kernel, "widths": self.by_width}

    def summary(self) -> dict:
        """A JSON-ready dict of every number the run printed."""
        d = self.data
        return {
            "config": self.config,
            "data": {
                "x_train": d.x_train.tolist(),
                "y_train": d.y_train.tolist(),
                "x_test": d.x_test.tolist(),
                "y_truth": d.y_truth.tolist(),
            },
            "average_pooling": {"predictions": self.average.tolist()},
            "nonparametric": {
                "bandwidth": self.config["bandwidth"],
                "predictions": _jsonable(self.nonparametric),
                "attention_weights": _jsonable(self.nonparametric_weights),
            },
            "parametric": {
                "w_init": self.fit.w_init,
                "w": self.fit.w,
                "bandwidth": self.fit.bandwidth,
                "losses": self.fit.losses.tolist(),
                "w_history": self.fit.w_history.tolist(),
                "predictions": _jsonable(self.parametric),
                "attention_weights": _jsonable(self.parametric_weights),
            },
            "test_mse": _jsonable(self.mse()),
            "undefined_predictions": self.undefined(),
            "similarity": {
                group: [
                    {
                        "kernel": c.kernel,
                        "bandwidth": c.bandwidth,
                        "test_mse": _jsonable(c.mse(d.y_truth)),
                        "undefined_predictions": c.undefined(),
                        "predictions": _jsonable(c.predictions),
                        "attention_weights": _jsonable(c.weights),
                    }
                    for c in rows
                ]
                for group, rows in self.comparisons().items()
            },
        }


def _jsonable(x):
    """Arrays and dicts of floats with NaN replaced by None (JSON has no NaN)."""
    if isinstance(x, dict):
        return {k: _jsonable(v) for k, v in x.items()}
    a = np.asarray(x, dtype=float)
    obj = a.astype(object)
    obj[np.isnan(a)] = None
    return obj.tolist()


def _echo_default(line: str) -> None:
    log.info("%s", line)


def run_chapter(*, n_train=50, seed=0, epochs=5, lr=0.5, kernel="gaussian", bandwidth=1.0, backend="numpy",
                kernels=BOOK_KERNELS, widths=BOOK_WIDTHS, echo=None):
    """Compute the chapter: data, average pooling, nonparametric and parametric attention pooling.

    Then the newer edition's "attention pooling by similarity": the test
    inputs pooled with each of ``kernels`` at ``bandwidth``, and with the
    Gaussian at each of ``widths``.

    Parameters
    ----------
    n_train : int, default 50
        Number of training pairs (the chapter's first exercise).
    seed : int, default 0
        Seeds the data (``make_dataset(n_train, seed)``) and, through a child
        of ``numpy.random.SeedSequence(seed)``, the initial ``w``.
    epochs : int, default 5
    lr : float, default 0.5
    kernel : str, default "gaussian"
        Kernel of both attention poolings.
    bandwidth : float, default 1.0
        Bandwidth of the nonparametric pooling (the chapter's w = 1).
    backend : {"numpy", "torch", "tensorflow", "mxnet"}, default "numpy"
        Framework that computes the poolings and the training; data, plots and
        report are shared.
    kernels : sequence of str, default ("gaussian", "boxcar", "constant", "triangular")
        Kernels of the similarity comparison: the book's four (its
        "Epanechikov", max(1 - |x|, 0), is the triangular kernel).
    widths : sequence of float, default (0.1, 0.2, 0.5, 1.0)
        Gaussian widths of the comparison. The book's width sigma enters as
        exp(-x**2 / (2 sigma**2)), so it is the bandwidth h = sigma (w = 1 / sigma).
    echo : callable, optional
        Receives each line of progress (the CLI passes ``print``); default: logging.

    Returns
    -------
    ChapterRun
    """
    echo = _echo_default if echo is None else echo
    engine = get_backend(backend)
    kern = get_kernel(kernel)
    bandwidth = check_positive_float(bandwidth, "bandwidth")
    epochs = check_positive_int(epochs, "epochs")
    lr = check_positive_float(lr, "lr")
    kernels = check_kernels(kernels)
    widths = check_widths(widths)
    data = make_dataset(n_train, seed)
    config = {
        "n_train": data.n_train,
        "seed": seed,
        "epochs": epochs,
        "lr": lr,
        "kernel": kern.name,
        "bandwidth": bandwidth,
        "backend": engine.name,
        "kernels": list(kernels),
        "widths": list(widths),
        "loss": "sum over training examples of (f(x_j) - y_j)^2, leave-one-out",
    }
    echo(f"data: {data.n_train} training pairs x ~ U[0, 5), y = 2 sin(x) + x^0.8 + N(0, 0.5^2); "
         f"{data.x_test.size} test inputs; seed {seed}")
    m = data.x_test.shape[0]
    average = average_pool(data.y_train, m)
    nonparametric, nonparametric_weights = engine.pool(data.x_test, data.x_train, data.y_train, kern, bandwidth)

    w_init = initial_w(seed)
    echo(
        f"training w by SGD ({engine.name}): w0 {w_init:.6f}, lr {lr:g}, {epochs} epochs, "
        f"leave-one-out keys, kernel {kern.name}"
    )
    fit = engine.fit_parametric(
        data.x_train,
        data.y_train,
        kernel=kern,
        epochs=epochs,
        lr=lr,
        w_init=w_init,
        callback=lambda epoch, loss, w: echo(f"epoch {epoch}, loss {loss:.6f}, w {w:.6f}"),
    )
    parametric, parametric_weights = engine.pool(data.x_test, data.x_train, data.y_train, kern, fit.bandwidth)
    by_kernel, by_width = compare(engine.pool, data, kernels=kernels, bandwidth=bandwidth, widths=widths)
    run = ChapterRun(data, config, average, nonparametric, nonparametric_weights, fit, parametric, parametric_weights,
                     by_kernel, by_width)
    with np.printoptions(precision=3, suppress=True, threshold=60, edgeitems=3, linewidth=100):
        echo(f"parametric predictions at the test inputs:\n{parametric}")
        echo(f"parametric attention weights ({m} test inputs x {data.n_train} training inputs):\n{parametric_weights}")
    for name, count in run.undefined().items():
        if count:
            echo(f"note: {count} test inputs have no training input inside the {kern.name} kernel's support; "
                 f"{name} is NaN there and the MSE leaves them out (use a larger bandwidth)")
    for c in run.by_kernel + run.by_width:
        if c.undefined():
            echo(f"note: {c.undefined()} test inputs have no training input inside the support of {c.label}; "
                 f"the MSE leaves them out")
    echo(_table_text(run))
    return run


def _mse_cell(value: float, undefined: int) -> str:
    return f"{value:.4f}" + (f" ({undefined} undefined)" if undefined else "")


def _table_rows(run: ChapterRun):
    mse = run.mse()
    undefined = run.undefined()
    return (
        [(name, _mse_cell(value, undefined[name])) for name, value in mse.items()]
        + [("learned w", f"{run.fit.w:.6f} (bandwidth {run.fit.bandwidth:.6f})")]
        + _similarity_rows(run)
    )


def _similarity_rows(run: ChapterRun):
    truth = run.data.y_truth
    return [(kernel_title(c), _mse_cell(c.mse(truth), c.undefined())) for c in run.by_kernel] + [
        (width_title(c), _mse_cell(c.mse(truth), c.undefined())) for c in run.by_width
    ]


def _table_text(run: ChapterRun) -> str:
    rows = [("estimator", "test MSE")] + _table_rows(run)
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{a:<{width}}  {b}" for a, b in rows)


def write_outputs(run: ChapterRun, folder) -> list[Path]:
    """Draw the figures and write ``report.html`` and ``summary.json`` into ``folder``."""
    folder = Path(folder)
    d = run.data
    fits = {
        "fit_average.png": run.average,
        "fit_nonparametric.png": run.nonparametric,
        "fit_parametric.png": run.parametric,
    }
    for name, pred in fits.items():
        ax = plotting.plot_kernel_reg(d.x_test, d.y_truth, pred, d.x_train, d.y_train, title=FIGURES[name])
        plotting.save_figure(ax, folder / name)
    for name, weights in (
        ("heatmap_nonparametric.png", run.nonparametric_weights),
        ("heatmap_parametric.png", run.parametric_weights),
    ):
        axes = plotting.show_heatmaps(
            weights[None, None],
            xlabel="Sorted training inputs",
            ylabel="Sorted testing inputs",
            titles=[FIGURES[name]],
        )
        plotting.save_figure(axes, folder / name)
    plotting.save_figure(plotting.plot_loss(run.fit.losses), folder / "loss.png")
    _draw_similarity(run, folder)
    (folder / "summary.json").write_text(json.dumps(run.summary(), indent=1, allow_nan=False), encoding="utf-8")
    cfg = run.config
    write_report(
        folder / "report.html",
        title="Attention pooling: Nadaraya–Watson kernel regression",
        sections=[
            {
                "heading": "Run",
                "text": ", ".join(f"{k} = {v}" for k, v in cfg.items()),
                "table": (("estimator", "test MSE"), _table_rows(run)),
            },
            {
                "heading": "Predictions",
                "figures": [(folder / n, FIGURES[n]) for n in fits],
            },
            {
                "heading": "Attention weights",
                "figures": [(folder / n, FIGURES[n]) for n in ("heatmap_nonparametric.png", "heatmap_parametric.png")],
            },
            {
                "heading": "Training",
                "pre": "\n".join(
                    f"epoch {i + 1}, loss {loss:.6f}, w {w:.6f}"
                    for i, (loss, w) in enumerate(zip(run.fit.losses, run.fit.w_history[1:]))
                ),
                "figures": [(folder / "loss.png", FIGURES["loss.png"])],
            },
            {
                "heading": "Attention pooling by similarity",
                "text": SIMILARITY_TEXT,
                "table": (("kernel or width", "test MSE"), _similarity_rows(run)),
                "figures": [(folder / n, FIGURES[n]) for n in _SIMILARITY_FIGURES],
            },
        ],
    )
    return sorted(folder.iterdir())


_SIMILARITY_FIGURES = ("kernels.png", "fit_kernels.png", "heatmap_kernels.png", "fit_widths.png", "heatmap_widths.png")


def _draw_similarity(run: ChapterRun, folder: Path) -> None:
    """kernels.png and the fit and heatmap rows for the kernel and the width comparisons."""
    d = run.data
    plotting.save_figure(plotting.plot_kernels([c.kernel for c in run.by_kernel]), folder / "kernels.png")
    for group, rows, title in (("kernels", run.by_kernel, kernel_title), ("widths", run.by_width, width_title)):
        preds = {title(c): c.predictions for c in rows}
        plotting.save_figure(plotting.plot_fits(d.x_test, d.y_truth, preds, d.x_train, d.y_train),
                             folder / f"fit_{group}.png")
        axes = plotting.show_heatmaps(
            np.stack([c.weights for c in rows])[None],
            xlabel="Sorted training inputs",
            ylabel="Sorted testing inputs",
            titles=list(preds),
        )
        plotting.save_figure(axes, folder / f"heatmap_{group}.png")


def run_demo(out="nadaraya-demo", *, echo=None, **options):
    """Run the chapter and write its figures, ``report.html`` and ``summary.json`` into ``out``.

    Takes the keyword arguments of :func:`run_chapter`. Nothing is left in
    ``out`` if any step fails.

    Returns
    -------
    ChapterRun
    """
    out = Path(out)
    with staged_folder(out, name="out") as stage:
        run = run_chapter(echo=echo, **options)
        write_outputs(run, stage)
    (echo or _echo_default)(f"figures, report.html and summary.json written to {out}")
    return run
