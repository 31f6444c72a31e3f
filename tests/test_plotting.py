import numpy as np
import pytest
from matplotlib.figure import Figure

import nadaraya as nw
from nadaraya import plotting


def test_fit_plot_draws_on_given_axes_and_saves(tmp_path):
    data = nw.make_dataset(seed=0)
    ax = Figure().add_subplot()
    out = plotting.plot_kernel_reg(data.x_test, data.y_truth, data.y_truth, data.x_train, data.y_train, ax=ax, title="t")
    assert out is ax
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Truth", "Pred"]
    assert ax.get_xlim() == (0, 5) and ax.get_ylim() == (-1, 5)
    plotting.save_figure(ax, tmp_path / "fit.png")
    assert (tmp_path / "fit.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_heatmap_grid_shape_and_colorbar():
    w = np.random.default_rng(0).dirichlet(np.ones(6), size=(2, 3, 4))
    axes = plotting.show_heatmaps(w, titles=["a", "b", "c"])
    assert axes.shape == (2, 3)
    assert len(axes[0, 0].figure.axes) == 7  # six heatmaps and a colour bar
    with pytest.raises(ValueError, match=r"\(rows, cols, queries, keys\)"):
        plotting.show_heatmaps(w[0])


def test_loss_curve_new_axes():
    ax = plotting.plot_loss([3.0, 2.0, 1.5])
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), [1, 2, 3])


def test_plotting_leaves_rcparams_alone():
    import matplotlib

    before = dict(matplotlib.rcParams)
    plotting.plot_loss([1.0])
    assert dict(matplotlib.rcParams) == before


def test_kernel_plot_draws_the_books_shapes():
    u = np.linspace(-2.5, 2.5, 101)
    axes = plotting.plot_kernels(["gaussian", "boxcar", "constant", "triangular"], u=u)
    expected = [np.exp(-(u**2) / 2), (np.abs(u) <= 1).astype(float), np.ones_like(u), np.maximum(1 - np.abs(u), 0)]
    for ax, want in zip(axes, expected):
        np.testing.assert_allclose(ax.lines[0].get_ydata(), want, atol=1e-15)
    assert [ax.get_title() for ax in axes] == ["gaussian", "boxcar", "constant", "triangular"]
    with pytest.raises(ValueError, match="kernel must be one of"):
        plotting.plot_kernels(["gauss"])


def test_fit_row_uses_the_chapters_axes():
    data = nw.make_dataset(seed=0)
    preds = {"a": data.y_truth, "b": data.y_truth + 1}
    axes = plotting.plot_fits(data.x_test, data.y_truth, preds, data.x_train, data.y_train)
    assert [ax.get_title() for ax in axes] == ["a", "b"]
    for ax in axes:
        assert ax.get_xlim() == (0, 5) and ax.get_ylim() == (-1, 5)
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Truth", "Pred"]
    with pytest.raises(ValueError, match="one Axes per prediction"):
        plotting.plot_fits(data.x_test, data.y_truth, preds, data.x_train, data.y_train, axes=[Figure().add_subplot()])
