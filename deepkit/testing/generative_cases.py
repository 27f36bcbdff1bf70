"""Harness cases of the generative objects: autoencoders, VAE, GAN, CAN, Word2Vec and their losses and layers."""

import dataclasses

import keras
import numpy as np

from deepkit import models
from deepkit.testing.harness import HarnessCase

BATCH, FEATURES, CODE, LATENT, STYLES = 4, 6, 3, 2, 3


def samples(rng):
    return rng.uniform(size=(BATCH, FEATURES)).astype("float32")


def latents(rng):
    return rng.normal(size=(BATCH, LATENT)).astype("float32")


def dense_net(input_dim, *units, activation="tanh", last=None):
    layers = [keras.Input((input_dim,))]
    layers += [keras.layers.Dense(u, activation=activation) for u in units[:-1]]
    layers.append(keras.layers.Dense(units[-1], activation=last, dtype=None))
    return keras.Sequential(layers)


def compile_with_adam(model, jit_compile):
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=jit_compile)


def compile_adversarial(model, jit_compile):
    model.compile(
        d_optimizer=keras.optimizers.Adam(1e-2), g_optimizer=keras.optimizers.Adam(1e-2), jit_compile=jit_compile
    )


def autoencoder_case(case_id, covers, encoder_units, exact=True, encoder_last="sigmoid", **kwargs):
    def make_model():
        encoder = dense_net(FEATURES, *encoder_units, last=encoder_last)
        decoder = dense_net(CODE, FEATURES, last="sigmoid")
        return models.Autoencoder(encoder, decoder, seed=0, **kwargs)

    return HarnessCase(
        id=case_id,
        covers=["deepkit>Autoencoder", *covers],
        make_model=make_model,
        make_inputs=samples,
        compile_model=compile_with_adam,
        targets=None,
        deterministic_training=exact,
    )


def make_vae():
    x = keras.Input((FEATURES,))
    h = keras.layers.Dense(5, activation="tanh")(x)
    encoder = keras.Model(x, [keras.layers.Dense(LATENT)(h), keras.layers.Dense(LATENT)(h)])
    decoder = dense_net(LATENT, 5, FEATURES, last="sigmoid")
    return models.VAE(encoder, decoder, seed=0)


def make_gan():
    generator = dense_net(LATENT, 5, FEATURES, last="sigmoid")
    discriminator = dense_net(FEATURES, 5, 1)
    return models.GAN(generator, discriminator, latent_dim=LATENT, label_smoothing=0.1, seed=0)


def make_gan_with_generator_average():
    # Batch normalisation: the average also follows the generator's non-trainable statistics.
    generator = keras.Sequential([keras.Input((LATENT,)), keras.layers.Dense(5, activation="tanh"),
                                  keras.layers.BatchNormalization(), keras.layers.Dense(FEATURES, activation="sigmoid")])
    discriminator = dense_net(FEATURES, 5, 1)
    return models.GAN(generator, discriminator, latent_dim=LATENT, generator_ema=0.9, seed=0)


def make_can():
    generator = dense_net(LATENT, 5, FEATURES, last="sigmoid")
    x = keras.Input((FEATURES,))
    h = keras.layers.Dense(5, activation="tanh")(x)
    discriminator = keras.Model(x, [keras.layers.Dense(1)(h), keras.layers.Dense(STYLES)(h)])
    return models.CAN(generator, discriminator, latent_dim=LATENT, num_styles=STYLES, seed=0)


def labelled_samples(rng):
    return samples(rng), np.arange(BATCH) % STYLES


def make_conditional_gan():
    # Projection discriminator: logit = w·φ(x) + b + e_y·φ(x).
    z, y = keras.Input((LATENT,)), keras.Input((), dtype="int32")
    h = keras.layers.Concatenate()([z, keras.layers.Embedding(STYLES, LATENT)(y)])
    generator = keras.Model([z, y], keras.layers.Dense(FEATURES, activation="sigmoid")(h))
    x, y = keras.Input((FEATURES,)), keras.Input((), dtype="int32")
    h = keras.layers.Dense(5, activation="tanh")(x)
    projection = keras.layers.Dot(axes=1)([keras.layers.Embedding(STYLES, 5)(y), h])
    discriminator = keras.Model([x, y], keras.layers.Add()([keras.layers.Dense(1)(h), projection]))
    return models.ConditionalGAN(generator, discriminator, latent_dim=LATENT, num_classes=STYLES,
                                 adversarial_loss="hinge", generator_ema=0.9, seed=0)


