"""The ``nadaraya`` command line.

Exit status: 0 on success, 2 for bad usage or bad input (the message names
the argument and the fix; no traceback), 1 for any other failure.
"""

from __future__ import annotations

import argparse
import sys

from . import __version__
from .explore.command import add_parser as _add_explore
from .kernels import KERNELS


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors: status 2, like ours
        self.print_usage(sys.stderr)
        self.exit(2, f"nadaraya: error: {message}\n")


def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="reproduce the chapter: data, average / nonparametric / parametric pooling, figures, report",
        description="Reproduce the D2L chapter 'Attention pooling: Nadaraya-Watson kernel regression' in NumPy.",
    )
    p.add_argument("--out", default="nadaraya-demo", help="output folder (default: ./nadaraya-demo)")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and of the initial w (default: 0)")
    p.add_argument("--n-train", type=int, default=50, help="number of training pairs (default: 50)")
    p.add_argument("--epochs", type=int, default=5, help="training epochs (default: 5)")
    p.add_argument("--lr", type=float, default=0.5, help="SGD learning rate (default: 0.5)")
    p.add_argument("--kernel", default="gaussian", help=f"one of {', '.join(KERNELS)} (default: gaussian)")
    p.add_argument(
        "--bandwidth", type=float, default=1.0, help="bandwidth of the nonparametric pooling (default: 1, the chapter's w = 1)"
    )
    p.add_argument(
        "--backend",
        default="numpy",
        choices=["numpy", "torch", "tensorflow", "mxnet", "jax"],
        help="framework that computes the run (default: numpy); others need their extra installed",
    )
    p.add_argument(
        "--kernels",
        type=_demo_kernels,
        default=None,
        help="kernels compared in 'attention pooling by similarity', comma-separated "
        "(default: gaussian,boxcar,constant,triangular, the book's four)",
    )
    p.add_argument(
        "--widths",
        type=_demo_widths,
        default=None,
        help="Gaussian widths (bandwidths) compared, comma-separated (default: 0.1,0.2,0.5,1)",
    )
    p.set_defaults(func=_demo)


def _demo_kernels(text: str):
    from ._similarity import check_kernels

    try:
        return check_kernels([k.strip() for k in text.split(",") if k.strip()])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _demo_widths(text: str):
    from ._similarity import check_widths

    try:
        return check_widths([float(w) for w in text.split(",") if w.strip()])
    except ValueError as exc:
        msg = str(exc) if "widths" in str(exc) else f"widths must be positive numbers, comma-separated; got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None


def _demo(args) -> int:
    from .demo import run_demo

    run_demo(
        args.out,
        n_train=args.n_train,
        seed=args.seed,
        epochs=args.epochs,
        lr=args.lr,
        kernel=args.kernel,
        bandwidth=args.bandwidth,
        backend=args.backend,
        echo=lambda line: print(line, flush=True),
        **{k: v for k, v in (("kernels", args.kernels), ("widths", args.widths)) if v is not None},
    )
    return 0


def _columns(text: str, option: str) -> list[str]:
    cols = [c.strip() for c in text.split(",") if c.strip()]
    if not cols:
        raise ValueError(f"{option} must name at least one column (comma-separated)")
    return cols


_BANDWIDTH_NAMES = ("loo", "scott", "silverman", "plugin", "aicc", "gcv")


def _parse_bandwidth(text: str):
    if text in _BANDWIDTH_NAMES:
        return text
    if text == "none":  # with --neighbours: the pure nearest-neighbour bandwidth
        return None
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"--bandwidth must be {', '.join(_BANDWIDTH_NAMES)}, none (with --neighbours) or positive "
                         f"numbers, comma-separated (inf smooths a feature out); got {text!r}") from None
    return values[0] if len(values) == 1 else values


def _parse_neighbours(text):
    """--neighbours: a fraction of the data ("0.3", "1.5") or a count of neighbours ("20")."""
    if text is None:
        return None
    try:
        return int(text) if text.strip().lstrip("+").isdigit() else float(text)
    except ValueError:
        raise ValueError(f"--neighbours must be a fraction of the data (0.3) or a count (20); got {text!r}") from None


def _design_matrix(data, names, categorical):
    """The model's input columns from ``read_csv``'s dict: floats, or objects when some are categories."""
    import numpy as np

    X = np.empty((len(data[names[0]]), len(names)), dtype=object if categorical else float)
    for j, c in enumerate(names):
        X[:, j] = data[c]
    return X


