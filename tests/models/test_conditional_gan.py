"""ConditionalGAN: the projection logit and the hinge game, label checks, sampling per class, saving and serving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepkit.models import ConditionalGAN
from deepkit.testing import serve_without_deepkit

LATENT, FEATURES, CLASSES, HIDDEN = 2, 3, 4, 16


def projection_discriminator():
    """``D(x, y) = w·φ(x) + b + e_y·φ(x)``, ``φ(x) = tanh(V x + c)``: a projection discriminator."""
    x, y = keras.Input((FEATURES,)), keras.Input((), dtype="int32")
    features = keras.layers.Dense(HIDDEN, activation="tanh", name="features")(x)
    linear = keras.layers.Dense(1, name="linear")(features)
    projection = keras.layers.Dot(axes=1)([keras.layers.Embedding(CLASSES, HIDDEN, name="projection")(y), features])
    return keras.Model([x, y], keras.layers.Add()([linear, projection]))


def label_generator(z_kernel="glorot_uniform"):
    """``G(z, y) = W_z z + W_e e_y + b``."""
    z, y = keras.Input((LATENT,)), keras.Input((), dtype="int32")
    from_z = keras.layers.Dense(FEATURES, use_bias=False, kernel_initializer=z_kernel, name="from_z")(z)
    from_label = keras.layers.Dense(FEATURES, name="from_label")(keras.layers.Embedding(CLASSES, 3, name="embedding")(y))
    return keras.Model([z, y], keras.layers.Add()([from_z, from_label]))


def make_gan(z_kernel="glorot_uniform", **kwargs):
    keras.utils.set_random_seed(0)
    gan = ConditionalGAN(label_generator(z_kernel), projection_discriminator(), latent_dim=LATENT,
                         num_classes=CLASSES, seed=0, **kwargs)
    gan.compile(d_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5), g_optimizer=keras.optimizers.Adam(2e-3, beta_1=0.5))
    return gan


def labelled(n, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    return (labels[:, None] + 0.1 * rng.normal(size=(n, FEATURES))).astype("float32"), labels


def test_hinge_loss_of_the_projection_logit_matches_numpy():
    # The generator ignores z at first (zero kernel), so its fakes, and the loss, are known.
    gan = make_gan(z_kernel="zeros", adversarial_loss="hinge")
    x, y = labelled(8)
    v, c = gan.discriminator.get_layer("features").get_weights()
    w, b = gan.discriminator.get_layer("linear").get_weights()
    (projection,) = gan.discriminator.get_layer("projection").get_weights()
    (embedding,) = gan.generator.get_layer("embedding").get_weights()
    w_e, b_e = gan.generator.get_layer("from_label").get_weights()

    def logit(samples, labels):
        features = np.tanh(samples @ v + c)
        return features @ w[:, 0] + b[0] + np.sum(projection[labels] * features, axis=1)

    fake = embedding[y] @ w_e + b_e  # drawn for the real batch's labels
    expected = np.mean(np.maximum(0, 1 - logit(x, y)) + np.maximum(0, 1 + logit(fake, y)))
    np.testing.assert_allclose(gan.discriminator.predict([x, y], verbose=0)[:, 0], logit(x, y), rtol=1e-5, atol=1e-6)
    logs = gan.train_on_batch(x, y, return_dict=True)
    np.testing.assert_allclose(logs["d_loss"], expected, rtol=1e-5)


def test_a_train_step_updates_both_networks_and_logs_both_losses():
    gan = make_gan()
    x, y = labelled(16)
    before_g, before_d = gan.generator.get_weights(), gan.discriminator.get_weights()
    history = gan.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert set(history) == {"d_loss", "g_loss"}
    assert int(gan.d_optimizer.iterations) == int(gan.g_optimizer.iterations) == 2
    for before, after in ((before_g, gan.generator.get_weights()), (before_d, gan.discriminator.get_weights())):
        assert all(not np.allclose(a, b) for a, b in zip(before, after))


def test_training_draws_each_class_where_its_data_lies():
    gan = make_gan(adversarial_loss="hinge")
    x, y = labelled(2048)
    gan.fit(x, y, batch_size=64, epochs=20, verbose=0)
    # Class k's data sits around (k, k, k): each class's samples must be nearest their own centre.
    samples = gan.generate(400, seed=1).numpy()
    labels = np.arange(400) % CLASSES
    nearest = np.argmin(np.abs(samples.mean(axis=1)[:, None] - np.arange(CLASSES)[None]), axis=1)
    assert np.mean(nearest == labels) > 0.9, np.mean(nearest == labels)


def test_fit_refuses_labels_that_are_not_class_indices():
    gan = make_gan()
    x, y = labelled(8)
    with pytest.raises(ValueError, match=r"labels must be integer class indices in \[0, 4\) of shape \(batch,\). Received: float32 labels of shape \(8,\)"):
        gan.fit(x, y.astype("float32"), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"Received: int64 labels of shape \(8, 4\) \(one-hot\? pass their argmax\)"):
        gan.fit(x, np.eye(CLASSES, dtype="int64")[y], epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"Received: 2 label\(s\) outside it, the first 4"):
        gan.fit(x, np.array([0, 1, 4, 2, 3, 5, 0, 1]), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"training data must be \(samples, labels\). Received: samples only"):
        gan.fit(x, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"Received: a dataset of TensorSpec"):
        gan.fit(tf.data.Dataset.from_tensor_slices(x).batch(4), epochs=1, verbose=0)
    assert int(gan.g_optimizer.iterations) == 0  # refused before any step


@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_dataset_label_out_of_range_stops_fit_naming_the_range(jit_compile):
    gan = make_gan()
    gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3), jit_compile=jit_compile)
    x, _ = labelled(8)
    dataset = tf.data.Dataset.from_tensor_slices((x, np.array([0, 1, 2, 3, 0, 1, 2, 7]))).batch(4)
    # The check runs in the input pipeline, so XLA, which drops run-time checks, keeps it.
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"labels must be class indices in \[0, 4\)"):
        gan.fit(dataset, epochs=1, verbose=0)


def test_a_generator_batch_without_labels_or_out_of_range_stops_fit():
    def batches(labels):
        x, _ = labelled(4)
        for batch_labels in ([0, 1, 2, 3], labels):
            yield (x,) if labels is None else (x, np.array(batch_labels))

    with pytest.raises(ValueError, match=r"training data must be \(samples, labels\). Received: samples only"):
        make_gan().fit(batches(None), epochs=1, verbose=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"labels must be class indices in \[0, 4\)"):
        make_gan().fit(batches([0, 1, 9, 3]), epochs=1, verbose=0)


def test_networks_need_a_label_input():
    generator = keras.Sequential([keras.Input((LATENT,)), keras.layers.Dense(FEATURES)])
    with pytest.raises(ValueError, match=r"the generator must take two inputs, \[z, labels\]. Received: a generator with 1 input"):
        ConditionalGAN(generator, projection_discriminator(), latent_dim=LATENT, num_classes=CLASSES)
    with pytest.raises(ValueError, match=r"argument `num_classes` must be an integer >= 2. Received: num_classes=1"):
        ConditionalGAN(label_generator(), projection_discriminator(), latent_dim=LATENT, num_classes=1)


def test_generate_draws_balanced_labels_or_the_ones_given():
    gan = make_gan()
    np.testing.assert_array_equal(gan.balanced_labels(10), [0, 1, 2, 3, 0, 1, 2, 3, 0, 1])
    z = tf.random.stateless_normal((10, LATENT), seed=[3, 0])
    np.testing.assert_allclose(gan.generate(10, seed=3), gan.generator([z, tf.constant(np.arange(10) % CLASSES, tf.int32)]), rtol=1e-6)
    labels = np.full(10, 2, "int32")
    np.testing.assert_allclose(gan.generate(10, seed=3, labels=labels), gan.generator([z, tf.constant(labels)]), rtol=1e-6)
    with pytest.raises(ValueError, match=r"Received: 1 label\(s\) outside it, the first 9"):
        gan.generate(2, labels=np.array([0, 9]))
    with pytest.raises(ValueError, match=r"expected 3 labels, one per sample. Received: 2"):
        gan.generate(3, labels=np.array([0, 1]))


def test_the_generator_average_samples_and_starts_as_a_copy():
    gan = make_gan(generator_ema=0.9)
    for a, b in zip(gan.ema_generator.get_weights(), gan.generator.get_weights()):
        np.testing.assert_array_equal(a, b)
    x, y = labelled(64)
    gan.fit(x, y, batch_size=16, epochs=2, verbose=0)
    z, labels = np.ones((4, LATENT), "float32"), np.arange(4)
    averaged = gan.ema_generator.predict([z, labels], verbose=0)
    np.testing.assert_allclose(gan.predict([z, labels], verbose=0), averaged, rtol=1e-6)
    assert not np.allclose(gan.generator.predict([z, labels], verbose=0), averaged, atol=1e-4)


def test_config_round_trip_and_keras_file_resume_exactly(tmp_path):
    gan = make_gan(generator_ema=0.95, adversarial_loss="hinge")
    config = gan.get_config()
    assert config["num_classes"] == CLASSES and config["adversarial_loss"] == "hinge"
    rebuilt = ConditionalGAN.from_config(config)
    assert (rebuilt.num_classes, rebuilt.generator_ema, rebuilt.latent_dim) == (CLASSES, 0.95, LATENT)
    x, y = labelled(64)
    gan.fit(x, y, batch_size=16, epochs=1, verbose=0)
    gan.save(tmp_path / "cgan.keras")
    restored = keras.saving.load_model(tmp_path / "cgan.keras")
    assert isinstance(restored, ConditionalGAN) and int(restored.g_optimizer.iterations) == 4
    x, y = labelled(32, seed=1)
    continued = gan.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False).history
    resumed = restored.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False).history
    np.testing.assert_allclose(resumed["d_loss"], continued["d_loss"], rtol=1e-5)
    for a, b in zip(restored.ema_generator.get_weights(), gan.ema_generator.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_endpoints_serve_without_deepkit(tmp_path):
    gan = make_gan(generator_ema=0.9)
    x, y = labelled(32)
    gan.fit(x, y, batch_size=16, epochs=1, verbose=0)
    path = str(tmp_path / "cgan")
    gan.export(path, verbose=False)
    z, labels = np.ones((3, LATENT), "float32"), np.array([3, 0, 1], "int32")
    np.testing.assert_allclose(serve_without_deepkit(path, [z, labels])[0], gan.predict([z, labels], verbose=0),
                               rtol=1e-5, atol=1e-6)
    served = serve_without_deepkit(path, [np.int32(6), np.int32(2)], "generate")[0]
    np.testing.assert_allclose(served, gan.generate(6, 2), rtol=1e-5, atol=1e-6)
    served = serve_without_deepkit(path, [labels, np.int32(2)], "generate_labels")[0]
    np.testing.assert_allclose(served, gan.generate(3, 2, labels), rtol=1e-5, atol=1e-6)
    loaded = tf.saved_model.load(path)  # a label out of range fails in the served graph, on any device
    for call in (lambda: loaded.serve(z, np.array([0, CLASSES, 1], "int32")),
                 lambda: loaded.generate_labels(np.array([-1], "int32"), np.int32(0))):
        with pytest.raises(tf.errors.InvalidArgumentError, match=rf"labels must be class indices in \[0, {CLASSES}\)"):
            call()
