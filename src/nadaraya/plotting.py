"""Figures of the chapter: fit plot, attention heatmaps, loss curve.

Every function takes ``ax=None`` (or ``axes=None``), draws with Matplotlib's
object API (no pyplot state, no rcParams edits) and returns what it drew on.
Without ``ax`` a new :class:`matplotlib.figure.Figure` is made; save it with
:func:`save_figure`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_kernel_reg", "show_heatmaps", "plot_loss", "save_figure"]


def _new_axes(figsize=(4.5, 3.2)):
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    return fig.add_subplot()


def plot_kernel_reg(x_test, y_truth, y_hat, x_train, y_train, *, ax=None, title=None, band=None,
                    xlim=(0, 5), ylim=(-1, 5), xlabel="x", ylabel="y"):
    """The chapter's fit plot: Truth and Pred over the test inputs, training points as circles.

    Parameters
    ----------
    x_test, y_hat : array_like, shape (m,)
    y_truth : array_like, shape (m,), or None
        The noise-free truth, when known.
    x_train, y_train : array_like, shape (n,)
    ax : matplotlib Axes, optional
    title : str, optional
    band : tuple of two arrays of shape (m,), optional
        Lower and upper edges of a confidence band to shade.
    xlim, ylim : pair or None
        Axis limits (the chapter's by default; None scales to the data).
    xlabel, ylabel : str

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = _new_axes() if ax is None else ax
    if y_truth is not None:
        ax.plot(x_test, y_truth, label="Truth")
    ax.plot(x_test, y_hat, linestyle="--", label="Pred")
    if band is not None:
        ax.fill_between(x_test, band[0], band[1], alpha=0.2, label="band")
    ax.plot(x_train, y_train, "o", alpha=0.5, markersize=4)
    ax.set(xlabel=xlabel, ylabel=ylabel)
    if xlim is not None:
        ax.set_xlim(*xlim)
    if ylim is not None:
        ax.set_ylim(*ylim)
    if title:
        ax.set_title(title)
    ax.legend(loc="upper right")
    return ax


def show_heatmaps(matrices, *, xlabel="Keys", ylabel="Queries", titles=None, axes=None, cmap="Reds"):
    """A grid of heatmaps in the spirit of d2l's ``show_heatmaps``.

    Parameters
    ----------
    matrices : array_like, shape (rows, cols, queries, keys)
    xlabel, ylabel : str
        Labels of the bottom row and the left column.
    titles : sequence of str, optional
        One per column.
    axes : ndarray of Axes, shape (rows, cols), optional
    cmap : str

    Returns
    -------
    ndarray of matplotlib.axes.Axes, shape (rows, cols)
    """
    mats = np.asarray(matrices, dtype=float)
    if mats.ndim != 4:
        raise ValueError(f"matrices must have shape (rows, cols, queries, keys); got shape {mats.shape}")
    rows, cols = mats.shape[:2]
    if axes is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(2.8 * cols + 0.8, 2.6 * rows), layout="constrained")
        axes = np.asarray(fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False))
    axes = np.asarray(axes).reshape(rows, cols)
    finite = mats[np.isfinite(mats)]
    vmax = float(finite.max()) if finite.size else 1.0
    image = None
    for i in range(rows):
        for j in range(cols):
            ax = axes[i, j]
            image = ax.imshow(mats[i, j], cmap=cmap, vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest")
            if i == rows - 1:
                ax.set_xlabel(xlabel)
            if j == 0:
                ax.set_ylabel(ylabel)
            if titles is not None:
                ax.set_title(titles[j])
    axes[0, 0].figure.colorbar(image, ax=axes.ravel().tolist(), shrink=0.6)
    return axes


def plot_loss(losses, *, ax=None, title="Training loss"):
    """Loss by epoch (epochs counted from 1).

    Returns
    -------
    matplotlib.axes.Axes
    """
    losses = np.asarray(losses, dtype=float)
    ax = _new_axes() if ax is None else ax
    epochs = np.arange(1, losses.shape[0] + 1)
    ax.plot(epochs, losses, marker="o")
    ax.set(xlabel="epoch", ylabel="loss", xlim=(0.5, max(1, losses.shape[0]) + 0.5), title=title)
    ax.xaxis.get_major_locator().set_params(integer=True)
    return ax


def save_figure(ax_or_fig, path, *, dpi=110) -> None:
    """Save the figure holding ``ax_or_fig`` (an Axes, an array of Axes or a Figure) as PNG."""
    obj = np.asarray(ax_or_fig, dtype=object).ravel()[0]
    fig = getattr(obj, "figure", obj)
    fig.savefig(path, dpi=dpi, format="png")
