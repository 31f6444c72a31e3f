"""Writing output files all-or-nothing: a failed or interrupted command leaves no partial file.

- :func:`staged_file` / :func:`staged_folder` write beside the target and
  rename into place on success; any exception (``KeyboardInterrupt`` and the
  :class:`Terminated` that :func:`signals_raise` turns SIGTERM / SIGHUP into
  included) removes what was staged.
- New files get the mode the user's umask gives (``0o666 & ~umask``), as
  ``open`` would; a file that is replaced keeps its mode.
- :func:`refuse_overwriting_inputs` stops an output path that names an input
  file (same real path, or the same device and inode: a hard link).
"""

from __future__ import annotations

import os
import shutil
import signal
import stat
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

__all__ = ["Terminated", "refuse_overwriting_inputs", "signals_raise", "staged_file", "staged_folder"]


class Terminated(BaseException):
    """Raised in the main thread when the process gets SIGTERM or SIGHUP (``signals_raise``)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.signame = signal.Signals(signum).name


_deferred: list[int] = []  # signals that arrived inside _signals_deferred(), raised when it ends
_deferring = 0


def _on_signal(signum, frame):
    if _deferring:
        _deferred.append(signum)
        return
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


@contextmanager
def signals_raise():
    """SIGINT, SIGTERM and SIGHUP raise (``KeyboardInterrupt`` / :class:`Terminated`) inside the block.

    The exception unwinds through the staging context managers, which
    remove their partial output. The previous handlers are restored on exit.
    Outside the main thread (where Python cannot set handlers) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    wanted = [signal.SIGINT, signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])
    previous = {s: signal.signal(s, _on_signal) for s in wanted}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def _signals_deferred():
    """Defer SIGINT/SIGTERM/SIGHUP (under signals_raise) while a temporary is made or renamed into place."""
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
    if not _deferring and _deferred:
        signum = _deferred.pop(0)
        _deferred.clear()
        _on_signal(signum, None)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(target: Path) -> int:
    """The mode a file written to ``target`` should get: the replaced file's, else what the umask allows."""
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return 0o666 & ~_umask()


def _same_file(a, b) -> bool:
    try:
        if os.path.realpath(a) == os.path.realpath(b):
            return True
        sa, sb = os.stat(a), os.stat(b)
    except (OSError, ValueError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def refuse_overwriting_inputs(outputs, inputs) -> None:
    """Raise ValueError if an output path is an input file, or two outputs are the same file.

    ``outputs`` and ``inputs`` map the option (``"--out"``, ``"data"``) to a
    path. Paths are compared by real path and by device and inode, so
    symbolic and hard links to an input are caught too.
    """
    outputs = [(k, v) for k, v in outputs.items() if v is not None]
    for i, (opt, path) in enumerate(outputs):
        for src, src_path in inputs.items():
            if src_path is not None and _same_file(path, src_path):
                raise ValueError(
                    f"{opt} {str(path)!r} is the input file {src} ({str(src_path)!r}); writing it would destroy "
                    f"the input: choose another {opt} path"
                )
        for opt2, path2 in outputs[i + 1 :]:
            if _same_file(path, path2):
                raise ValueError(f"{opt} and {opt2} are the same file ({str(path)!r}); give them different paths")


def _prepare_folder(out: Path, name: str) -> bool:
    """Create ``out`` if needed; return whether it was created. Raise ValueError if it cannot be written."""
    if out.exists() and not out.is_dir():
        raise ValueError(f"{name} must be a folder, but {str(out)!r} is a file; choose another path")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(f"{name}: cannot create folder {str(out)!r} ({exc.strerror or exc}); choose a writable path") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ValueError(f"{name}: folder {str(out)!r} is not writable; choose a writable path")
    return created


@contextmanager
def staged_folder(out, *, name="out"):
    """Yield a hidden staging folder inside ``out``; on success move its files into ``out``.

    On any exception the staging folder (and ``out`` itself, if this call
    created it) is removed, so no half-written file is left behind. A file
    of ``out`` that is replaced keeps its mode.
    """
    out = Path(out)
    stage = created = None
    try:
        with _signals_deferred():  # a signal while the folders are made is raised once they are known
            created = _prepare_folder(out, name)
            try:
                stage = Path(tempfile.mkdtemp(prefix=".nadaraya-", dir=out))
            except OSError as exc:
                raise ValueError(
                    f"{name}: cannot write into {str(out)!r} ({exc.strerror or exc}); choose a writable path"
                ) from None
        yield stage
        with _signals_deferred():
            for item in sorted(stage.iterdir()):
                if item.is_file() and (out / item.name).is_file():
                    os.chmod(item, _mode_for(out / item.name))
                os.replace(item, out / item.name)
            shutil.rmtree(stage, ignore_errors=True)
    except BaseException:
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise


@contextmanager
def staged_file(path, *, name="out"):
    """Yield a temporary path beside ``path``; on success rename it to ``path`` (atomic on one filesystem).

    The file gets the mode of the file it replaces, or ``0o666 & ~umask``
    when it is new (``mkstemp``'s own 0600 is not kept).
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ValueError(f"{name}: {str(path)!r} is a folder; give a file path")
    if not parent.is_dir():
        raise ValueError(f"{name}: folder {str(parent)!r} does not exist; create it or choose another path")
    tmp = None
    try:
        with _signals_deferred():  # a signal now is raised once tmp is known, so it is removed too
            try:
                fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=parent)
            except OSError as exc:
                raise ValueError(
                    f"{name}: cannot write into {str(parent)!r} ({exc.strerror or exc}); choose a writable path"
                ) from None
            os.close(fd)
        yield Path(tmp)
        with _signals_deferred():
            os.chmod(tmp, _mode_for(path))
            os.replace(tmp, path)
    except BaseException:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        raise
