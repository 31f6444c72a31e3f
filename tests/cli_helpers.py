"""Running ``nadaraya`` as a user does: ``python -m nadaraya`` in a subprocess, on CSV files written here."""

from __future__ import annotations

import csv
import os
import subprocess
import sys

import numpy as np

# a hang guard, not a benchmark: a command that takes this long is stuck
HANG_S = 120


def run_cli(*args, cwd=None, timeout=HANG_S, **kwargs):
    """``nadaraya ARGS`` in a subprocess; returns the CompletedProcess (text stdout and stderr)."""
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.run([sys.executable, "-m", "nadaraya", *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=timeout, **kwargs)


def popen_cli(*args, **kwargs):
    """``nadaraya ARGS`` started in a subprocess (for sending it signals)."""
    env = dict(os.environ, MPLBACKEND="Agg")
    return subprocess.Popen([sys.executable, "-m", "nadaraya", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kwargs)


def write_csv(path, header, rows, *, encoding="utf-8"):
    with open(path, "w", newline="", encoding=encoding) as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def chapter_files(folder, n_train=120, n_new=50, seed=1):
    """``data.csv`` (x, y) of the chapter's data and ``new.csv`` (id, x) of query points; returns both paths."""
    import nadaraya as nw

    d = nw.make_dataset(n_train=n_train, seed=seed)
    data = write_csv(folder / "data.csv", ["x", "y"], zip(d.x_train, d.y_train))
    new = write_csv(folder / "new.csv", ["id", "x"], enumerate(np.linspace(0, 5, n_new)))
    return data, new


def fit_model(folder, data, bandwidth="0.3"):
    """``nadaraya fit data --x x --y y --bandwidth 0.3 --model folder/model.npz``; returns the model path."""
    model = folder / "model.npz"
    res = run_cli("fit", data, "--x", "x", "--y", "y", "--bandwidth", bandwidth, "--model", model)
    assert res.returncode == 0, res.stderr
    return model
