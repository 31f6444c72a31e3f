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


def read_csv(path, columns, *, text_columns=()):
    """Read the named columns of a CSV file with a header row.

    Numeric columns become float arrays; ``text_columns`` (categorical
    features) stay strings. Errors name the file, the line and the column.

    Returns
    -------
    header : list of str
        Every column of the file, in order.
    rows : list of list of str
        The raw rows (for writing them back with predictions).
    data : dict of str -> ndarray
    """
    import csv
    from pathlib import Path

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"data file {str(path)!r} does not exist")
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise ValueError(f"{path.name}: the file is empty; it needs a header row naming the columns")
            header = [h.strip() for h in header]
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
    data = {}
    for name in columns:
        if name not in header:
            raise ValueError(f"{path.name}: column {name!r} not found; available columns: {', '.join(header)}")
        j = header.index(name)
        if name in text_columns:
            data[name] = np.array([r[j].strip() for r in rows], dtype=str)
            continue
        values = np.empty(len(rows))
        for i, r in enumerate(rows):
            cell = r[j].strip()
            try:
                values[i] = float(cell)
            except ValueError:
                what = "an empty cell" if not cell else f"{cell!r} is not a number"
                raise ValueError(f"{path.name}, line {i + 2}, column {name!r}: {what}") from None
            if not np.isfinite(values[i]):
                raise ValueError(f"{path.name}, line {i + 2}, column {name!r}: {cell!r} is not a finite number")
        data[name] = values
    return header, rows, data
