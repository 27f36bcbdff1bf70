"""GAN and CAN: training moves samples toward the data; compile, shapes and styles are checked."""

import keras
import numpy as np
import pytest

from deepkit.losses import style_ambiguity_loss
from deepkit.models import CAN, GAN
from deepkit.testing import serve_without_deepkit

CENTERS = 2.0 * np.stack([np.cos(np.arange(4) * np.pi / 2), np.sin(np.arange(4) * np.pi / 2)], -1)


def gaussian_mixture(n, seed=0):
    rng = np.random.default_rng(seed)
    return (CENTERS[rng.integers(0, 4, n)] + 0.1 * rng.normal(size=(n, 2))).astype("float32")


def distance_to_data(samples):
    """Mean distance of each sample to its nearest mixture centre."""
    return float(np.mean(np.min(np.linalg.norm(samples[:, None] - CENTERS[None], axis=-1), axis=1)))


def make_gan(latent_dim=4, **kwargs):
    keras.utils.set_random_seed(0)
    generator = keras.Sequential(
        [keras.Input((latent_dim,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(2)]
    )
    discriminator = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(1)]
    )
    gan = GAN(generator, discriminator, latent_dim=latent_dim, seed=0, **kwargs)
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5), g_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5))
    return gan


def test_training_moves_samples_toward_the_gaussian_mixture():
    gan = make_gan()
    z = np.random.default_rng(1).normal(size=(1000, 4)).astype("float32")
    before = distance_to_data(gan.predict(z, verbose=0))  # 1.74 with this seed
    history = gan.fit(gaussian_mixture(8192), epochs=8, batch_size=256, verbose=0).history
    after = distance_to_data(gan.predict(z, verbose=0))  # about 1.0-1.3 (GAN training oscillates)
    assert set(history) == {"d_loss", "g_loss"}
    assert after < 0.8 * before, (before, after)


def test_discriminator_steps_and_label_smoothing_run_and_evaluate_logs_both_losses():
    gan = make_gan(discriminator_steps=2, label_smoothing=0.1)
    gan.fit(gaussian_mixture(256), epochs=1, batch_size=64, verbose=0)
    assert int(gan.d_optimizer.iterations) == 2 * int(gan.g_optimizer.iterations) == 8
    assert set(gan.evaluate(gaussian_mixture(64), verbose=0, return_dict=True)) == {"d_loss", "g_loss"}


def test_generate_endpoint_serves_without_deepkit(tmp_path):
    gan = make_gan()
    path = str(tmp_path / "gan")
    gan.export(path, verbose=False)
    served = serve_without_deepkit(path, [np.int32(6), np.int32(3)], "generate")[0]
    np.testing.assert_allclose(served, gan.generate(6, 3), rtol=1e-5, atol=1e-6)
    z = np.ones((2, 4), "float32")
    np.testing.assert_allclose(serve_without_deepkit(path, [z])[0], gan.predict(z, verbose=0), rtol=1e-5, atol=1e-6)


def test_keras_file_restores_both_optimizers(tmp_path):
    gan = make_gan()
    gan.fit(gaussian_mixture(256), epochs=1, batch_size=64, verbose=0)
    gan.save(tmp_path / "gan.keras")
    restored = keras.saving.load_model(tmp_path / "gan.keras")
    for mine, theirs in ((gan.d_optimizer, restored.d_optimizer), (gan.g_optimizer, restored.g_optimizer)):
        assert int(theirs.iterations) == int(mine.iterations) == 4
        for a, b in zip(mine.variables, theirs.variables):
            np.testing.assert_allclose(a, b)
    data = gaussian_mixture(128, seed=1)
    continued = gan.fit(data, epochs=1, batch_size=64, verbose=0, shuffle=False).history
    resumed = restored.fit(data, epochs=1, batch_size=64, verbose=0, shuffle=False).history
    assert int(restored.g_optimizer.iterations) == 6
    # The latent sampler's stream is restored too: resuming equals never stopping.
    np.testing.assert_allclose(resumed["g_loss"], continued["g_loss"], rtol=1e-6)
    for a, b in zip(restored.get_weights(), gan.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_compile_needs_both_optimizers():
    gan = make_gan()
    with pytest.raises(ValueError, match=r"both `d_optimizer` and `g_optimizer` are required. Missing: \['g_optimizer'\]"):
        gan.compile(d_optimizer="adam")
    with pytest.raises(ValueError, match=r"not `optimizer`/`loss`"):
        gan.compile(d_optimizer="adam", g_optimizer="adam", optimizer="sgd")


def test_sample_weights_are_rejected():
    with pytest.raises(ValueError, match=r"GAN: sample weights are not supported.*Received: sample_weight of shape \(64,\)"):
        make_gan().fit(gaussian_mixture(64), np.zeros(64), sample_weight=np.ones(64), batch_size=64, epochs=1, verbose=0)


def test_latent_dim_must_match_the_generator():
    generator = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    discriminator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"`latent_dim` must equal the generator's input size. Received: latent_dim=5, generator input shape \(None, 3\)"):
        GAN(generator, discriminator, latent_dim=5)


