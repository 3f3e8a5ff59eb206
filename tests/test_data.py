"""The airfoil loader: where the file comes from, its hash check, and D2L's standardisation.

The download is tested without a network: ``urllib.request.urlopen`` is replaced
by a fake that serves the shared file's bytes, wrong bytes, or an error.
"""

from __future__ import annotations

import io
import pathlib
import shutil
import statistics
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest

from conftest import require_path
from polyprop.chapter import data
from polyprop.chapter.data import (
    AIRFOIL_FILE,
    AIRFOIL_SHA1,
    AIRFOIL_URL,
    DATA_DIR_ENV,
    ChecksumMismatchError,
    DataUnavailableError,
    airfoil_path,
    load_airfoil,
    standardize,
)

SHARED_DATA = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data"

# Row 0 of the file and its standardised values (computed once with numpy, kept as a check).
FIRST_ROW = [800.0, 0.0, 0.3048, 71.3, 0.00266337, 126.201]
FIRST_ROW_STANDARDISED = [-0.6620227, -1.14640293, 1.79929926, 1.31293526, -0.64480461, 0.19793876]


@pytest.fixture(scope="module")
def shared_dir() -> pathlib.Path:
    require_path(SHARED_DATA / AIRFOIL_FILE, "the airfoil data (the checkout's sibling shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="module")
def good_bytes(shared_dir: pathlib.Path) -> bytes:
    return (shared_dir / AIRFOIL_FILE).read_bytes()


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to download fails the test."""

    def urlopen(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"unexpected download: {args}")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch):
    """``serve(payload)`` makes urlopen return ``payload`` (bytes) or raise it (an exception)."""
    calls: list[tuple[str, object]] = []

    def install(payload: bytes | Exception) -> list[tuple[str, object]]:
        def urlopen(url: str, timeout: object = None) -> io.BytesIO:
            calls.append((url, timeout))
            if isinstance(payload, Exception):
                raise payload
            return io.BytesIO(payload)

        monkeypatch.setattr(urllib.request, "urlopen", urlopen)
        return calls

    return install


def files_in(folder: pathlib.Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# --- reading from a folder ------------------------------------------------------------------


def test_load_from_data_dir_gives_d2l_shapes(shared_dir, no_network):
    features, labels = load_airfoil(shared_dir)
    assert features.shape == (1500, 5)
    assert labels.shape == (1500,)
    assert features.dtype == labels.dtype == np.float64


def test_load_from_environment_variable(shared_dir, no_network, monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_DIR_ENV, str(shared_dir))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert airfoil_path() == shared_dir / AIRFOIL_FILE
    features, labels = load_airfoil()
    assert features.shape == (1500, 5)
    assert labels.shape == (1500,)
    assert files_in(tmp_path) == []  # the cache is not touched


def test_data_dir_argument_wins_over_environment(shared_dir, no_network, monkeypatch, tmp_path):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))  # empty folder
    assert airfoil_path(shared_dir) == shared_dir / AIRFOIL_FILE


def test_standardisation_is_exactly_d2ls_over_all_1503_rows(shared_dir):
    raw = np.genfromtxt(shared_dir / AIRFOIL_FILE, dtype=np.float64, delimiter="\t")
    assert raw.shape == (1503, 6)
    expected = (raw - raw.mean(axis=0)) / raw.std(axis=0)
    features, labels = load_airfoil(shared_dir)
    np.testing.assert_array_equal(features, expected[:1500, :-1])
    np.testing.assert_array_equal(labels, expected[:1500, -1])
    z = standardize(raw)
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(z.std(axis=0), 1.0, rtol=1e-12)  # population std (ddof 0)


def test_first_row_against_a_hand_computation(shared_dir):
    """z = (x - mean) / pstdev per column, with Python's statistics module instead of numpy."""
    text = (shared_dir / AIRFOIL_FILE).read_text()
    rows = [[float(v) for v in line.split("\t")] for line in text.splitlines()]
    assert len(rows) == 1503
    assert rows[0] == FIRST_ROW
    columns = list(zip(*rows))
    by_hand = [(rows[0][j] - statistics.fmean(c)) / statistics.pstdev(c) for j, c in enumerate(columns)]
    features, labels = load_airfoil(shared_dir, n=1)
    ours = [*features[0], labels[0]]
    np.testing.assert_allclose(ours, by_hand, rtol=1e-12)
    np.testing.assert_allclose(ours, FIRST_ROW_STANDARDISED, atol=1e-8)


def test_n_selects_the_first_rows_of_the_standardised_data(shared_dir):
    all_features, all_labels = load_airfoil(shared_dir, n=1503)
    features, labels = load_airfoil(shared_dir, n=7)
    np.testing.assert_array_equal(features, all_features[:7])
    np.testing.assert_array_equal(labels, all_labels[:7])
    for n in (0, 1504):
        with pytest.raises(ValueError, match=r"n must be in \[1, 1503\]"):
            load_airfoil(shared_dir, n=n)


def test_missing_file_names_the_folder_and_the_url(tmp_path, no_network):
    with pytest.raises(DataUnavailableError) as caught:
        airfoil_path(tmp_path)
    message = str(caught.value)
    assert str(tmp_path / AIRFOIL_FILE) in message
    assert AIRFOIL_URL in message
    assert isinstance(caught.value, FileNotFoundError)  # the command line reports these as errors


def test_modified_copy_is_rejected_naming_both_hashes(good_bytes, tmp_path, no_network):
    modified = bytearray(good_bytes)
    modified[3] = ord("1")  # 800 -> 801 Hz in the first row
    (tmp_path / AIRFOIL_FILE).write_bytes(bytes(modified))
    actual = data.sha1_of(bytes(modified))
    with pytest.raises(ChecksumMismatchError) as caught:
        load_airfoil(tmp_path)
    message = str(caught.value)
    assert AIRFOIL_SHA1 in message
    assert actual in message
    assert str(tmp_path / AIRFOIL_FILE) in message
    assert (caught.value.expected, caught.value.actual) == (AIRFOIL_SHA1, actual)
    assert (tmp_path / AIRFOIL_FILE).read_bytes() == bytes(modified)  # the user's file is kept


def test_truncated_copy_is_rejected_by_its_hash(good_bytes, tmp_path, no_network):
    truncated = good_bytes[: len(good_bytes) // 2]
    (tmp_path / AIRFOIL_FILE).write_bytes(truncated)
    with pytest.raises(ChecksumMismatchError, match="truncated") as caught:
        load_airfoil(tmp_path)
    assert data.sha1_of(truncated) in str(caught.value)
    assert AIRFOIL_SHA1 in str(caught.value)


# --- the cache and the download -------------------------------------------------------------


def test_download_is_verified_and_cached_atomically(good_bytes, serve, tmp_path):
    calls = serve(good_bytes)
    cache = tmp_path / "cache"
    path = airfoil_path(cache_dir=cache)
    assert path == cache / AIRFOIL_FILE
    assert path.read_bytes() == good_bytes
    assert files_in(cache) == [AIRFOIL_FILE]  # no temporary file left behind
    assert calls == [(AIRFOIL_URL, data.DOWNLOAD_TIMEOUT_S)]
    features, _ = load_airfoil(cache_dir=cache)  # now served from the cache
    assert features.shape == (1500, 5)
    assert len(calls) == 1


def test_wrong_download_is_rejected_and_nothing_is_left(serve, tmp_path):
    serve(b"<html>Access denied</html>")
    cache = tmp_path / "cache"
    with pytest.raises(ChecksumMismatchError) as caught:
        airfoil_path(cache_dir=cache)
    assert AIRFOIL_SHA1 in str(caught.value)
    assert AIRFOIL_URL in str(caught.value)
    assert files_in(cache) == []


def test_offline_names_the_url_the_cache_path_and_the_alternatives(serve, tmp_path):
    serve(urllib.error.URLError("no route to host"))
    cache = tmp_path / "cache"
    with pytest.raises(DataUnavailableError) as caught:
        airfoil_path(cache_dir=cache)
    message = str(caught.value)
    for part in (AIRFOIL_URL, str(cache / AIRFOIL_FILE), "--data-dir", DATA_DIR_ENV, "no route to host"):
        assert part in message
    assert files_in(cache) == []


def test_a_timeout_is_reported_like_being_offline(serve, tmp_path):
    serve(TimeoutError("timed out"))
    with pytest.raises(DataUnavailableError, match="timed out"):
        airfoil_path(cache_dir=tmp_path)


def test_good_cached_file_is_used_without_the_network(shared_dir, no_network, tmp_path):
    shutil.copy(shared_dir / AIRFOIL_FILE, tmp_path / AIRFOIL_FILE)
    assert airfoil_path(cache_dir=tmp_path) == tmp_path / AIRFOIL_FILE


def test_bad_cached_file_is_replaced_by_a_verified_download(good_bytes, serve, tmp_path):
    (tmp_path / AIRFOIL_FILE).write_bytes(good_bytes[:100])
    calls = serve(good_bytes)
    assert airfoil_path(cache_dir=tmp_path).read_bytes() == good_bytes
    assert len(calls) == 1
    assert files_in(tmp_path) == [AIRFOIL_FILE]


def test_bad_cached_file_is_never_used_offline(good_bytes, serve, tmp_path):
    bad = good_bytes[:100]
    (tmp_path / AIRFOIL_FILE).write_bytes(bad)
    serve(urllib.error.URLError("offline"))
    with pytest.raises(DataUnavailableError) as caught:
        airfoil_path(cache_dir=tmp_path)
    assert data.sha1_of(bad) in str(caught.value)
    assert AIRFOIL_SHA1 in str(caught.value)
    assert (tmp_path / AIRFOIL_FILE).read_bytes() == bad  # not deleted either


def test_download_false_never_touches_the_network(no_network, tmp_path):
    with pytest.raises(DataUnavailableError, match="downloading is off"):
        airfoil_path(cache_dir=tmp_path, download=False)


def test_failed_write_leaves_no_temporary_file(good_bytes, serve, monkeypatch, tmp_path):
    serve(good_bytes)

    def replace(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(data.os, "replace", replace)
    with pytest.raises(OSError, match="disk full"):
        airfoil_path(cache_dir=tmp_path)
    assert files_in(tmp_path) == []


def test_default_cache_follows_xdg_then_home(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data.default_cache_dir() == tmp_path / "xdg" / "polyprop"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data.default_cache_dir() == tmp_path / ".cache" / "polyprop"


def test_default_cache_is_used_when_no_folder_is_given(good_bytes, serve, monkeypatch, tmp_path):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    serve(good_bytes)
    assert airfoil_path() == tmp_path / "polyprop" / AIRFOIL_FILE


def test_chapter_modules_import_no_framework():
    frameworks = ["torch", "tensorflow", "jax", "mxnet", "keras", "optax"]
    probe = (
        "import sys, polyprop.chapter.data, polyprop.chapter.airfoil\n"
        f"print([m for m in {frameworks!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
