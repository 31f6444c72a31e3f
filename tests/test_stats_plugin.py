"""The direct plug-in bandwidth against KernSmooth dpill's continuum limit (R fixtures)."""

import numpy as np
import pytest
from r_reference import PAIRS, fixture, xy

from nadaraya.stats.plugin import plugin_bandwidth


@pytest.mark.parametrize("data", list(PAIRS))
def test_plugin_equals_exact_dpill(data):
    """Every intermediate of dpill, and the bandwidth, to 1e-6 relative (most agree to 1e-12)."""
    ref = fixture("plugin")[data]["exact"]
    got = plugin_bandwidth(*xy(data))
    assert got.n_blocks == ref["Nval"]
    for ours, theirs in [("bandwidth", "h"), ("sigma2_quartic", "sigsqQ"), ("theta24", "th24Q"),
                         ("pilot_bandwidth", "gamseh"), ("theta22", "th22"), ("variance_bandwidth", "lamseh"),
                         ("sigma2", "sigsq")]:
        np.testing.assert_allclose(getattr(got, ours), ref[theirs], rtol=1e-6, err_msg=ours)


@pytest.mark.parametrize("data", list(PAIRS))
def test_exact_reference_is_kernsmooths_continuum_limit(data):
    """KernSmooth's own dpill with the 4-sd truncation lifted on 40001 bins converges to the exact value,
    while its defaults (401 bins, truncation) are off by up to a few per cent."""
    ref = fixture("plugin")[data]
    h = plugin_bandwidth(*xy(data)).bandwidth
    np.testing.assert_allclose(h, ref["dpill_untruncated_fine"], rtol=1e-6)
    assert abs(ref["dpill"] / h - 1) < 0.05


def test_ties_and_order_do_not_matter():
    x, y = xy("cars")  # many tied speeds
    perm = np.random.default_rng(0).permutation(len(x))
    # a stable sort keeps tied points in their given order, as R's sort.list does: the blocks
    # then hold the same points, so any order with the same tie order gives the same bandwidth
    base = plugin_bandwidth(x, y).bandwidth
    order = np.argsort(x, kind="stable")
    assert plugin_bandwidth(x[order], y[order]).bandwidth == pytest.approx(base, rel=1e-12)
    assert np.isfinite(plugin_bandwidth(x[perm], y[perm]).bandwidth)


def test_bad_input():
    with pytest.raises(ValueError, match="same length"):
        plugin_bandwidth([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="at least 10 points"):
        plugin_bandwidth(np.ones(30), np.arange(30.0))