def test_discriminator_must_output_one_logit():
    generator = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    discriminator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"discriminator must return logits of shape \(batch, 1\). Received: tensor of shape \(None, 2\)"):
        GAN(generator, discriminator, latent_dim=3)


def make_can(num_styles=3):
    keras.utils.set_random_seed(0)
    generator = keras.Sequential([keras.Input((4,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(2)])
    x = keras.Input((2,))
    h = keras.layers.Dense(16, activation="relu")(x)
    discriminator = keras.Model(x, [keras.layers.Dense(1)(h), keras.layers.Dense(num_styles)(h)])
    can = CAN(generator, discriminator, latent_dim=4, num_styles=num_styles, seed=0)
    can.compile(d_optimizer=keras.optimizers.Adam(2e-3), g_optimizer=keras.optimizers.Adam(2e-3))
    return can


def test_can_trains_on_labelled_styles_and_logs_its_losses():
    can = make_can()
    x = gaussian_mixture(512)
    styles = np.argmin(np.linalg.norm(x[:, None] - CENTERS[None, :3], axis=-1), axis=1)
    history = can.fit(x, styles, epochs=3, batch_size=64, verbose=0).history
    assert set(history) == {"d_loss", "g_loss", "style_loss", "ambiguity_loss"}
    assert history["style_loss"][-1] < history["style_loss"][0]
    assert all(np.isfinite(v).all() for v in history.values())


def test_can_needs_two_styles_labels_and_a_two_headed_discriminator():
    with pytest.raises(ValueError, match=r"`num_styles` must be an integer >= 2. Received: num_styles=1"):
        make_can(num_styles=1)
    generator = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    discriminator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"must return \[real_fake_logits \(batch, 1\), style_logits \(batch, 3\)\]"):
        CAN(generator, discriminator, latent_dim=4, num_styles=3)
    with pytest.raises(ValueError, match=r"training data must be \(samples, style_labels\)"):
        make_can().fit(gaussian_mixture(64), epochs=1, verbose=0)


def test_can_keras_file_resumes_training_exactly(tmp_path):
    can = make_can()
    x = gaussian_mixture(128)
    styles = np.arange(128) % 3
    can.fit(x, styles, epochs=1, batch_size=64, verbose=0, shuffle=False)
    can.save(tmp_path / "can.keras")
    restored = keras.saving.load_model(tmp_path / "can.keras")
    assert restored.num_styles == 3 and int(restored.d_optimizer.iterations) == 2
    continued = can.fit(x, styles, epochs=1, batch_size=64, verbose=0, shuffle=False).history
    resumed = restored.fit(x, styles, epochs=1, batch_size=64, verbose=0, shuffle=False).history
    for key in ("d_loss", "g_loss", "style_loss", "ambiguity_loss"):
        np.testing.assert_allclose(resumed[key], continued[key], rtol=1e-6)
    for a, b in zip(restored.get_weights(), can.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_export_refuses_options_it_would_ignore(tmp_path):
    with pytest.raises(ValueError, match=r"GAN.export: the endpoints and their signatures are fixed.*Received: \['input_signature'\]"):
        make_gan().export(str(tmp_path / "gan"), input_signature=[None])
    with pytest.raises(ValueError, match=r"argument `format` must be 'tf_saved_model'. Received: 'onnx'"):
        make_gan().export(str(tmp_path / "gan"), format="onnx")


def test_only_the_two_optimizers_hold_state():
    gan = make_gan()
    gan.fit(gaussian_mixture(64), epochs=1, batch_size=64, verbose=0)
    assert gan.optimizer is None
    d_slots = 2 * len(gan.discriminator.trainable_variables)  # Adam: m and v
    assert len(gan.d_optimizer.variables) == 2 + d_slots  # + iterations, learning rate


def test_can_ambiguity_term_makes_generated_samples_style_ambiguous():
    # Same seed, data and schedule; only the weight of the ambiguity term differs.
    rng = np.random.default_rng(0)
    styles = rng.integers(0, 4, 8192)
    x = (CENTERS[styles] + 0.1 * rng.normal(size=(8192, 2))).astype("float32")
    z = np.random.default_rng(1).normal(size=(1000, 4)).astype("float32")
    ambiguity = {}
    for weight in (0.0, 1.0):
        keras.utils.set_random_seed(0)
        generator = keras.Sequential([keras.Input((4,)), keras.layers.Dense(32, activation="relu"),
                                      keras.layers.Dense(32, activation="relu"), keras.layers.Dense(2)])
        inputs = keras.Input((2,))
        h = keras.layers.Dense(32, activation="relu")(keras.layers.Dense(32, activation="relu")(inputs))
        discriminator = keras.Model(inputs, [keras.layers.Dense(1)(h), keras.layers.Dense(4)(h)])
        can = CAN(generator, discriminator, latent_dim=4, num_styles=4, ambiguity_weight=weight, seed=0)
        can.compile(d_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5), g_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5))
        can.fit(x, styles, epochs=8, batch_size=256, verbose=0)
        _, style_logits = can.discriminator.predict(can.predict(z, verbose=0), verbose=0)
        ambiguity[weight] = float(np.mean(style_ambiguity_loss(style_logits)))
    minimum = np.log(4) + 3 * np.log(4 / 3)
    # Measured: 8.6 without the term, 3.2 with it (the minimum is 2.25).
    assert minimum <= ambiguity[1.0] < 0.7 * ambiguity[0.0], ambiguity


