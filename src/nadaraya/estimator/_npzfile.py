"""Reading an ``.npz`` archive without trusting it: members by name, headers checked before any data is read.

:class:`NpzReader` opens the zip, lists its members and, for each member a
caller asks for, reads the ``.npy`` header first (``numpy.lib.format``:
magic, then shape, order and dtype), checks that the declared size is what
the member really holds and that the dtype is one the caller accepts, and
only then reads the data (never with pickle). A member declaring 8 TB in a
small file is refused from its header, without allocating. Imports only NumPy.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

from numpy.lib import format as npy

__all__ = ["NpzReader", "ModelFileError"]

NPY_MAGIC = b"\x93NUMPY"


class ModelFileError(ValueError):
    """A model file that cannot be read or is invalid; the message names the file and, where known, the field."""


class NpzReader:
    """The arrays of an ``.npz`` file at ``path``, read one by one after their headers are checked.

    Use as a context manager. ``members`` is the set of array names (without ``.npy``).
    """

    def __init__(self, path):
        self.path = Path(path)
        self.name = repr(str(self.path))
        if self.path.is_dir():
            raise ModelFileError(f"model file {self.name} is a folder, not a file")
        if not self.path.is_file():
            raise ModelFileError(f"model file {self.name} does not exist")
        with open(self.path, "rb") as fh:
            head = fh.read(len(NPY_MAGIC))
        if head == NPY_MAGIC:
            raise ModelFileError(
                f"{self.name} is a single NumPy array (.npy), not a nadaraya model file (.npz): "
                "write models with model.save() or `nadaraya fit --model`"
            )
        try:
            self._zip = zipfile.ZipFile(self.path)
            infos = self._zip.infolist()
        except (zipfile.BadZipFile, OSError, EOFError, ValueError) as exc:
            raise ModelFileError(
                f"{self.name} is not a readable nadaraya model file (not a zip archive: corrupted or truncated?): {exc}"
            ) from None
        others = [i.filename for i in infos if not i.filename.endswith(".npy") or "/" in i.filename]
        if others:
            self._zip.close()
            raise ModelFileError(
                f"{self.name} is a zip archive but not a nadaraya model file (.npz of arrays): "
                f"member {others[0]!r} is not a .npy array"
            )
        self._infos = {i.filename[: -len(".npy")]: i for i in infos}
        self.members = set(self._infos)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._zip.close()

    def header(self, member):
        """(shape, dtype) that ``member`` declares, checked against the member's real size."""
        info = self._infos[member]
        try:
            with self._zip.open(info) as fp:
                version = npy.read_magic(fp)
                if version == (1, 0):
                    shape, fortran, dtype = npy.read_array_header_1_0(fp)
                elif version == (2, 0):
                    shape, fortran, dtype = npy.read_array_header_2_0(fp)
                else:
                    raise ValueError(f".npy format version {version} is not one this nadaraya reads (1.0, 2.0)")
                offset = fp.tell()
        except (ValueError, OSError, EOFError, zipfile.BadZipFile, SyntaxError) as exc:
            raise ModelFileError(f"{self.name} is not a readable nadaraya model file: member {member!r}: {exc}") from None
        if dtype.hasobject:
            raise ModelFileError(
                f"{self.name} is not a readable nadaraya model file: member {member!r} holds Python objects "
                "(pickle), which nadaraya never loads"
            )
        declared = math.prod(shape) * dtype.itemsize
        if offset + declared != info.file_size:
            raise ModelFileError(
                f"{self.name} is an invalid nadaraya model file: field {member!r} declares shape {shape} of {dtype} "
                f"({declared:,} bytes) but the member holds {max(info.file_size - offset, 0):,} bytes"
            )
        return shape, dtype

    def read(self, member, kinds, what="field"):
        """The array ``member`` after :meth:`header`; its dtype kind must be among ``kinds`` (e.g. "fiu")."""
        shape, dtype = self.header(member)
        if dtype.kind not in kinds:
            accepted = {"f": "floating", "i": "integer", "u": "unsigned integer", "b": "boolean", "U": "text"}
            raise ModelFileError(
                f"{self.name} is an invalid nadaraya model file: {what} {member!r} has dtype {dtype}; expected "
                f"{' or '.join(accepted[k] for k in kinds if k in accepted)}"
            )
        try:
            with self._zip.open(self._infos[member]) as fp:
                return npy.read_array(fp, allow_pickle=False)
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise ModelFileError(f"{self.name} is not a readable nadaraya model file: member {member!r}: {exc}") from None
