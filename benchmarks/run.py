#!/usr/bin/env python
"""Benchmarks of nadaraya, side by side with its peers, in one run on the same inputs.

Writes ``benchmarks/results/<YYYY-MM-DD>.md``, ``<YYYY-MM-DD>.json`` and
``benchmarks/results/latest.md`` (``--quick`` writes ``<YYYY-MM-DD>-quick.*``
and leaves ``latest.md`` alone) and prints the markdown at the end.

Sections (``--only NAME``, repeatable):

throughput  dense Gaussian kernel evaluations per second (m * n / time) of the
            "stream" engine against the machine's ceiling (numpy.exp in cache,
            times the threads used), pykeops, statsmodels and the book's tiled
            PyTorch code
scale       1-D, m = n = 10^6: wall time, compile time and peak memory (one
            fresh subprocess per case) of the "sorted" engine, and the error
            of its Gaussian fast path against the exact "stream" engine
loo         leave-one-out mean squared residual at a fixed bandwidth, n = 10^5
select      leave-one-out bandwidth selection: n = 1,000 beside statsmodels'
            KernelReg(bw="cv_ls"), and n = 10^5 alone, in 1-D and 4-D
dask        strong scaling on a LocalCluster with 1 and 2 workers
            (benchmarks/dask_scaling.py)

Every timing is the best of a few repeats (``time.perf_counter``) after a
warm-up call; a case whose single call is long gets fewer repeats (the table
says how many).  Run ``python benchmarks/run.py --help`` for the flags.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import importlib.metadata
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
import traceback
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SECTIONS = ("throughput", "scale", "loo", "select", "dask")
ALIASES = {"1": "throughput", "2": "scale", "3": "loo", "4": "select", "5": "dask"}
MiB = 1024.0**2
GiB = 1024.0**3

# Sizes of a full run and of a --quick smoke run.
FULL = {
    "tp_n": 20_000,  # m = n for the throughput section
    "tp_statsmodels_m": 200,  # statsmodels is slow: a subsample of queries
    "tp_dense_m": 2_000,  # nadaraya's NumPy reference engine, for scale
    "tp_torch_calib_m": 400,  # queries used to measure the book code's bytes per pair
    "sc_n": 1_000_000,
    "sc_check": 2_000,  # queries checked against the exact stream engine
    "sc_warm": 20_000,  # warm-up size (same distribution), so the timed call compiles nothing
    "loo_n": 100_000,
    "sel_small_n": 1_000,  # bandwidth selection beside statsmodels' cv_ls
    "sel_big_n": 100_000,  # bandwidth selection alone
    "budget_s": 20.0,  # stop repeating a case once this much time went into it
}
QUICK = {
    "tp_n": 2_000,
    "tp_statsmodels_m": 50,
    "tp_dense_m": 2_000,
    "tp_torch_calib_m": 200,
    "sc_n": 100_000,
    "sc_check": 200,
    "sc_warm": 2_000,
    "loo_n": 5_000,
    "sel_small_n": 200,
    "sel_big_n": 5_000,
    "budget_s": 3.0,
}
TP_BANDWIDTH = 1.0
SC_BANDWIDTH = 0.05
LOO_BANDWIDTH = {1: 0.1, 4: 0.5}
NOISE = 0.5


# ----------------------------------------------------------------------------- helpers


def target(x: np.ndarray) -> np.ndarray:
    """The chapter's regression function 2 sin x + x^0.8, averaged over the input dimensions."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    return (2.0 * np.sin(x) + x**0.8).mean(axis=1)


def make_data(m: int, n: int, d: int, dtype: str = "float64", seed: int = 0, queries_from_keys: bool = False):
    """Queries (m, d), keys (n, d) uniform on [0, 5)^d and values target(keys) + N(0, 0.5^2).

    With d = 1 the arrays are 1-D, as a user of the chapter's data would pass them.
    The same ``seed`` gives the same inputs in every process.
    """
    rng = np.random.default_rng(seed)
    keys = rng.uniform(0.0, 5.0, size=(n, d))
    values = target(keys) + rng.normal(0.0, NOISE, size=n)
    queries = keys[:m].copy() if queries_from_keys else rng.uniform(0.0, 5.0, size=(m, d))
    if d == 1:
        keys, queries = keys[:, 0], queries[:, 0]
    cast = lambda a: np.ascontiguousarray(a, dtype=dtype)  # noqa: E731
    return cast(queries), cast(keys), cast(values)


