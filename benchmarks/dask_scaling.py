#!/usr/bin/env python
"""Strong scaling of ``nadaraya.dask.attention_pool`` on this machine: 1 and 2 Dask workers.

Each worker is a separate process with one thread (``LocalCluster(processes=True,
threads_per_worker=1)``) and each task runs its engine on one Numba thread, so
"1 worker" uses one core and "2 workers" two. The problem is fixed (strong
scaling); the blocks are sized so that every task does the same m_chunk x
n_chunk work and the tasks divide evenly between the workers. Keys are
sharded (several key blocks per query block, merged by the partials tree).

Cases (Gaussian kernel, keys uniform on [0, 5)^d, values
mean_j(2 sin x_j + x_j^0.8) + N(0, 0.5^2), float64):

* ``1d``: m = n = 10^6, h = 0.05, 2 x 2 shards of 5 x 10^5 each, with
  ``method="auto"``: each shard runs on the engine "auto" picks for its shape,
  here the sorted engine (``tol`` = 1e-10). Checked against the in-memory
  ``nadaraya.attention_pool`` on every query and against the exact streaming
  engine on the first CHECK_QUERIES.
* ``1d-stream``: the same data recipe with ``method="stream"`` (the Dask path
  before shards could use other engines): exact, every one of the m n kernel
  evaluations, so it runs at m = n = 2.5 x 10^5 and the table extrapolates its
  time at 10^6 from the measured rate (``--full-1d`` runs it at 10^6: long).
* ``4d``: d = 4, h = 0.5, m = n = 10^5, ``method="auto"`` (the streaming
  engine's shards).

Usage::

    python benchmarks/dask_scaling.py                  # about 4 minutes on 2 cores
    python benchmarks/dask_scaling.py --quick          # a smoke run, about 30 s
    python benchmarks/dask_scaling.py --case 1d        # one case (repeatable)
    python benchmarks/dask_scaling.py --json out.json

``run(quick=False) -> dict`` does the same for ``benchmarks/run.py``; the
dict holds the measurements and, under "markdown", the table. Progress goes
to stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import sys
import time

import numpy as np

NOISE = 0.5
ASKED_1D = 1_000_000
TOL = 1e-10

FULL = {
    "1d": {"m": ASKED_1D, "n": ASKED_1D, "d": 1, "h": 0.05, "query_blocks": 2, "key_blocks": 2, "method": "auto"},
    "1d-stream": {"m": 250_000, "n": 250_000, "d": 1, "h": 0.05, "query_blocks": 4, "key_blocks": 2,
                  "method": "stream"},
    "4d": {"m": 100_000, "n": 100_000, "d": 4, "h": 0.5, "query_blocks": 4, "key_blocks": 2, "method": "auto"},
}
QUICK = {
    "1d": {"m": 200_000, "n": 200_000, "d": 1, "h": 0.05, "query_blocks": 2, "key_blocks": 2, "method": "auto"},
    "1d-stream": {"m": 40_000, "n": 40_000, "d": 1, "h": 0.05, "query_blocks": 4, "key_blocks": 2,
                  "method": "stream"},
    "4d": {"m": 20_000, "n": 20_000, "d": 4, "h": 0.5, "query_blocks": 4, "key_blocks": 2, "method": "auto"},
}
CHECK_QUERIES = 1_000  # queries checked against the in-memory exact streaming engine


def _say(msg: str) -> None:
    print(f"[dask_scaling] {msg}", file=sys.stderr, flush=True)


def make_data(m: int, n: int, d: int, seed: int = 0):
    """Queries (m, d), keys (n, d) uniform on [0, 5)^d, values mean_j(2 sin x_j + x_j^0.8) + N(0, 0.5^2); 1-D when d = 1."""
    rng = np.random.default_rng(seed)
    keys = rng.uniform(0.0, 5.0, size=(n, d))
    values = (2.0 * np.sin(keys) + keys**0.8).mean(axis=1) + rng.normal(0.0, NOISE, size=n)
    queries = rng.uniform(0.0, 5.0, size=(m, d))
    if d == 1:
        keys, queries = keys[:, 0], queries[:, 0]
    return queries, keys, values


def _machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat; None where unavailable."""
    try:
        with open("/proc/stat") as fh:
            f = [int(x) for x in fh.readline().split()[1:]]
    except OSError:
        return None
    return (sum(f[:8]) - f[3] - f[4]) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds(pids) -> float:
    """CPU seconds used so far by this process and the given worker processes."""
    import psutil

    total = 0.0
    for pid in [os.getpid(), *pids]:
        try:
            t = psutil.Process(pid).cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def _warm(_=None):
    """Compile (or load from Numba's cache) the streaming and sorted engines' partials in a worker process."""
    from nadaraya.engines import sorted1d, stream
    from nadaraya.kernels import KERNELS

    x = np.linspace(0.0, 1.0, 64).reshape(1, -1, 1)
    stream.partials(x, x, x, KERNELS["gaussian"], num_threads=1)
    sorted1d.partials(x, x, x, KERNELS["gaussian"], num_threads=1)
    return os.getpid()


