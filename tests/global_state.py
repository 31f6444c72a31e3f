"""Helpers for tests whose libraries change process-wide state that the suite's guard (conftest.py) checks."""

import os
from contextlib import contextmanager


@contextmanager
def preserved_environ():
    """Restore ``os.environ`` on exit.

    A ``distributed.Nanny`` sets its ``pre-spawn-environ`` (``OMP_NUM_THREADS=1``,
    ``MALLOC_TRIM_THRESHOLD_``, ...) in *this* process's environment before it
    spawns a worker, and never undoes it: every later subprocess would inherit it.
    """
    saved = dict(os.environ)
    try:
        yield
    finally:
        for key in set(os.environ) - set(saved):
            del os.environ[key]
        os.environ.update(saved)
