"""The fit plot of ``nadaraya fit``: the fitted curve on a grid, its 95 % band and the data.

The format follows the file's suffix (:data:`FORMATS`): SVG, the default, is
written by :mod:`nadaraya._svgplot` without importing Matplotlib (which with
its Agg rendering takes ~0.5 s, more than the rest of a 1,000-row fit adds
to its imports); PNG and PDF are drawn by Matplotlib through
:func:`nadaraya.plotting.plot_kernel_reg`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["FORMATS", "GRID", "plot_format", "write_fit_plot"]

FORMATS = ("svg", "png", "pdf")  #: the plot's formats, by the file's suffix
GRID = 200  #: points of the curve and the band, evenly spaced over the data's range


def plot_format(path) -> str:
    """The format named by ``path``'s suffix (case-insensitive); a ValueError naming ``--plot`` otherwise."""
    fmt = path.suffix[1:].lower()
    if fmt not in FORMATS:
        raise ValueError(f"--plot {str(path)!r}: the plot's format comes from its suffix; name a file ending in "
                         f"{', '.join('.' + f for f in FORMATS)}")
    return fmt


def write_fit_plot(path, fmt: str, model, x, y, **labels) -> None:
    """Draw ``model``'s fit over the range of ``x`` with its band and the points (x, y) into ``path`` as ``fmt``.

    ``model`` has ``predict`` and ``predict_interval`` taking (m, 1) inputs;
    ``labels`` are ``title``, ``xlabel`` and ``ylabel``.
    """
    grid = np.linspace(np.min(x), np.max(x), GRID)
    fit, band = model.predict(grid[:, None]), model.predict_interval(grid[:, None])
    if fmt == "svg":
        from ._svgplot import fit_plot_svg

        with open(path, "w", encoding="utf-8") as fh:
            fh.write(fit_plot_svg(grid, fit, band, x, y, **labels))
        return
    from . import plotting  # matplotlib: only for the raster and PDF formats

    ax = plotting.plot_kernel_reg(grid, None, fit, x, y, band=band, xlim=None, ylim=None, **labels)
    plotting.save_figure(ax, path, format=fmt)
