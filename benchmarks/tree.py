#!/usr/bin/env python
"""The tree engine (``nadaraya.engines.tree``) beside its peers: issue 11's table.

Cases (``--only NAME``, repeatable), sizes at ``--scale 1`` (the issue's):

epan2d    2-D Epanechnikov, m = n = 10^6 uniform on [0, 1]^2, h with ~50 keys in
          the support; beside a cKDTree + scipy.sparse script (sparse_distance_matrix,
          then the sparse weights times v), which is exact too: max difference reported
gauss3d   3-D Gaussian, m = n = 2 * 10^5 uniform on [0, 1]^3, h with ~50 keys within h,
          tol 1e-10; beside the exact stream engine (ratio, and error / (tol max|y|))
gauss3dwide  3-D Gaussian, m = n = 3 * 10^4 uniform on [0, 1]^3, h = 0.5 (every key within a few
          bandwidths: little to drop, Taylor series near node centres), tol 1e-10; beside the
          exact stream engine (the tree must not lose there)
gauss2d   2-D Gaussian, m = n = 10^6, h = 0.01, tol 1e-10 (target: under 30 s); error
          against the stream engine on 2000 of the queries
kde3d     the Gaussian sums scikit-learn's KernelDensity (kd_tree, rtol = 1e-10) can
          express (values = 1), on gauss3d's inputs: log-density difference and ratio
loo4d     leave-one-out bandwidth search (``nadaraya.bandwidth.search_bandwidth``, engine
          "auto", which takes the tree engine), 4-D Epanechnikov, n = 10^5 uniform on
          [0, 1]^4 (target: under 30 s); the time, objective evaluations and bandwidth
loo2d     the same, 2-D Gaussian, n = 2 * 10^5 (target: under 60 s)

``--crossover`` instead times the tree and stream engines in this process on
m = n from 2,000 to 64,000, uniform data in d = 1, 2, 3, 4, 6, 8 with Scott's
bandwidth (``h = n**(-1 / (d + 4))`` times the data's standard deviation), for
the Gaussian, Laplace, Epanechnikov and tricube kernels: the measurements
behind the "auto" rule (``nadaraya.engines.tree.prefer``).

Every implementation runs in a fresh subprocess (``--run CASE IMPL``) that
times one warm call (after a small call that loads the compiled code) and
reports its peak RSS (``ru_maxrss``) and tracemalloc peak; results go through
``.npy`` files in a temporary folder. Prints a markdown table.

    python benchmarks/tree.py                    # the full table (long: run it on an idle machine)
    python benchmarks/tree.py --scale 0.05       # smaller m = n (h rescaled to keep ~50 keys per support)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

CASES = ("epan2d", "gauss3d", "gauss3dwide", "gauss2d", "kde3d", "loo4d", "loo2d")
LOO = {"loo4d": (100_000, 4, "epanechnikov"), "loo2d": (200_000, 2, "gaussian")}
IMPLS = {
    "epan2d": ("tree", "ckdtree"),
    "gauss3d": ("tree", "stream"),
    "gauss3dwide": ("tree", "stream"),
    "gauss2d": ("tree", "stream_sample"),
    "kde3d": ("tree_logsum", "sklearn"),
    "loo4d": ("loo",),
    "loo2d": ("loo",),
}
TOL = 1e-10


def inputs(case: str, scale: float):
    """(queries, keys, values, h, kernel) of a case, from a fixed seed."""
    rng = np.random.default_rng(11)
    if case in LOO:
        n0, d, kernel = LOO[case]
        n = max(1000, int(n0 * scale))
        keys = rng.uniform(size=(n, d))
        return keys, keys, np.sin(6.0 * keys).sum(axis=1) + rng.normal(scale=0.1, size=n), None, kernel
    if case == "epan2d":
        n = max(1000, int(1_000_000 * scale))
        h = math.sqrt(50.0 / (math.pi * n))  # n pi h^2 = 50 keys in the support
        d, kernel = 2, "epanechnikov"
    elif case == "gauss3dwide":
        n = max(1000, int(30_000 * scale))
        h, d, kernel = 0.5, 3, "gaussian"
    elif case in ("gauss3d", "kde3d"):
        n = max(1000, int(200_000 * scale))
        h = (50.0 / (n * 4.0 / 3.0 * math.pi)) ** (1.0 / 3.0)  # 50 keys within h
        d, kernel = 3, "gaussian"
    else:
        n = max(1000, int(1_000_000 * scale))
        h, d, kernel = 0.01, 2, "gaussian"
    keys = rng.uniform(size=(n, d))
    queries = rng.uniform(size=(n, d))
    values = np.sin(6.0 * keys).sum(axis=1) + rng.normal(scale=0.1, size=n)
    return queries, keys, values, h, kernel


def _tree(q, k, v, h, kernel, threads):
    from nadaraya._checks import prepare
    from nadaraya.engines import tree
    from nadaraya.kernels import KERNELS

    p = prepare(q, k, v, h)
    return tree.pool(p.queries, p.keys, p.values, KERNELS[kernel], num_threads=threads, tol=TOL)[0, :, 0]


def _tree_logsum(q, k, v, h, kernel, threads):
    """log sum_j K with K(0) = 1, from the tree engine's partials (values = 1)."""
    from nadaraya._checks import prepare
    from nadaraya.engines import tree
    from nadaraya.kernels import KERNELS

    p = prepare(q, k, np.ones(k.shape[0]), h)
    part = tree.partials(p.queries, p.keys, p.values, KERNELS[kernel], num_threads=threads, tol=TOL)
    return part.max_score[0] + np.log(part.denominator[0])


