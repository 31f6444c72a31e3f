import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# JIT compilation makes first examples slow: no per-example deadline.
settings.register_profile("default", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
# CI replays a fixed set of examples (derandomize): a red build is reproducible on any machine.
settings.register_profile(
    "ci", deadline=None, max_examples=60, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "default"))


@pytest.fixture(params=[np.float64, np.float32], ids=["float64", "float32"])
def dtype(request):
    return request.param


def rtol_for(dtype):
    """Tolerance of agreement with the reference, by dtype."""
    return 1e-12 if np.dtype(dtype) == np.float64 else 2e-5
