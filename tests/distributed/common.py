"""What every distributed worker shares: the problem, the error measure, the JSON result line.

A worker is a plain script run by tests/test_distributed.py in a subprocess.  It
trains the same small regression network twice, on one device and on its
framework's distributed engine, from the same initial weights and batches, and
prints one line ``RESULT {json}`` that the test parses.
"""

from __future__ import annotations

import itertools
import json
import socket
import sys
from typing import Any

import numpy as np

STEPS = 30
"""Optimizer steps per run."""

BATCH = 32
"""Global batch size; every data-parallel worker gets an equal slice."""

SIZES = (16, 32, 8, 1)
"""Layer widths of the network tanh(x W1 + b1) W2 -> tanh -> W3 (all divisible by 8 but the output)."""

LEARNING_RATE = 0.01


def initial_weights(dtype: str = "float64") -> dict[str, np.ndarray]:
    """The network's starting weights, ``w{i}`` of shape (in, out) and ``b{i}`` (out,)."""
    rng = np.random.default_rng(0)
    weights = {}
    for i, (n_in, n_out) in enumerate(itertools.pairwise(SIZES), start=1):
        weights[f"w{i}"] = (rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)).astype(dtype)
        weights[f"b{i}"] = (0.1 * rng.standard_normal(n_out)).astype(dtype)
    return weights


def batches(dtype: str = "float64") -> list[tuple[np.ndarray, np.ndarray]]:
    """STEPS global batches ``(x, y)``: x (BATCH, 16), y (BATCH, 1), a noisy nonlinear target."""
    rng = np.random.default_rng(1)
    direction = rng.standard_normal((SIZES[0], 1))
    out = []
    for _ in range(STEPS):
        x = rng.standard_normal((BATCH, SIZES[0]))
        y = np.sin(x @ direction) + 0.1 * rng.standard_normal((BATCH, 1))
        out.append((x.astype(dtype), y.astype(dtype)))
    return out


def forward_numpy(weights: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """The network on NumPy arrays (for reference losses)."""
    h = np.tanh(x @ weights["w1"] + weights["b1"])
    h = np.tanh(h @ weights["w2"] + weights["b2"])
    return h @ weights["w3"] + weights["b3"]


def rel_error(a: Any, b: Any) -> float:
    """max|a - b| / max|b| (normwise, as in polyprop.parity)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b), initial=0.0)) / max(float(np.max(np.abs(b), initial=0.0)), 1e-300)


def max_rel_error(got: dict[str, Any], expected: dict[str, Any]) -> float:
    """The worst :func:`rel_error` over the arrays of two dicts with the same keys."""
    assert set(got) == set(expected), (sorted(got), sorted(expected))
    return max(rel_error(got[k], expected[k]) for k in expected)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def emit(result: dict[str, Any]) -> None:
    """Print the worker's result as the line the test looks for."""
    print("RESULT " + json.dumps(result), flush=True)
    sys.stdout.flush()
