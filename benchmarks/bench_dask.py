"""Section 5, Dask: strong scaling on a LocalCluster with 1 and 2 workers (benchmarks/dask_scaling.py)."""

from __future__ import annotations

import sys

from harness import HERE, QUICK


def run(sizes, threads, repeats) -> dict:
    """Strong scaling on a LocalCluster with 1 and 2 workers (benchmarks/dask_scaling.py)."""
    sys.path.insert(0, str(HERE))
    import dask_scaling

    return dask_scaling.run(quick=sizes is QUICK)


def markdown(s: dict, m: dict) -> list[str]:
    """This section's part of the results page (``s``: its results, ``m``: the machine facts)."""
    lines = []
    lines += [s.get("markdown", "").strip().replace("## Dask strong scaling", "## 5. Dask strong scaling", 1),
              "", f"Measured {s['measured_at']}.", ""]
    return lines
