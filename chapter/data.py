"""The NASA airfoil self-noise data, as D2L's ``get_data_ch11`` loads it.

Where the file comes from, in order:

1. ``data_dir`` (the command line's ``--data-dir``), else ``$POLYPROP_DATA_DIR``:
   that folder only, never a download;
2. the user cache (``$XDG_CACHE_HOME/polyprop``, else ``~/.cache/polyprop``):
   a cached copy is used if its SHA-1 is right, else the file is downloaded from
   :data:`AIRFOIL_URL`, checked, and moved into place atomically.

Every file is checked against :data:`AIRFOIL_SHA1` (the hash D2L pins) before
it is read; a file with another hash is never used.  A wrong or half-written
download never reaches the final path, and nothing is deleted: the only file
ever overwritten is a cached copy that fails its hash, and only by a verified one.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import urllib.error
import urllib.request

import numpy as np

from ..files import write_atomically

AIRFOIL_URL = "http://d2l-data.s3-accelerate.amazonaws.com/airfoil_self_noise.dat"
AIRFOIL_SHA1 = "76e5be1548fd8222e5074cf0faae75edff8cf93f"
AIRFOIL_FILE = "airfoil_self_noise.dat"
AIRFOIL_SHAPE = (1503, 6)
"""Rows and columns of the file: 5 features, then the sound pressure level (dB)."""
DATA_DIR_ENV = "POLYPROP_DATA_DIR"
DOWNLOAD_TIMEOUT_S = 30.0


class DataUnavailableError(FileNotFoundError):
    """No verified copy of a data file; the message says where to put one and where to get it."""


class ChecksumMismatchError(DataUnavailableError):
    """A file whose SHA-1 is not the expected one; it is never used."""

    def __init__(self, message: str, path: pathlib.Path, expected: str, actual: str) -> None:
        super().__init__(message)
        self.path, self.expected, self.actual = path, expected, actual


def sha1_of(data: bytes) -> str:
    """The hex SHA-1 of ``data``."""
    return hashlib.sha1(data).hexdigest()


def default_cache_dir() -> pathlib.Path:
    """``$XDG_CACHE_HOME/polyprop``, else ``~/.cache/polyprop``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "polyprop"


def airfoil_path(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> pathlib.Path:
    """The path of a verified ``airfoil_self_noise.dat`` (see the module docstring for the order).

    Raises:
        DataUnavailableError: no file where one was asked for, or offline with no good cached copy;
            the message names the folder, the URL, ``--data-dir`` and ``POLYPROP_DATA_DIR``.
        ChecksumMismatchError: a file (or a download) whose SHA-1 is wrong; the message gives both.
    """
    if data_dir is None:
        data_dir = os.environ.get(DATA_DIR_ENV) or None
    if data_dir is not None:
        return _from_folder(pathlib.Path(data_dir).expanduser())
    cache = pathlib.Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return _from_cache(cache, download)


def _from_folder(folder: pathlib.Path) -> pathlib.Path:
    """``folder/airfoil_self_noise.dat`` if it is there with the right hash; never downloads."""
    path = folder / AIRFOIL_FILE
    if not path.is_file():
        raise DataUnavailableError(
            f"{AIRFOIL_FILE} is not in {folder}: put the file at {path} "
            f"(download it from {AIRFOIL_URL}; SHA-1 {AIRFOIL_SHA1}), or drop --data-dir "
            f"and unset {DATA_DIR_ENV} to let polyprop download it into its cache"
        )
    _verify(path, path.read_bytes(), source="file")
    return path


def _from_cache(cache: pathlib.Path, download: bool) -> pathlib.Path:
    """The cached copy if its hash is right, else a fresh verified download put in its place."""
    path = cache / AIRFOIL_FILE
    problem = "no copy in the cache"
    if path.is_file():
        actual = sha1_of(path.read_bytes())
        if actual == AIRFOIL_SHA1:
            return path
        problem = f"the cached copy has SHA-1 {actual}, expected {AIRFOIL_SHA1}, so it is not used"
    if not download:
        raise DataUnavailableError(_where_to_get_it(path, f"{problem} and downloading is off"))
    try:
        data = _download(AIRFOIL_URL)
    except (urllib.error.URLError, OSError) as error:
        raise DataUnavailableError(
            _where_to_get_it(path, f"{problem} and the download from {AIRFOIL_URL} failed ({error})")
        ) from error
    _verify(path, data, source="download")
    write_atomically(path, data)
    return path


def _download(url: str) -> bytes:
    """The bytes at ``url`` (urllib, :data:`DOWNLOAD_TIMEOUT_S` seconds timeout)."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        data: bytes = response.read()
    return data


def _verify(path: pathlib.Path, data: bytes, source: str) -> None:
    """Nothing if ``data`` has the airfoil file's SHA-1, else ChecksumMismatchError naming both hashes."""
    actual = sha1_of(data)
    if actual == AIRFOIL_SHA1:
        return
    what = f"the {source} at {path}" if source == "file" else f"the file downloaded from {AIRFOIL_URL}"
    raise ChecksumMismatchError(
        f"{what} has SHA-1 {actual}, expected {AIRFOIL_SHA1} ({len(data)} bytes; truncated, "
        f"modified or another file?), so it is not used; get the original from {AIRFOIL_URL}",
        path,
        AIRFOIL_SHA1,
        actual,
    )


def _where_to_get_it(path: pathlib.Path, problem: str) -> str:
    return (
        f"the airfoil data is unavailable: {problem}. Download {AIRFOIL_URL} "
        f"(SHA-1 {AIRFOIL_SHA1}) yourself and put it at {path}, or put it in a folder "
        f"and pass --data-dir FOLDER or set {DATA_DIR_ENV}=FOLDER"
    )


def standardize(data: np.ndarray) -> np.ndarray:
    """Each column as z-scores: ``(data - mean) / std``, population std (ddof 0), as D2L."""
    scores: np.ndarray = (data - data.mean(axis=0)) / data.std(axis=0)
    return scores


def load_airfoil(
    data_dir: str | os.PathLike[str] | None = None,
    n: int = 1500,
    **path_kwargs: object,
) -> tuple[np.ndarray, np.ndarray]:
    """D2L's ``get_data_ch11``: the first ``n`` standardised rows as (features (n, 5), labels (n,)).

    All 1503 rows are standardised column by column (:func:`standardize`), then
    the first ``n`` are returned.  D2L reads float32; we read float64, so that
    every backend's float64 run starts from the same exact numbers (the values
    differ from D2L's by float32 rounding, ~1e-7 relative).  ``path_kwargs``
    go to :func:`airfoil_path` (``download``, ``cache_dir``).
    """
    if not 1 <= n <= AIRFOIL_SHAPE[0]:
        raise ValueError(f"n must be in [1, {AIRFOIL_SHAPE[0]}], got {n}")
    path = airfoil_path(data_dir, **path_kwargs)  # type: ignore[arg-type]
    data = standardize(np.genfromtxt(path, dtype=np.float64, delimiter="\t"))
    return data[:n, :-1], data[:n, -1]
