"""Autoencoder kinds: the right loss terms, corruption only in training, resumable training, bad arguments."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepkit.losses import contractive_penalty, l1_code_penalty
from deepkit.models import Autoencoder


def make_autoencoder(kind="undercomplete", **kwargs):
    keras.utils.set_random_seed(0)
    encoder = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="sigmoid")])
    decoder = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8)])
    model = Autoencoder(encoder, decoder, kind=kind, seed=0, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    return model


x = np.random.default_rng(0).uniform(size=(32, 8)).astype("float32")


@pytest.mark.parametrize("kind, penalty", [("sparse", l1_code_penalty), ("contractive", None)])
def test_loss_is_reconstruction_plus_weighted_penalty(kind, penalty):
    model = make_autoencoder(kind, penalty_weight=0.5)
    logs = model.evaluate(x, verbose=0, return_dict=True)
    code = model.encoder(x)
    expected_penalty = contractive_penalty(model.encoder, x) if penalty is None else penalty(code)
    reconstruction = np.mean(np.square(x - model.predict(x, verbose=0)), axis=1)
    np.testing.assert_allclose(logs["reconstruction_loss"], reconstruction.mean(), rtol=1e-5)
    np.testing.assert_allclose(logs["penalty"], np.mean(expected_penalty), rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], reconstruction.mean() + 0.5 * np.mean(expected_penalty), rtol=1e-5)


def test_contractive_training_gradient_includes_the_penalty():
    plain = make_autoencoder("undercomplete")
    contractive = make_autoencoder("contractive", penalty_weight=10.0)
    with tf.GradientTape(persistent=True) as tape:
        plain_loss = plain.compute_losses(x, training=True)["loss"]
        contractive_loss = contractive.compute_losses(x, training=True)["loss"]
    g_plain = tape.gradient(plain_loss, plain.encoder.trainable_weights[0])
    g_contractive = tape.gradient(contractive_loss, contractive.encoder.trainable_weights[0])
    assert not np.allclose(g_plain, g_contractive)


def test_denoising_corrupts_in_training_only():
    model = make_autoencoder("denoising", corruption="masking", corruption_amount=0.5)
    clean = model.compute_losses(x, training=False)["loss"]
    noisy = model.compute_losses(x, training=True)["loss"]
    np.testing.assert_allclose(model.evaluate(x, verbose=0, return_dict=True)["loss"], clean, rtol=1e-5)
    assert float(noisy) != pytest.approx(float(clean))


def test_training_lowers_the_reconstruction_loss():
    model = make_autoencoder("sparse", penalty_weight=1e-3)
    history = model.fit(x, epochs=20, batch_size=8, verbose=0).history
    assert history["reconstruction_loss"][-1] < 0.5 * history["reconstruction_loss"][0]


@pytest.mark.parametrize("kind", ["contractive", "denoising"])
def test_keras_file_resumes_training_exactly(kind, tmp_path):
    model = make_autoencoder(kind)
    model.fit(x, epochs=1, batch_size=8, verbose=0, shuffle=False)
    model.save(tmp_path / "ae.keras")
    restored = keras.saving.load_model(tmp_path / "ae.keras")
    model.fit(x, epochs=1, batch_size=8, verbose=0, shuffle=False)
    restored.fit(x, epochs=1, batch_size=8, verbose=0, shuffle=False)
    for a, b in zip(restored.get_weights(), model.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "variational"}, r"`kind` must be one of \['undercomplete', 'sparse', 'contractive', 'denoising'\]"),
        ({"sparsity": "l2"}, r"`sparsity` must be one of"),
        ({"reconstruction": "l1"}, r"`reconstruction` must be one of"),
        ({"penalty_weight": -1}, r"`penalty_weight` must be a float >= 0"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_autoencoder(**kwargs)


def test_sample_weights_weight_each_sample():
    model = make_autoencoder("sparse", penalty_weight=0.5)
    weights = np.concatenate([np.full(16, 2.0), np.zeros(16)]).astype("float32")
    # Keras drops sample weights given without targets; the targets are ignored.
    weighted = model.evaluate(x, x, sample_weight=weights, batch_size=32, verbose=0, return_dict=True)
    first_half = model.evaluate(x[:16], batch_size=16, verbose=0, return_dict=True)
    for key in ("loss", "reconstruction_loss", "penalty"):
        np.testing.assert_allclose(weighted[key], first_half[key], rtol=1e-5)


def test_compile_rejects_a_loss_or_metrics():
    model = make_autoencoder()
    with pytest.raises(ValueError, match=r"Autoencoder.compile: the losses are built in.*Received: \['loss'\]"):
        model.compile(optimizer="adam", loss="mse")
    with pytest.raises(ValueError, match=r"Received: \['metrics'\]"):
        model.compile(optimizer="adam", metrics=["mae"])


def conv_contractive_autoencoder(jit_compile):
    keras.utils.set_random_seed(0)
    encoder = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu"),
                                keras.layers.Flatten(), keras.layers.Dense(6, activation="sigmoid")])
    decoder = keras.Sequential([keras.Input((6,)), keras.layers.Dense(64, activation="sigmoid"), keras.layers.Reshape((8, 8, 1))])
    model = Autoencoder(encoder, decoder, kind="contractive", penalty_weight=0.1)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=jit_compile)
    return model


def digit_images(n):
    from sklearn.datasets import load_digits

    return (load_digits().data[:n].astype("float32") / 16.0).reshape(-1, 8, 8, 1)


def test_convolutional_contractive_autoencoder_trains_the_same_under_xla():
    images = digit_images(128)
    eager = conv_contractive_autoencoder(False).fit(images, epochs=2, batch_size=32, verbose=0, shuffle=False).history
    xla = conv_contractive_autoencoder(True).fit(images, epochs=2, batch_size=32, verbose=0, shuffle=False).history
    for key in ("loss", "reconstruction_loss", "penalty"):
        np.testing.assert_allclose(xla[key], eager[key], rtol=1e-4)


@pytest.mark.slow
def test_convolutional_contractive_autoencoder_is_fast_under_xla():
    # batch_jacobian under XLA took 42 s for this epoch on 2 CPU cores; one backward
    # pass per code unit takes about 2 s, most of it compiling.
    import time

    images = digit_images(1792)
    model = conv_contractive_autoencoder(True)
    start = time.perf_counter()
    model.fit(images, epochs=1, batch_size=64, verbose=0)
    assert time.perf_counter() - start < 20.0
