"""The ``nadaraya`` command line.

Exit status: 0 on success, 2 for bad usage or bad input (the message names
the option and the fix; no traceback), 1 for any other failure, 130 on
SIGINT and 128 + the signal number on SIGTERM / SIGHUP (which, like SIGINT,
leave no partial output). No output path may name an input file.

Each subcommand is a pair ``_add_NAME(sub)`` / ``_NAME(args)``; adding one is
one more entry in ``_SUBCOMMANDS``.
"""

from __future__ import annotations

import argparse
import re
import sys

from . import __version__
from ._cliargs import (BANDWIDTH_RULES, bandwidth, columns, demo_kernels, demo_widths, neighbours, non_negative_int,
                       positive_float, positive_int)
from .explore.command import add_parser as _add_explore
from .kernels import KERNELS

# `demo --backend` choices (each needs its extra installed)
_BACKENDS = ("numpy", "torch", "tensorflow", "mxnet", "jax")


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        """argparse's usage errors: status 2, like ours, the option first.

        "argument --seed: must be ..." becomes "--seed must be ...", "argument --kernel: invalid ..." "--kernel: invalid ...".
        """
        message = re.sub(r"^argument (--[\w-]+)(?:/\S+)?: (must\b)?", lambda m: m[1] + (" must" if m[2] else ": "),
                         message)
        self.print_usage(sys.stderr)
        self.exit(2, f"nadaraya: error: {message}\n")


def _add_kernel(p) -> None:
    p.add_argument("--kernel", default="gaussian", choices=list(KERNELS), metavar="NAME",
                   help=f"one of {', '.join(KERNELS)} (default: gaussian)")