def test_generator_average_follows_the_ramped_moving_average_of_the_weights():
    gan = make_gan(generator_ema=0.9)
    average = [w.copy() for w in gan.generator.get_weights()]
    np.testing.assert_array_equal(gan.ema_generator.get_weights()[0], average[0])  # starts as a copy
    data = gaussian_mixture(64)
    for t in range(1, 31):
        gan.train_on_batch(data)
        decay = min(0.9, (1 + t) / (10 + t))  # 0.18 at the first update, 0.9 from the 80th
        average = [decay * a + (1 - decay) * w for a, w in zip(average, gan.generator.get_weights())]
    for mine, expected in zip(gan.ema_generator.get_weights(), average):
        np.testing.assert_allclose(mine, expected, rtol=1e-5, atol=1e-6)
    assert not np.allclose(gan.ema_generator.get_weights()[0], gan.generator.get_weights()[0])


def test_predict_generate_and_export_sample_from_the_averaged_generator(tmp_path):
    gan = make_gan(generator_ema=0.99)
    gan.fit(gaussian_mixture(512), epochs=1, batch_size=64, verbose=0)
    z = np.random.default_rng(2).normal(size=(5, 4)).astype("float32")
    averaged = gan.ema_generator.predict(z, verbose=0)
    np.testing.assert_allclose(gan.predict(z, verbose=0), averaged, rtol=1e-6)
    assert not np.allclose(gan.generator.predict(z, verbose=0), averaged, atol=1e-4)
    path = str(tmp_path / "gan")
    gan.export(path, verbose=False)
    np.testing.assert_allclose(serve_without_deepkit(path, [z])[0], averaged, rtol=1e-5, atol=1e-6)
    served = serve_without_deepkit(path, [np.int32(6), np.int32(3)], "generate")[0]
    np.testing.assert_allclose(served, gan.generate(6, 3), rtol=1e-5, atol=1e-6)


