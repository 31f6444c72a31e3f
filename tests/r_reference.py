"""R reference values (tests/r/fixtures/*.json, written by tests/r/fixtures.R) for the statistics tests,
and the dense references they share."""

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

FIXTURES = Path(__file__).parent / "r" / "fixtures"
SCRIPT = Path(__file__).parent / "r" / "fixtures.R"

#: (x, y) columns of each regression data set.
PAIRS = {"cars": ("speed", "dist"), "faithful": ("waiting", "eruptions"), "mcycle": ("times", "accel"),
         "engel": ("income", "foodexp")}


@lru_cache(maxsize=None)
def fixture(name: str, directory: str = str(FIXTURES)) -> dict:
    """One fixture file, parsed (R's Inf as float inf)."""
    return json.loads((Path(directory) / f"{name}.json").read_text())


def dataset(name: str) -> dict:
    """A data set from R, column name -> array (strings stay strings)."""
    return {k: np.asarray(v) for k, v in fixture("datasets")[name].items()}


def loo_local_linear(x, y, h_rows):
    """Dense reference: leave-one-out local-linear Gaussian fits at the 1-D data, bandwidth ``h_rows[i]`` at x_i."""
    out = []
    for i in range(len(x)):
        k = np.exp(-0.5 * ((x - x[i]) / h_rows[i]) ** 2)
        k[i] = 0.0
        V = np.c_[np.ones_like(x), x - x[i]]
        out.append(np.linalg.lstsq(V * np.sqrt(k)[:, None], y * np.sqrt(k), rcond=None)[0][0])
    return np.array(out)


def xy(name: str):
    """The (x, y) pair of a regression data set, as float arrays."""
    d = dataset(name)
    cx, cy = PAIRS[name]
    return d[cx].astype(float), d[cy].astype(float)
