"""The chapter's synthetic data set."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import check_positive_float, check_positive_int

__all__ = ["Dataset", "chapter_function", "make_dataset"]


def chapter_function(x):
    """The chapter's regression target ``2 sin(x) + x**0.8`` (x >= 0)."""
    x = np.asarray(x, dtype=float)
    return 2.0 * np.sin(x) + x**0.8


@dataclass(frozen=True)
class Dataset:
    """Training pairs, test inputs and the noise-free truth at the test inputs.

    Shapes: ``x_train`` and ``y_train`` (n,), ``x_test`` and ``y_truth`` (50,).
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_truth: np.ndarray

    @property
    def n_train(self) -> int:
        return self.x_train.shape[0]


def make_dataset(n_train=50, seed=0, *, noise=0.5):
    """The chapter's data: ``y = 2 sin(x) + x**0.8 + eps`` with ``eps ~ N(0, noise**2)``.

    Training inputs are drawn uniformly from [0, 5) and sorted; test inputs
    are 0, 0.1, ..., 4.9.

    Parameters
    ----------
    n_train : int, default 50
    seed : int or numpy.random.Generator, default 0
        Seeds ``numpy.random.default_rng``; the same seed gives the same data.
    noise : float, default 0.5
        Standard deviation of the noise.

    Examples
    --------
    >>> import nadaraya as nw
    >>> data = nw.make_dataset(n_train=50, seed=0)
    >>> data.x_train.shape, data.x_test[:3]
    ((50,), array([0. , 0.1, 0.2]))
    """
    n_train = check_positive_int(n_train, "n_train")
    noise = float(noise) if noise == 0 else check_positive_float(noise, "noise")
    rng = np.random.default_rng(seed)
    x_train = np.sort(rng.uniform(0.0, 5.0, n_train))
    y_train = chapter_function(x_train) + rng.normal(0.0, noise, n_train)
    x_test = np.arange(0.0, 5.0, 0.1)
    return Dataset(x_train, y_train, x_test, chapter_function(x_test))


def read_csv(path, columns, *, text_columns=(), hints=None, sources=None):
    """Read the named columns of a CSV file with a header row.

    The file is UTF-8, with or without a byte-order mark (Excel's "CSV
    UTF-8"). Numeric columns become float arrays of finite values whose
    spread (range, sum, variance) is finite in float64; ``text_columns``
    (categorical features) stay strings. Errors name the file, the line and
    the column; duplicate header names are refused.

    Parameters
    ----------
    path : str or path-like
    columns : list of str
        The columns to read.
    text_columns : collection of str, default ()
        Columns read as strings.
    hints : dict of str -> str, optional
        Advice appended to the error when a column holds text where numbers
        are expected (the CLI suggests ``--categorical``).
    sources : dict of str -> str, optional
        Where each column name came from (``"--x"``), named when it is missing.

    Returns
    -------
    header : list of str
        Every column of the file, in order.
    rows : list of list of str
        The raw rows (for writing them back with predictions).
    data : dict of str -> ndarray
    """
    from pathlib import Path

    path = Path(path)
    header, rows = _read_rows(path)
    data = {}
    for name in columns:
        if name not in header:
            source = f" (named by {sources[name]})" if sources and name in sources else ""
            raise ValueError(f"{path.name}: column {name!r}{source} not found; available columns: {', '.join(header)}")
        j = header.index(name)
        if name in text_columns:
            data[name] = np.array([r[j].strip() for r in rows], dtype=str)
        else:
            data[name] = _numeric_column(path, name, [r[j] for r in rows], (hints or {}).get(name))
    return header, rows, data


def _read_rows(path):
    """The header (names stripped, none repeated) and the non-blank rows of a CSV file, each as long as the header."""
    import csv

    if path.is_dir():
        raise ValueError(f"data file {str(path)!r} is a folder; give the path of a CSV file")
    if not path.is_file():
        raise ValueError(f"data file {str(path)!r} does not exist")
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:  # -sig: a leading byte-order mark is dropped
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise ValueError(f"{path.name}: the file is empty; it needs a header row naming the columns")
            header = [h.strip() for h in header]
            repeated = [h for i, h in enumerate(header) if h in header[:i]]
            if repeated:
                raise ValueError(f"{path.name}, line 1: column {repeated[0]!r} appears more than once in the header; "
                                 "give every column a distinct name")
            rows = []
            for row in reader:
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != len(header):
                    raise ValueError(
                        f"{path.name}, line {reader.line_num}: expected {len(header)} fields (as in the header), "
                        f"got {len(row)}"
                    )
                rows.append(row)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path.name}: not a UTF-8 text file ({exc.reason})") from None
    except csv.Error as exc:
        raise ValueError(f"{path.name}: malformed CSV ({exc})") from None
    if not rows:
        raise ValueError(f"{path.name}: no data rows after the header")
    return header, rows


def _numeric_column(path, name, cells, hint=None):
    """The cells of one column as finite float64 values whose spread does not overflow; errors name line and column."""
    values = np.empty(len(cells))
    for i, cell in enumerate(cells):
        cell = cell.strip()
        try:
            values[i] = float(cell)
        except ValueError:
            what = "an empty cell" if not cell else f"{cell!r} is not a number" + (f"; {hint}" if hint else "")
            raise ValueError(f"{path.name}, line {i + 2}, column {name!r}: {what}") from None
        if not np.isfinite(values[i]):
            raise ValueError(f"{path.name}, line {i + 2}, column {name!r}: {cell!r} is not a finite number")
    with np.errstate(over="ignore", invalid="ignore"):
        spread = (np.max(values) - np.min(values), np.sum(values), np.var(values))
    if not np.all(np.isfinite(spread)):
        raise ValueError(
            f"{path.name}, column {name!r}: values up to {np.max(np.abs(values)):.6g} in magnitude overflow float64 "
            "when their spread is computed (range, sum or variance); rescale the column (divide it by a power of ten)"
        )
    return values
