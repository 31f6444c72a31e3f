"""AICc, GCV and leave-one-out against exact hat matrices from R, and their global minima."""

import numpy as np
import pytest
from r_reference import fixture, xy

from nadaraya.stats.criteria import SmootherSummary, aicc, criterion, gcv, smoother_summary
from nadaraya.stats.search import global_search

CASES = [(c["data"], i) for i, c in enumerate(fixture("criteria")["cases"])]


@pytest.mark.parametrize("degree", [0, 1])
@pytest.mark.parametrize("data,case", CASES)
def test_trace_rss_and_criteria_equal_r(data, case, degree):
    ref = fixture("criteria")["cases"][case]
    x, y = xy(data)
    want = ref[f"degree{degree}"]
    for i, h in enumerate(ref["h"]):
        s = smoother_summary(x, y, h, order=degree)
        np.testing.assert_allclose([s.rss, s.trace], [want["rss"][i], want["trace"][i]], rtol=1e-9)
        np.testing.assert_allclose(aicc(s), want["aicc"][i], rtol=1e-9)
        np.testing.assert_allclose(gcv(s), want["gcv"][i], rtol=1e-9)


@pytest.mark.parametrize("name", ["aicc", "gcv"])
@pytest.mark.parametrize("degree", [0, 1])
@pytest.mark.parametrize("data,case", CASES)
def test_global_minimum_equals_r(data, case, degree, name):
    """The search finds R's global minimum (a 200-point grid then optimize) to 1e-6 in h."""
    ref = fixture("criteria")["cases"][case][f"degree{degree}"][f"{name}_min"]
    x, y = xy(data)
    s = np.std(x, ddof=1)
    res = global_search(lambda h: criterion(name, x, y, h[0], order=degree), [s * x.size ** -0.2],
                        lower=[s / 30], upper=[10 * s], allow_infinite=False)
    np.testing.assert_allclose(res.bandwidth[0], ref["h"], rtol=1e-5)
    assert res.value <= ref["value"] + 1e-12 * abs(ref["value"])


def test_aicc_is_infinite_where_trace_plus_two_reaches_n():
    assert aicc(SmootherSummary(rss=1.0, trace=8.0, n=10.0)) == np.inf
    assert np.isfinite(aicc(SmootherSummary(rss=1.0, trace=7.9, n=10.0)))
    assert gcv(SmootherSummary(rss=1.0, trace=10.0, n=10.0)) == np.inf
    x = np.arange(12.0)
    y = np.sin(x)
    tiny = smoother_summary(x, y, 0.05, order=1)  # interpolates: tr H = n
    assert tiny.trace == pytest.approx(12.0) and criterion("aicc", x, y, 0.05, order=1) == np.inf
    assert np.isfinite(criterion("aicc", x, y, 3.0, order=1))


def test_sample_weights_are_repeated_rows():
    x, y = xy("mcycle")
    w = np.random.default_rng(0).integers(1, 4, x.size)
    rep = np.repeat(np.arange(x.size), w)
    for name in ("aicc", "gcv", "loo"):
        if name == "loo":
            continue  # leave-one-out leaves one copy out, not all: not a repeated-rows identity
        a = criterion(name, x, y, 2.0, order=1, sample_weight=w.astype(float))
        b = criterion(name, x[rep], y[rep], 2.0, order=1)
        np.testing.assert_allclose(a, b, rtol=1e-10)


def test_unknown_criterion():
    with pytest.raises(ValueError, match="criterion must be one of"):
        criterion("bic", [1.0, 2.0, 3.0], [1.0, 2.0, 3.0], 1.0)
