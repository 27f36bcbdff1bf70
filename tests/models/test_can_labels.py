"""CAN.fit refuses style labels it cannot train on, naming the range it expects and what it got."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepkit.models import CAN

STYLES = 3


def make_can():
    keras.utils.set_random_seed(0)
    generator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4)])
    x = keras.Input((4,))
    discriminator = keras.Model(x, [keras.layers.Dense(1)(x), keras.layers.Dense(STYLES)(x)])
    can = CAN(generator, discriminator, latent_dim=2, num_styles=STYLES, seed=0)
    can.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    return can


def samples(n=8):
    return np.random.default_rng(0).uniform(size=(n, 4)).astype("float32")


RANGE = r"style labels must be integer class indices in \[0, 3\)"


@pytest.mark.parametrize(
    "labels, received",
    [
        (np.array([0, 1, 2, 3, 0, 1, 2, 0]), r"1 label\(s\) out of range, the first 3 \(labels span \[0, 3\]\)"),
        (np.array([0, -1, 2, 1, 0, 1, 2, 0]), r"1 label\(s\) out of range, the first -1 \(labels span \[-1, 2\]\)"),
        (np.array([0.0, 1.5, 2, 1, 0, 1, 2, 0]), r"float64 labels of shape \(8,\)"),
        (np.arange(8) % 3 * 1.0, r"float64 labels of shape \(8,\)"),
        (np.eye(STYLES, dtype="int64")[np.arange(8) % 3], r"labels of shape \(8, 3\) \(one-hot\? pass their argmax\)"),
        (np.zeros((8, 2, 1), "int64"), r"labels of shape \(8, 2, 1\)"),
    ],
)
def test_fit_refuses_bad_array_labels_before_training(labels, received):
    can = make_can()
    with pytest.raises(ValueError, match=RANGE + r".*Received: " + received):
        can.fit(samples(), labels, epochs=1, batch_size=4, verbose=0)
    assert int(can.d_optimizer.iterations) == 0  # refused before any step


def test_fit_refuses_one_hot_labels_in_a_dataset_before_training():
    labels = np.eye(STYLES, dtype="int64")[np.arange(8) % 3]
    dataset = tf.data.Dataset.from_tensor_slices((samples(), labels)).batch(4)
    with pytest.raises(ValueError, match=RANGE + r".*Received: labels of shape \(None, 3\) \(one-hot\?"):
        make_can().fit(dataset, epochs=1, verbose=0)


def test_fit_refuses_float_labels_in_a_dataset_before_training():
    dataset = tf.data.Dataset.from_tensor_slices((samples(), np.arange(8) % 3 * 1.0)).batch(4)
    with pytest.raises(ValueError, match=RANGE + r".*Received: float64 labels of shape \(None,\)"):
        make_can().fit(dataset, epochs=1, verbose=0)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_dataset_label_out_of_range_stops_fit_with_the_range(jit_compile):
    can = make_can()
    can.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit_compile)
    labels = np.array([0, 1, 2, 0, 1, 7, 2, 0])
    dataset = tf.data.Dataset.from_tensor_slices((samples(), labels)).batch(4)
    # The check runs in the input pipeline, so XLA, which drops run-time checks, keeps it.
    with pytest.raises(tf.errors.InvalidArgumentError, match=RANGE + r"\. Received a label outside it"):
        can.fit(dataset, epochs=1, verbose=0)


def test_a_generator_label_out_of_range_stops_fit_with_the_range():
    def batches():
        yield samples(4), np.array([0, 1, 2, 0])
        yield samples(4), np.array([0, 1, 5, 0])

    with pytest.raises(tf.errors.InvalidArgumentError, match=RANGE + r"\. Received a label outside it"):
        make_can().fit(batches(), epochs=1, verbose=0)


@pytest.mark.parametrize("labels", [np.arange(8) % 3, (np.arange(8) % 3).astype("int32")[:, None]])
def test_fit_accepts_integer_labels_in_range_flat_or_as_a_column(labels):
    history = make_can().fit(samples(), labels, epochs=1, batch_size=4, verbose=0).history
    assert np.isfinite(history["style_loss"]).all()
