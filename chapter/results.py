"""The results the chapter's experiments hand to the plots and the report (plain data)."""

from __future__ import annotations

from typing import NamedTuple


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
