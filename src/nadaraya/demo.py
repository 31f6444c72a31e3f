"""The chapter "Attention pooling: Nadaraya–Watson kernel regression", end to end.

:func:`run_chapter` computes every number of the chapter (pure arrays, no
files); :func:`write_outputs` draws the figures and writes ``report.html`` and
``summary.json``; :func:`run_demo` does both, all-or-nothing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import plotting
from ._checks import check_positive_float, check_positive_int
from ._output import staged_folder
from .data import Dataset, make_dataset
from .kernels import get_kernel
from .parametric import ParametricFit, fit_parametric
from .pooling import attention_pool, attention_weights, average_pool
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
        truth = self.data.y_truth
        out = {}
        for name, pred in self.predictions().items():
            ok = ~np.isnan(pred)
            out[name] = float(np.mean((pred[ok] - truth[ok]) ** 2)) if ok.any() else float("nan")
        return out

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


#: Back-ends of the demo and the module that provides each.
BACKENDS = {"numpy": None, "torch": "nadaraya.torch", "tensorflow": "nadaraya.tensorflow", "mxnet": "nadaraya.mxnet", "jax": "nadaraya.jax"}


def _numpy_backend():
    from ._framework import ChapterBackend

    def pool(queries, keys, values, kernel, bandwidth):
        args = dict(kernel=kernel, bandwidth=bandwidth, on_empty="ignore")
        return attention_pool(queries, keys, values, **args), attention_weights(queries, keys, **args)

    def fit(x, y, kernel, epochs, lr, w_init, callback):
        result = fit_parametric(x, y, kernel=kernel, epochs=epochs, lr=lr, w_init=w_init, callback=callback)
        return result.w, result.losses

    return ChapterBackend("numpy", pool, fit)


def get_backend(name: str):
    """The demo's adapter for ``name`` (numpy, torch, tensorflow or mxnet).

    Raises ValueError for an unknown name and ImportError naming the extra to
    install when the framework is missing.
    """
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}; got {name!r}")
    if name == "numpy":
        return _numpy_backend()
    import importlib

    return importlib.import_module(BACKENDS[name])._chapter_backend()


def initial_w(seed) -> float:
    """The chapter's initial ``w`` for ``seed``: uniform on [0, 1), from a child of ``SeedSequence(seed)``."""
    return float(np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0]).uniform(0.0, 1.0))


def run_chapter(*, n_train=50, seed=0, epochs=5, lr=0.5, kernel="gaussian", bandwidth=1.0, backend="numpy", echo=None):
    """Compute the chapter: data, average pooling, nonparametric and parametric attention pooling.

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
    data = make_dataset(n_train, seed)
    config = {
        "n_train": data.n_train,
        "seed": seed,
        "epochs": epochs,
        "lr": lr,
        "kernel": kern.name,
        "bandwidth": bandwidth,
        "backend": engine.name,
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
    run = ChapterRun(data, config, average, nonparametric, nonparametric_weights, fit, parametric, parametric_weights)
    with np.printoptions(precision=3, suppress=True, threshold=60, edgeitems=3, linewidth=100):
        echo(f"parametric predictions at the test inputs:\n{parametric}")
        echo(f"parametric attention weights ({m} test inputs x {data.n_train} training inputs):\n{parametric_weights}")
    for name, count in run.undefined().items():
        if count:
            echo(f"note: {count} test inputs have no training input inside the {kern.name} kernel's support; "
                 f"{name} is NaN there and the MSE leaves them out (use a larger bandwidth)")
    echo(_table_text(run))
    return run


def _table_rows(run: ChapterRun):
    mse = run.mse()
    undefined = run.undefined()
    return [
        (name, f"{value:.4f}" + (f" ({undefined[name]} undefined)" if undefined[name] else ""))
        for name, value in mse.items()
    ] + [
        ("learned w", f"{run.fit.w:.6f} (bandwidth {run.fit.bandwidth:.6f})")
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
        ],
    )
    return sorted(folder.iterdir())


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