def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="reproduce the chapter: data, average / nonparametric / parametric pooling, figures, report",
        description="Reproduce the D2L chapter 'Attention pooling: Nadaraya-Watson kernel regression' in NumPy.",
    )
    p.add_argument("--out", default="nadaraya-demo", help="output folder (default: ./nadaraya-demo)")
    p.add_argument("--seed", type=non_negative_int, default=0, help="seed of the data and of the initial w (default: 0)")
    p.add_argument("--n-train", type=positive_int, default=50, help="number of training pairs (default: 50)")
    p.add_argument("--epochs", type=positive_int, default=5, help="training epochs (default: 5)")
    p.add_argument("--lr", type=positive_float, default=0.5, help="SGD learning rate (default: 0.5)")
    _add_kernel(p)
    p.add_argument("--bandwidth", type=positive_float, default=1.0,
                   help="bandwidth of the nonparametric pooling (default: 1, the chapter's w = 1)")
    p.add_argument("--backend", default="numpy", choices=_BACKENDS,
                   help="framework that computes the run (default: numpy); others need their extra installed")
    p.add_argument(
        "--kernels",
        type=demo_kernels,
        default=None,
        help="kernels compared in 'attention pooling by similarity', comma-separated "
        "(default: gaussian,boxcar,constant,triangular, the book's four)",
    )
    p.add_argument(
        "--widths",
        type=demo_widths,
        default=None,
        help="Gaussian widths (bandwidths) compared, comma-separated (default: 0.1,0.2,0.5,1)",
    )
    p.set_defaults(func=_demo)


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
        description="Fit y ~ x by Nadaraya-Watson kernel regression, choosing the bandwidth automatically. "
        "--model and --plot may not name the data file (or a link to it).",
    )
    p.add_argument("data", help="CSV file with a header row (UTF-8, with or without a byte-order mark)")
    p.add_argument("--x", required=True, type=columns, help="input column(s), comma-separated")
    p.add_argument("--y", required=True, help="target column")
    p.add_argument("--categorical", type=columns, default=[],
                   help="input columns that are unordered categories, comma-separated")
    _add_kernel(p)
    p.add_argument("--ordered", type=columns, default=[],
                   help="input columns that are ordered categories with numeric codes (Wang-van Ryzin kernel), "
                        "comma-separated")
    p.add_argument("--bandwidth", type=bandwidth, default="loo",
                   help=f"{', '.join(BANDWIDTH_RULES)} (default: loo), none (with --neighbours), or value(s), one per "
                        "--x column (inf smooths a column out)")
    p.add_argument("--order", type=int, default=0, choices=[0, 1, 2, 3],
                   help="0: local constant, 1: local linear, 2: quadratic, 3: cubic")
    p.add_argument("--neighbours", type=neighbours, default=None, metavar="A|K",
                   help="adaptive nearest-neighbour bandwidths as R locfit's nn: a fraction of the data (0.3) or a "
                        "count (20); the bandwidth is then the floor max(h, d_k / c)")
    p.add_argument("--classify", action="store_true",
                   help="y holds class labels (text allowed): fit a NadarayaWatsonClassifier")
    p.add_argument("--model", required=True, help="where to write the model (.npz)")
    plot = p.add_mutually_exclusive_group()
    plot.add_argument("--plot", default=None,
                      help="fit plot for 1-D inputs, .svg, .png or .pdf (default: MODEL with .svg, written without matplotlib)")
    plot.add_argument("--no-plot", action="store_true",
                      help="write no fit plot")
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

    from ._fitplot import plot_format, write_fit_plot
    from ._output import refuse_overwriting_inputs, staged_file
    from .data import read_csv
    from .estimator._fitting import PlainRegressor  # the estimator's fit without importing scikit-learn

    xcols, cats = args.x, args.categorical
    unknown = [c for c in cats if c not in xcols]
    if unknown:
        raise ValueError(f"--categorical columns must be among --x; {', '.join(unknown)} is not")
    ords = args.ordered
    unknown = [c for c in ords if c not in xcols]
    if unknown:
        raise ValueError(f"--ordered columns must be among --x; {', '.join(unknown)} is not")
    if args.classify and (args.order != 0 or args.neighbours is not None):
        raise ValueError("--classify fits attention-weighted class frequencies: it takes neither --order nor --neighbours")
    if args.y in xcols:
        raise ValueError(f"--y column {args.y!r} is also an --x column; the target cannot be an input")
    if isinstance(args.bandwidth, list) and len(args.bandwidth) != len(xcols):
        raise ValueError(f"--bandwidth gives {len(args.bandwidth)} values for {len(xcols)} --x columns; give one per column")
    model_path = Path(args.model)
    plot_path = Path(args.plot) if args.plot else model_path.with_suffix(".svg")
    plotted = len(xcols) == 1 and not cats and not ords and not args.classify and not args.no_plot
    fmt = plot_format(plot_path) if plotted or args.plot else None  # a bad --plot is refused, drawn or not
    refuse_overwriting_inputs({"--model": model_path, "--plot": plot_path if plotted else None}, {"data": args.data})
    hints = {c: f"if {c!r} holds categories, pass --categorical {c}" for c in xcols}
    sources = {**{c: "--x" for c in xcols}, args.y: "--y"}
    labels = [args.y] if args.classify else []  # class labels may be text
    _, _, data = read_csv(args.data, xcols + [args.y], text_columns=cats + labels, hints=hints, sources=sources)
    X = _design_matrix(data, xcols, cats)
    common = dict(kernel=args.kernel, bandwidth=args.bandwidth, categorical=[xcols.index(c) for c in cats] or None,
                  ordered=[xcols.index(c) for c in ords] or None)
    if args.classify:
        from .estimator import NadarayaWatsonClassifier  # the classifier needs scikit-learn

        model = NadarayaWatsonClassifier(**common)
    else:
        model = PlainRegressor(order=args.order, neighbours=args.neighbours, **common)
    model.fit(X, data[args.y], progress=_progress)
    model.column_names_ = {"x": xcols, "y": args.y}  # saved in the model: `predict` finds them in a new CSV
    bw_text = ", ".join(f"{c}={h:.6g}" + (" (lambda)" if c in cats or c in ords else "")
                        + (" (smoothed out)" if h == float("inf") else "") for c, h in zip(xcols, model.bandwidth_))
    print(f"bandwidth: {bw_text}")
    if args.classify:
        print(f"classes: {', '.join(str(c) for c in model.classes_)}")
    else:
        print(f"leave-one-out mean squared error: {model.loo_mse_:.6g}")
        print(f"effective degrees of freedom: {model.edf_:.4g} (of {X.shape[0]} points)")
    with staged_file(model_path, name="--model") as tmp_model:
        model.save(tmp_model)
        if plotted:
            with staged_file(plot_path, name="--plot") as tmp_plot:
                write_fit_plot(tmp_plot, fmt, model, data[xcols[0]], data[args.y], xlabel=xcols[0],
                               ylabel=args.y, title=f"Nadaraya-Watson fit, 95% band (order {args.order})")
            print(f"fit plot: {plot_path}")
    print(f"model: {model_path}")
    return 0


