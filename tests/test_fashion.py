"""Exercise 3: the Fashion-MNIST loader, the schedules, and training on every backend.

Training runs on the first 2000 training and 2000 test images for 2 epochs
(16 minibatches), so the whole file takes seconds.  Measured there (lr0 0.01,
seed 0): NumPy's test accuracy is 0.666 then 0.715 (constant), 0.666 then
0.7225 (step), 0.6875 then 0.721 (cosine); every other backend gave the same
accuracies exactly and losses within 1.6e-5 relative (MXNet; 1e-6 the others).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import json
import math
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

import polyprop
from conftest import require_backend, require_path
from polyprop.backends.numpy import chapter as numpy_hooks
from polyprop.chapter import fashion
from polyprop.chapter.fashion import (
    FILES,
    SCHEDULES,
    FashionDataCorruptError,
    FashionDataMissingError,
    load_fashion_mnist,
    make_schedule,
    read_idx,
    train_fashion,
)

LIMIT, EPOCHS = 2000, 2

ACCURACY_FLOOR = 0.6
"""Chance is 0.1; NumPy measured 0.715 after 2 epochs on this subset (constant schedule)."""

ACCURACY_TOLERANCE = 0.005
"""10 of the 2000 test images; measured 0 (float32 summation orders never flipped a prediction)."""

LOSS_RTOL = 2e-4
"""Relative, per epoch; measured at most 1.6e-5 (MXNet), about 1e-6 for the others."""


def _installed_folder() -> Path:
    """The folder the loader would use, without downloading; skips when there is none."""
    try:
        return fashion.find_fashion_mnist(download=False)
    except FashionDataMissingError as error:
        require_path(fashion.DEBIAN_DIR, f"Fashion-MNIST ({error})")
        raise


@pytest.fixture(scope="module")
def full():
    _installed_folder()
    return load_fashion_mnist(download=False)


@pytest.fixture(scope="module")
def small():
    _installed_folder()
    return load_fashion_mnist(limit=LIMIT, download=False)


@pytest.fixture(scope="module")
def numpy_runs(small):
    """NumPy's run for each schedule: the reference every backend is compared with."""
    return {name: train_fashion("numpy", small, schedule=name, epochs=EPOCHS) for name in SCHEDULES}


def _write_idx(path: Path, array: np.ndarray, magic: int | None = None) -> None:
    """A gzip IDX file holding the uint8 ``array`` (magic 0x0800 + ndim unless given)."""
    magic = 0x0800 + array.ndim if magic is None else magic
    header = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    path.write_bytes(gzip.compress(header + array.astype(np.uint8).tobytes()))


@pytest.fixture
def tiny_dir(tmp_path):
    """A folder with four small valid files: 12 training and 5 test images."""
    rng = np.random.default_rng(1)
    folder = tmp_path / "tiny"
    folder.mkdir()
    for split, count in (("train", 12), ("test", 5)):
        _write_idx(folder / FILES[f"{split}_images"].name, rng.integers(0, 256, (count, 28, 28)))
        _write_idx(folder / FILES[f"{split}_labels"].name, np.arange(count) % 10)
    return folder


@pytest.fixture
def nowhere(tmp_path, monkeypatch):
    """No data anywhere: no environment variable, an empty Debian folder, an empty cache."""
    monkeypatch.delenv(fashion.DIR_VARIABLE, raising=False)
    monkeypatch.setattr(fashion, "DEBIAN_DIR", tmp_path / "no-debian-package")
    return tmp_path / "cache"


# ------------------------------------------------------------------ loader


def test_full_set_sizes_and_first_label(full):
    folder = _installed_folder()
    assert full.train_images.shape == (60000, 784)
    assert full.test_images.shape == (10000, 784)
    assert full.train_labels.shape == (60000,)
    assert full.test_labels.shape == (10000,)
    # Read the first training label independently: 8 header bytes (magic, count), then labels.
    with gzip.open(folder / FILES["train_labels"].name, "rb") as stream:
        header = stream.read(9)
    assert int.from_bytes(header[:4], "big") == 2049
    assert int.from_bytes(header[4:8], "big") == 60000
    assert full.train_labels[0] == header[8] == 9  # the first training image is an ankle boot
    with gzip.open(folder / FILES["train_images"].name, "rb") as stream:
        first_image = np.frombuffer(stream.read(16 + 784)[16:], dtype=np.uint8)
    np.testing.assert_array_equal(full.train_images[0], first_image.astype(np.float32) / 255)
    assert np.array_equal(np.bincount(full.train_labels), np.full(10, 6000))
    assert np.array_equal(np.bincount(full.test_labels), np.full(10, 1000))


