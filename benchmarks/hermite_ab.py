"""The tree engine's Hermite far-field series on and off, alternating, on the 2-D Gaussian leave-one-out search.

    python benchmarks/hermite_ab.py [N] [REPEATS]     # default 100000 2

Keys uniform on [0, 1]^2, y = sin(x1 + x2) + N(0, 0.1^2); each round times
``search_bandwidth(..., engine="tree")`` with ``HERMITE_ORDER = {}`` and then
with the order tried (the module's default, or {2: 16} when that is off),
in this process after a small warm-up call. Prints order, seconds,
evaluations and the bandwidth chosen (equal in both: the series stays within
the certified ``tol``).
"""

from __future__ import annotations

import sys
import time

import numpy as np

import nadaraya.engines.tree as tree
from nadaraya.bandwidth import search_bandwidth


def main(n: int = 100_000, repeats: int = 2) -> None:
    rng = np.random.default_rng(0)
    keys = rng.uniform(size=(n, 2))
    y = np.sin(keys.sum(axis=1)) + rng.normal(0.0, 0.1, n)
    search_bandwidth(keys[:2000], y[:2000], kernel="gaussian", engine="tree")  # load the compiled code
    tried = dict(tree.HERMITE_ORDER) or {2: 16}
    default = tree.HERMITE_ORDER
    try:
        for _ in range(repeats):
            for order in ({}, tried):
                tree.HERMITE_ORDER = order
                t0 = time.perf_counter()
                res = search_bandwidth(keys, y, kernel="gaussian", engine="tree")
                print(order, f"{time.perf_counter() - t0:.2f} s", res.evaluations, res.bandwidth, flush=True)
    finally:
        tree.HERMITE_ORDER = default


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
