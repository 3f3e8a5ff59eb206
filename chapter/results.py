"""The results the chapter's experiments hand to the plots and the report (plain data)."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from .trace import Trace


class AirfoilRun(NamedTuple):
    """One training run on the airfoil data (D2L's ``train_ch11`` / ``train_concise_ch11``)."""

    backend: str
    impl: str
    """"scratch" (polyprop's RMSProp) or "native" (the framework's own optimizer)."""
    epochs: list[float]
    """x of each evaluation: epochs completed (every 200 examples, as D2L plots it)."""
    losses: list[float]
    """Mean loss (y_hat - y)^2 / 2 over all 1500 rows at each evaluation."""
    seconds_per_epoch: float
    """Training time per epoch, evaluations excluded (as D2L's timer)."""

    @property
    def final_loss(self) -> float:
        return self.losses[-1]


class FashionRun(NamedTuple):
    """One Fashion-MNIST training run (exercise 3)."""

    backend: str
    schedule: str
    """"constant", "step" or "cosine"."""
    epochs: list[int]
    """1, 2, ...: the epochs after which accuracy was measured."""
    test_accuracy: list[float]
    train_loss: list[float]
    seconds_per_epoch: float


class DecaySweep(NamedTuple):
    """Final airfoil loss against decay (exercise 4)."""

    backend: str
    decays: list[float]
    final_losses: list[float]


class ChapterResults(NamedTuple):
    """Everything ``polyprop chapter`` computed, for :func:`polyprop.chapter.report.write_report`.

    Traces are :class:`polyprop.chapter.trace.Trace` values keyed by backend name.
    """

    backends: list[str]
    """The backends that ran, in order."""
    versions: dict[str, str]
    """Framework version of each backend."""
    traces: dict[str, Trace]
    """The chapter's 2-D run (lr 0.4, decay 0.9) per backend."""
    rotated: dict[str, Trace]
    """Exercise 2: the same run on f(x) = 0.1 (x1 + x2)^2 + 2 (x1 - x2)^2."""
    unit_decay: dict[str, Trace]
    """Exercise 1: the 2-D run with decay = 1 (allow_unit_decay=True) from s = 0."""
    airfoil: list[AirfoilRun]
    """Scratch and native airfoil runs, every backend."""
    decay_schedule: list[AirfoilRun]
    """Exercise 4: scratch airfoil runs with decay as a function of the step."""
    sweep: list[DecaySweep]
    """Exercise 4: final airfoil loss against decay."""
    fashion: list[FashionRun]
    """Exercise 3: Fashion-MNIST, every backend x schedule (empty when the data is missing)."""
    notes: list[str]
    """Anything skipped, with its reason."""