def test_keras_file_keeps_the_generator_average_and_resumes_it(tmp_path):
    gan = make_gan(generator_ema=0.95)
    gan.fit(gaussian_mixture(256), epochs=1, batch_size=64, verbose=0)
    gan.save(tmp_path / "gan.keras")
    restored = keras.saving.load_model(tmp_path / "gan.keras")
    assert restored.generator_ema == 0.95 and restored.get_config()["generator_ema"] == 0.95
    for a, b in zip(restored.ema_generator.get_weights(), gan.ema_generator.get_weights()):
        np.testing.assert_array_equal(a, b)
    data = gaussian_mixture(128, seed=1)
    gan.fit(data, epochs=1, batch_size=64, verbose=0, shuffle=False)
    restored.fit(data, epochs=1, batch_size=64, verbose=0, shuffle=False)
    for a, b in zip(restored.ema_generator.get_weights(), gan.ema_generator.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_generator_ema_must_be_a_decay_of_a_copyable_generator():
    with pytest.raises(ValueError, match=r"`generator_ema` must be a float in \[0, 1\). Received: generator_ema=1.0"):
        make_gan(generator_ema=1.0)

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, z):
            return self.dense(z)

    discriminator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"`generator_ema` needs a generator that keras.models.clone_model can copy.*Received: Subclassed, which"):
        GAN(Subclassed(), discriminator, latent_dim=4, generator_ema=0.999)


def test_hinge_losses_match_numpy_and_their_docstrings():
    import doctest

    from deepkit.models import gan as gan_module

    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(7, 1)) * 2, rng.normal(size=(7, 1)) * 2
    np.testing.assert_allclose(gan_module.hinge_discriminator_loss(real, fake),
                               np.maximum(0, 1 - real[:, 0]) + np.maximum(0, 1 + fake[:, 0]), rtol=1e-6)
    np.testing.assert_allclose(gan_module.hinge_generator_loss(fake), -fake[:, 0], rtol=1e-6)
    for function in (gan_module.hinge_discriminator_loss, gan_module.hinge_generator_loss):
        runner = doctest.DocTestRunner()
        for test in doctest.DocTestFinder().find(function, globs={"np": np, function.__name__: function}):
            runner.run(test)
        assert runner.tries == 1 and runner.failures == 0, function.__name__


def test_hinge_gan_logs_the_hinge_losses_of_its_batch():
    gan = make_gan(adversarial_loss="hinge")
    data = gaussian_mixture(64)
    logs = gan.evaluate(data, batch_size=64, verbose=0, return_dict=True)
    # The same two fresh fake batches, drawn again from the sampler's saved position.
    gan2 = make_gan(adversarial_loss="hinge")
    fake_d = gan2.generator(gan2.sample_latent(64))
    fake_g = gan2.generator(gan2.sample_latent(64))
    real_logits = gan2.discriminator(data).numpy()[:, 0]
    d_loss = np.mean(np.maximum(0, 1 - real_logits) + np.maximum(0, 1 + gan2.discriminator(fake_d).numpy()[:, 0]))
    g_loss = np.mean(-gan2.discriminator(fake_g).numpy()[:, 0])
    assert logs["d_loss"] == pytest.approx(d_loss, rel=1e-5) and logs["g_loss"] == pytest.approx(g_loss, rel=1e-5, abs=1e-6)


def test_hinge_training_moves_samples_toward_the_gaussian_mixture_and_round_trips(tmp_path):
    gan = make_gan(adversarial_loss="hinge")
    z = np.random.default_rng(1).normal(size=(1000, 4)).astype("float32")
    before = distance_to_data(gan.predict(z, verbose=0))
    gan.fit(gaussian_mixture(8192), epochs=8, batch_size=256, verbose=0)
    assert distance_to_data(gan.predict(z, verbose=0)) < 0.8 * before
    gan.save(tmp_path / "gan.keras")
    assert keras.saving.load_model(tmp_path / "gan.keras").adversarial_loss == "hinge"


def test_adversarial_loss_is_checked_against_the_logistic_options_and_subclasses():
    with pytest.raises(ValueError, match=r"adversarial_loss.*\['logistic', 'hinge'\].*'wasserstein'"):
        make_gan(adversarial_loss="wasserstein")
    with pytest.raises(ValueError, match=r"label_smoothing and generator_loss belong to the logistic loss.*label_smoothing=0.1"):
        make_gan(adversarial_loss="hinge", label_smoothing=0.1)
    with pytest.raises(ValueError, match=r"generator_loss='minimax'"):
        make_gan(adversarial_loss="hinge", generator_loss="minimax")
    generator = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    x = keras.Input((2,))
    discriminator = keras.Model(x, [keras.layers.Dense(1)(x), keras.layers.Dense(3)(x)])
    with pytest.raises(ValueError, match=r"CAN: computes its own adversarial losses.*must be 'logistic'"):
        CAN(generator, discriminator, latent_dim=4, num_styles=3, adversarial_loss="hinge")
