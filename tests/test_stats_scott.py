"""Scott's rule as statsmodels' bw_scott and R's bw.nrd (issue 12 item 9)."""

import numpy as np
import pytest
from r_reference import PAIRS, fixture, xy

import nadaraya as nw

bandwidths = pytest.importorskip("statsmodels.nonparametric.bandwidths")


@pytest.mark.parametrize("data", list(PAIRS))
def test_scott_is_statsmodels_bw_scott(data):
    for col in xy(data):
        np.testing.assert_allclose(nw.bandwidth.scott(col), bandwidths.bw_scott(col), rtol=1e-14)


@pytest.mark.parametrize("data", list(PAIRS))
def test_scott_is_r_bw_nrd_up_to_its_rounded_constants(data):
    """R: 1.06 * min(sd, IQR / 1.34) * n^(-1/5); with R's constants our formula gives R's number to 1e-14."""
    for col, which in zip(xy(data), ("x", "y")):
        r = fixture("scott")["bw_nrd"][data][which]
        sd, (q75, q25) = col.std(ddof=1), np.percentile(col, [75, 25])
        np.testing.assert_allclose(1.06 * min(sd, (q75 - q25) / 1.34) * col.size ** -0.2, r, rtol=1e-14)
        assert abs(nw.bandwidth.scott(col)[0] / r - 1) < 0.008


def test_scott_in_the_estimator_and_a_constant_feature():
    x, y = xy("cars")
    model = nw.NadarayaWatsonRegressor(bandwidth="scott").fit(x[:, None], y)
    np.testing.assert_allclose(model.bandwidth_, bandwidths.bw_scott(x), rtol=1e-14)
    with pytest.raises(ValueError, match="X column 1 is constant"):
        nw.NadarayaWatsonRegressor(bandwidth="scott").fit(np.c_[x, np.ones_like(x)], y)