def _add_predict(sub) -> None:
    from ._scheduler import parse_address

    p = sub.add_parser(
        "predict",
        help="predict with a saved model on the rows of a CSV file",
        description="Add the model's predictions (and optionally standard errors) to the rows of a CSV file: "
        "the output is the input's columns followed by 'prediction' (or 'prediction_0', 'prediction_1', ... "
        "for several outputs) and, with --std, 'std' ('std_0', ...). An input that already has a column of "
        "one of these names is refused (rename that column); --out may not name the model or data file.",
    )
    p.add_argument("model", help="model file written by `nadaraya fit`")
    p.add_argument("data", help="CSV file holding the model's input columns")
    p.add_argument("--out", required=True, help="CSV file to write (not the model or data file)")
    p.add_argument("--std", action="store_true", help="also write the pointwise standard error")
    p.add_argument(
        "--scheduler",
        default=None,
        type=parse_address,
        metavar="ADDRESS|local",
        help="run the prediction on a Dask cluster: a scheduler address (tcp://host:8786) or 'local' for a "
        "LocalCluster on this machine (needs the dask extra, and nadaraya installed on the workers); "
        "progress goes to stderr",
    )
    p.add_argument(
        "--scheduler-timeout",
        type=positive_float,
        default=10.0,
        metavar="SECONDS",
        help="the most time reaching the scheduler may take, handshake and first worker included, before "
        "giving up with exit status 1 (default: 10)",
    )
    p.add_argument("--chunk-rows", type=positive_int, default=None, metavar="N",
                   help="rows per Dask task with --scheduler (default: about 4 tasks per worker)")
    p.set_defaults(func=_predict)


def _output_columns(header, n_outputs, std):
    cols = ["prediction"] if n_outputs == 1 else [f"prediction_{i}" for i in range(n_outputs)]
    cols += [c.replace("prediction", "std") for c in cols] if std else []
    taken = [c for c in cols if c in header]
    if taken:
        raise ValueError(
            f"data: the input already has a column {taken[0]!r}, the name predict gives its output; rename or "
            "drop that column (predict never overwrites or renames it silently)"
        )
    return cols


