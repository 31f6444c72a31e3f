"""What the explore page shows, as numbers: controls in, arrays out, no Bokeh.

Every number comes from the library itself: the data from
:func:`nadaraya.make_dataset` or :func:`nadaraya.data.read_csv` (the CLI's
reader), the predictions and weights from :func:`nadaraya.attention_pool` and
:func:`nadaraya.attention_weights`, the error curve from
:func:`nadaraya.bandwidth.loo_objective` and
:func:`nadaraya.bandwidth.search_bandwidth`, and the training from the demo's
back-ends (:func:`nadaraya.fit_parametric` or a framework's ``train``). This
module only chooses their arguments, so it is tested with plain pytest and the
page (:mod:`nadaraya.explore.app`) only draws what it returns.
"""

from __future__ import annotations

import importlib.util
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import demo
from ..bandwidth import loo_objective, search_bandwidth
from ..data import make_dataset, read_csv
from ..kernels import get_kernel
from ..pooling import attention_pool, attention_weights

__all__ = [
    "MAX_ROWS",
    "ErrorCurve",
    "Points",
    "PoolingView",
    "available_backends",
    "bandwidth_range",
    "chapter_points",
    "csv_points",
    "error_curve",
    "loo_mse",
    "parametric_pooling",
    "pooling_view",
    "truth_mse",
    "train",
]

#: Most rows an uploaded file may have: the page sends every attention weight to the browser.
MAX_ROWS = 1000

#: Queries of an uploaded data set: this many evenly spaced inputs over its range (the chapter has 50).
N_QUERIES = 50

#: The Python package each of the demo's back-ends needs.
_BACKEND_PACKAGES = {"numpy": "numpy", "torch": "torch", "tensorflow": "tensorflow", "mxnet": "mxnet", "jax": "jax"}


