"""TensorFlow: Keras ``model.fit`` under ``tf.distribute.MirroredStrategy`` on 2 logical CPUs.

The CPU is split into two logical devices before TensorFlow starts, Keras works
in float64, and the same network is fitted twice with the drop-in
``polyprop.backends.tensorflow.RMSprop`` (centered, with momentum), one epoch of
STEPS global batches: once on one device, once inside ``strategy.scope()`` where
each replica gets half of each batch and the optimizer's variables are mirrored.
Prints the difference between the two runs and where the optimizer state lives.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

CPU = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    CPU, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

import keras  # noqa: E402
from common import BATCH, LEARNING_RATE, SIZES, batches, emit, initial_weights, max_rel_error  # noqa: E402

from polyprop.backends.tensorflow import RMSprop  # noqa: E402

keras.config.set_floatx("float64")


def build_model() -> keras.Sequential:
    """The common network as Keras Dense layers holding the common initial weights."""
    weights = initial_weights("float64")
    model = keras.Sequential(
        [keras.Input((SIZES[0],))]
        + [keras.layers.Dense(n, activation="tanh") for n in SIZES[1:-1]]
        + [keras.layers.Dense(SIZES[-1])]
    )
    model.set_weights([weights[f"{kind}{i}"] for i in range(1, len(SIZES)) for kind in ("w", "b")])
    model.compile(optimizer=RMSprop(learning_rate=LEARNING_RATE, rho=0.9, momentum=0.5, centered=True), loss="mse")
    return model


class Trajectory(keras.callbacks.Callback):
    """The weights and the loss (Keras's running mean over the epoch) after every step."""

    def __init__(self) -> None:
        super().__init__()
        self.weights: list[dict[str, np.ndarray]] = []
        self.losses: list[float] = []

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.weights.append({str(i): w for i, w in enumerate(self.model.get_weights())})
        self.losses.append(float(logs["loss"]))


def fit(model: keras.Sequential) -> dict:
    """One epoch of STEPS global batches, in order; the trajectory, losses and optimizer state."""
    data = batches("float64")
    x, y = np.concatenate([b[0] for b in data]), np.concatenate([b[1] for b in data])
    trajectory = Trajectory()
    model.fit(x, y, batch_size=BATCH, epochs=1, shuffle=False, verbose=0, callbacks=[trajectory])
    slots = optimizer_state(model)
    return {
        "trajectory": trajectory.weights,
        "losses": trajectory.losses,
        "state": {name: np.asarray(v.numpy()) for name, v in slots.items()},
        "state_bytes_per_device": bytes_per_device(slots.values()),
        "state_dtype": sorted({str(v.dtype) for v in slots.values()}),
        "steps": len(trajectory.weights),
    }


def optimizer_state(model: keras.Sequential) -> dict:
    """The RMSProp slot variables by ``slot.weight index``: velocity, average gradient, momentum."""
    optimizer = model.optimizer
    slots = {"velocity": optimizer._velocities, "average_gradient": optimizer._average_gradients,
             "momentum": optimizer._momentums}
    return {f"{kind}.{i}": variables[optimizer._get_variable_index(weight)]
            for i, weight in enumerate(model.trainable_variables) for kind, variables in slots.items()}


def bytes_per_device(variables) -> dict[str, int]:
    """Bytes of ``variables`` on each device: a mirrored variable counts once per replica."""
    held: dict[str, int] = {}
    strategy = tf.distribute.get_strategy()
    for variable in variables:
        for component in strategy.experimental_local_results(variable.value):
            device = tf.DeviceSpec.from_string(component.device)
            key = f"{device.device_type}:{device.device_index}"
            held[key] = held.get(key, 0) + int(np.prod(component.shape)) * component.dtype.size
    return held


def main() -> None:
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert len(devices) == 2, devices
    with tf.device(devices[0]):
        single = fit(build_model())
    strategy = tf.distribute.MirroredStrategy(devices)
    with strategy.scope():  # the model, its optimizer and the state-bytes count inside the strategy
        mirrored = fit(build_model())
    emit({
        "replicas": strategy.num_replicas_in_sync,
        "steps": [single["steps"], mirrored["steps"]],
        "params_max_rel": max(max_rel_error(a, b) for a, b in zip(mirrored["trajectory"], single["trajectory"])),
        "state_max_rel": max_rel_error(mirrored["state"], single["state"]),
        "loss_max_rel": max_rel_error({"loss": mirrored["losses"]}, {"loss": single["losses"]}),
        "state_dtype": mirrored["state_dtype"],
        "state_bytes_single": sum(single["state_bytes_per_device"].values()),
        "state_bytes_per_device": mirrored["state_bytes_per_device"],
        "losses": [single["losses"][0], single["losses"][-1]],
    })


if __name__ == "__main__":
    main()
