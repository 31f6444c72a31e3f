#!/usr/bin/env python
"""Time the stream engine per kernel, d and dtype (best of a few repeats, fixed threads).

Used to check that moving the per-kernel weight functions into the kernel
registry left the engine's speed alone: run it once against each source tree
(``PYTHONPATH=old/src`` and ``PYTHONPATH=new/src``) and compare the JSON.

    python benchmarks/stream_kernels.py --n 20000 --threads 2 --repeat 3 --out times.json
"""

from __future__ import annotations

import argparse
import json
import time

import numba
import numpy as np


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000, help="m = n (default 20000)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="best of this many calls (after a warm-up)")
    ap.add_argument("--kernels", default="gaussian,epanechnikov")
    ap.add_argument("--dims", default="1,8")
    ap.add_argument("--out", help="write the times (seconds) as JSON here")
    args = ap.parse_args(argv)

    from nadaraya.engines import stream
    from nadaraya.kernels import KERNELS

    rng = np.random.default_rng(0)
    times = {}
    previous = numba.get_num_threads()
    numba.set_num_threads(args.threads)
    try:
        for d in (int(x) for x in args.dims.split(",")):
            q0 = rng.uniform(0, 10, (1, args.n, d))
            k0 = rng.uniform(0, 10, (1, args.n, d))
            v0 = rng.normal(size=(1, args.n, 1))
            for dtype in (np.float64, np.float32):
                q, k, v = (np.ascontiguousarray(a, dtype=dtype) for a in (q0, k0, v0))
                for name in args.kernels.split(","):
                    kern = KERNELS[name]
                    stream.pool(q[:, :64], k, v, kern)  # compile / load from cache
                    best = np.inf
                    for _ in range(args.repeat):
                        t0 = time.perf_counter()
                        stream.pool(q, k, v, kern)
                        best = min(best, time.perf_counter() - t0)
                    key = f"{name} d={d} {np.dtype(dtype).name}"
                    times[key] = best
                    print(f"{key:32s} {best:8.4f} s", flush=True)
    finally:
        numba.set_num_threads(previous)
    if args.out:
        with open(args.out, "w") as fh:
            json.dump(times, fh, indent=1)


if __name__ == "__main__":
    main()