def test_subset_is_the_first_images_with_dtypes_and_ranges(small, full):
    assert small.train_images.shape == (LIMIT, 784)
    assert small.test_images.shape == (LIMIT, 784)
    for images in (small.train_images, small.test_images):
        assert images.dtype == np.float32
        assert images.min() == 0.0
        assert images.max() == 1.0
    for labels in (small.train_labels, small.test_labels):
        assert labels.dtype == np.int64
        assert set(np.unique(labels)) == set(range(10))
    np.testing.assert_array_equal(small.train_images, full.train_images[:LIMIT])
    np.testing.assert_array_equal(small.test_labels, full.test_labels[:LIMIT])


def test_limit_is_capped_at_each_set_size(tiny_dir):
    data = load_fashion_mnist(tiny_dir, limit=8)
    assert [len(a) for a in data] == [8, 8, 5, 5]
    assert load_fashion_mnist(tiny_dir).train_images.shape == (12, 784)
    with pytest.raises(ValueError, match="limit"):
        load_fashion_mnist(tiny_dir, limit=0)


def test_search_order_data_dir_then_environment(tiny_dir, nowhere, monkeypatch, tmp_path):
    monkeypatch.setenv(fashion.DIR_VARIABLE, str(tiny_dir))
    assert fashion.find_fashion_mnist(download=False) == tiny_dir
    other = tmp_path / "other"
    other.mkdir()
    with pytest.raises(FashionDataMissingError, match=r"data_dir names .*other.*lacks train-images"):
        fashion.find_fashion_mnist(other, download=False)


def test_cache_is_used_when_no_folder_is_named(tiny_dir, nowhere):
    assert fashion.find_fashion_mnist(download=False, cache_dir=tiny_dir) == tiny_dir


def test_offline_and_missing_says_how_to_install(nowhere, monkeypatch):
    with pytest.raises(FileNotFoundError, match="apt-get install dataset-fashion-mnist"):
        load_fashion_mnist(download=False, cache_dir=nowhere)

    def offline(url, timeout=None):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(FashionDataMissingError, match="dataset-fashion-mnist") as caught:
        load_fashion_mnist(cache_dir=nowhere)
    assert "no network" in str(caught.value)
    assert FILES["train_images"].name in str(caught.value)
    assert list(nowhere.iterdir()) == []  # no partial file left behind


def test_download_checks_md5_and_moves_into_place(tmp_path, monkeypatch):
    payload = b"fashion" * 1000
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout=None: io.BytesIO(payload))
    target = tmp_path / "cache" / "file.gz"
    fashion.download_file("http://example/file.gz", target, hashlib.md5(payload).hexdigest())
    assert target.read_bytes() == payload
    other = tmp_path / "cache" / "other.gz"
    with pytest.raises(FashionDataCorruptError, match=r"MD5 .* differs from the published 0{32}"):
        fashion.download_file("http://example/other.gz", other, "0" * 32)
    assert sorted(p.name for p in target.parent.iterdir()) == ["file.gz"]


def test_published_md5s_are_those_of_the_fashion_mnist_readme():
    assert FILES["train_images"].md5 == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    assert FILES["train_labels"].md5 == "25c81989df183df01b3e8a0aad5dffbe"
    assert FILES["test_images"].md5 == "bef4ecab320f06d8554ea6380940ec79"
    assert FILES["test_labels"].md5 == "bb300cfdad3c16e7a12a480ee83cd310"


def test_truncated_gzip_is_an_error_naming_the_file(tiny_dir):
    labels = tiny_dir / FILES["train_labels"].name
    labels.write_bytes(labels.read_bytes()[:-12])
    with pytest.raises(FashionDataCorruptError, match=f"{labels.name}.*truncated or corrupt"):
        load_fashion_mnist(tiny_dir)


def test_truncated_real_file_is_an_error_naming_it(tmp_path):
    source = _installed_folder() / FILES["test_labels"].name
    copy = tmp_path / source.name
    copy.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(FashionDataCorruptError, match=f"{copy.name}.*cannot be decompressed"):
        read_idx(copy, 2049)