def latents_and_labels(rng):
    return [latents(rng), (np.arange(BATCH) % STYLES).astype("int32")]


WORDS = ("the", "cat", "sat", "on", "a", "mat", "and", "dog")


def make_word2vec():
    return models.Word2Vec(list(WORDS), [8, 7, 6, 5, 4, 3, 2, 1], vector_size=3, window=2, negative=2, seed=0)


def word_ids(rng):
    return rng.integers(0, len(WORDS), size=BATCH).astype("int32")


def context_centre_pairs(rng):
    return word_ids(rng)[:, None], word_ids(rng)


def compile_with_sgd(model, jit_compile):
    model.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=jit_compile)


def generative_cases():
    cases = generative_cases_of_one_configuration()
    # GAN again, sampling from the moving average of its generator's weights.
    gan = next(case for case in cases if case.id == "gan")
    return cases + [dataclasses.replace(gan, id="gan_generator_ema", covers=["deepkit>GAN"],
                                        make_model=make_gan_with_generator_average)]


def generative_cases_of_one_configuration():
    return [
        autoencoder_case(
            "autoencoder_contractive_closed_form", ["deepkit>contractive_penalty"], (CODE,), kind="contractive"
        ),
        autoencoder_case(
            "autoencoder_contractive_jacobian", ["deepkit>contractive_penalty"], (5, CODE), kind="contractive"
        ),
        autoencoder_case("autoencoder_sparse_l1", ["deepkit>l1_code_penalty"], (CODE,), kind="sparse", encoder_last="relu"),
        autoencoder_case(
            "autoencoder_sparse_kl", ["deepkit>sparsity_kl"], (CODE,), kind="sparse", sparsity="kl", penalty_weight=0.1
        ),
        autoencoder_case(
            "autoencoder_denoising", ["deepkit>Corruption"], (5, CODE), exact=False, kind="denoising",
            corruption="masking",
        ),
        HarnessCase(
            id="vae",
            covers=["deepkit>VAE", "deepkit>Sampling", "deepkit>gaussian_kl"],
            make_model=make_vae,
            make_inputs=samples,
            compile_model=compile_with_adam,
            targets=None,
            deterministic_training=False,
        ),
        HarnessCase(
            id="gan",
            covers=["deepkit>GAN", "deepkit>discriminator_loss", "deepkit>generator_loss"],
            make_model=make_gan,
            make_inputs=latents,
            make_train_data=samples,
            compile_model=compile_adversarial,
            targets=None,
            deterministic_training=False,
        ),
        HarnessCase(
            id="can",
            covers=["deepkit>CAN", "deepkit>style_ambiguity_loss"],
            make_model=make_can,
            make_inputs=latents,
            make_train_data=labelled_samples,
            compile_model=compile_adversarial,
            targets=None,
            deterministic_training=False,
        ),
        HarnessCase(
            id="conditional_gan",
            covers=["deepkit>ConditionalGAN"],
            make_model=make_conditional_gan,
            make_inputs=latents_and_labels,
            make_train_data=labelled_samples,
            compile_model=compile_adversarial,
            targets=None,
            deterministic_training=False,
        ),
        HarnessCase(
            id="word2vec",
            covers=["deepkit>Word2Vec"],
            make_model=make_word2vec,
            make_inputs=word_ids,
            make_train_data=context_centre_pairs,
            compile_model=compile_with_sgd,
            targets=None,
            deterministic_training=False,  # negatives are drawn while training
            weight_shapes=[(len(WORDS), 3), (len(WORDS), 3)],
        ),
    ]