def _stream(q, k, v, h, kernel, threads):
    from nadaraya._checks import prepare
    from nadaraya.engines import stream
    from nadaraya.kernels import KERNELS

    p = prepare(q, k, v, h)
    return stream.pool(p.queries, p.keys, p.values, KERNELS[kernel], num_threads=threads)[0, :, 0]


def _ckdtree(q, k, v, h, kernel, threads):
    """The script a user writes: neighbours within h, Epanechnikov weights as a sparse matrix, W v / W 1."""
    import scipy.sparse as sp
    from scipy.spatial import cKDTree

    dist = cKDTree(q).sparse_distance_matrix(cKDTree(k), h, output_type="coo_matrix")
    w = 1.0 - (dist.data / h) ** 2
    W = sp.csr_matrix((w, (dist.row, dist.col)), shape=(q.shape[0], k.shape[0]))
    with np.errstate(invalid="ignore"):
        return (W @ v) / (W @ np.ones_like(v))


def _sklearn(q, k, v, h, kernel, threads):
    """log sum_j exp(-|q - k_j|^2 / (2 h^2)) from KernelDensity (undoing its normalisation)."""
    from sklearn.neighbors import KernelDensity

    kde = KernelDensity(kernel="gaussian", bandwidth=h, algorithm="kd_tree", rtol=TOL).fit(k)
    d = k.shape[1]
    return kde.score_samples(q) + math.log(k.shape[0]) + 0.5 * d * math.log(2.0 * math.pi * h * h)


def _loo(q, k, v, h, kernel, threads, engine="auto"):
    """The leave-one-out search a user runs (engine "auto"): returns (evaluations, bandwidths...)."""
    from nadaraya.bandwidth import search_bandwidth

    with _numba_threads(threads):
        res = search_bandwidth(k, v, kernel=kernel, engine=engine)
    return np.concatenate([[res.evaluations], np.atleast_1d(res.bandwidth)])


@contextlib.contextmanager
def _numba_threads(threads):
    """Numba's thread count set to ``threads`` (the engines' default) for the block, restored after."""
    import numba

    previous = numba.get_num_threads()
    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))
    try:
        yield
    finally:
        numba.set_num_threads(previous)


RUNNERS = {"loo": _loo, "tree": _tree, "tree_logsum": _tree_logsum, "stream": _stream, "stream_sample": _stream,
           "ckdtree": _ckdtree, "sklearn": _sklearn}


def run_one(case: str, impl: str, scale: float, threads: int, out: Path) -> dict:
    """Time one implementation in this (fresh) process; save its result to ``out``."""
    q, k, v, h, kernel = inputs(case, scale)
    if impl == "stream_sample":
        q = q[:2000]
    fn = RUNNERS[impl]
    if impl == "loo":  # load / compile the tree engine, which "auto" takes at full size only
        _loo(None, k[:2000], v[:2000], h, kernel, threads, engine="tree")
    else:
        fn(q[:200], k[:2000], v[:2000], h, kernel, threads)  # load / compile
    tracemalloc.start()
    t0 = time.perf_counter()
    res = fn(q, k, v, h, kernel, threads)
    wall = time.perf_counter() - t0
    traced = tracemalloc.get_traced_memory()[1]
    np.save(out, np.asarray(res, dtype=np.float64))
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"wall_s": wall, "peak_rss_bytes": rss, "tracemalloc_peak_bytes": traced, "m": q.shape[0], "n": k.shape[0]}


