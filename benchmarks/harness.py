"""Shared harness of the benchmark sections: sizes, data, timing, subprocess workers, machine facts, formatting.

Each section module (``bench_*.py``) has ``run(sizes, threads, repeats) -> dict``
and ``markdown(section, machine) -> list of lines``; ``run.py`` strings them
together and writes the results files.
"""

from __future__ import annotations

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
    "est_n1": 1_000_000,  # estimator fit / predict, 1-D
    "est_n2": 200_000,  # ... 2-D
    "est_loo_n1": 100_000,  # estimator fits with bandwidth="loo": 1-D Gaussian
    "est_loo_n4": 100_000,  # ... 4-D Epanechnikov
    "est_loo_n2": 200_000,  # ... 2-D Gaussian
    "search_n": 1_000,  # the estimator's 3-D / 4-D search beside statsmodels' cv_ls
    "search_timeout_s": 3600.0,  # per measurement (statsmodels' cv_ls: about a second per evaluation)
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
    "est_n1": 20_000,
    "est_n2": 10_000,
    "est_loo_n1": 2_000,
    "est_loo_n4": 2_000,
    "est_loo_n2": 2_000,
    "search_n": 100,
    "search_timeout_s": 600.0,
    "budget_s": 3.0,
}
TP_BANDWIDTH = 1.0
#: Shifts of queries and keys in the throughput section's accuracy probe: none, and 100 bandwidths (far from the origin).
PROBE_SHIFTS = (0.0, 100.0 * TP_BANDWIDTH)
#: Queries of that accuracy probe (against all keys).
PROBE_M = 200
SC_BANDWIDTH = 0.05
LOO_BANDWIDTH = {1: 0.1, 4: 0.5}
NOISE = 0.5


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


def shifted(a: np.ndarray, shift: float) -> np.ndarray:
    """``a + shift`` rounded to ``a``'s dtype: the probe's inputs, identical in every process."""
    return a + np.asarray(shift, dtype=a.dtype)


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
    cmd = [sys.executable, str(HERE / "run.py"), "--worker", json.dumps(spec)]
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


def rel_diff(a, b, scale) -> float:
    a, b = np.asarray(a, dtype=np.float64).ravel(), np.asarray(b, dtype=np.float64).ravel()
    return float(np.max(np.abs(a - b)) / scale)



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




def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def source_of(commit: str, into: Path) -> Path:
    """The ``src`` tree of ``commit``, unpacked under ``into`` (``git archive``)."""
    import tarfile
    from io import BytesIO

    tar = subprocess.run(["git", "archive", commit, "src"], cwd=HERE.parent, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(tar)) as tf:
        tf.extractall(into, filter="data")
    return into / "src"


def measure_trees(before, measure, markdown, json_path=None, **options) -> int:
    """``measure(trees, **options)`` over this tree's ``src`` (and ``before``'s, a commit), then print ``markdown``.

    ``trees`` maps a label to a ``src`` folder; the result gets the load average at the end, and is
    written to ``json_path`` if given.
    """
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        trees = {before: source_of(before, Path(tmp))} if before else {}
        trees["this tree"] = HERE.parent / "src"
        res = measure(trees, **options)
    res["load_average_end"] = list(os.getloadavg())
    if json_path:
        json_path.write_text(json.dumps(res, indent=2) + "\n")
    print("\n".join(markdown(res)))
    return 0

