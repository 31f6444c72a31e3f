"""The command line's Dask connection: check the address, reach the scheduler within a hard time limit, predict.

Nothing here sets a process-wide default client: the client is passed
explicitly to everything that needs one (``client.compute``,
``as_completed(..., loop=client.loop)``) and closed, with its cluster, on
the way out.
"""

from __future__ import annotations

import re
import signal
import struct
import sys
import threading
import time
from contextlib import contextmanager

__all__ = ["SchedulerError", "connect", "parse_address", "predict_on_cluster"]

_HOST_PORT = re.compile(r"^(?:tcp://)?(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>[0-9]{1,5})$")
# A Dask scheduler's first message (its handshake) is a few hundred bytes; a length prefix beyond this
# is a peer that speaks another protocol (HTTP, SSH, ...), not a Dask scheduler.
_MAX_HANDSHAKE_BYTES = 1 << 20


class SchedulerError(RuntimeError):
    """The scheduler named by ``--scheduler`` could not be used (unreachable, silent, not Dask, no workers)."""


def parse_address(text: str) -> str:
    """``--scheduler``'s value: ``local`` or ``[tcp://]HOST:PORT``; an ``argparse`` type (exit 2 on anything else)."""
    import argparse

    text = text.strip()
    if text == "local":
        return text
    match = _HOST_PORT.match(text)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise argparse.ArgumentTypeError(
            f"must be 'local' or a Dask scheduler address tcp://HOST:PORT (PORT 1-65535), got {text!r}"
        )
    return f"tcp://{match['host']}:{int(match['port'])}"


def _fail(address, timeout, what):
    return SchedulerError(
        f"--scheduler {address}: {what} within --scheduler-timeout {timeout:g} s; check the address and that a "
        "Dask scheduler runs there, or use --scheduler local"
    )


async def _probe(address: str, deadline: float) -> None:
    """Check that ``address`` is a Dask scheduler: its handshake looks like Dask's and it says it is a Scheduler."""
    import asyncio

    from distributed.comm import connect

    host, _, port = address[len("tcp://"):].rpartition(":")
    while True:  # like Dask's own connect: a scheduler still starting refuses for a moment
        try:
            reader, writer = await asyncio.open_connection(host.strip("[]"), int(port))
            break
        except ConnectionRefusedError:
            if time.monotonic() > deadline - 0.2:
                raise
            await asyncio.sleep(0.1)
    try:
        head = await reader.readexactly(8)  # the peer speaks first: the length of its handshake
    except asyncio.IncompleteReadError:
        raise SchedulerError(f"--scheduler {address}: not a Dask scheduler (it closed the connection)") from None
    finally:
        writer.close()
    (nbytes,) = struct.unpack("<Q", head)
    if not 0 < nbytes <= _MAX_HANDSHAKE_BYTES:
        raise SchedulerError(f"--scheduler {address}: not a Dask scheduler (it answered in another protocol, "
                             f"first bytes {head!r})")
    comm = await connect(address, timeout=max(deadline - time.monotonic(), 0.01))
    try:
        await comm.write({"op": "identity", "reply": True})
        info = await comm.read()
    finally:
        comm.abort()
    kind = info.get("type") if isinstance(info, dict) else None
    if kind != "Scheduler":
        raise SchedulerError(f"--scheduler {address}: not a Dask scheduler (it says it is a {kind!r}); "
                             "give the scheduler's address, not a worker's")


def _reach(address: str, timeout: float, deadline: float) -> None:
    """Run the probe under one hard deadline: connection, handshake and reply together."""
    import asyncio  # here: `nadaraya fit` and `predict` without --scheduler need no event loop

    try:
        asyncio.run(asyncio.wait_for(_probe(address, deadline), max(deadline - time.monotonic(), 0.01)))
    except SchedulerError:
        raise
    except (asyncio.TimeoutError, TimeoutError):
        raise _fail(address, timeout, "no answer from a Dask scheduler") from None
    except OSError as exc:
        raise _fail(address, timeout, f"could not connect ({exc.strerror or type(exc).__name__})") from None
    except (MemoryError, ValueError, TypeError, KeyError, EOFError) as exc:  # garbled frames from a non-Dask peer
        raise SchedulerError(f"--scheduler {address}: not a Dask scheduler ({type(exc).__name__} reading its "
                             "answer)") from None
    except Exception as exc:  # CommClosedError and the like: the peer hung up mid-handshake
        raise SchedulerError(f"--scheduler {address}: not a Dask scheduler ({type(exc).__name__}: {exc})") from None