def _engines(case) -> list[str]:
    """The engine of each shard: the registry's choice for the shard's shape (what nadaraya.dask asks it)."""
    from nadaraya import engines
    from nadaraya.kernels import KERNELS

    qc, kc = math.ceil(case["m"] / case["query_blocks"]), math.ceil(case["n"] / case["key_blocks"])
    shape = (1, qc, kc, case["d"], 1)
    return sorted({engines.choose(case["method"], KERNELS["gaussian"], shape, {"num_threads": 1, "tol": TOL})})


def _time_case(case: dict, workers: int, data) -> dict:
    import dask.array as da
    import distributed

    from nadaraya import dask as nwd

    q, k, v = data
    m, n = case["m"], case["n"]
    qc, kc = math.ceil(m / case["query_blocks"]), math.ceil(n / case["key_blocks"])
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=":0", silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client:
        pids = list(client.run(_warm).values())
        # the inputs live on the workers before the clock starts: the timing is the pooling, not the upload
        qd, kd, vd = (client.persist(da.from_array(a, chunks=(c,) + a.shape[1:]))
                      for a, c in ((q, qc), (k, kc), (v, kc)))
        distributed.wait([qd, kd, vd])
        out = nwd.attention_pool(qd, kd, vd, bandwidth=case["h"], method=case["method"], tol=TOL, num_threads=1)
        busy0, own0 = _machine_busy_seconds(), _own_cpu_seconds(pids)
        t0 = time.perf_counter()
        result = client.compute(out).result()
        seconds = time.perf_counter() - t0
        busy1, own1 = _machine_busy_seconds(), _own_cpu_seconds(pids)
    # cores kept busy by other programs while the clock ran (the machine is shared: this is the noise floor)
    other = None if busy0 is None else max(0.0, (busy1 - busy0) - (own1 - own0)) / seconds
    return {"seconds": seconds, "other_load_cores": other, "result": result,
            "tasks": {"partials": case["query_blocks"] * case["key_blocks"],
                      "merges": case["query_blocks"] * (case["key_blocks"] - 1)},
            "chunks": {"queries": qc, "keys": kc}}


def _check(case, data, result) -> dict:
    """Max |dask - in memory| / max|values|: against the same call in memory (every query; skipped where every
    shard ran the exact streaming engine) and against that engine on the first CHECK_QUERIES queries."""
    import nadaraya as nw

    q, k, v = data
    scale = np.abs(v).max()
    exact = nw.attention_pool(q[:CHECK_QUERIES], k, v, bandwidth=case["h"], method="stream")
    out = {"error_vs_exact": float(np.max(np.abs(result[:CHECK_QUERIES] - exact)) / scale), "error_vs_memory": None}
    if set(_engines(case)) != {"stream"}:  # otherwise the in-memory call is the exact one
        memory = nw.attention_pool(q, k, v, bandwidth=case["h"], method=case["method"], tol=TOL)
        out["error_vs_memory"] = float(np.max(np.abs(result - memory)) / scale)
    return out


