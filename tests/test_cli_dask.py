"""`nadaraya predict --scheduler` from a real shell: a LocalCluster, a scheduler process, and peers that are not Dask.

Every command runs as a subprocess (``python -m nadaraya``), so nothing in
this test process (no default client) can make it pass. Every server binds
127.0.0.1 and is stopped by its fixture.
"""

import csv
import json
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
pytest.importorskip("sklearn")

from cli_helpers import chapter_files, fit_model, run_cli  # noqa: E402
from global_state import preserved_environ  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dask-cli")
    data, new = chapter_files(folder, n_train=400, n_new=60)
    model = fit_model(folder, data, bandwidth="0.2")
    direct = folder / "direct.csv"
    res = run_cli("predict", model, new, "--out", direct, "--std")
    assert res.returncode == 0, res.stderr
    return folder, model, new, direct


def _column(path, name):
    return np.array([float(r[name]) for r in csv.DictReader(open(path, newline=""))])


def _assert_same_predictions(path, direct):
    assert next(csv.reader(open(path, newline=""))) == ["id", "x", "prediction", "std"]
    for col in ("prediction", "std"):
        np.testing.assert_allclose(_column(path, col), _column(direct, col), rtol=1e-12)


def test_predict_on_a_local_cluster(files):
    folder, model, new, direct = files
    out = folder / "local.csv"
    res = run_cli("predict", model, new, "--out", out, "--std", "--scheduler", "local", "--chunk-rows", "12")
    assert res.returncode == 0, res.stderr
    assert "in 5 chunks on" in res.stderr and "chunk 5/5 done" in res.stderr  # progress, a line per chunk
    _assert_same_predictions(out, direct)


def test_predict_on_a_local_cluster_started_by_the_test(files):
    folder, model, new, direct = files
    out = folder / "cluster.csv"
    with preserved_environ(), distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                                       host="127.0.0.1", dashboard_address=None, silence_logs=40) as cluster:
        res = run_cli("predict", model, new, "--out", out, "--std", "--scheduler", cluster.scheduler_address)
    assert res.returncode == 0, res.stderr
    assert "on 2 Dask workers" in res.stderr
    _assert_same_predictions(out, direct)


@pytest.fixture()
def scheduler_process(tmp_path):
    """A `dask scheduler` process and one `dask worker` process on loopback; both terminated afterwards."""
    scheduler_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                               "--port", "0", "--no-dashboard", "--scheduler-file", str(scheduler_file)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 120
        while not scheduler_file.exists() and time.monotonic() < deadline and procs[0].poll() is None:
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1",
                                       "--host", "127.0.0.1", "--no-dashboard"],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield address
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_predict_on_a_scheduler_process(files, scheduler_process):
    folder, model, new, direct = files
    out = folder / "remote.csv"
    res = run_cli("predict", model, new, "--out", out, "--std", "--scheduler", scheduler_process,
                  "--scheduler-timeout", "60")  # the worker may still be starting: predict waits for it
    assert res.returncode == 0, res.stderr
    assert f"on 1 Dask workers ({scheduler_process})" in res.stderr
    _assert_same_predictions(out, direct)


# ---------------------------------------------------------------- peers that are not (working) Dask schedulers


@pytest.fixture()
def peer():
    """Start a loopback TCP server that accepts and then sends ``reply`` (None: says nothing); yields its factory."""
    servers = []

    def start(reply):
        sock = socket.create_server(("127.0.0.1", 0))
        sock.settimeout(0.2)
        stop, conns = threading.Event(), []

        def serve():
            while not stop.is_set():
                try:
                    conn, _ = sock.accept()
                except (socket.timeout, OSError):
                    continue
                conns.append(conn)
                if reply is not None:
                    conn.sendall(reply)
            for c in conns:
                c.close()
            sock.close()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        servers.append((stop, thread))
        return f"tcp://127.0.0.1:{sock.getsockname()[1]}"

    yield start
    for stop, thread in servers:
        stop.set()
        thread.join(timeout=10)


