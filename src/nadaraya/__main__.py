"""``python -m nadaraya`` and the ``nadaraya`` console script: :func:`nadaraya.cli.main`, then a quick exit."""

import sys

__all__ = ["run"]


def run() -> None:
    """The ``nadaraya`` console script and ``python -m nadaraya``: :func:`nadaraya.cli.main`, then a quick exit.

    A process that has run Numba code spends ~0.25 s in the interpreter's
    teardown (freeing compiled code and type registries), a third of a small
    ``nadaraya fit``. A finished command needs none of it: the exit handlers
    (logging, Dask clean-ups) run, the standard streams are flushed, and the
    process ends with :func:`os._exit`. Output files are complete before
    :func:`main` returns (they are renamed into place). An exception that
    escapes :func:`main` (``SystemExit`` from ``--help``) takes the ordinary exit.
    """
    import atexit
    import os

    from .cli import main

    code = main()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe, a closed stream: nothing left to write to
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