@contextmanager
def _hard_limit(seconds: float, error: SchedulerError):
    """Raise ``error`` if the block is still running after ``seconds`` (SIGALRM; main thread on POSIX only).

    The backstop behind the probe's own deadline: whatever inside
    ``distributed.Client`` might wait, the attempt ends on time.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield
        return

    def expire(signum, frame):
        raise error

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def connect(address: str, timeout: float):
    """Yield a ``distributed.Client`` on ``address`` (or on a new LocalCluster for ``local``) with workers.

    The scheduler must answer, and a worker be present, within ``timeout``
    seconds in all. The client is never made the default one; it (and a
    cluster started here) is closed on exit.
    """
    from ._optional import require

    distributed = require("distributed", "dask")
    deadline = time.monotonic() + timeout
    cluster = None
    if address == "local":
        import logging

        cluster = distributed.LocalCluster(threads_per_worker=1, processes=True, dashboard_address=":0",
                                           silence_logs=logging.ERROR)
        client = distributed.Client(cluster, set_as_default=False)
    else:
        with _hard_limit(timeout + 0.5, _fail(address, timeout, "no answer from a Dask scheduler")):
            _reach(address, timeout, deadline)
            try:
                client = distributed.Client(address, timeout=max(deadline - time.monotonic(), 0.5),
                                            set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise _fail(address, timeout, f"could not connect ({exc})") from None
    try:
        try:
            client.wait_for_workers(1, timeout=max(deadline - time.monotonic(), 0.5))
        except TimeoutError:
            raise SchedulerError(
                f"--scheduler {address}: the scheduler has no workers (none joined within --scheduler-timeout "
                f"{timeout:g} s); start some with `dask worker {address}`"
            ) from None
        yield client
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def predict_on_cluster(model, X, *, address, timeout, chunk_rows=None, std=False):
    """``model.predict(X)`` on a Dask cluster, one task per chunk of rows; a line on stderr per finished chunk.

    Returns ``(prediction, std or None)`` as NumPy arrays.
    """
    import numpy as np

    from ._optional import require

    da = require("dask.array", "dask")
    from distributed import as_completed

    with connect(address, timeout) as client:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        rows = chunk_rows or max(1, -(-X.shape[0] // (4 * workers)))
        Xd = da.from_array(X, chunks=(rows, X.shape[1]))
        out = model.predict(Xd, return_std=True) if std else (model.predict(Xd),)
        blocks = [part.to_delayed().ravel().tolist() for part in out]
        futures = client.compute([b for part in blocks for b in part])
        n_chunks = len(blocks[0])
        chunk_of = {f.key: i % n_chunks for i, f in enumerate(futures)}
        pending = {i: len(blocks) for i in range(n_chunks)}
        done = 0
        print(f"predicting {X.shape[0]} rows in {n_chunks} chunks on {workers} Dask workers ({address})",
              file=sys.stderr, flush=True)
        for future in as_completed(futures, loop=client.loop):  # this client's loop: no default client needed
            future.result()  # a failed task raises here, before anything is written
            i = chunk_of[future.key]
            pending[i] -= 1
            if pending[i] == 0:
                done += 1
                print(f"chunk {done}/{n_chunks} done", file=sys.stderr, flush=True)
        results = client.gather(futures)
    parts = [np.concatenate(results[j * n_chunks : (j + 1) * n_chunks]) for j in range(len(blocks))]
    return parts[0], (parts[1] if std else None)
