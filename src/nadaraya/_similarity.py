"""The newer edition's section "Attention pooling by similarity", as arrays.

The book compares four kernels at its unit width — Gaussian, boxcar,
constant, and one it labels "Epanechikov" but defines as
``max(1 - |x|, 0)``, which is the *triangular* kernel (the Epanechnikov
kernel is ``1 - x**2``); here it is called ``triangular`` — and then repeats
the Gaussian with several widths. The book's width is the ``sigma`` of
``exp(-x**2 / (2 sigma**2))``; nadaraya's Gaussian is ``exp(-u**2 / 2)`` with
``u = x / h``, so a width ``sigma`` is the bandwidth ``h = sigma`` (the
chapter's ``w`` is ``1 / sigma``).

:func:`compare` pools the chapter's data with each kernel and each width
through a demo back-end and returns :class:`Comparison` rows; the demo draws,
tabulates and saves them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._checks import check_positive_float
from .kernels import KERNELS, get_kernel

#: The book's four kernels (its "Epanechikov" is the triangular kernel).
BOOK_KERNELS = ("gaussian", "boxcar", "constant", "triangular")
#: The book's Gaussian widths sigma (= bandwidths h).
BOOK_WIDTHS = (0.1, 0.2, 0.5, 1.0)
#: What the report says about the section.
SIMILARITY_TEXT = (
    "The newer edition of the section compares kernels as similarities and the Gaussian at several widths. "
    "The book's fourth kernel, labelled 'Epanechikov', is max(1 - |x|, 0): that is the triangular kernel "
    "(Epanechnikov's is 1 - x^2). A width sigma enters the Gaussian as exp(-x^2 / (2 sigma^2)), "
    "so it is the bandwidth h = sigma."
)


@dataclass(frozen=True)
class Comparison:
    """One pooling of the chapter's test inputs: its kernel, bandwidth, predictions and weights."""

    kernel: str
    bandwidth: float
    predictions: np.ndarray
    weights: np.ndarray

    @property
    def label(self) -> str:
        return f"{self.kernel}, bandwidth {self.bandwidth:g}"

    def undefined(self) -> int:
        """Test inputs without an estimate (no key inside a compact kernel's support)."""
        return int(np.isnan(self.predictions).sum())

    def mse(self, truth) -> float:
        """Test mean squared error over the defined predictions (NaN if none is defined)."""
        return masked_mse(self.predictions, truth)


def kernel_title(c: Comparison) -> str:
    """Table row and panel title of a kernel comparison."""
    return f"{c.kernel} kernel (bandwidth {c.bandwidth:g})"


def width_title(c: Comparison) -> str:
    """Table row and panel title of a width comparison."""
    return f"gaussian width {c.bandwidth:g}"


def masked_mse(pred, truth) -> float:
    """Mean squared error of ``pred`` against ``truth`` where ``pred`` is not NaN (NaN if nowhere)."""
    ok = ~np.isnan(pred)
    return float(np.mean((pred[ok] - truth[ok]) ** 2)) if ok.any() else float("nan")


def check_kernels(kernels) -> tuple[str, ...]:
    """The kernel names of the comparison: a non-empty sequence of distinct registered names."""
    names = [kernels] if isinstance(kernels, str) else list(kernels)
    if not names:
        raise ValueError(f"kernels must name at least one kernel (from {', '.join(KERNELS)})")
    out = []
    for name in names:
        try:
            out.append(get_kernel(name).name)
        except (ValueError, TypeError):
            raise ValueError(f"kernels: each must be one of {', '.join(KERNELS)}; got {name!r}") from None
    if len(set(out)) != len(out):
        raise ValueError(f"kernels must not repeat a kernel; got {', '.join(out)}")
    return tuple(out)


def check_widths(widths) -> tuple[float, ...]:
    """The Gaussian widths of the comparison: a non-empty sequence of distinct positive finite numbers."""
    values = [widths] if isinstance(widths, (int, float)) else list(widths)
    if not values:
        raise ValueError("widths must hold at least one positive number")
    out = tuple(check_positive_float(w, "widths: each width") for w in values)
    if len(set(out)) != len(out):
        raise ValueError(f"widths must not repeat a width; got {', '.join(f'{w:g}' for w in out)}")
    return out


def compare(pool, data, *, kernels, bandwidth, widths) -> tuple[list[Comparison], list[Comparison]]:
    """Pool the test inputs with each kernel at ``bandwidth`` and with the Gaussian at each width.

    Parameters
    ----------
    pool : callable
        A demo back-end's ``pool(queries, keys, values, kernel, bandwidth) -> (predictions, weights)``.
    data : Dataset
    kernels : sequence of str
    bandwidth : float
        Bandwidth of the kernel comparison (the book's unit width is 1).
    widths : sequence of float
        Bandwidths of the Gaussian comparison.

    Returns
    -------
    by_kernel, by_width : list of Comparison
    """

    def one(kernel, h):
        pred, weights = pool(data.x_test, data.x_train, data.y_train, get_kernel(kernel), h)
        return Comparison(kernel, float(h), np.asarray(pred, dtype=float), np.asarray(weights, dtype=float))

    return [one(k, bandwidth) for k in kernels], [one("gaussian", w) for w in widths]
