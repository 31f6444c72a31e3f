"""Latency of `nadaraya explore`: from a control change in the browser to the page redrawn.

Starts ``nadaraya explore --no-browser --port 0`` as a subprocess and headless
Debian chromium (Selenium, system chromedriver). For each control, the browser
sets the widget's value exactly as the widget does (the change goes to the
server over the websocket), waits until the server's new data have replaced
the source the control feeds, then for the next animation frame (the redraw),
and reports the elapsed ``performance.now()`` time. Target: about 100 ms on
the chapter's data (50 training pairs).

    python benchmarks/explore_latency.py [--repeats 20] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

# control (model name, property), the values it alternates between, the source that must change
CONTROLS = {
    "bandwidth": ("bandwidth", "value", [-0.5, 0.3], "fit"),
    "kernel": ("kernel", "value", ["laplace", "epanechnikov", "tricube", "gaussian"], "fit"),
    "leave-one-out": ("loo", "active", [True, False], "fit"),
    "training points": ("n_train", "value", [60, 50], "fit"),
    "noise": ("noise", "value", [0.7, 0.5], "fit"),
    "seed": ("seed", "value", [1, 0], "fit"),
}

MEASURE_JS = """
const [name, attr, value, source, done] = arguments;
const doc = Bokeh.documents[0];
const model = doc.get_model_by_name(name), src = doc.get_model_by_name(source);
const before = src.data;
const t0 = performance.now();
model[attr] = value;
(function poll() {
  if (src.data !== before) { requestAnimationFrame(() => done(performance.now() - t0)); }
  else if (performance.now() - t0 > 10000) { done(-1); }
  else { setTimeout(poll, 1); }
})();
"""


def start_server(log: Path):
    out = open(log, "w")
    proc = subprocess.Popen([sys.executable, "-m", "nadaraya", "explore", "--no-browser", "--port", "0"],
                            stdout=out, stderr=subprocess.STDOUT, text=True)
    out.close()
    end = time.monotonic() + 60
    while time.monotonic() < end:
        match = re.search(r"http://127\.0\.0\.1:\d+/", log.read_text())
        if match:
            return proc, match.group(0)
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited:\n{log.read_text()}")
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the server printed no address within 60 s")


def start_browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1500,1250"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
    driver.set_script_timeout(30)
    return driver


def measure(driver, url, repeats):
    driver.get(url)
    end = time.monotonic() + 30
    while not driver.execute_script("return !!(window.Bokeh && Bokeh.documents.length"
                                    " && Bokeh.documents[0].get_model_by_name('fit').data.y.length);"):
        if time.monotonic() > end:
            raise RuntimeError("the page did not load within 30 s")
        time.sleep(0.1)
    results = {}
    for label, (name, attr, values, source) in CONTROLS.items():
        times = []
        for i in range(repeats):
            ms = driver.execute_async_script(MEASURE_JS, name, attr, values[i % len(values)], source)
            if ms < 0:
                raise RuntimeError(f"{label}: the page did not update within 10 s")
            times.append(ms)
        results[label] = {"median_ms": statistics.median(times), "max_ms": max(times), "n": len(times)}
    return results


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20, help="changes per control (default: 20)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_server(Path(tmp) / "server.log")
        try:
            driver = start_browser()
            try:
                results = measure(driver, url, args.repeats)
            finally:
                driver.quit()
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
    print(f"nadaraya explore, control change -> page redrawn, chapter data (50 pairs); {platform.node()}, "
          f"{time.strftime('%Y-%m-%d %H:%M')}")
    print(f"{'control':<16} {'median ms':>10} {'max ms':>8} {'n':>4}")
    for label, r in results.items():
        print(f"{label:<16} {r['median_ms']:>10.1f} {r['max_ms']:>8.1f} {r['n']:>4}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