@dataclass(frozen=True)
class Points:
    """The data on the page: training pairs (sorted by input), queries and, for the chapter's data, the truth.

    Shapes: ``x_train``, ``y_train`` (n,); ``x_test`` (m,); ``y_truth`` (m,) or None.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_truth: np.ndarray | None
    label: str
    x_name: str = "x"
    y_name: str = "y"

    @property
    def n_train(self) -> int:
        return self.x_train.shape[0]


def chapter_points(n_train=50, noise=0.5, seed=0) -> Points:
    """The chapter's data from :func:`nadaraya.make_dataset` (the demo's data for the same arguments)."""
    d = make_dataset(n_train, seed, noise=noise)
    label = f"the chapter's data: {d.n_train} training pairs, noise {float(noise):g}, seed {seed}"
    return Points(d.x_train, d.y_train, d.x_test, d.y_truth, label)


def csv_points(content: bytes, filename: str, x_column: str = "", y_column: str = "") -> Points:
    """Training pairs from an uploaded CSV file, read and checked by the CLI's :func:`nadaraya.data.read_csv`.

    The file needs a header row. With ``x_column`` and ``y_column`` empty it
    must have exactly two columns: input, then output. Rows are sorted by
    input (as the chapter's heatmaps expect); the queries are ``N_QUERIES``
    evenly spaced inputs over the data's range. There is no truth.

    Raises
    ------
    ValueError
        Naming the file, and the line, column or limit that is wrong.
    """
    name = Path(filename or "upload.csv").name or "upload.csv"
    with tempfile.TemporaryDirectory(prefix="nadaraya-explore-") as folder:
        path = Path(folder) / name  # read_csv's messages name the file as the user knows it
        path.write_bytes(content)
        header, _, _ = read_csv(path, [])
        x_column, y_column = (x_column or "").strip(), (y_column or "").strip()
        if not x_column and not y_column:
            if len(header) != 2:
                raise ValueError(
                    f"{name}: has {len(header)} columns ({', '.join(header)}); a file without named columns must "
                    "have exactly two, input then output, or name them in 'x column' and 'y column'"
                )
            x_column, y_column = header
        elif not (x_column and y_column):
            raise ValueError("name both the 'x column' and the 'y column', or leave both empty for a two-column file")
        _, rows, data = read_csv(path, [x_column, y_column])
    if len(rows) > MAX_ROWS:
        raise ValueError(
            f"{name}: {len(rows)} data rows, more than the {MAX_ROWS} the page can show (it draws every attention "
            "weight); use `nadaraya fit` for larger files"
        )
    if len(rows) < 3:
        raise ValueError(f"{name}: {len(rows)} data rows; leave-one-out needs at least 3")
    x, y = data[x_column], data[y_column]
    if not np.ptp(x) > 0:
        raise ValueError(f"{name}: column {x_column!r} is constant; the input column needs at least two distinct values")
    order = np.argsort(x, kind="stable")
    grid = np.linspace(x.min(), x.max(), N_QUERIES)
    label = f"{name}: {len(rows)} training pairs, {y_column} against {x_column}"
    return Points(x[order], y[order], grid, None, label, x_column, y_column)


def bandwidth_range(points: Points) -> tuple[float, float]:
    """The bandwidths the slider spans: a thousandth of the inputs' range to twice the range."""
    span = float(np.ptp(points.x_train))
    return span / 1000.0, 2.0 * span


@dataclass(frozen=True)
class PoolingView:
    """Nonparametric attention pooling at one bandwidth.

    ``queries`` (m,): the test inputs, or with leave-one-out the training
    inputs, each ignoring its own key; ``predictions`` (m,), NaN where a compact
    kernel has no key in reach; ``weights`` (m, n).
    """

    queries: np.ndarray
    predictions: np.ndarray
    weights: np.ndarray
    leave_one_out: bool

    @property
    def undefined(self) -> int:
        return int(np.isnan(self.predictions).sum())


def pooling_view(points: Points, kernel="gaussian", bandwidth=1.0, leave_one_out=False) -> PoolingView:
    """Predictions and attention weights of :func:`nadaraya.attention_pool` for the page's controls."""
    queries = points.x_train if leave_one_out else points.x_test
    args = dict(kernel=kernel, bandwidth=bandwidth, exclude_self=bool(leave_one_out), on_empty="ignore")
    pred = attention_pool(queries, points.x_train, points.y_train, **args)
    weights = attention_weights(queries, points.x_train, **args)
    return PoolingView(queries, pred, weights, bool(leave_one_out))


def truth_mse(points: Points, predictions) -> float:
    """Mean squared error of predictions at ``x_test`` against the truth, over defined ones (NaN without truth)."""
    if points.y_truth is None:
        return float("nan")
    pred = np.asarray(predictions, dtype=float)
    ok = ~np.isnan(pred)
    return float(np.mean((pred[ok] - points.y_truth[ok]) ** 2)) if ok.any() else float("nan")


def loo_mse(points: Points, kernel="gaussian", bandwidth=1.0) -> float:
    """Leave-one-out mean squared error at ``bandwidth`` (NaN where some point has no estimate)."""
    value = loo_objective(points.x_train, points.y_train, bandwidth, kernel=kernel)
    return value if np.isfinite(value) else float("nan")


@dataclass(frozen=True)
class ErrorCurve:
    """Errors over a log grid of bandwidths, the leave-one-out optimum and average pooling's errors.

    ``loo`` and ``test`` (g,) are NaN where undefined (``test`` is all NaN
    without a truth); ``best_bandwidth`` is NaN when no bandwidth gives every
    point a leave-one-out estimate.
    """

    bandwidths: np.ndarray
    loo: np.ndarray
    test: np.ndarray
    best_bandwidth: float
    best_loo: float
    average_loo: float
    average_test: float


def error_curve(points: Points, kernel="gaussian", n_grid=60) -> ErrorCurve:
    """The leave-one-out (and, with a truth, test) error of nonparametric pooling over the slider's bandwidths."""
    lo, hi = bandwidth_range(points)
    grid = np.geomspace(lo, hi, n_grid)
    loo = np.array([loo_mse(points, kernel, h) for h in grid])
    test = np.array([truth_mse(points, attention_pool(points.x_test, points.x_train, points.y_train, kernel=kernel,
                                                     bandwidth=h, on_empty="ignore")) for h in grid])
    try:
        best = search_bandwidth(points.x_train, points.y_train, "loo", kernel)
        best_h, best_loo = float(best.bandwidth[0]), float(best.objective)
    except ValueError:  # a compact kernel with no bandwidth defined everywhere
        best_h = best_loo = float("nan")
    average_loo = loo_mse(points, "constant", 1.0)  # the constant kernel is average pooling
    average_test = truth_mse(points, np.full(points.x_test.shape, points.y_train.mean()))
    return ErrorCurve(grid, loo, test, best_h, best_loo, average_loo, average_test)


def available_backends() -> list[str]:
    """The demo's back-ends whose framework is installed here (found without importing it)."""
    return [name for name in demo.BACKENDS if importlib.util.find_spec(_BACKEND_PACKAGES.get(name, name)) is not None]


def train(points: Points, kernel="gaussian", *, epochs=5, lr=0.5, seed=0, backend="numpy", callback=None):
    """Train the chapter's parametric model exactly as ``nadaraya demo`` does for ``seed``.

    The initial ``w`` is :func:`nadaraya.demo.initial_w` of ``seed``;
    ``callback(epoch, loss, w)`` runs after each epoch.

    Returns
    -------
    nadaraya.ParametricFit
    """
    engine = demo.get_backend(backend)
    return engine.fit_parametric(points.x_train, points.y_train, kernel=get_kernel(kernel), epochs=epochs, lr=lr,
                                 w_init=demo.initial_w(seed), callback=callback)


def parametric_pooling(points: Points, kernel, w, backend="numpy"):
    """Predictions (m,) and weights (m, n) at the test inputs of the parametric model with ``w``.

    Computed by ``backend`` as the demo computes its parametric figures.
    """
    if not (np.isfinite(w) and w != 0):
        raise ValueError(f"w must be finite and non-zero to pool with it, got {w}")
    engine = demo.get_backend(backend)
    return engine.pool(points.x_test, points.x_train, points.y_train, get_kernel(kernel), 1.0 / abs(float(w)))
