"""``argparse`` types of the command line: each rejects a bad value at parse time, naming its option.

``argparse`` reports a rejected value as ``argument --seed: must be ...``;
the parser in :mod:`nadaraya.cli` rewrites that to ``--seed must be ...``
and exits with status 2.
"""

from __future__ import annotations

import argparse
import math

__all__ = ["BANDWIDTH_RULES", "bandwidth", "columns", "neighbours", "non_negative_int", "positive_float", "positive_int"]

# the named bandwidth choices `fit --bandwidth` accepts (the estimator's methods)
BANDWIDTH_RULES = ("loo", "scott", "silverman", "plugin", "aicc", "gcv")


def _int(text: str, what: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < low:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1."""
    return _int(text, "a positive integer", 1)


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    return _int(text, "a non-negative integer", 0)


def positive_float(text: str) -> float:
    """A finite number > 0 (``inf``, ``nan``, ``0`` and negatives are refused)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be positive and finite, got {text!r}")
    return value


def _positive_or_inf(text: str) -> float:
    """A number > 0, ``inf`` included (a feature smoothed out)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not value > 0:  # NaN, 0 and negatives
        raise argparse.ArgumentTypeError(f"must be positive, got {text!r}")
    return value


def bandwidth(text: str):
    """``fit --bandwidth``: a method name, ``none`` (with --neighbours: the pure nearest-neighbour bandwidth),
    or one positive number per input column (comma-separated; ``inf`` smooths a column out)."""
    text = text.strip()
    if text in BANDWIDTH_RULES:
        return text
    if text == "none":
        return None
    try:
        values = [_positive_or_inf(v) for v in text.split(",")]
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"must be {', '.join(BANDWIDTH_RULES)}, none (with --neighbours) or positive numbers (one per --x "
            f"column, comma-separated; inf smooths a column out), got {text!r}"
        ) from None
    return values[0] if len(values) == 1 else values


def neighbours(text: str):
    """``fit --neighbours``: a fraction of the data (``0.3``, ``1.5``) or a count of neighbours (``20``)."""
    text = text.strip()
    try:
        value = int(text) if text.lstrip("+").isdigit() else float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a fraction of the data (0.3) or a count (20), got {text!r}")
    return value


def columns(text: str) -> list[str]:
    """Comma-separated column names, at least one, none repeated."""
    cols = [c.strip() for c in text.split(",") if c.strip()]
    if not cols:
        raise argparse.ArgumentTypeError(f"must name at least one column (comma-separated), got {text!r}")
    repeated = sorted({c for c in cols if cols.count(c) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(f"must name each column once; {repeated[0]!r} is repeated")
    return cols