def best_of(fn, repeats: int, budget_s: float):
    """Call ``fn`` up to ``repeats`` times; stop early once the next call would exceed ``budget_s``.

    Returns (best seconds, number of runs, last result). At least one run.
    """
    best, total, runs, out = math.inf, 0.0, 0, None
    while runs < repeats:
        out = None  # free the previous result before the next call
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best, total, runs = min(best, dt), total + dt, runs + 1
        if total + best > budget_s:
            break
    return best, runs, out


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def short_error(exc: BaseException) -> str:
    msg = str(exc).strip().splitlines()
    first = next((line for line in msg if line.strip()), "")
    return f"{type(exc).__name__}: {first[:200]}"


def proc_status(field: str) -> int | None:
    """A ``VmRSS``/``VmHWM``-style field of /proc/self/status, in bytes (None where unavailable)."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak_rss() -> bool:
    """Reset the process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def maxrss_bytes() -> int:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r if sys.platform == "darwin" else r * 1024


def available_memory() -> int:
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    return 0


def run_worker(spec: dict, timeout: float = 900.0) -> dict:
    """Run one measurement in a fresh Python process (``run.py --worker JSON``); return its JSON answer."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    if proc.returncode < 0:
        sig = -proc.returncode
        why = " (out of memory?)" if sig == 9 else ""
        return {"error": f"worker killed by signal {sig}{why}"}
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return {"error": f"worker failed (exit {proc.returncode}): {tail[:200]}"}


def cpu_snapshot():
    """(busy, total) jiffies of the whole machine from /proc/stat, and this process's CPU seconds with its children."""
    busy = total = None
    try:
        with open("/proc/stat") as fh:
            f = [int(x) for x in fh.readline().split()[1:]]
        idle = f[3] + (f[4] if len(f) > 4 else 0)
        total = sum(f[:8])
        busy = total - idle
    except (OSError, ValueError, IndexError):
        pass
    own = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        r = resource.getrusage(who)
        own += r.ru_utime + r.ru_stime
    return busy, total, own


def other_load(start, end) -> float | None:
    """Cores' worth of CPU that other processes used between two :func:`cpu_snapshot` calls."""
    if start[0] is None or end[0] is None or end[1] == start[1]:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    wall = (end[1] - start[1]) / hz / (os.cpu_count() or 1)
    busy = (end[0] - start[0]) / hz
    return max(busy - (end[2] - start[2]), 0.0) / wall


