"""Exercise 3: softmax regression on Fashion-MNIST with RMSProp and a learning-rate schedule.

"Dive into Deep Learning", section "RMSProp", exercise 3: train on
Fashion-MNIST with RMSProp and different learning-rate schedules.  The model is
softmax regression (784 -> 10), trained by polyprop's RMSProp (decay 0.9,
eps 1e-6 inside the square root, as in the chapter) with minibatches of 256.

Every backend starts from the same weights and sees the same minibatches in
the same order (both drawn from one NumPy seed); only the gradients come from
the framework's own autograd (NumPy: the analytic gradient), in each backend's
hook ``fashion_model``.  The training loop is written once, in :func:`train_fashion`,
against a :class:`Model`.

The data are read from the IDX files of Debian's ``dataset-fashion-mnist``
package, a folder the caller names, or a user cache the loader downloads into.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from ..config import RMSPropConfig
from ..files import write_atomically
from ..ops import Ops, Tensor
from ..rmsprop import init, step
from ..selection import get_ops
from .airfoil import chapter_hooks
from .results import FashionRun

# --------------------------------------------------------------------------- data

FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
"""Where the four files are published (the Fashion-MNIST README's download links)."""

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
"""Where ``apt-get install dataset-fashion-mnist`` puts the files."""

DIR_VARIABLE = "POLYPROP_FASHION_MNIST_DIR"
"""Environment variable naming a folder that holds the four files."""


class IdxFile(NamedTuple):
    name: str
    magic: int
    """2051 for images (ubyte, 3 dimensions), 2049 for labels (ubyte, 1 dimension)."""
    md5: str
    """MD5 of the .gz file as published in the Fashion-MNIST README (checked on download)."""


FILES: dict[str, IdxFile] = {
    "train_images": IdxFile("train-images-idx3-ubyte.gz", 2051, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
    "train_labels": IdxFile("train-labels-idx1-ubyte.gz", 2049, "25c81989df183df01b3e8a0aad5dffbe"),
    "test_images": IdxFile("t10k-images-idx3-ubyte.gz", 2051, "bef4ecab320f06d8554ea6380940ec79"),
    "test_labels": IdxFile("t10k-labels-idx1-ubyte.gz", 2049, "bb300cfdad3c16e7a12a480ee83cd310"),
}
"""The four files.  Debian's package re-compresses them (other .gz bytes, same
content), so the MD5s are checked only on files this module downloads; every
file read is checked against its IDX header instead."""

IMAGE_SHAPE = (28, 28)
NUM_CLASSES = 10
CLASS_NAMES = (
    "t-shirt", "trouser", "pullover", "dress", "coat",
    "sandal", "shirt", "sneaker", "bag", "ankle boot",
)


class FashionData(NamedTuple):
    """Fashion-MNIST as arrays: images flattened to 784 floats in [0, 1], labels 0..9."""

    train_images: np.ndarray
    """(n, 784) float32."""
    train_labels: np.ndarray
    """(n,) int64."""
    test_images: np.ndarray
    """(m, 784) float32."""
    test_labels: np.ndarray
    """(m,) int64."""


class FashionDataMissingError(FileNotFoundError):
    """The Fashion-MNIST files are nowhere to be found and could not be downloaded."""


class FashionDataCorruptError(ValueError):
    """A Fashion-MNIST file is truncated, not gzip, or not the IDX file it should be."""


def load_fashion_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    limit: int | None = None,
    download: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> FashionData:
    """Fashion-MNIST from the first place that has it.

    Search order: ``data_dir``; else ``$POLYPROP_FASHION_MNIST_DIR``; else
    ``/usr/share/datasets/fashion-mnist`` (Debian's ``dataset-fashion-mnist``);
    else ``cache_dir`` (default ``$XDG_CACHE_HOME/polyprop/fashion-mnist`` or
    ``~/.cache/polyprop/fashion-mnist``), downloading missing files into it when
    ``download`` is true.  A folder named by ``data_dir`` or the environment
    variable must hold all four files: it is never passed over silently.

    ``limit`` keeps the first ``limit`` training images and the first ``limit``
    test images (each capped at the set's size: 60000 and 10000).

    Raises:
        FashionDataMissingError: no folder has the files and none could be downloaded.
        FashionDataCorruptError: a file is truncated or not the expected IDX file.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be a positive number of images, got {limit}")
    folder = find_fashion_mnist(data_dir, download=download, cache_dir=cache_dir)
    arrays = {key: read_idx(folder / spec.name, spec.magic) for key, spec in FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[1:] != IMAGE_SHAPE or len(images) != len(labels):
            raise FashionDataCorruptError(
                f"{folder}: {split} images have shape {images.shape} but there are "
                f"{len(labels)} labels; expected (n, 28, 28) images, one label each"
            )
        if labels.size and labels.max() >= NUM_CLASSES:
            raise FashionDataCorruptError(
                f"{folder / FILES[f'{split}_labels'].name}: label {labels.max()} is not in 0..9"
            )
    keep = slice(None) if limit is None else slice(limit)
    return FashionData(
        train_images=_as_features(arrays["train_images"][keep]),
        train_labels=arrays["train_labels"][keep].astype(np.int64),
        test_images=_as_features(arrays["test_images"][keep]),
        test_labels=arrays["test_labels"][keep].astype(np.int64),
    )


def _as_features(images: np.ndarray) -> np.ndarray:
    """(n, 28, 28) uint8 -> (n, 784) float32, pixel / 255."""
    return images.reshape(len(images), -1).astype(np.float32) / np.float32(255)


def find_fashion_mnist(
    data_dir: str | os.PathLike[str] | None = None,
    *,
    download: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """The folder holding the four files, in :func:`load_fashion_mnist`'s search order."""
    for source, named in (("data_dir", data_dir), (DIR_VARIABLE, os.environ.get(DIR_VARIABLE))):
        if named:
            folder = Path(named).expanduser()
            missing = _missing_files(folder)
            if missing:
                raise FashionDataMissingError(
                    f"{source} names {folder}, which lacks {', '.join(missing)}; "
                    f"{_HOW_TO_GET_IT}"
                )
            return folder
    if not _missing_files(DEBIAN_DIR):
        return DEBIAN_DIR
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    missing = _missing_files(cache)
    if not missing:
        return cache
    if not download:
        raise FashionDataMissingError(
            f"Fashion-MNIST not found (looked in {DEBIAN_DIR} and {cache}; "
            f"download=False); {_HOW_TO_GET_IT}"
        )
    for spec in FILES.values():
        if spec.name in missing:
            try:
                download_file(FASHION_MNIST_URL + spec.name, cache / spec.name, spec.md5)
            except (OSError, urllib.error.URLError) as error:
                raise FashionDataMissingError(
                    f"Fashion-MNIST not found in {DEBIAN_DIR} or {cache}, and downloading "
                    f"{FASHION_MNIST_URL + spec.name} failed ({error}); {_HOW_TO_GET_IT}"
                ) from error
    return cache


_HOW_TO_GET_IT = (
    "install the data with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), "
    f"or pass data_dir= (or set {DIR_VARIABLE}) to a folder holding "
    + ", ".join(spec.name for spec in FILES.values())
)


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/polyprop/fashion-mnist``, or ``~/.cache/polyprop/fashion-mnist``."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "polyprop" / "fashion-mnist"


def _missing_files(folder: Path) -> list[str]:
    return [spec.name for spec in FILES.values() if not (folder / spec.name).is_file()]


def download_file(url: str, destination: Path, md5: str, timeout: float = 60.0) -> Path:
    """Fetch ``url`` to ``destination`` atomically: a temp file, its MD5 checked, then os.replace.

    A failed or mismatching download leaves nothing at ``destination``.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    with urllib.request.urlopen(url, timeout=timeout) as response:
        data = response.read()
    digest = hashlib.md5(data).hexdigest()
    if digest != md5:
        raise FashionDataCorruptError(f"{url}: MD5 {digest} differs from the published {md5}; not saved")
    write_atomically(destination, data)
    return destination


def read_idx(path: str | os.PathLike[str], magic: int | None = None) -> np.ndarray:
    """The uint8 array in a gzip-compressed IDX file.

    IDX: a big-endian header ``0, 0, type (0x08 = ubyte), ndim`` (the magic
    number, 2051 for 3-D images, 2049 for 1-D labels), then ``ndim`` big-endian
    int32 sizes, then ``prod(sizes)`` bytes.  A file that is not gzip, is
    truncated, has another ``magic`` than asked, or whose length disagrees with
    its sizes raises :class:`FashionDataCorruptError` naming the file.
    """
    path = Path(path)
    try:
        with gzip.open(path, "rb") as stream:
            raw = stream.read()
    except (EOFError, OSError, zlib.error) as error:
        if isinstance(error, FileNotFoundError):
            raise
        raise FashionDataCorruptError(
            f"{path}: cannot be decompressed ({error}); the file is truncated or corrupt, "
            "delete it and get it again"
        ) from error
    if len(raw) < 4:
        raise FashionDataCorruptError(f"{path}: {len(raw)} bytes, too short for an IDX header")
    found = int.from_bytes(raw[:4], "big")
    zero, dtype_code, ndim = int.from_bytes(raw[:2], "big"), raw[2], raw[3]
    if zero != 0 or dtype_code != 0x08 or (magic is not None and found != magic):
        expected = f"{magic}" if magic is not None else "an unsigned-byte IDX file (0x0000080N)"
        raise FashionDataCorruptError(f"{path}: magic number {found}, expected {expected}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise FashionDataCorruptError(f"{path}: {len(raw)} bytes, too short for a {ndim}-D IDX header")
    shape = tuple(int(size) for size in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    expected_length = header + math.prod(shape)
    if len(raw) != expected_length:
        raise FashionDataCorruptError(
            f"{path}: {len(raw)} bytes after decompression, but its header promises "
            f"shape {shape}, i.e. {expected_length} bytes; the file is truncated or corrupt"
        )
    values: np.ndarray = np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)
    return values


def one_hot(labels: np.ndarray, num_classes: int = NUM_CLASSES) -> np.ndarray:
    """(n,) labels -> (n, num_classes) float32 rows with a single 1."""
    rows: np.ndarray = np.eye(num_classes, dtype=np.float32)[labels]
    return rows


# ----------------------------------------------------------------- schedules

SCHEDULES: tuple[str, ...] = ("constant", "step", "cosine")
"""The learning-rate schedules of exercise 3."""

DEFAULT_LR0 = 0.01
"""The initial learning rate, as in the chapter's airfoil run.

Measured with NumPy on all 60000 images, 5 epochs, seed 0 (final test accuracy
constant / step / cosine): lr0 0.03: 0.68 / 0.842 / 0.845; 0.01: 0.755 / 0.845
/ 0.846; 0.005: 0.784 / 0.841 / 0.842; 0.003: 0.804 / 0.838 / 0.839.  A
constant rate of 0.01 oscillates (RMSProp's steps do not shrink with the
gradient), which is what the schedules are there to fix; with a schedule 0.01
trains best."""


def make_schedule(name: str, lr0: float, total_steps: int) -> Callable[[int], float]:
    """The learning rate as a function of the step count t (0 for the first step).

    * ``constant``: lr0.
    * ``step``:     lr0 for t < T/2, lr0/10 for T/2 <= t < 3T/4, lr0/100 after
      (divided by 10 at 50% and 75% of training).
    * ``cosine``:   lr0 * (1 + cos(pi * min(t, T) / T)) / 2, so lr0 at t = 0 and 0 at t = T.

    T = ``total_steps``, the number of steps in the whole run.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if name == "constant":
        return lambda t: float(lr0)
    if name == "step":
        return lambda t: float(lr0 * (1.0 if t < 0.5 * total_steps else 0.1 if t < 0.75 * total_steps else 0.01))
    if name == "cosine":
        return lambda t: float(lr0 * 0.5 * (1.0 + math.cos(math.pi * min(t, total_steps) / total_steps)))
    raise ValueError(f"unknown schedule {name!r}; known: {', '.join(SCHEDULES)}")


# --------------------------------------------------------------------- model

class Model(NamedTuple):
    """Softmax regression on one backend: params are ``[W (784, 10), b (10,)]``.

    ``Y`` is one-hot (n, 10) float32, so no backend needs integer indexing.
    """

    ops: Ops
    loss_and_grads: Callable[[Sequence[Tensor], Tensor, Tensor], tuple[float, list[Tensor]]]
    """(params, X, Y) -> (mean cross-entropy as a float, [dW, db])."""
    logits: Callable[[Sequence[Tensor], Tensor], Tensor]
    """(params, X) -> X W + b."""


def initial_params(rng: np.random.Generator, features: int = 784) -> list[np.ndarray]:
    """W ~ N(0, 0.01^2), b = 0, float32 (D2L's softmax regression)."""
    weights = rng.normal(0.0, 0.01, size=(features, NUM_CLASSES)).astype(np.float32)
    return [weights, np.zeros(NUM_CLASSES, dtype=np.float32)]


@functools.cache
def model_for(backend: str) -> Model:
    """``backend``'s :class:`Model`, built once per process (so JAX compiles once).

    The framework's part is its hook ``fashion_model`` (:func:`polyprop.chapter.airfoil.chapter_hooks`),
    imported with its framework on first use.
    """
    ops = get_ops(backend)
    return Model(ops, *chapter_hooks(backend).fashion_model(ops))


def accuracy(model: Model, params: Sequence[Tensor], X: Tensor, labels: np.ndarray) -> float:
    """The fraction of rows whose largest logit is at the true label."""
    predicted = np.argmax(model.ops.to_numpy(model.logits(params, X)), axis=1)
    return float(np.mean(predicted == labels))


# ------------------------------------------------------------------ training

def train_fashion(
    backend: str,
    data: FashionData,
    *,
    schedule: str = "constant",
    epochs: int = 5,
    batch_size: int = 256,
    lr0: float = DEFAULT_LR0,
    seed: int = 0,
    progress: Callable[[], Any] | None = None,
) -> FashionRun:
    """Train softmax regression with RMSProp (decay 0.9, eps 1e-6) on ``backend``.

    The weights and the minibatch order (a fresh permutation every epoch; the
    last batch of an epoch may be smaller) come from ``numpy.random.default_rng(seed)``,
    so every backend runs the same experiment.  After each epoch the test
    accuracy is measured; ``train_loss`` is that epoch's mean minibatch loss and
    ``seconds_per_epoch`` the mean training time per epoch (evaluation excluded).
    ``progress()`` is called after every minibatch.
    """
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch_size must be >= 1, got {epochs} and {batch_size}")
    examples = len(data.train_labels)
    total_steps = epochs * math.ceil(examples / batch_size)
    config = RMSPropConfig(learning_rate=make_schedule(schedule, lr0, total_steps), decay=0.9, eps=1e-6)
    model = model_for(backend)
    ops = model.ops
    rng = np.random.default_rng(seed)
    params = [ops.from_numpy(array) for array in initial_params(rng, data.train_images.shape[1])]
    state = init(params, config, ops)
    train_targets = one_hot(data.train_labels)
    test_images = ops.from_numpy(data.test_images)

    accuracies: list[float] = []
    losses: list[float] = []
    seconds = 0.0
    for _ in range(epochs):
        order = rng.permutation(examples)
        batch_losses = []
        started = time.perf_counter()
        for first in range(0, examples, batch_size):
            rows = order[first : first + batch_size]
            X = ops.from_numpy(data.train_images[rows])
            Y = ops.from_numpy(train_targets[rows])
            loss, grads = model.loss_and_grads(params, X, Y)
            stepped, state = step(params, grads, state, config, ops)
            params = list(stepped)  # step returns the list it was given, typed as any container
            batch_losses.append(loss)
            if progress is not None:
                progress()
        seconds += time.perf_counter() - started
        accuracies.append(accuracy(model, params, test_images, data.test_labels))
        losses.append(float(np.mean(batch_losses)))
    return FashionRun(
        backend=backend,
        schedule=schedule,
        epochs=list(range(1, epochs + 1)),
        test_accuracy=accuracies,
        train_loss=losses,
        seconds_per_epoch=seconds / epochs,
    )
