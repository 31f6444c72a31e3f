#!/usr/bin/env python
"""Threads on a busy machine: the default thread count against one thread, with one core taken and without.

Times, at n = 1000 (1-D, Gaussian kernel, h = 0.1):

* ``pool``: 200 leave-one-out passes ``attention_pool(x, x, y,
  exclude_self=True, method="stream")``, with ``num_threads=1`` and with the
  default (``numba.get_num_threads()``);
* ``search``: the estimator's leave-one-out bandwidth search,
  ``NadarayaWatsonRegressor(bandwidth="loo").fit(x, y)`` (engine "auto"), with
  Numba's thread count set to 1 in its worker process and left at the default.

each once with the machine as it is ("idle") and once with a busy loop pinned
to the last usable core ("busy": a subprocess spinning for the whole
measurement, killed after). Each case runs in a fresh subprocess (compiled
code comes from the on-disk cache after a warm-up call), alternating the two
thread settings ``repeats`` times; the table gives medians and the ratio
default / one thread (the target: at most 1.25 when busy).

Run alone, ``python benchmarks/bench_threads.py [--before COMMIT]`` also
measures the source tree of ``COMMIT`` (``git archive``) beside the working
tree's, in the same run; in ``benchmarks/run.py`` it is the ``threads``
section (working tree only).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness import measure_trees

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
N, PASSES, BANDWIDTH = 1000, 200, 0.1


# ------------------------------------------------------------------ worker side (a subprocess per case)


def _worker(spec: dict) -> dict:
    import numba
    import numpy as np

    import nadaraya as nw

    rng = np.random.default_rng(0)
    x = np.sort(rng.uniform(0.0, 5.0, N))
    y = 2.0 * np.sin(x) + x**0.8 + rng.normal(0.0, 0.5, N)
    default = numba.get_num_threads()

    def pool(threads):
        opt = {} if threads is None else {"num_threads": threads}
        t0 = time.perf_counter()
        for _ in range(spec["passes"]):
            nw.attention_pool(x, x, y, bandwidth=BANDWIDTH, exclude_self=True, method="stream", **opt)
        return time.perf_counter() - t0

    def search(threads):
        from nadaraya import NadarayaWatsonRegressor

        numba.set_num_threads(default if threads is None else threads)  # this worker process only
        try:
            t0 = time.perf_counter()
            NadarayaWatsonRegressor(bandwidth="loo").fit(x[:, None], y)
            return time.perf_counter() - t0
        finally:
            numba.set_num_threads(default)

    out = {"default_threads": default, "threading_layer": None}
    for name, fn in (("pool", pool), ("search", search)):
        fn(1), fn(None)  # warm-up: compile or load from the cache
        one, dflt = [], []
        for _ in range(spec["repeats"]):
            one.append(fn(1))
            dflt.append(fn(None))
        out[name] = {"one": one, "default": dflt}
    try:
        out["threading_layer"] = numba.threading_layer()
    except ValueError:  # no parallel region has run
        out["threading_layer"] = "none used"
    return out


# ------------------------------------------------------------------ driver side


def _busy_loop():
    """A subprocess spinning on the last usable core (None where affinity cannot be set)."""
    try:
        cpu = max(os.sched_getaffinity(0))
    except AttributeError:
        return None
    code = f"import os\nos.sched_setaffinity(0, {{{cpu}}})\nwhile True:\n    pass\n"
    proc = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(0.3)
    return proc


def _case(src: Path, busy: bool, passes: int, repeats: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src))
    spec = json.dumps({"passes": passes, "repeats": repeats})
    spinner = _busy_loop() if busy else None
    load = os.getloadavg()[0]
    try:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--worker", spec],
            env=env, capture_output=True, text=True, timeout=900,
        )
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"worker failed (exit {proc.returncode}): {tail[:200]}"}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["load_average_1min"] = load
    res["busy_loop"] = spinner is not None
    return res


def measure(trees: dict, passes: int = PASSES, repeats: int = 5) -> dict:
    """Every tree (label -> src folder) idle and busy."""
    rows = []
    for label, src in trees.items():
        for busy in (False, True):
            res = _case(src, busy, passes, repeats)
            res.update(tree=label, busy=busy)
            rows.append(res)
            print(f"  {label:>8} {'busy' if busy else 'idle'}: {_summary(res)}", file=sys.stderr, flush=True)
    return {"n": N, "passes": passes, "repeats": repeats, "bandwidth": BANDWIDTH, "rows": rows}


def _summary(r: dict) -> str:
    if r.get("error"):
        return r["error"]
    p, s = r["pool"], r["search"]
    return (
        f"pool {statistics.median(p['one']):.3f} s / {statistics.median(p['default']):.3f} s, "
        f"search {statistics.median(s['one']):.3f} s / {statistics.median(s['default']):.3f} s "
        f"(one thread / default {r['default_threads']})"
    )


def run(sizes, threads, repeats) -> dict:
    """The ``threads`` section of ``benchmarks/run.py`` (the working tree only)."""
    quick = sizes.get("budget_s", 20.0) < 10.0
    return measure({"this tree": ROOT / "src"}, passes=30 if quick else PASSES, repeats=max(3, repeats))


def markdown(s: dict, m: dict | None = None) -> list[str]:
    """The results table: medians (s) and ratios default / one thread."""
    lines = [
        f"## Threads on a busy machine (n = {s['n']:,}, {s['passes']} leave-one-out passes)",
        "",
        "\"busy\": a busy loop pinned to one core during the measurement. `pool`: "
        f"{s['passes']} calls of `attention_pool(x, x, y, exclude_self=True, method=\"stream\")`; "
        "`search`: `NadarayaWatsonRegressor(bandwidth=\"loo\").fit`. Medians of "
        f"{s['repeats']} alternating repeats; ratio = default threads / one thread (target ≤ 1.25 when busy).",
        "",
        "| tree | machine | load (1 min) | default threads (Numba layer loaded) | pool 1 thread (s) | pool default (s) | ratio "
        "| search 1 thread (s) | search default (s) | ratio |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in s["rows"]:
        head = f"| {r['tree']} | {'busy' if r['busy'] else 'idle'} "
        if r.get("error"):
            lines.append(head + f"| error: {r['error']} |  |  |  |  |  |  |  |")
            continue
        cells = []
        for name in ("pool", "search"):
            one, dflt = statistics.median(r[name]["one"]), statistics.median(r[name]["default"])
            cells += [f"{one:.4f}", f"{dflt:.4f}", f"**{dflt / one:.2f}**"]
        lines.append(
            head + f"| {r['load_average_1min']:.1f} | {r['default_threads']} ({r['threading_layer']}) | "
            + " | ".join(cells) + " |"
        )
    lines.append("")
    return lines


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--before", metavar="COMMIT", help="also measure this commit's src tree (git archive)")
    p.add_argument("--passes", type=int, default=PASSES)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json", type=Path, help="also write the raw results here")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(json.loads(args.worker))), flush=True)
        return 0
    return measure_trees(args.before, measure, markdown, args.json, passes=args.passes, repeats=args.repeats)

if __name__ == "__main__":
    sys.exit(main())