def _subprocess(case, impl, scale, threads, folder):
    out = Path(folder) / f"{case}-{impl}.npy"
    cmd = [sys.executable, __file__, "--run", case, impl, "--scale", str(scale), "--threads", str(threads),
           "--out", str(out)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        return {"error": res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit {res.returncode}"}
    info = json.loads(res.stdout.strip().splitlines()[-1])
    info["result"] = np.load(out)
    return info


def _row(case, a_name, a, b_name, b, v):
    if "error" in a or "error" in b:
        return f"| {case} | {a_name}: {a.get('error', 'ok')} | {b_name}: {b.get('error', 'ok')} | | | |"
    x, y = a["result"], b["result"]
    if case == "gauss2d":
        x = x[: y.shape[0]]
    scale = 1.0 if case == "kde3d" else float(np.abs(v).max())
    finite = np.isfinite(x) & np.isfinite(y)
    err = float(np.abs(x[finite] - y[finite]).max()) / scale
    same_nan = bool(np.array_equal(np.isnan(x), np.isnan(y)))
    ratio = b["wall_s"] / a["wall_s"] if case != "gauss2d" else float("nan")
    mem = f"{a['peak_rss_bytes'] / 2**20:.0f} / {b['peak_rss_bytes'] / 2**20:.0f}"
    return (f"| {case} (m = n = {a['n']:,}) | {a_name} {a['wall_s']:.2f} s | {b_name} {b['wall_s']:.2f} s "
            f"| {ratio:.1f}x | {err:.2e}{'' if same_nan else ' (NaN differ)'} | {mem} |")


def _loo_row(case, a):
    if "error" in a:
        return f"| {case} | loo: {a['error']} | | | | |"
    n0, d, kernel = LOO[case]
    evals, h = int(a["result"][0]), a["result"][1:]
    return (f"| {case} ({kernel}, d = {d}, n = {a['n']:,}) | search {a['wall_s']:.2f} s | {evals} evaluations, "
            f"h = {np.array2string(h, precision=3)} | | | {a['peak_rss_bytes'] / 2**20:.0f} |")


def crossover(threads: int, sizes=(2000, 8000, 32000, 64000)):
    """Stream time / tree time, by kernel, d and m = n (Scott's bandwidth on uniform data)."""
    from nadaraya._checks import prepare
    from nadaraya.engines import stream, tree
    from nadaraya.kernels import KERNELS

    print("| kernel | d | " + " | ".join(f"n = {n:,}" for n in sizes) + " |")
    print("|---|---|" + "---|" * len(sizes))
    rng = np.random.default_rng(0)
    for kernel in ("gaussian", "laplace", "epanechnikov", "tricube"):
        for d in (1, 2, 3, 4, 6, 8):
            cells = []
            for n in sizes:
                x = rng.uniform(size=(n, d))
                p = prepare(x, x, np.sin(x.sum(axis=1)), x.std() * n ** (-1.0 / (d + 4)))
                args = (p.queries, p.keys, p.values, KERNELS[kernel])
                times = []
                for engine in (tree, stream):
                    engine.pool(*(a[:, :200] for a in args[:3]), args[3], num_threads=threads)  # compile / load
                    t0 = time.perf_counter()
                    engine.pool(*args, num_threads=threads)
                    times.append(time.perf_counter() - t0)
                cells.append(f"{times[1] / times[0]:.2f}")
            print(f"| {kernel} | {d} | " + " | ".join(cells) + " |", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", action="append", choices=CASES)
    ap.add_argument("--scale", type=float, default=1.0, help="fraction of the issue's m = n (default 1)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--crossover", action="store_true", help="stream / tree time ratios behind the auto rule")
    ap.add_argument("--run", nargs=2, metavar=("CASE", "IMPL"), help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.run:
        print(json.dumps(run_one(*args.run, args.scale, args.threads, Path(args.out))))
        return
    print(f"threads {args.threads}, scale {args.scale}, tol {TOL:g}, load {os.getloadavg()[0]:.1f}\n")
    if args.crossover:
        crossover(args.threads)
        return
    print("| case | tree | peer | peer / tree | max difference (/ max abs y; kde: log) | peak RSS MiB tree / peer |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for case in args.only or CASES:
            if case in LOO:
                a = _subprocess(case, "loo", args.scale, args.threads, folder)
                print(_loo_row(case, a), flush=True)
                continue
            a_name, b_name = IMPLS[case]
            a = _subprocess(case, a_name, args.scale, args.threads, folder)
            b = _subprocess(case, b_name, args.scale, args.threads, folder)
            print(_row(case, a_name, a, b_name, b, inputs(case, args.scale)[2]), flush=True)


if __name__ == "__main__":
    main()