def version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_info(threads: int) -> dict:
    cpu, flags = platform.processor() or "unknown", set()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name") and cpu in ("unknown", platform.processor()):
                    cpu = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    ram = None
    try:
        with open("/proc/meminfo") as fh:
            ram = int(next(line for line in fh if line.startswith("MemTotal:")).split()[1]) * 1024
    except (OSError, StopIteration):
        pass
    try:
        cores_usable = len(os.sched_getaffinity(0))
    except AttributeError:
        cores_usable = os.cpu_count()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src"], cwd=HERE, capture_output=True, text=True).stdout.strip()
        commit = (commit + (" (src modified)" if dirty else "")) or None
    except OSError:
        commit = None
    return {
        "date": _dt.datetime.now().isoformat(timespec="seconds"),
        "cpu": cpu,
        "cpu_flags": sorted(f for f in ("avx", "avx2", "fma", "avx512f") if f in flags),
        "cores": os.cpu_count(),
        "cores_usable": cores_usable,
        "threads_used": threads,
        "ram_gib": None if ram is None else round(ram / GiB, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "versions": {
            name: version(name)
            for name in ("nadaraya", "numpy", "numba", "llvmlite", "scipy", "torch", "statsmodels", "pykeops", "psutil")
        },
        "nadaraya_commit": commit,
    }


# ----------------------------------------------------------------------------- section 1: throughput


def exp_ceiling(dtype: str, threads: int, size: int = 4096, inner: int = 2000, repeats: int = 5) -> float:
    """Evaluations per second of ``numpy.exp`` on an in-cache array, times ``threads``."""
    rng = np.random.default_rng(1)
    a = -rng.uniform(0.0, 10.0, size).astype(dtype)  # scores are non-positive after the max shift
    b = np.empty_like(a)

    def loop():
        for _ in range(inner):
            np.exp(a, out=b)

    loop()
    best, _, _ = best_of(loop, repeats, math.inf)
    return size * inner / best * threads


def bench_stream(q, k, v, threads, repeats, budget):
    import nadaraya as nw

    def call(qq=q, kk=k, vv=v):
        return nw.attention_pool(qq, kk, vv, bandwidth=TP_BANDWIDTH, method="stream", num_threads=threads)

    small = min(len(k), 500)
    compile_s, _ = timed(lambda: call(q[:small], k[:small], v[:small]))
    t, runs, out = best_of(call, repeats, budget)
    return {"seconds": t, "runs": runs, "evals_per_s": len(q) * len(k) / t, "compile_s": compile_s}, out


def bench_dense(q, k, v, m, repeats, budget):
    import nadaraya as nw

    qs = q[:m]
    nw.attention_pool(qs[:10], k, v, bandwidth=TP_BANDWIDTH, method="dense")
    t, runs, out = best_of(lambda: nw.attention_pool(qs, k, v, bandwidth=TP_BANDWIDTH, method="dense"), repeats, budget)
    return {"m": len(qs), "seconds": t, "runs": runs, "evals_per_s": len(qs) * len(k) / t}, out


def bench_statsmodels(q, k, v, m, repeats, budget):
    from statsmodels.nonparametric.kernel_regression import KernelReg

    d = 1 if k.ndim == 1 else k.shape[1]
    k64, v64, q64 = (np.asarray(a, dtype=np.float64) for a in (k, v, q[:m]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = KernelReg(endog=[v64], exog=[k64], var_type="c" * d, reg_type="lc", bw=[TP_BANDWIDTH] * d)
        reg.fit(q64[:5])
        t, runs, (mean, _) = best_of(lambda: reg.fit(q64), repeats, budget)
    return {"m": len(q64), "seconds": t, "runs": runs, "evals_per_s": len(q64) * len(k) / t}, mean


def bench_pykeops(q, k, v, threads, repeats, budget):
    os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    with contextlib.redirect_stdout(sys.stderr):  # its import prints a CUDA warning on stdout
        import pykeops

    pykeops.set_verbose(False)
    from pykeops.numpy import LazyTensor

    def pool(qq, kk, vv):
        # The softmax-weighted sum, one symbolic m x n reduction; inputs scaled by 1/h like nadaraya's.
        qs = LazyTensor(np.ascontiguousarray((qq / TP_BANDWIDTH).reshape(len(qq), 1, -1)))
        ks = LazyTensor(np.ascontiguousarray((kk / TP_BANDWIDTH).reshape(1, len(kk), -1)))
        vs = LazyTensor(np.ascontiguousarray(vv.reshape(1, len(vv), 1)))
        return (-0.5 * ((qs - ks) ** 2).sum(-1)).sumsoftmaxweight(vs, axis=1)[:, 0]

    compile_s, _ = timed(lambda: pool(q[:100], k[:100], v[:100]))
    t, runs, out = best_of(lambda: pool(q, k, v), repeats, budget)
    return {"seconds": t, "runs": runs, "evals_per_s": len(q) * len(k) / t, "compile_s": compile_s}, out


def rel_diff(a, b, scale) -> float:
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    return float(np.max(np.abs(a - b)) / scale)


def section_throughput(sizes, threads, repeats) -> dict:
    n, budget = sizes["tp_n"], sizes["budget_s"]
    rows, ceilings = [], {}
    for dtype in ("float64", "float32"):
        ceilings[dtype] = exp_ceiling(dtype, threads)
        log(f"  ceiling numpy.exp {dtype} x {threads}: {ceilings[dtype]:.3g}/s")
    for d in (1, 8):
        for dtype in ("float64", "float32"):
            q, k, v = make_data(n, n, d, dtype)
            scale = float(np.max(np.abs(v)))
            row = {"d": d, "dtype": dtype, "m": n, "n": n, "bandwidth": TP_BANDWIDTH, "threads": threads, "ceiling": {"evals_per_s": ceilings[dtype]}}
            ref = None
            cases = [
                ("stream", lambda: bench_stream(q, k, v, threads, repeats, budget)),
                ("dense", lambda: bench_dense(q, k, v, sizes["tp_dense_m"], repeats, budget)),
                ("pykeops", lambda: bench_pykeops(q, k, v, threads, repeats, budget)),
                ("statsmodels", lambda: bench_statsmodels(q, k, v, sizes["tp_statsmodels_m"], repeats, budget)),
            ]
            for name, fn in cases:
                try:
                    res, out = fn()
                    if name == "stream":
                        ref = out
                    elif ref is not None:
                        res["max_diff_vs_stream"] = rel_diff(out, ref[: len(out)], scale)
                    elif name != "stream":
                        # stream failed: compare against the dense reference instead, on its subsample
                        import nadaraya as nw

                        res["max_diff_vs_dense"] = rel_diff(
                            out, nw.attention_pool(q[: len(out)], k, v, bandwidth=TP_BANDWIDTH, method="dense"), scale
                        )
                except Exception as exc:  # a peer that cannot build or run here: record why
                    res = {"error": short_error(exc)}
                    if os.environ.get("NADARAYA_BENCH_DEBUG"):
                        traceback.print_exc()
                row[name] = res
                log(f"  d={d} {dtype} {name}: " + fmt_cell(res))
            row["torch_book"] = run_worker(
                {
                    "kind": "torch_book",
                    "d": d,
                    "dtype": dtype,
                    "n": n,
                    "calib_m": max(25, sizes["tp_torch_calib_m"] // d),
                    "threads": threads,
                    "repeats": repeats,
                    "budget": budget,
                }
            )
            tb = row["torch_book"]
            head = tb.pop("head", None)
            if ref is not None and head is not None:
                tb["max_diff_vs_stream"] = rel_diff(head, ref[: len(head)], scale)
            log(f"  d={d} {dtype} torch_book: " + fmt_cell(tb))
            s = row["stream"].get("evals_per_s")
            if s:
                row["stream_over_ceiling"] = s / ceilings[dtype]
                if row["pykeops"].get("evals_per_s"):
                    row["stream_over_pykeops"] = s / row["pykeops"]["evals_per_s"]
            rows.append(row)
    return {"rows": rows}


def book_pool_torch(x_train, y_train, x_test, w):
    """The chapter's tiled form: repeat the queries, tile the keys and values, softmax, bmm.

    For 1-D inputs this is the book's code line for line (``NWKernelRegression.forward``
    with ``X_tile``/``Y_tile`` as keys and values); for d > 1 the same
    construction with a trailing feature axis.
    """
    import torch
    from torch import nn

    n_train, n_test = x_train.shape[0], x_test.shape[0]
    if x_train.dim() == 1:
        X_tile = x_train.repeat((n_test, 1))  # keys: (n_test, n_train)
        Y_tile = y_train.repeat((n_test, 1))  # values: (n_test, n_train)
        queries = x_test.repeat_interleave(n_train).reshape((-1, n_train))  # (n_test, n_train)
        attention_weights = nn.functional.softmax(-(((queries - X_tile) * w) ** 2) / 2, dim=1)
    else:
        d = x_train.shape[1]
        X_tile = x_train.repeat((n_test, 1, 1))  # (n_test, n_train, d)
        Y_tile = y_train.repeat((n_test, 1))
        queries = x_test.repeat_interleave(n_train, dim=0).reshape((n_test, n_train, d))
        attention_weights = nn.functional.softmax(-(((queries - X_tile) * w) ** 2).sum(-1) / 2, dim=1)
    return torch.bmm(attention_weights.unsqueeze(1), Y_tile.unsqueeze(-1)).reshape(-1)


def worker_torch_book(spec: dict) -> dict:
    """Measure the book's code where it fits in memory; otherwise say how much it would need."""
    import torch

    torch.set_num_threads(spec["threads"])
    n, d, w = spec["n"], spec["d"], 1.0 / TP_BANDWIDTH
    q, k, v = (torch.from_numpy(a) for a in make_data(n, n, d, spec["dtype"]))
    book_pool_torch(k[:10], v[:10], q[:10], w)  # warm-up: thread pool, allocator

    # Bytes per query-key pair at a small size, from the peak RSS of one call.
    mc = min(spec["calib_m"], n)
    qc = q[:mc]
    rss0 = proc_status("VmRSS")
    can_reset = reset_peak_rss()
    tc, runs_c, _ = best_of(lambda: book_pool_torch(k, v, qc, w), spec["repeats"], spec["budget"])
    peak = proc_status("VmHWM") if can_reset else maxrss_bytes()
    bytes_per_pair = max(peak - rss0, 0) / (mc * n)
    need = bytes_per_pair * n * n
    avail = available_memory()
    res = {
        "bytes_per_pair": bytes_per_pair,
        "needs_gib": need / GiB,
        "available_gib": avail / GiB,
        "calib": {"m": mc, "seconds": tc, "runs": runs_c, "evals_per_s": mc * n / tc},
    }
    if need > 0.8 * avail:
        res["does_not_fit"] = True
        return res
    t, runs, out = best_of(lambda: book_pool_torch(k, v, q, w), spec["repeats"], spec["budget"])
    res.update({"m": n, "seconds": t, "runs": runs, "evals_per_s": n * n / t, "head": out[:200].tolist()})
    return res


# ----------------------------------------------------------------------------- section 2: 1-D scale


def worker_scale(spec: dict) -> dict:
    """One 1-D case in a fresh process: compile time, best wall time, memory, error of the fast path."""
    res = {"rss_start_mib": proc_status("VmRSS") / MiB}
    import importlib

    import nadaraya as nw

    for engine in ("stream", "sorted1d"):  # the engines load Numba lazily: count it in the baseline
        try:
            importlib.import_module(f"nadaraya.engines.{engine}")
        except ImportError:
            pass
    res["rss_after_imports_mib"] = proc_status("VmRSS") / MiB
    n, h, kernel, method, threads = spec["n"], spec["h"], spec["kernel"], spec["method"], spec["threads"]
    q, k, v = make_data(n, n, 1)
    nw_ = min(spec["warm"], n)
    qw, kw, vw = make_data(nw_, nw_, 1, seed=1)

    def pool(qq, kk, vv, meth=method):
        return nw.attention_pool(qq, kk, vv, kernel=kernel, bandwidth=h, method=meth, num_threads=threads, on_empty="ignore")

    first, _ = timed(lambda: pool(qw, kw, vw))
    second, _ = timed(lambda: pool(qw, kw, vw))
    res["compile_s"] = max(first - second, 0.0)

    rss0 = proc_status("VmRSS")
    res["rss_before_call_mib"] = rss0 / MiB
    hwm0 = proc_status("VmHWM")  # peak so far: imports, data, warm-up and compilation
    can_reset = reset_peak_rss()
    t, runs, out = best_of(lambda: pool(q, k, v), spec["repeats"], spec["budget"])
    res.update({"seconds": t, "runs": runs})
    hwm1 = proc_status("VmHWM")
    if can_reset:
        res["call_peak_over_before_mib"] = (hwm1 - rss0) / MiB
    # Whole-process peak from VmHWM, the counter ru_maxrss reads for this process's memory map:
    # ru_maxrss itself also carries the parent's peak across fork + exec on Linux.
    res["peak_rss_mib"] = max(hwm0, hwm1) / MiB
    res["ru_maxrss_mib"] = maxrss_bytes() / MiB
    res["nan_fraction"] = float(np.mean(np.isnan(out)))

    if spec.get("check"):
        idx = np.random.default_rng(2).choice(n, size=min(spec["check"], n), replace=False)
        pool(qw[:50], kw, vw, meth="stream")  # compile the stream engine outside the timing
        ts, exact = timed(lambda: pool(q[idx], k, v, meth="stream"))
        res["check_m"] = len(idx)
        res["stream_seconds_check"] = ts
        res["stream_extrapolated_s"] = ts * n / len(idx)
        ok = ~np.isnan(exact) & ~np.isnan(out[idx])
        res["rel_error_vs_stream"] = float(np.max(np.abs(out[idx][ok] - exact[ok])) / np.max(np.abs(v)))
    return res


def section_scale(sizes, threads, repeats) -> dict:
    rows = []
    n = sizes["sc_n"]
    for kernel in ("gaussian", "epanechnikov"):
        for method in ("sorted", "auto"):
            spec = {
                "kind": "scale",
                "kernel": kernel,
                "method": method,
                "n": n,
                "h": SC_BANDWIDTH,
                "threads": threads,
                "repeats": repeats,
                "budget": sizes["budget_s"],
                "warm": sizes["sc_warm"],
                "check": sizes["sc_check"] if method == "sorted" else 0,
            }
            res = run_worker(spec)
            row = {"kernel": kernel, "method": method, "m": n, "n": n, "bandwidth": SC_BANDWIDTH, **res}
            log(f"  {kernel} {method}: " + (res.get("error") or f"{res['seconds']:.3g} s"))
            rows.append(row)
    return {"rows": rows}


# ----------------------------------------------------------------------------- section 3: leave-one-out


def section_loo(sizes, threads, repeats) -> dict:
    import nadaraya as nw

    n, budget = sizes["loo_n"], sizes["budget_s"]
    rows = []
    for d, methods in ((1, ("sorted", "stream")), (4, ("stream",))):
        h = LOO_BANDWIDTH[d]
        _, k, v = make_data(0, n, d)
        _, kw, vw = make_data(0, 2000, d, seed=1)
        for method in methods:
            row = {"d": d, "n": n, "bandwidth": h, "method": method}

            def loo(kk=k, vv=v, meth=method):
                f = nw.attention_pool(kk, kk, vv, bandwidth=h, exclude_self=True, method=meth, num_threads=threads)
                return float(np.mean((vv - f) ** 2))

            try:
                row["compile_s"], _ = timed(lambda: loo(kw, vw))
                t, runs, value = best_of(loo, repeats, budget)
                row.update({"seconds": t, "runs": runs, "loo_mse": value, "evals_per_s": n * (n - 1) / t})
            except Exception as exc:
                row["error"] = short_error(exc)
            log(f"  d={d} {method}: " + (row.get("error") or f"{row['seconds']:.3g} s, LOO MSE {row['loo_mse']:.6g}"))
            rows.append(row)
    return {"rows": rows}


# ----------------------------------------------------------------------------- section 4: bandwidth selection


def section_select(sizes, threads, repeats) -> dict:
    """Leave-one-out bandwidth selection: nadaraya beside statsmodels' cv_ls at small n, alone at large n."""
    import warnings

    import nadaraya as nw
    from nadaraya import bandwidth as bw

    rows = []
    n = sizes["sel_small_n"]
    for d in (1, 4):
        _, x, y = make_data(0, n, d)
        row = {"d": d, "n": n}
        timed(lambda: bw.search_bandwidth(x, y))  # warm-up: compiles the engines
        t, _, res = best_of(lambda: bw.search_bandwidth(x, y), repeats, sizes["budget_s"])
        row["nadaraya"] = {"seconds": t, "bandwidth": res.bandwidth.tolist(), "loo_mse": res.objective, "evaluations": res.evaluations}
        try:
            from statsmodels.nonparametric.kernel_regression import KernelReg

            def sm_fit():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    return KernelReg(y, x, var_type="c" * d, reg_type="lc", bw="cv_ls").bw

            t_sm, h_sm = timed(sm_fit)
            row["statsmodels"] = {"seconds": t_sm, "bandwidth": np.atleast_1d(h_sm).tolist(),
                                  "loo_mse": bw.loo_objective(x, y, np.atleast_1d(h_sm))}
            row["speedup"] = t_sm / t
        except Exception as exc:
            row["statsmodels"] = {"error": short_error(exc)}
        log(f"  n={n} d={d}: nadaraya {t:.3g} s, statsmodels {row['statsmodels'].get('seconds', float('nan')):.3g} s")
        rows.append(row)
    n = sizes["sel_big_n"]
    for d in (1, 4):
        _, x, y = make_data(0, n, d)
        row = {"d": d, "n": n}
        try:
            t, res = timed(lambda: bw.search_bandwidth(x, y))
            row["nadaraya"] = {"seconds": t, "bandwidth": res.bandwidth.tolist(), "loo_mse": res.objective,
                               "evaluations": res.evaluations}
        except Exception as exc:
            row["nadaraya"] = {"error": short_error(exc)}
        log(f"  n={n} d={d}: nadaraya {row['nadaraya'].get('seconds', float('nan')):.3g} s")
        rows.append(row)
    return {"rows": rows}


def section_dask(sizes, threads, repeats) -> dict:
    """Strong scaling on a LocalCluster with 1 and 2 workers (benchmarks/dask_scaling.py)."""
    sys.path.insert(0, str(HERE))
    import dask_scaling

    return dask_scaling.run(quick=sizes is QUICK)


# ----------------------------------------------------------------------------- output


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def si(x: float) -> str:
    for unit, f in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= f:
            return f"{x / f:.3g} {unit}"
    return f"{x:.3g}"


def fmt_cell(res: dict | None, key: str = "evals_per_s") -> str:
    if not res:
        return "—"
    if res.get("error"):
        return f"error: {res['error']}".replace("|", "/")
    if res.get("does_not_fit"):
        c = res["calib"]
        return f"does not fit (needs ≈ {res['needs_gib']:.0f} GiB, {res['available_gib']:.0f} free); m={c['m']}: {si(c['evals_per_s'])}"
    return si(res[key])


def fmt_ratio(x) -> str:
    return "—" if x is None else f"{x:.2f}"


def secs(x) -> str:
    return "—" if x is None else (f"{x:.3g}" if x < 100 else f"{x:.0f}")


def markdown(doc: dict) -> str:
    m = doc["machine"]
    v = m["versions"]
    lines = [
        f"# nadaraya benchmarks, {m['date'][:10]}{' (quick)' if doc['quick'] else ''}",
        "",
        f"Machine: {m['cpu']} ({', '.join(m['cpu_flags']) or 'no AVX'}), {m['cores']} cores "
        f"({m['cores_usable']} usable, {m['threads_used']} used), {m['ram_gib']} GiB RAM, {m['os']}.  ",
        "Python " + m["python"] + "; " + ", ".join(f"{k} {val or 'not installed'}" for k, val in v.items()) + ".  ",
        f"nadaraya commit {m['nadaraya_commit']}; command `{doc['command']}`.",
    ]
    other = m.get("other_processes_cores")
    if other is not None:
        lines[-1] += "  "
        lines.append(
            f"Other processes used {other:.2f} cores on average during the run"
            + (" — **the machine was not idle: timings are pessimistic and noisy**." if other > 0.2 else ".")
        )
    lines.append("")
    sec = doc["sections"]
    if "throughput" in sec:
        s = sec["throughput"]
        r0 = s["rows"][0]
        t = r0["threads"] if "threads" in r0 else m["threads_used"]
        sm = next((r["statsmodels"].get("m") for r in s["rows"] if r["statsmodels"].get("m")), "?")
        dm = next((r["dense"].get("m") for r in s["rows"] if r["dense"].get("m")), "?")
        lines += [
            f"## 1. Dense Gaussian throughput (kernel evaluations per second, m = n = {r0['n']:,}, h = {r0['bandwidth']})",
            "",
            f"Measured {s['measured_at']}. Evaluations/s = m·n / best wall time; every column ran on the same inputs.",
            "",
            f"| d | dtype | nadaraya stream ({t} threads) | ceiling: numpy.exp × {t} | stream / ceiling "
            f"| pykeops CPU | stream / pykeops | statsmodels KernelReg (m={sm}) | book's tiled torch | nadaraya dense (m={dm}) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in s["rows"]:
            lines.append(
                f"| {r['d']} | {r['dtype']} | {fmt_cell(r['stream'])} | {fmt_cell(r['ceiling'])} "
                f"| {fmt_ratio(r.get('stream_over_ceiling'))} | {fmt_cell(r['pykeops'])} | {fmt_ratio(r.get('stream_over_pykeops'))} "
                f"| {fmt_cell(r['statsmodels'])} | {fmt_cell(r['torch_book'])} | {fmt_cell(r['dense'])} |"
            )
        lines += ["", "Agreement with the stream engine (max |Δ| / max|values| on the queries each peer ran):", ""]
        lines += ["| d | dtype | pykeops | statsmodels | book's torch | nadaraya dense |", "|---|---|---|---|---|---|"]
        for r in s["rows"]:
            cells = []
            for name in ("pykeops", "statsmodels", "torch_book", "dense"):
                x = r[name].get("max_diff_vs_stream", r[name].get("max_diff_vs_dense"))
                cells.append("—" if x is None else f"{x:.1e}")
            lines.append(f"| {r['d']} | {r['dtype']} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "- ceiling: `numpy.exp` on a 4096-element array (in cache) repeated, single-threaded, times the threads "
            "used: the cost of the exponential alone, with no distance, max or sum.",
            "- statsmodels `KernelReg(reg_type='lc', var_type='c'*d, bw=[h]*d).fit(queries)` on a subsample of "
            "queries against all keys (it loops over queries in Python and also computes marginal effects); "
            "it always computes in float64.",
            "- pykeops: `LazyTensor` `sumsoftmaxweight` of −|q − k|²/2 on inputs pre-scaled by 1/h, CPU backend; "
            "its compile time is excluded (warm-up).",
            "- book's tiled torch: the chapter's `repeat_interleave` queries, `X_tile`/`Y_tile` keys and values, "
            "`softmax` and `bmm` (torch CPU), run in a subprocess where its measured bytes per query-key pair × m·n "
            "fit in 80 % of free memory; otherwise the cell gives the memory it would need and its speed on a "
            "subsample of queries.",
            "",
        ]
    if "scale" in sec:
        s = sec["scale"]
        r0 = s["rows"][0]
        lines += [
            f"## 2. 1-D scale (m = n = {r0['n']:,}, keys uniform on [0, 5), h = {r0['bandwidth']})",
            "",
            f"Measured {s['measured_at']}. Each case in a fresh process; wall time after a warm-up on "
            "small data of the same distribution; the first call's extra time (Numba compilation, or loading "
            "from Numba's on-disk cache) is reported apart.",
            "",
            "| kernel | method | wall time (s) | runs | first-call overhead (s) | RSS after imports (MiB) | peak RSS, whole process (MiB) "
            "| call's peak − RSS before it (MiB) | error vs exact stream (max \\|Δ\\| / max \\|y\\|) | exact stream, extrapolated (s) |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in s["rows"]:
            if r.get("error"):
                lines.append(f"| {r['kernel']} | {r['method']} | error: {r['error']} |  |  |  |  |  |  |  |")
                continue
            err = r.get("rel_error_vs_stream")
            err = "—" if err is None else f"{err:.1e} ({r['check_m']} queries)"
            call = r.get("call_peak_over_before_mib")
            lines.append(
                f"| {r['kernel']} | {r['method']} | {secs(r['seconds'])} | {r['runs']} | {secs(r['compile_s'])} "
                f"| {r['rss_after_imports_mib']:.0f} | {r['peak_rss_mib']:.0f} | {'—' if call is None else f'{call:.0f}'} "
                f"| {err} | {secs(r.get('stream_extrapolated_s'))} |"
            )
        lines += [
            "",
            "- peak RSS, whole process: VmHWM of /proc/self/status, the counter behind `ru_maxrss` (which on "
            "Linux also inherits the launching process's peak); it includes imports, data and Numba compilation.",
            "- call's peak: VmHWM reset through /proc/self/clear_refs just before the timed calls, minus the RSS then "
            "(the inputs, 3 × 8 MB, are already counted in the RSS before).",
            "- exact stream, extrapolated: the stream engine's time on the checked queries × m / checked queries.",
            "",
        ]
    if "loo" in sec:
        s = sec["loo"]
        lines += [
            f"## 3. Leave-one-out error at a fixed bandwidth (n = {s['rows'][0]['n']:,}, exclude_self=True)",
            "",
            f"Measured {s['measured_at']}. LOO MSE = mean of (y_i − f_(−i)(x_i))².",
            "",
            "| d | h | method | time (s) | runs | first-call overhead in this process (s) | LOO MSE |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in s["rows"]:
            if r.get("error"):
                lines.append(f"| {r['d']} | {r['bandwidth']} | {r['method']} | error: {r['error']} |  |  |  |")
            else:
                lines.append(
                    f"| {r['d']} | {r['bandwidth']} | {r['method']} | {secs(r['seconds'])} | {r['runs']} "
                    f"| {secs(r['compile_s'])} | {r['loo_mse']:.10g} |"
                )
        lines.append("")
    if "select" in sec:
        s = sec["select"]
        lines += [
            "## 4. Leave-one-out bandwidth selection (Gaussian, order 0)",
            "",
            f"Measured {s['measured_at']}. nadaraya: `bandwidth.search_bandwidth` (24-point log grid, Brent, then "
            "L-BFGS-B per feature with analytic gradients when d > 1). statsmodels: `KernelReg(bw='cv_ls')`. "
            "Both chosen bandwidths are scored with the same leave-one-out MSE.",
            "",
            "| n | d | nadaraya (s) | evaluations | LOO MSE | statsmodels cv_ls (s) | LOO MSE | speed-up |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in s["rows"]:
            a, b = r["nadaraya"], r.get("statsmodels", {})
            cell_a = f"error: {a['error']}" if a.get("error") else f"{secs(a['seconds'])} | {a['evaluations']} | {a['loo_mse']:.6g}"
            if not b:
                cell_b = "— | —"
            elif b.get("error"):
                cell_b = f"error: {b['error']} | —"
            else:
                cell_b = f"{secs(b['seconds'])} | {b['loo_mse']:.6g}"
            lines.append(f"| {r['n']:,} | {r['d']} | {cell_a} | {cell_b} | {fmt_ratio(r.get('speedup'))} |")
        lines.append("")
    if "dask" in sec:
        s = sec["dask"]
        lines += [s.get("markdown", "").strip().replace("## Dask strong scaling", "## 5. Dask strong scaling", 1),
                  "", f"Measured {s['measured_at']}.", ""]
    lines.append(f"Total wall time of the run: {doc['wall_s']:.0f} s.")
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run in under a minute")
    p.add_argument(
        "--only",
        action="append",
        metavar="SECTION",
        choices=SECTIONS + tuple(ALIASES),
        help="run only this section (throughput|scale|loo|select|dask, or 1-5); repeatable",
    )
    p.add_argument("--threads", type=int, default=2, help="threads for nadaraya, pykeops and torch (default 2)")
    p.add_argument("--repeats", type=int, default=3, help="best of this many timed calls (default 3)")
    p.add_argument("--out", type=Path, default=HERE / "results", help="results folder (default benchmarks/results)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        spec = json.loads(args.worker)
        try:
            res = {"torch_book": worker_torch_book, "scale": worker_scale}[spec["kind"]](spec)
        except Exception as exc:
            res = {"error": short_error(exc)}
        print(json.dumps(res), flush=True)
        return 0

    start, cpu0 = time.perf_counter(), cpu_snapshot()
    sizes = QUICK if args.quick else FULL
    only = [ALIASES.get(s, s) for s in (args.only or SECTIONS)]
    doc = {"quick": args.quick, "sizes": sizes, "sections": {}}
    runners = {"throughput": section_throughput, "scale": section_scale, "loo": section_loo,
               "select": section_select, "dask": section_dask}
    for name in SECTIONS:
        if name in only:
            log(f"[{name}]")
            measured_at = _dt.datetime.now().isoformat(timespec="seconds")
            doc["sections"][name] = {"measured_at": measured_at, **runners[name](sizes, args.threads, args.repeats)}

    # Keep today's other sections when only some were rerun.
    date = _dt.date.today().isoformat()
    stem = date + ("-quick" if args.quick else "")
    args.out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = args.out / f"{stem}.json", args.out / f"{stem}.md"
    if args.only and json_path.exists():
        try:
            old = json.loads(json_path.read_text())
            doc["sections"] = {**old.get("sections", {}), **doc["sections"]}
            doc["sections"] = {k: doc["sections"][k] for k in SECTIONS if k in doc["sections"]}
        except (OSError, ValueError):
            pass
    doc["machine"] = machine_info(args.threads)
    doc["machine"]["load_average_end"] = list(os.getloadavg())
    doc["machine"]["other_processes_cores"] = other_load(cpu0, cpu_snapshot())
    doc["command"] = " ".join(["benchmarks/run.py"] + (argv if argv is not None else sys.argv[1:]))
    doc["wall_s"] = time.perf_counter() - start
    text = markdown(doc)
    write_atomic(json_path, json.dumps(doc, indent=2) + "\n")
    write_atomic(md_path, text)
    if not args.quick:
        write_atomic(args.out / "latest.md", text)
    print(text)
    log(f"wrote {md_path} and {json_path}" + ("" if args.quick else " and latest.md"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