def _predict(args) -> int:
    import csv

    from ._output import refuse_overwriting_inputs, staged_file
    from .data import read_csv
    from .estimator._fitting import PlainRegressor  # no scikit-learn, unless the prediction runs on Dask
    from .estimator._modelfile import stored_class

    if args.scheduler is None and args.chunk_rows is not None:
        raise ValueError("--chunk-rows sets the rows per Dask task and needs --scheduler")
    refuse_overwriting_inputs({"--out": args.out}, {"model": args.model, "data": args.data})
    if stored_class(args.model) == "NadarayaWatsonClassifier":  # a regressor or a classifier, as the file says
        from .estimator import NadarayaWatsonClassifier

        return _predict_classes(NadarayaWatsonClassifier.load(args.model), args)
    if args.scheduler is None:
        model = PlainRegressor.load(args.model)
    else:
        from .estimator import NadarayaWatsonRegressor

        model = NadarayaWatsonRegressor.load(args.model)
    columns_ = getattr(model, "column_names_", None) or {}
    names = list(columns_.get("x", [])) or [str(c) for c in getattr(model, "feature_names_in_", [])]
    if not names:
        raise ValueError(f"{args.model}: the model carries no column names; fit it with `nadaraya fit` or on a DataFrame")
    cats = [names[i] for i in getattr(model, "categorical_indices_", [])]
    header, rows, data = read_csv(args.data, names, text_columns=cats, sources={c: "the model" for c in names})
    n_outputs = 1 if model._y_1d else model.y_.shape[1]
    cols = _output_columns(header, n_outputs, args.std)
    X = _design_matrix(data, names, cats)
    if args.scheduler is not None:
        from ._scheduler import SchedulerError, predict_on_cluster

        try:
            pred, std = predict_on_cluster(model, X, address=args.scheduler, timeout=args.scheduler_timeout,
                                           chunk_rows=args.chunk_rows, std=args.std)
        except SchedulerError as exc:  # not the input's fault: status 1, and no output file
            print(f"nadaraya predict: error: {exc}", file=sys.stderr)
            return 1
    elif args.std:
        pred, std = model.predict(X, return_std=True)
    else:
        pred, std = model.predict(X), None
    pred = pred.reshape(len(rows), -1)
    std = None if std is None else std.reshape(len(rows), -1)
    with staged_file(args.out, name="--out") as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header + cols)
            for i, row in enumerate(rows):
                extra = [repr(float(v)) for v in pred[i]] + ([repr(float(v)) for v in std[i]] if std is not None else [])
                writer.writerow(row + extra)
    print(f"{len(rows)} predictions written to {args.out}")
    return 0


def _predict_classes(model, args) -> int:
    """``predict`` with a classifier: the predicted class, then one probability column per class."""
    import csv

    from ._output import staged_file
    from .data import read_csv

    if args.std or args.scheduler is not None:
        raise ValueError(f"{args.model} holds a classifier: --std and --scheduler are for regression models")
    names = list((getattr(model, "column_names_", None) or {}).get("x", [])) or \
        [str(c) for c in getattr(model, "feature_names_in_", [])]
    if not names:
        raise ValueError(f"{args.model}: the model carries no column names; fit it with `nadaraya fit` or on a DataFrame")
    cats = [names[i] for i in getattr(model, "categorical_indices_", [])]
    header, rows, data = read_csv(args.data, names, text_columns=cats, sources={c: "the model" for c in names})
    cols = ["prediction"] + [f"probability_{c}" for c in model.classes_]
    taken = [c for c in cols if c in header]
    if taken:
        raise ValueError(f"data: the input already has a column {taken[0]!r}, the name predict gives its output; "
                         "rename or drop that column (predict never overwrites or renames it silently)")
    X = _design_matrix(data, names, cats)
    proba, labels = model.predict_proba(X), model.predict(X)
    with staged_file(args.out, name="--out") as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header + cols)
            for row, label, p in zip(rows, labels, proba):
                writer.writerow(row + [str(label)] + [repr(float(v)) for v in p])
    print(f"{len(rows)} predictions written to {args.out}")
    return 0


_SUBCOMMANDS = (_add_demo, _add_fit, _add_predict, _add_explore)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nadaraya", description="Attention pooling by Nadaraya-Watson kernel regression.")
    parser.add_argument("--version", action="version", version=f"nadaraya {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


def main(argv=None) -> int:
    """Entry point of the ``nadaraya`` console script; returns the exit status."""
    from ._output import Terminated, signals_raise

    args = build_parser().parse_args(argv)
    try:
        with signals_raise():
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
    except Terminated as exc:
        print(f"nadaraya: terminated by {exc.signame}; no partial output left", file=sys.stderr)
        return 128 + exc.signum
    except Exception as exc:  # anything else is our failure, not the user's input
        print(f"nadaraya {args.command}: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