def test_idx_shorter_than_its_header_promises_is_rejected(tmp_path):
    path = tmp_path / "short.gz"
    header = (2049).to_bytes(4, "big") + (10).to_bytes(4, "big")
    path.write_bytes(gzip.compress(header + bytes(7)))
    with pytest.raises(FashionDataCorruptError, match=r"short.gz: 15 bytes .* shape \(10,\), i.e. 18 bytes"):
        read_idx(path, 2049)


def test_wrong_magic_number_is_rejected(tiny_dir):
    images = tiny_dir / FILES["test_images"].name
    _write_idx(images, np.zeros(5), magic=2049)  # a label file where images belong
    with pytest.raises(FashionDataCorruptError, match=f"{images.name}: magic number 2049, expected 2051"):
        load_fashion_mnist(tiny_dir)
    with pytest.raises(FashionDataCorruptError, match="magic number"):
        read_idx(_plain(tiny_dir / "float.gz", (0x0D01).to_bytes(4, "big") + (0).to_bytes(4, "big")))


def _plain(path: Path, raw: bytes) -> Path:
    path.write_bytes(gzip.compress(raw))
    return path


def test_file_that_is_not_gzip_is_rejected(tmp_path):
    path = tmp_path / "train-labels-idx1-ubyte.gz"
    path.write_bytes(b"<html>not found</html>")
    with pytest.raises(FashionDataCorruptError, match=r"train-labels-idx1-ubyte.gz: cannot be decompressed"):
        read_idx(path)


def test_labels_out_of_range_are_rejected(tiny_dir):
    _write_idx(tiny_dir / FILES["test_labels"].name, np.array([0, 1, 2, 3, 10]))
    with pytest.raises(FashionDataCorruptError, match=r"label 10 is not in 0..9"):
        load_fashion_mnist(tiny_dir)


# --------------------------------------------------------------- schedules


def test_constant_schedule_is_constant():
    lr = make_schedule("constant", 0.01, 100)
    assert {lr(t) for t in range(0, 120)} == {0.01}


def test_step_schedule_divides_by_ten_at_half_and_three_quarters():
    lr = make_schedule("step", 0.01, 100)
    assert [lr(t) for t in (0, 49, 50, 74, 75, 99)] == [0.01, 0.01, 0.001, 0.001, 0.0001, 0.0001]
    odd = make_schedule("step", 1.0, 7)  # 3.5 and 5.25: steps 0-3, 4-5, 6
    assert [odd(t) for t in range(7)] == [1.0] * 4 + [0.1] * 2 + [0.01]


def test_cosine_schedule_goes_from_lr0_to_zero():
    lr = make_schedule("cosine", 0.01, 100)
    assert lr(0) == 0.01
    assert lr(50) == pytest.approx(0.005, abs=1e-15)
    assert lr(100) == pytest.approx(0.0, abs=1e-15)
    assert lr(150) == lr(100)
    assert lr(25) == pytest.approx(0.01 * (1 + math.cos(math.pi / 4)) / 2, rel=1e-15)
    values = [lr(t) for t in range(101)]
    assert all(a > b for a, b in itertools.pairwise(values))


def test_schedules_differ_where_they_should():
    at = {name: make_schedule(name, 0.01, 100) for name in SCHEDULES}
    assert at["constant"](0) == at["step"](0) == at["cosine"](0) == 0.01
    assert at["step"](40) == 0.01 > at["cosine"](40)
    assert (at["constant"](80), at["step"](80)) == (0.01, 0.0001)
    assert at["cosine"](80) == pytest.approx(0.01 * (1 + math.cos(0.8 * math.pi)) / 2)
    with pytest.raises(ValueError, match="unknown schedule 'linear'"):
        make_schedule("linear", 0.01, 100)
    with pytest.raises(ValueError, match="total_steps"):
        make_schedule("cosine", 0.01, 0)


# ------------------------------------------------------------------- model