def _add_fit(sub) -> None:
    p = sub.add_parser(
        "fit",
        help="fit a Nadaraya-Watson regression to columns of a CSV file and save the model",
        description="Fit y ~ x by Nadaraya-Watson kernel regression, choosing the bandwidth automatically.",
    )
    p.add_argument("data", help="CSV file with a header row")
    p.add_argument("--x", required=True, help="input column(s), comma-separated")
    p.add_argument("--y", required=True, help="target column")
    p.add_argument("--categorical", default="", help="input columns that are unordered categories, comma-separated")
    p.add_argument("--ordered", default="",
                   help="input columns that are ordered categories with numeric codes (Wang-van Ryzin kernel), "
                        "comma-separated")
    p.add_argument("--kernel", default="gaussian", help=f"one of {', '.join(KERNELS)} (default: gaussian)")
    p.add_argument("--bandwidth", default="loo",
                   help="loo (default), scott, silverman, plugin, aicc, gcv, none (with --neighbours), or value(s)")
    p.add_argument("--order", type=int, default=0, choices=[0, 1, 2, 3],
                   help="0: local constant, 1: local linear, 2: quadratic, 3: cubic")
    p.add_argument("--neighbours", default=None, metavar="A|K",
                   help="adaptive nearest-neighbour bandwidths as R locfit's nn: a fraction of the data (0.3) or a "
                        "count (20); the bandwidth is then the floor max(h, d_k / c)")
    p.add_argument("--classify", action="store_true",
                   help="y holds class labels (text allowed): fit a NadarayaWatsonClassifier")
    p.add_argument("--model", required=True, help="where to write the model (.npz)")
    p.add_argument("--plot", default=None, help="fit plot for 1-D inputs (default: MODEL with .png)")
    p.set_defaults(func=_fit)


def _progress(step, total, h, value):
    if total is None:  # the multi-feature (or AICc/GCV) search: one line per evaluation
        end = "\r" if sys.stderr.isatty() else "\n"
        shown = ", ".join(f"{v:.4g}" for v in h)
        print(f"bandwidth search {step}: bandwidths {shown}, criterion {value:.6g}", end=end, file=sys.stderr, flush=True)
        return
    end = "\r" if sys.stderr.isatty() and step < total else "\n"
    print(f"bandwidth search {step}/{total}: scale {h:.4g}, leave-one-out error {value:.6g}", end=end, file=sys.stderr, flush=True)


def _fit(args) -> int:
    from pathlib import Path

    import numpy as np

    from . import plotting
    from ._output import staged_file
    from .data import read_csv
    from .estimator import NadarayaWatsonRegressor

    xcols = _columns(args.x, "--x")
    cats = [c for c in args.categorical.split(",") if c.strip()]
    unknown = [c for c in cats if c not in xcols]
    if unknown:
        raise ValueError(f"--categorical columns must be among --x; {', '.join(unknown)} is not")
    ords = [c.strip() for c in args.ordered.split(",") if c.strip()]
    unknown = [c for c in ords if c not in xcols]
    if unknown:
        raise ValueError(f"--ordered columns must be among --x; {', '.join(unknown)} is not")
    model_path = Path(args.model)
    plot_path = Path(args.plot) if args.plot else model_path.with_suffix(".png")
    _, _, data = read_csv(args.data, xcols + [args.y], text_columns=cats + ([args.y] if args.classify else []))
    X = _design_matrix(data, xcols, cats)
    common = dict(kernel=args.kernel, bandwidth=_parse_bandwidth(args.bandwidth),
                  categorical=[xcols.index(c) for c in cats] or None, ordered=[xcols.index(c) for c in ords] or None)
    if args.classify:
        from .estimator import NadarayaWatsonClassifier

        if args.order != 0 or args.neighbours is not None:
            raise ValueError("--classify fits attention-weighted class frequencies: it takes neither --order nor "
                             "--neighbours")
        model = NadarayaWatsonClassifier(**common)
    else:
        model = NadarayaWatsonRegressor(order=args.order, neighbours=_parse_neighbours(args.neighbours), **common)
    model.fit(X, data[args.y], progress=_progress)
    model.column_names_ = {"x": xcols, "y": args.y}  # saved in the model: `predict` finds them in a new CSV
    bw_text = ", ".join(f"{c}={h:.6g}" + (" (lambda)" if c in cats or c in ords else "") + (" (smoothed out)" if h == float("inf") else "")
                        for c, h in zip(xcols, model.bandwidth_))
    print(f"bandwidth: {bw_text}")
    if args.classify:
        print(f"classes: {', '.join(str(c) for c in model.classes_)}")
    else:
        print(f"leave-one-out mean squared error: {model.loo_mse_:.6g}")
        print(f"effective degrees of freedom: {model.edf_:.4g} (of {X.shape[0]} points)")
    with staged_file(model_path, name="--model") as tmp_model:
        model.save(tmp_model)
        if len(xcols) == 1 and not cats and not ords and not args.classify:
            x = data[xcols[0]]
            grid = np.linspace(x.min(), x.max(), 200)
            lo, hi = model.predict_interval(grid[:, None])
            ax = plotting.plot_kernel_reg(grid, None, model.predict(grid[:, None]), x, data[args.y], band=(lo, hi),
                                          xlim=None, ylim=None, xlabel=xcols[0], ylabel=args.y,
                                          title=f"Nadaraya-Watson fit, 95% band (order {args.order})")
            with staged_file(plot_path, name="--plot") as tmp_plot:
                plotting.save_figure(ax, tmp_plot)
            print(f"fit plot: {plot_path}")
    print(f"model: {model_path}")
    return 0


