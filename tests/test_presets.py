"""The presets: each framework's defaults and argument names, as an RMSPropConfig.

The float32 presets (Keras, TF1, MXNet) round their scalars to float32 as the
framework stores them; the expected values here are rounded with NumPy.
"""

from __future__ import annotations

import numpy as np
import pytest

from polyprop import RMSPropConfig, presets


def f32(value):
    """``value`` rounded to float32, computed with NumPy (the presets use struct)."""
    return float(np.float32(value))


def test_torch_preset_defaults_are_torch_optim_rmsprop_defaults():
    assert presets.torch() == RMSPropConfig(
        learning_rate=0.01, decay=0.99, eps=1e-8, eps_in_sqrt=False, lr_inside_momentum=False,
    )


def test_torch_preset_maps_every_argument():
    config = presets.torch(lr=0.02, alpha=0.95, eps=1e-6, weight_decay=0.1, momentum=0.3, centered=True, maximize=True)
    assert config == RMSPropConfig(
        learning_rate=0.02, decay=0.95, eps=1e-6, eps_in_sqrt=False, weight_decay=0.1,
        decoupled_weight_decay=False, momentum=0.3, lr_inside_momentum=False, centered=True, maximize=True,
    )


def test_keras_preset_defaults_round_the_learning_rate_to_float32():
    config = presets.keras()
    assert config == RMSPropConfig(
        learning_rate=f32(0.001), decay=0.9, eps=1e-7, eps_in_sqrt=True, momentum=0.0,
        lr_inside_momentum=True, centered=False, weight_decay=0.0, decoupled_weight_decay=True,
        lr_before_divide=True,
    )
    assert config.learning_rate != 0.001  # 0.001 is not a float32


def test_keras_preset_maps_every_argument_and_keeps_a_schedule():
    config = presets.keras(learning_rate=0.1, rho=0.8, momentum=0.5, epsilon=1e-5, centered=True, weight_decay=0.004)
    assert config == RMSPropConfig(
        learning_rate=f32(0.1), decay=0.8, eps=1e-5, eps_in_sqrt=True, momentum=0.5,
        lr_inside_momentum=True, centered=True, weight_decay=0.004, decoupled_weight_decay=True,
        lr_before_divide=True,
    )

    def schedule(count):
        return 0.1 / (1 + count)

    assert presets.keras(learning_rate=schedule).learning_rate is schedule


def test_tf1_preset_starts_the_accumulator_at_one_and_rounds_every_scalar():
    assert presets.tf1(0.1) == RMSPropConfig(
        learning_rate=f32(0.1), decay=f32(0.9), eps=f32(1e-10), eps_in_sqrt=True, initial_scale=1.0,
        momentum=0.0, lr_inside_momentum=True, centered=False,
    )
    config = presets.tf1(0.3, decay=0.95, momentum=0.7, epsilon=1e-6, centered=True)
    assert config == RMSPropConfig(
        learning_rate=f32(0.3), decay=f32(0.95), eps=f32(1e-6), eps_in_sqrt=True, initial_scale=1.0,
        momentum=f32(0.7), lr_inside_momentum=True, centered=True,
    )
    assert config.momentum != 0.7
    assert config.decay != 0.95


def test_mxnet_preset_uses_gamma2_as_momentum_only_when_centered():
    assert presets.mxnet() == RMSPropConfig(
        learning_rate=f32(0.001), decay=f32(0.9), eps=f32(1e-8), eps_in_sqrt=True, centered=False,
        momentum=0.0, lr_inside_momentum=True, weight_decay=0.0,
    )
    config = presets.mxnet(learning_rate=0.05, gamma1=0.95, gamma2=0.8, epsilon=1e-6, centered=True, wd=0.01)
    assert config == RMSPropConfig(
        learning_rate=f32(0.05), decay=f32(0.95), eps=f32(1e-6), eps_in_sqrt=True, centered=True,
        momentum=f32(0.8), lr_inside_momentum=True, weight_decay=f32(0.01),
        weight_before_square=True, lr_before_divide=True,
    )
    assert presets.mxnet(gamma2=0.8, centered=False).momentum == 0.0
    assert presets.mxnet(centered=True).momentum == f32(0.9)  # gamma2's default


def test_optax_preset_defaults_and_arguments():
    assert presets.optax(0.1) == RMSPropConfig(
        learning_rate=0.1, decay=0.9, eps=1e-8, eps_in_sqrt=True, initial_scale=0.0, centered=False,
        momentum=0.0, lr_inside_momentum=True, nesterov=False, bias_correction=False,
    )
    config = presets.optax(
        0.2, decay=0.8, eps=1e-4, initial_scale=0.5, eps_in_sqrt=False, centered=True,
        momentum=0.9, nesterov=True, bias_correction=True,
    )
    assert config == RMSPropConfig(
        learning_rate=0.2, decay=0.8, eps=1e-4, eps_in_sqrt=False, initial_scale=0.5, centered=True,
        momentum=0.9, lr_inside_momentum=True, nesterov=True, bias_correction=True,
    )


def test_d2l_preset_is_the_chapter_code():
    assert presets.d2l(0.4, 0.9) == RMSPropConfig(learning_rate=0.4, decay=0.9, eps=1e-6, eps_in_sqrt=True)
    assert presets.d2l(0.1, 0.5) == RMSPropConfig(learning_rate=0.1, decay=0.5, eps=1e-6, eps_in_sqrt=True)


@pytest.mark.parametrize("value", [0.1, 1e-10, 0.9, 0.001, 1.0, 0.0, 3.0e38])
def test_float32_rounding_of_the_presets_is_numpys(value):
    assert presets._f32(value) == f32(value)
