"""The ``nadaraya`` command line.

Exit status: 0 on success, 2 for bad usage or bad input (the message names
the argument and the fix; no traceback), 1 for any other failure.
"""

from __future__ import annotations

import argparse
import sys

from . import __version__
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
        choices=["numpy", "torch", "tensorflow", "mxnet"],
        help="framework that computes the run (default: numpy); others need their extra installed",
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
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nadaraya", description="Attention pooling by Nadaraya-Watson kernel regression.")
    parser.add_argument("--version", action="version", version=f"nadaraya {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_demo(sub)
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