def run(quick: bool = False, *, full_1d: bool = False, cases=None) -> dict:
    """Measure strong scaling with 1 and 2 workers; return the measurements and a markdown table.

    Returns
    -------
    dict
        ``{"machine": ..., "cases": {name: {...}}, "markdown": str}``; every
        case has m, n, d, h, chunks, tasks, seconds per worker count, the
        speed-up, pairs per second, the agreement with the in-memory engine,
        and a note where its size differs from the issue's. ``cases``: the
        names to run (default all).
    """
    sizes = {name: dict(case) for name, case in (QUICK if quick else FULL).items() if not cases or name in cases}
    if full_1d and "1d-stream" in sizes:
        sizes["1d-stream"].update(m=ASKED_1D, n=ASKED_1D)
    doc = {
        "machine": {
            "cores": os.cpu_count(),
            "cpu": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "loadavg_at_start": os.getloadavg()[0],
        },
        "quick": bool(quick),
        "cases": {},
    }
    try:
        import dask
        import distributed

        doc["machine"]["dask"], doc["machine"]["distributed"] = dask.__version__, distributed.__version__
    except ImportError as exc:  # the dask extra is missing: say so in the table
        doc["error"] = f"needs the dask extra ({exc}); pip install 'nadaraya[dask]'"
        doc["markdown"] = f"## Dask strong scaling\n\nnot run: {doc['error']}\n"
        return doc
    for name, case in sizes.items():
        data = make_data(case["m"], case["n"], case["d"])
        entry = {key: case[key] for key in ("m", "n", "d", "h", "method")}
        entry["engines"] = _engines(case)
        for workers in (1, 2):
            _say(f"{name}: m = n = {case['m']:,}, d = {case['d']}, {workers} worker(s) ...")
            res = _time_case(case, workers, data)
            entry[f"seconds_{workers}"] = res["seconds"]
            entry[f"other_load_{workers}"] = res["other_load_cores"]
            entry["chunks"], entry["tasks"] = res["chunks"], res["tasks"]
            if workers == 1:
                entry.update(_check(case, data, res["result"]))
            _say(f"  {res['seconds']:.2f} s (other programs kept {res['other_load_cores'] or 0:.1f} cores busy)")
        entry["speedup"] = entry["seconds_1"] / entry["seconds_2"]
        entry["pairs_per_s_1"] = case["m"] * case["n"] / entry["seconds_1"]
        if case["d"] == 1 and case["method"] == "stream" and case["m"] < ASKED_1D:  # O(m n): extrapolate
            est = ASKED_1D * ASKED_1D / entry["pairs_per_s_1"]
            entry["estimated_seconds_asked_1"] = est
            entry["note"] = (
                f"m = n = 10^6 on this path: 10^12 exact kernel evaluations, about {est / 60:.0f} min on 1 worker at "
                "the measured rate (extrapolated), beyond this run's budget; measured at the size shown "
                "(--full-1d runs 10^6)"
            )
        doc["cases"][name] = entry
    doc["markdown"] = markdown(doc)
    return doc


def _cores(x) -> str:
    return "n/a" if x is None else f"{x:.1f}"


def markdown(doc: dict) -> str:
    mach = doc["machine"]
    lines = [
        "## Dask strong scaling" + (" (quick)" if doc.get("quick") else ""),
        "",
        f"`nadaraya.dask.attention_pool` on a LocalCluster of 1 or 2 worker processes with one thread each "
        f"(this machine: {mach['cores']} cores, load average {mach['loadavg_at_start']:.1f} at the start; "
        f"dask {mach.get('dask')}). Gaussian kernel, float64, inputs persisted on the workers before timing; "
        "every task does the same m_chunk x n_chunk work.",
        "",
        "| case | method (engine per shard) | m = n | d | h | chunks (queries x keys) | tasks (partials + merges) "
        "| 1 worker | 2 workers | speed-up | pairs/s, 1 worker | other load (cores), 1 / 2 workers "
        "| error vs in-memory | error vs exact |",
        "| --- | --- | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    notes = []
    for name, e in doc["cases"].items():
        ch, tk = e["chunks"], e["tasks"]
        memory = "(is exact)" if e.get("error_vs_memory") is None else f"{e['error_vs_memory']:.1e}"
        lines.append(
            f"| {name} | {e['method']} ({', '.join(e['engines'])}) | {e['m']:,} | {e['d']} | {e['h']:g} "
            f"| {ch['queries']:,} x {ch['keys']:,} "
            f"| {tk['partials']} + {tk['merges']} | {e['seconds_1']:.2f} s | {e['seconds_2']:.2f} s "
            f"| {e['speedup']:.2f}x | {e['pairs_per_s_1']:.3g} | {_cores(e['other_load_1'])} / {_cores(e['other_load_2'])} "
            f"| {memory} | {e['error_vs_exact']:.1e} |"
        )
        if "note" in e:
            notes.append(f"- {name}: {e['note']}.")
    lines.append("")
    lines.extend(notes)
    lines.append(
        "- other load: cores that other programs on this (shared) machine kept busy during the timed call; "
        "with 2 cores, a speed-up near 2 needs it near 0."
    )
    lines.append(
        "- engine per shard: the registry's choice for a shard of that shape (`method='auto'`: the one "
        f"`nadaraya.attention_pool` takes for it in memory); tol = {TOL:g}."
    )
    lines.append(
        "- error vs in-memory: max |dask - nadaraya.attention_pool(same method)| / max|values| over every query; "
        f"error vs exact: against the exact streaming engine on the first {CHECK_QUERIES:,} queries."
    )
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--full-1d", action="store_true", help="the 1d-stream case at m = n = 10^6 (long)")
    parser.add_argument("--case", action="append", choices=sorted(FULL), help="run only this case (repeatable)")
    parser.add_argument("--json", default=None, help="also write the measurements to this JSON file")
    args = parser.parse_args(argv)
    doc = run(quick=args.quick, full_1d=args.full_1d, cases=args.case)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(doc, fh, indent=2)
    print(doc["markdown"])
    print(json.dumps({k: v for k, v in doc.items() if k != "markdown"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
