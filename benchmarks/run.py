#!/usr/bin/env python
"""Benchmarks of nadaraya, side by side with its peers, in one run on the same inputs.

Writes ``benchmarks/results/<YYYY-MM-DD>.md``, ``<YYYY-MM-DD>.json`` and
``benchmarks/results/latest.md`` (``--quick`` writes ``<YYYY-MM-DD>-quick.*``
and leaves ``latest.md`` alone) and prints the markdown at the end.

Sections (``--only NAME``, repeatable):

throughput  dense Gaussian kernel evaluations per second (m * n / time) of the
            "stream" engine against the machine's ceiling (numpy.exp in cache,
            times the threads used), pykeops, statsmodels, the book's tiled
            PyTorch code and torch's scaled_dot_product_attention on the
            augmented form (with its accuracy at and far from the origin)
scale       1-D, m = n = 10^6: wall time, compile time and peak memory (one
            fresh subprocess per case) of the "sorted" engine, and the error
            of its Gaussian fast path against the exact "stream" engine
loo         leave-one-out mean squared residual at a fixed bandwidth, n = 10^5
select      leave-one-out bandwidth selection: n = 1,000 beside statsmodels'
            KernelReg(bw="cv_ls"), and n = 10^5 alone, in 1-D and 4-D
estimator   NadarayaWatsonRegressor: fit against predict at a fixed bandwidth
            (n = 10^6 in 1-D, 2 10^5 in 2-D, four kernel families, orders 0
            and 1), and whole fits with bandwidth="loo" (benchmarks/bench_estimator.py)
dask        strong scaling on a LocalCluster with 1 and 2 workers
            (benchmarks/dask_scaling.py)
threads     200 leave-one-out passes at n = 1000 and the estimator's LOO
            search, default threads against one, with a busy loop holding
            one core and without (benchmarks/bench_threads.py)
search      the estimator's global bandwidth search at n = 1,000 in 3-D and 4-D,
            orders 0 and 1, beside statsmodels' KernelReg(bw="cv_ls")
            (benchmarks/bench_search.py); only with --only search: statsmodels
            takes about an hour

Every timing is the best of a few repeats (``time.perf_counter``) after a
warm-up call; a case whose single call is long gets fewer repeats (the table
says how many).  Run ``python benchmarks/run.py --help`` for the flags.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import sys
import time
from pathlib import Path

import bench_dask
import bench_estimator
import bench_loo
import bench_scale
import bench_search
import bench_select
import bench_threads
import bench_throughput
import startup
import torch_peers
from harness import FULL, HERE, QUICK, cpu_snapshot, log, machine_info, other_load, short_error, write_atomic

#: Section name -> its module (``run`` and ``markdown``), in the order of the results page.
MODULES = {
    "throughput": bench_throughput,
    "scale": bench_scale,
    "loo": bench_loo,
    "select": bench_select,
    "estimator": bench_estimator,
    "dask": bench_dask,
    "startup": startup,
    "threads": bench_threads,
    "search": bench_search,
}
SECTIONS = tuple(MODULES)
#: Sections run only when named (``--only``): statsmodels' cv_ls alone takes about an hour in "search".
OPT_IN = ("search",)
ALIASES = {str(i + 1): name for i, name in enumerate(SECTIONS)}
#: Subprocess measurements (``run.py --worker JSON``) by kind.
WORKERS = {
    "torch_book": torch_peers.worker_torch_book,
    "sdpa": torch_peers.worker_sdpa,
    "scale": bench_scale.worker_scale,
}


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
    for name, module in MODULES.items():
        if name in sec:
            lines += module.markdown(sec[name], m)
    lines.append(f"Total wall time of the run: {doc['wall_s']:.0f} s.")
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes: a smoke run in under a minute")
    p.add_argument(
        "--only",
        action="append",
        metavar="SECTION",
        choices=SECTIONS + tuple(ALIASES),
        help="run only this section (" + "|".join(SECTIONS) + f", or 1-{len(SECTIONS)}); repeatable",
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
            res = WORKERS[spec["kind"]](spec)
        except Exception as exc:
            res = {"error": short_error(exc)}
        print(json.dumps(res), flush=True)
        return 0

    start, cpu0 = time.perf_counter(), cpu_snapshot()
    sizes = QUICK if args.quick else FULL
    only = [ALIASES.get(s, s) for s in (args.only or [s for s in SECTIONS if s not in OPT_IN])]
    doc = {"quick": args.quick, "sizes": sizes, "sections": {}}
    for name in SECTIONS:
        if name in only:
            log(f"[{name}]")
            measured_at = _dt.datetime.now().isoformat(timespec="seconds")
            doc["sections"][name] = {"measured_at": measured_at, **MODULES[name].run(sizes, args.threads, args.repeats)}

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