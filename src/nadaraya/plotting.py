"""Figures of the chapter: kernel shapes, fit plots, attention heatmaps, loss curve.

Every function takes ``ax=None`` (or ``axes=None``), draws with Matplotlib's
object API (no pyplot state, no rcParams edits) and returns what it drew on.
Without ``ax`` a new :class:`matplotlib.figure.Figure` is made; save it with
:func:`save_figure`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plot_kernel_reg", "plot_fits", "plot_kernels", "show_heatmaps", "plot_loss", "save_figure"]


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


def _row_of_axes(cols, *, width=2.8, height=2.6, sharey=True):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * cols + 0.4, height), layout="constrained")
    return np.asarray(fig.subplots(1, cols, sharey=sharey, squeeze=False))[0]


def plot_fits(x_test, y_truth, predictions, x_train, y_train, *, axes=None, **options):
    """Fit plots side by side, one per named prediction (the book's four-panel comparisons).

    Parameters
    ----------
    x_test, x_train, y_train, y_truth : array_like
        As in :func:`plot_kernel_reg`.
    predictions : dict of str to array_like, shape (m,)
        Panel title to predictions, drawn left to right.
    axes : sequence of Axes, optional
        One per prediction.
    **options
        Passed on to :func:`plot_kernel_reg` (``xlim``, ``ylim``, labels).

    Returns
    -------
    ndarray of matplotlib.axes.Axes, shape (len(predictions),)

    Examples
    --------
    >>> import nadaraya as nw
    >>> from nadaraya.plotting import plot_fits
    >>> d = nw.make_dataset(seed=0)
    >>> preds = {f"h = {h}": nw.attention_pool(d.x_test, d.x_train, d.y_train, bandwidth=h) for h in (0.2, 1.0)}
    >>> plot_fits(d.x_test, d.y_truth, preds, d.x_train, d.y_train).shape
    (2,)
    """
    axes = _row_of_axes(len(predictions)) if axes is None else np.asarray(axes).ravel()
    if axes.shape[0] != len(predictions):
        raise ValueError(f"axes must hold one Axes per prediction ({len(predictions)}); got {axes.shape[0]}")
    for ax, (title, y_hat) in zip(axes, predictions.items()):
        plot_kernel_reg(x_test, y_truth, y_hat, x_train, y_train, ax=ax, title=title, **options)
    return axes


def plot_kernels(kernels, *, axes=None, u=None):
    """Each kernel's shape K(u) on its own panel, scaled so that K(0) = 1 (the book's kernel plot).

    Parameters
    ----------
    kernels : sequence of str or Kernel
    axes : sequence of Axes, optional
        One per kernel.
    u : array_like, optional
        Scaled distances to draw; default 201 points on [-2.5, 2.5], the book's range.

    Returns
    -------
    ndarray of matplotlib.axes.Axes, shape (len(kernels),)

    Examples
    --------
    >>> from nadaraya.plotting import plot_kernels
    >>> axes = plot_kernels(["gaussian", "triangular"])
    >>> [ax.get_title() for ax in axes]
    ['gaussian', 'triangular']
    >>> float(axes[1].lines[0].get_ydata().max())
    1.0
    """
    from .kernels import get_kernel

    kerns = [get_kernel(k) for k in kernels]
    u = np.linspace(-2.5, 2.5, 201) if u is None else np.asarray(u, dtype=float)
    axes = _row_of_axes(len(kerns), height=2.4) if axes is None else np.asarray(axes).ravel()
    if axes.shape[0] != len(kerns):
        raise ValueError(f"axes must hold one Axes per kernel ({len(kerns)}); got {axes.shape[0]}")
    for ax, kern in zip(axes, kerns):
        ax.plot(u, kern(u) / kern(np.zeros(1))[0])
        ax.set(title=kern.name, xlabel="u = (q - k) / h", ylim=(-0.05, 1.1))
    axes[0].set_ylabel("K(u)")
    return axes


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


def save_figure(ax_or_fig, path, *, dpi=110, format="png") -> None:
    """Save the figure holding ``ax_or_fig`` (an Axes, an array of Axes or a Figure), as PNG unless ``format`` says."""
    obj = np.asarray(ax_or_fig, dtype=object).ravel()[0]
    fig = getattr(obj, "figure", obj)
    fig.savefig(path, dpi=dpi, format=format)
