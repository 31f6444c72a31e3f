"""R reference values (tests/r/fixtures/*.json, written by tests/r/fixtures.R) for the statistics tests."""

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


def xy(name: str):
    """The (x, y) pair of a regression data set, as float arrays."""
    d = dataset(name)
    cx, cy = PAIRS[name]
    return d[cx].astype(float), d[cy].astype(float)
