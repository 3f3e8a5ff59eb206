"""A checkpoint's ``.npz`` archive: read with sizes checked first; bfloat16 stored as its bits.

:mod:`polyprop.checkpoint` maps a state onto these arrays and back; this module only reads
and encodes arrays.  A member is read only after its ``.npy`` header's shape x itemsize
matches its uncompressed size in the zip's central directory, and only if all members
together stay within the limit given; anything else raises :class:`CheckpointError`.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from typing import Any


class CheckpointError(ValueError):
    """A checkpoint that cannot be read or does not fit: truncated, foreign, mismatched."""


STORED_AS = {"bfloat16": "uint16"}
"""Dtypes stored as another one's bits; the rest are stored as themselves."""

_MEMBER_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, RuntimeError, RecursionError)
"""What reading a damaged archive member raises (zlib, zipfile and NumPy's header parser)."""


def encode(array: Any) -> Any:
    """The array as stored: a bfloat16 array as its uint16 bits (little-endian), any other as it is."""
    import numpy as np

    if array.dtype.name in STORED_AS:
        return array.view(STORED_AS[array.dtype.name]).astype(np.dtype(STORED_AS[array.dtype.name]).newbyteorder("<"))
    return array


def logical_dtype(array: Any) -> str:
    """The dtype a version 1 file meant: its 2-byte voids are bfloat16 bits."""
    return "bfloat16" if array.dtype.kind == "V" and array.dtype.itemsize == 2 else str(array.dtype.name)


def decode(where: str, stored: Any, dtype: str | None) -> tuple[Any, str]:
    """``(array, dtype)``: the stored array as the dtype the metadata names (None: a version 1 file's own)."""
    import numpy as np

    if dtype is None:
        dtype = logical_dtype(stored)
        storage = stored.dtype.name
    else:
        storage = STORED_AS.get(dtype, dtype)
        if stored.dtype.name != storage:
            raise CheckpointError(
                f"{where} is stored as {stored.dtype.name}, but dtypes says {dtype} (stored as {storage})"
            )
    if dtype not in STORED_AS:
        return stored.astype(stored.dtype.newbyteorder("="), copy=False), dtype
    try:
        import ml_dtypes
    except ImportError:
        message = f"{where} is bfloat16, which NumPy reads only with ml_dtypes: pip install ml_dtypes"
        raise CheckpointError(message) from None
    bits = stored.view(np.uint16) if stored.dtype.kind == "V" else stored.astype(np.uint16, copy=False)
    return bits.view(ml_dtypes.bfloat16), dtype


def read(path: str, max_bytes: int) -> tuple[dict[str, Any], Any]:
    """The archive's arrays (without ``metadata``) and its parsed metadata; sizes checked before reading.

    ``max_bytes``: the most uncompressed bytes all members may hold (``polyprop.checkpoint.MAX_BYTES``).
    """
    try:
        archive = zipfile.ZipFile(path)
    except (FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except (zipfile.BadZipFile, EOFError, ValueError, OSError) as error:
        message = f"{path} is not a readable polyprop checkpoint (truncated or corrupted?): {error}"
        raise CheckpointError(message) from None
    with archive:
        infos = archive.infolist()
        total = sum(info.file_size for info in infos)
        if total > max_bytes:
            raise CheckpointError(
                f"{path} holds {total} bytes uncompressed, over polyprop.checkpoint.MAX_BYTES = {max_bytes}; "
                "raise it to load a checkpoint this large"
            )
        arrays: dict[str, Any] = {}
        for info in infos:
            name = info.filename[: -len(".npy")] if info.filename.endswith(".npy") else None
            if name is None or name in arrays:
                which = "a second" if name else "a"
                raise CheckpointError(f"{path}: {which} member {info.filename!r} is not a checkpoint array")
            try:
                arrays[name] = _read_member(path, archive, info)
            except _MEMBER_ERRORS as error:
                if isinstance(error, CheckpointError):
                    raise
                raise CheckpointError(
                    f"{path} is not a readable polyprop checkpoint (truncated or corrupted?): {info.filename}: {error}"
                ) from None
    raw = arrays.pop("metadata", None)
    if raw is None:
        raise CheckpointError(f"{path} is not a polyprop checkpoint: no metadata")
    if raw.shape != () or raw.dtype.kind != "U":
        raise CheckpointError(
            f"{path}: metadata must be one JSON text (a 0-d string array), got {raw.dtype}{raw.shape}"
        )
    try:
        return arrays, json.loads(str(raw))
    except RecursionError:
        raise CheckpointError(f"{path}: unreadable metadata: nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, or an integer of too many digits
        raise CheckpointError(f"{path}: unreadable metadata: {error}") from None


def _read_member(path: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Any:
    """One ``.npy`` member, read only after its header's shape x itemsize matches its size in the zip."""
    import numpy as np

    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise CheckpointError(
            f"{path}: member {info.filename!r} uses compression method {info.compress_type};"
            " stored or deflated are read"
        )
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise CheckpointError(f"{path}: member {info.filename!r} is .npy format {version}; 1.0 and 2.0 are read")
        if dtype.hasobject or dtype.itemsize == 0 or dtype.kind not in "biufcUV" or dtype.fields or dtype.subdtype:
            raise CheckpointError(f"{path}: member {info.filename!r} holds {dtype}, which no checkpoint holds")
        claimed = math.prod(shape) * dtype.itemsize
        held = info.file_size - member.tell()
        if claimed != held:
            raise CheckpointError(
                f"{path}: member {info.filename!r} claims {claimed} bytes ({dtype}{shape}) but holds {held}"
            )
        data = member.read(claimed)
    if len(data) != claimed:
        raise CheckpointError(f"{path}: member {info.filename!r} is truncated ({len(data)} of {claimed} bytes)")
    return np.frombuffer(data, dtype).reshape(shape, order="F" if fortran_order else "C")