def _assert_failed_cleanly(res, out, status):
    assert res.returncode == status, res.stderr
    assert "--scheduler" in res.stderr
    for noise in ("Traceback", "Exception ignored", "MemoryError"):
        assert noise not in res.stderr
    assert not out.exists() and not list(out.parent.glob(f".{out.name}*"))  # no output, no partial file


def test_a_silent_peer_is_given_up_at_the_timeout(files, peer):
    folder, model, new, _ = files
    out = folder / "never.csv"
    address = peer(None)  # accepts the connection, never answers the handshake
    start = time.monotonic()
    res = run_cli("predict", model, new, "--out", out, "--scheduler", address, "--scheduler-timeout", "2",
                  timeout=60)  # a hang guard (it hung for minutes before): the limit itself is the 2 s
    print(f"gave up after {time.monotonic() - start:.1f} s (python start-up included)")
    _assert_failed_cleanly(res, out, 1)
    assert "no answer from a Dask scheduler within --scheduler-timeout 2 s" in res.stderr


def test_a_scheduler_without_workers_is_given_up_at_the_timeout(files):
    folder, model, new, _ = files
    out = folder / "idle.csv"
    with preserved_environ(), distributed.LocalCluster(n_workers=0, processes=True, host="127.0.0.1",
                                                       dashboard_address=None, silence_logs=40) as cluster:
        res = run_cli("predict", model, new, "--out", out, "--scheduler", cluster.scheduler_address,
                      "--scheduler-timeout", "1", timeout=120)  # a hang guard
    _assert_failed_cleanly(res, out, 1)
    assert "the scheduler has no workers (none joined within --scheduler-timeout 1 s); start some with" in res.stderr


@pytest.mark.parametrize("reply", [b"HTTP/1.1 400 Bad Request\r\n\r\n", b"\x20" + b"\x00" * 7 + b"garbage!" * 4,
                                   b"SSH-2.0-OpenSSH_9.6\r\n"])
def test_a_peer_answering_junk_is_not_a_dask_scheduler(files, peer, reply):
    folder, model, new, _ = files
    out = folder / "junk.csv"
    res = run_cli("predict", model, new, "--out", out, "--scheduler", peer(reply), "--scheduler-timeout", "5")
    _assert_failed_cleanly(res, out, 1)
    assert "not a Dask scheduler" in res.stderr


def test_a_closed_port_fails_with_status_1(files):
    folder, model, new, _ = files
    out = folder / "closed.csv"
    with socket.create_server(("127.0.0.1", 0)) as sock:
        port = sock.getsockname()[1]  # a port nobody listens on once this block ends
    res = run_cli("predict", model, new, "--out", out, "--scheduler", f"tcp://127.0.0.1:{port}",
                  "--scheduler-timeout", "1")
    _assert_failed_cleanly(res, out, 1)
    assert f"--scheduler tcp://127.0.0.1:{port}: could not connect" in res.stderr


@pytest.mark.parametrize("address", ["garbage", "", "tcp://h:notaport", "inproc://x", "tcp://127.0.0.1:99999",
                                     "ucx://127.0.0.1:8786"])
def test_a_bad_address_is_refused_by_the_parser(files, address):
    folder, model, new, _ = files
    out = folder / "bad.csv"
    res = run_cli("predict", model, new, "--out", out, "--scheduler", address, timeout=60)
    _assert_failed_cleanly(res, out, 2)
    assert "--scheduler must be 'local' or a Dask scheduler address tcp://HOST:PORT" in res.stderr


@pytest.mark.parametrize("value", ["inf", "-1", "abc", "0", "nan"])
def test_a_bad_scheduler_timeout_is_refused_by_the_parser(files, value):
    folder, model, new, _ = files
    res = run_cli("predict", model, new, "--out", folder / "t.csv", "--scheduler", "local",
                  "--scheduler-timeout", value)
    assert res.returncode == 2
    assert f"--scheduler-timeout must be positive and finite, got {value!r}" in res.stderr
    assert "Traceback" not in res.stderr
