"""VAE: trains on real digits, decodes a latent grid, serves encode/decode/generate, rejects bad encoders."""


import keras
import numpy as np
import pytest
from sklearn.datasets import load_digits

from deepkit.models import VAE
from deepkit.testing import serve_without_deepkit

LATENT = 2


def digits():
    x = load_digits().data.astype("float32") / 16.0
    return x


def make_vae(seed=0):
    keras.utils.set_random_seed(seed)
    x = keras.Input((64,), name="pixels")
    h = keras.layers.Dense(32, activation="relu")(x)
    encoder = keras.Model(x, [keras.layers.Dense(LATENT)(h), keras.layers.Dense(LATENT)(h)], name="encoder")
    decoder = keras.Sequential(
        [keras.Input((LATENT,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(64, activation="sigmoid")],
        name="decoder",
    )
    vae = VAE(encoder, decoder, seed=seed)
    vae.compile(optimizer=keras.optimizers.Adam(3e-3))
    return vae


def test_training_on_digits_lowers_the_loss_and_decodes_a_latent_grid():
    x = digits()
    vae = make_vae()
    history = vae.fit(x, epochs=6, batch_size=64, validation_data=(x[:200],), verbose=0).history
    assert set(history) == {"loss", "reconstruction_loss", "kl_loss", "val_loss", "val_reconstruction_loss", "val_kl_loss"}
    assert history["loss"][-1] < 0.8 * history["loss"][0]
    assert history["kl_loss"][-1] > 0  # the posterior moved away from the prior
    grid = np.stack(np.meshgrid(np.linspace(-2, 2, 5), np.linspace(-2, 2, 5)), -1).reshape(-1, LATENT)
    images = vae.decoder.predict(grid.astype("float32"), verbose=0)
    assert images.shape == (25, 64) and np.all((images >= 0) & (images <= 1))
    assert np.std(images, axis=0).mean() > 0.01  # different codes decode to different digits


def test_evaluate_and_predict():
    x = digits()[:64]
    vae = make_vae()
    logs = vae.evaluate(x, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "reconstruction_loss", "kl_loss"}
    np.testing.assert_allclose(logs["loss"], logs["reconstruction_loss"] + logs["kl_loss"], rtol=1e-5)
    assert vae.predict(x, verbose=0).shape == (64, 64)


def test_beta_weights_the_kl_term():
    x = digits()[:64]
    vae = make_vae()
    vae.beta = 4.0
    logs = vae.evaluate(x, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], logs["reconstruction_loss"] + 4.0 * logs["kl_loss"], rtol=1e-5)


def test_zero_sample_weights_zero_the_losses_and_loss_is_rejected_by_compile():
    x = digits()[:64]
    vae = make_vae()
    logs = vae.evaluate(x, x, sample_weight=np.zeros(64, "float32"), verbose=0, return_dict=True)
    assert logs == {"loss": 0.0, "reconstruction_loss": 0.0, "kl_loss": 0.0}
    assert vae.evaluate(x, x, sample_weight=np.ones(64, "float32"), verbose=0, return_dict=True)["loss"] > 10.0
    with pytest.raises(ValueError, match=r"VAE.compile: the losses are built in.*Received: \['loss'\]"):
        vae.compile(optimizer="adam", loss="binary_crossentropy")


def test_savedmodel_serves_encode_decode_generate_without_deepkit(tmp_path):
    x = digits()[:5]
    vae = make_vae()
    path = str(tmp_path / "vae")
    vae.export(path, verbose=False)
    z_mean, z_log_var = vae.encoder.predict(x, verbose=0)
    served = serve_without_deepkit(path, [x], "encode")
    np.testing.assert_allclose(served[0], z_log_var, rtol=1e-5, atol=1e-6)  # flattened dict: sorted keys
    np.testing.assert_allclose(served[1], z_mean, rtol=1e-5, atol=1e-6)
    z = np.random.default_rng(0).normal(size=(3, LATENT)).astype("float32")
    decoded = serve_without_deepkit(path, [z], "decode")[0]
    np.testing.assert_allclose(decoded, vae.decoder.predict(z, verbose=0), rtol=1e-5, atol=1e-6)
    generated = serve_without_deepkit(path, [np.int32(4), np.int32(7)], "generate")[0]
    np.testing.assert_allclose(generated, vae.generate(4, 7), rtol=1e-5, atol=1e-6)
    assert generated.shape == (4, 64)


def test_keras_file_resumes_training_where_it_left_off(tmp_path):
    # Weights, optimizer slots and the sampler's random stream come back, so
    # training continued from the file equals training that never stopped.
    x = digits()[:256]
    vae = make_vae()
    vae.fit(x, epochs=1, batch_size=64, verbose=0, shuffle=False)
    path = str(tmp_path / "vae.keras")
    vae.save(path)
    restored = keras.saving.load_model(path)
    assert int(restored.optimizer.iterations) == int(vae.optimizer.iterations) == 4
    for a, b in zip(restored.optimizer.variables, vae.optimizer.variables):
        np.testing.assert_allclose(a, b)
    for a, b in zip(restored.get_weights(), vae.get_weights()):
        np.testing.assert_array_equal(a, b)
    continued = vae.fit(x, epochs=1, batch_size=64, verbose=0, shuffle=False).history
    resumed = restored.fit(x, epochs=1, batch_size=64, verbose=0, shuffle=False).history
    assert int(restored.optimizer.iterations) == 8
    np.testing.assert_allclose(resumed["loss"], continued["loss"], rtol=1e-6)
    for a, b in zip(restored.get_weights(), vae.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_encoder_must_return_two_tensors():
    x = keras.Input((4,))
    decoder = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4)])
    with pytest.raises(ValueError, match=r"VAE: `encoder` must return \[z_mean, z_log_var\].*Received: tensor of shape \(None, 2\)"):
        VAE(keras.Model(x, keras.layers.Dense(2)(x)), decoder)
    three = keras.Model(x, [keras.layers.Dense(2)(x)] * 3)
    with pytest.raises(ValueError, match=r"Received: list of 3"):
        VAE(three, decoder)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"beta": -1.0}, r"`beta` must be a float >= 0"), ({"reconstruction": "l1"}, r"`reconstruction` must be one of")],
)
def test_bad_arguments(kwargs, message):
    x = keras.Input((4,))
    encoder = keras.Model(x, [keras.layers.Dense(2)(x), keras.layers.Dense(2)(x)])
    with pytest.raises(ValueError, match=message):
        VAE(encoder, keras.Sequential([keras.Input((2,)), keras.layers.Dense(4)]), **kwargs)
