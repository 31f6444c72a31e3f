"""Writing output files all-or-nothing: a failed command leaves no partial file."""

from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


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
    created it) is removed, so no half-written file is left behind.
    """
    out = Path(out)
    created = _prepare_folder(out, name)
    try:
        stage = Path(tempfile.mkdtemp(prefix=".nadaraya-", dir=out))
    except OSError as exc:
        raise ValueError(f"{name}: cannot write into {str(out)!r} ({exc.strerror or exc}); choose a writable path") from None
    try:
        yield stage
        for item in sorted(stage.iterdir()):
            os.replace(item, out / item.name)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    shutil.rmtree(stage, ignore_errors=True)


@contextmanager
def staged_file(path, *, name="out"):
    """Yield a temporary path beside ``path``; on success rename it to ``path`` (atomic on one filesystem)."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise ValueError(f"{name}: {str(path)!r} is a folder; give a file path")
    if not parent.is_dir():
        raise ValueError(f"{name}: folder {str(parent)!r} does not exist; create it or choose another path")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=parent)
    except OSError as exc:
        raise ValueError(f"{name}: cannot write into {str(parent)!r} ({exc.strerror or exc}); choose a writable path") from None
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