def test_numpy_gradient_is_the_derivative_of_the_loss():
    """Central differences in float64 on a 5-example, 6-feature problem."""
    rng = np.random.default_rng(3)
    X, labels = rng.random((5, 6)), np.array([0, 3, 9, 3, 1])
    Y = fashion.one_hot(labels).astype(np.float64)
    params = [rng.normal(0, 0.5, (6, 10)), rng.normal(0, 0.5, 10)]
    model = fashion.model_for("numpy")
    loss, grads = model.loss_and_grads(params, X, Y)
    assert loss == pytest.approx(numpy_hooks.cross_entropy(model.logits(params, X), Y))
    for which in (0, 1):
        numeric = np.zeros_like(params[which])
        for index in np.ndindex(params[which].shape):
            shifted = [p.copy() for p in params]
            shifted[which][index] += 1e-6
            up = model.loss_and_grads(shifted, X, Y)[0]
            shifted[which][index] -= 2e-6
            numeric[index] = (up - model.loss_and_grads(shifted, X, Y)[0]) / 2e-6
        np.testing.assert_allclose(grads[which], numeric, atol=1e-8)


def test_log_softmax_is_stable_for_huge_logits():
    logits = np.array([[1000.0, 0.0, -1000.0] + [0.0] * 7])
    Y = fashion.one_hot(np.array([1])).astype(np.float64)
    assert numpy_hooks.cross_entropy(logits, Y) == pytest.approx(1000.0)


# ---------------------------------------------------------------- training


def test_numpy_trains_well_above_chance(numpy_runs, small):
    for name, run in numpy_runs.items():
        assert run.backend == "numpy"
        assert run.schedule == name
        assert run.epochs == [1, 2]
        assert run.test_accuracy[-1] > ACCURACY_FLOOR
        assert run.train_loss[1] < run.train_loss[0] < math.log(10)
    assert numpy_runs["constant"].test_accuracy == pytest.approx([0.666, 0.715], abs=ACCURACY_TOLERANCE)
    # The schedules change the run: same first steps, different learning rates later.
    losses = {name: run.train_loss[-1] for name, run in numpy_runs.items()}
    assert len({round(value, 4) for value in losses.values()}) == 3


@pytest.mark.parametrize("name", [b for b in polyprop.BACKENDS if b != "numpy"])
def test_every_backend_trains_like_numpy(name, small, numpy_runs):
    require_backend(name)
    for schedule in ("constant", "cosine"):
        run = train_fashion(name, small, schedule=schedule, epochs=EPOCHS)
        reference = numpy_runs[schedule]
        assert run.backend == name
        assert run.epochs == [1, 2]
        assert run.test_accuracy[-1] > ACCURACY_FLOOR
        np.testing.assert_allclose(run.test_accuracy, reference.test_accuracy, atol=ACCURACY_TOLERANCE)
        np.testing.assert_allclose(run.train_loss, reference.train_loss, rtol=LOSS_RTOL)


def test_progress_is_called_once_per_minibatch(tiny_dir):
    data = load_fashion_mnist(tiny_dir)
    calls = []
    run = train_fashion("numpy", data, epochs=3, batch_size=5, progress=lambda: calls.append(1))
    assert len(calls) == 3 * 3  # 12 examples in batches of 5, 5 and 2
    assert run.epochs == [1, 2, 3]
    assert len(run.test_accuracy) == len(run.train_loss) == 3
    assert run.seconds_per_epoch >= 0


def test_same_seed_same_run_other_seed_other_run(tiny_dir):
    data = load_fashion_mnist(tiny_dir)
    first, again = (train_fashion("numpy", data, epochs=2, batch_size=4) for _ in range(2))
    assert first.train_loss == again.train_loss
    assert train_fashion("numpy", data, epochs=2, batch_size=4, seed=1).train_loss != first.train_loss


def test_bad_arguments_are_rejected(tiny_dir):
    data = load_fashion_mnist(tiny_dir)
    with pytest.raises(ValueError, match="unknown backend 'theano'"):
        train_fashion("theano", data)
    with pytest.raises(ValueError, match="unknown schedule"):
        train_fashion("numpy", data, schedule="exponential")
    with pytest.raises(ValueError, match="epochs"):
        train_fashion("numpy", data, epochs=0)


def test_importing_the_module_imports_no_framework():
    frameworks = ["torch", "tensorflow", "jax", "mxnet", "optax", "keras"]
    probe = (
        "import sys, json, polyprop.chapter.fashion\n"
        f"print(json.dumps([m for m in {frameworks!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
