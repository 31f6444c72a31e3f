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