def _add_predict(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="predict with a saved model on the rows of a CSV file",
        description="Add the model's predictions (and optionally standard errors) to the rows of a CSV file.",
    )
    p.add_argument("model", help="model file written by `nadaraya fit`")
    p.add_argument("data", help="CSV file holding the model's input columns")
    p.add_argument("--out", required=True, help="CSV file to write")
    p.add_argument("--std", action="store_true", help="also write the pointwise standard error")
    p.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS|local",
        help="run the prediction on a Dask cluster: a scheduler address (tcp://host:8786) or 'local' for a "
        "LocalCluster on this machine (needs the dask extra, and nadaraya installed on the workers); "
        "progress goes to stderr",
    )
    p.add_argument(
        "--scheduler-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="how long to try to reach the scheduler before giving up with exit status 1 (default: 10)",
    )
    p.add_argument(
        "--chunk-rows",
        type=int,
        default=None,
        metavar="N",
        help="rows per Dask task with --scheduler (default: about 4 tasks per worker)",
    )
    p.set_defaults(func=_predict)


class _SchedulerUnreachable(RuntimeError):
    """The Dask scheduler named by --scheduler did not answer within the timeout."""


def _dask_client(address: str, timeout: float):
    """A distributed.Client on ``address``, or on a new LocalCluster for "local"; closing it closes the cluster."""
    from ._optional import require

    distributed = require("distributed", "dask")
    if address == "local":
        import logging

        cluster = distributed.LocalCluster(threads_per_worker=1, processes=True, dashboard_address=":0",
                                           silence_logs=logging.ERROR)
        client = distributed.Client(cluster, set_as_default=False)
        client._nadaraya_cluster = cluster  # closed with the client in _predict_on_cluster
        return client
    try:
        return distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise _SchedulerUnreachable(
            f"could not reach the Dask scheduler at {address} within {timeout:g} s ({exc}); check the address "
            "and that the scheduler is running, or use --scheduler local"
        ) from None


def _predict_on_cluster(model, X, args):
    """Predict on a Dask cluster, one task per chunk of rows; a line on stderr per finished chunk."""
    from ._optional import require

    da = require("dask.array", "dask")
    timeout = args.scheduler_timeout
    if not timeout > 0:
        raise ValueError(f"--scheduler-timeout must be a positive number of seconds; got {timeout}")
    if args.chunk_rows is not None and args.chunk_rows < 1:
        raise ValueError(f"--chunk-rows must be a positive number of rows; got {args.chunk_rows}")
    client = _dask_client(args.scheduler, timeout)
    try:
        from distributed import as_completed

        try:
            client.wait_for_workers(1, timeout=timeout)
        except TimeoutError:
            raise _SchedulerUnreachable(
                f"the Dask scheduler at {args.scheduler} has no workers (none joined within {timeout:g} s); "
                "start some with `dask worker ADDRESS`"
            ) from None
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        rows = args.chunk_rows or max(1, -(-X.shape[0] // (4 * workers)))
        Xd = da.from_array(X, chunks=(rows, X.shape[1]))
        out = model.predict(Xd, return_std=True) if args.std else (model.predict(Xd),)
        blocks = [part.to_delayed().ravel().tolist() for part in out]
        futures = client.compute([b for part in blocks for b in part])
        n_chunks = len(blocks[0])
        chunk_of = {f.key: i % n_chunks for i, f in enumerate(futures)}
        pending = {i: len(blocks) for i in range(n_chunks)}
        done = 0
        print(f"predicting {X.shape[0]} rows in {n_chunks} chunks on {workers} Dask workers ({args.scheduler})",
              file=sys.stderr, flush=True)
        for future in as_completed(futures):
            future.result()  # a failed task raises here, before anything is written
            i = chunk_of[future.key]
            pending[i] -= 1
            if pending[i] == 0:
                done += 1
                print(f"chunk {done}/{n_chunks} done", file=sys.stderr, flush=True)
        results = client.gather(futures)
    finally:
        cluster = getattr(client, "_nadaraya_cluster", None)
        client.close()
        if cluster is not None:
            cluster.close()
    import numpy as np

    parts = [np.concatenate(results[j * n_chunks : (j + 1) * n_chunks]) for j in range(len(blocks))]
    return parts[0], (parts[1] if args.std else None)


def _predict(args) -> int:
    import csv

    import numpy as np

    from ._output import staged_file
    from .data import read_csv
    from .estimator import NadarayaWatsonClassifier
    from .estimator._base import _NadarayaWatsonBase

    model = _NadarayaWatsonBase.load(args.model)  # a regressor or a classifier, as the file says
    classify = isinstance(model, NadarayaWatsonClassifier)
    if classify and (args.std or args.scheduler is not None):
        raise ValueError(f"{args.model} holds a classifier: --std and --scheduler are for regression models")
    columns = getattr(model, "column_names_", None) or {}
    names = list(columns.get("x", [])) or [str(c) for c in getattr(model, "feature_names_in_", [])]
    if not names:
        raise ValueError(f"{args.model}: the model carries no column names; fit it with `nadaraya fit` or on a DataFrame")
    cats = [names[i] for i in getattr(model, "categorical_indices_", [])]
    header, rows, data = read_csv(args.data, names, text_columns=cats)
    X = _design_matrix(data, names, cats)
    if args.scheduler is None and args.chunk_rows is not None:
        raise ValueError("--chunk-rows sets the rows per Dask task and needs --scheduler")
    if args.scheduler is not None:
        try:
            pred, std = _predict_on_cluster(model, X, args)
        except _SchedulerUnreachable as exc:  # not the input's fault: status 1, and no output file
            print(f"nadaraya predict: error: {exc}", file=sys.stderr)
            return 1
    elif classify:  # the predicted class, then one probability column per class
        proba = model.predict_proba(X)
        labels = model.predict(X)
    elif args.std:
        pred, std = model.predict(X, return_std=True)
    else:
        pred, std = model.predict(X), None
    if classify:
        cols = ["prediction"] + [f"probability_{c}" for c in model.classes_]
        extras = [[str(labels[i])] + [repr(float(v)) for v in proba[i]] for i in range(len(rows))]
    else:
        pred = pred.reshape(len(rows), -1)
        cols = ["prediction"] if pred.shape[1] == 1 else [f"prediction_{i}" for i in range(pred.shape[1])]
        if std is not None:
            std = std.reshape(len(rows), -1)
            cols += [c.replace("prediction", "std") for c in cols]
        extras = [[repr(float(v)) for v in pred[i]] + ([repr(float(v)) for v in std[i]] if std is not None else [])
                  for i in range(len(rows))]
    with staged_file(args.out, name="--out") as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header + cols)
            for row, extra in zip(rows, extras):
                writer.writerow(row + extra)
    print(f"{len(rows)} predictions written to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nadaraya", description="Attention pooling by Nadaraya-Watson kernel regression.")
    parser.add_argument("--version", action="version", version=f"nadaraya {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_demo(sub)
    _add_fit(sub)
    _add_predict(sub)
    _add_explore(sub)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``nadaraya`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError) as exc:
        print(f"nadaraya {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:  # a missing optional framework: the message names the extra
        print(f"nadaraya {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nadaraya: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # anything else is our failure, not the user's input
        print(f"nadaraya {args.command}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
