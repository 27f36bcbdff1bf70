"""Four autoencoders on real digits: undercomplete, sparse, contractive and denoising.

The four kinds of Goodfellow, Bengio & Courville, *Deep Learning* (2016), chapter 14.
Each gets the same encoder (pixels -> `hidden_units` -> `code_dim`, a 2-D code by
default, so that it can be plotted) and decoder, and its own regulariser
(`deepkit.models.Autoencoder`): none but the narrow code, a KL sparsity penalty on
sigmoid codes, the contractive penalty of Rifai et al. (2011), or masking noise on
the inputs (Vincent et al. 2008).

Each kind keeps the weights of its epoch with the lowest validation loss (`monitor`)
on the last `validation_percent` of the training digits, so the test digits are only
read to report the scores.

Writes reconstructions.png (the same test digits as each kind reconstructs them, the
denoising one from masked inputs) and, with a 2-D code, codes.png (the test codes
coloured by digit). metrics.json: `<kind>_test_mse` for each kind, and `mean_image_mse`,
the error of always answering the mean training image (pixels in [0, 1]).

The SavedModel is that of `export_kind` (model.keras: its `deepkit.models.Autoencoder`).
Its `serving_default` (= `serve`) takes `pixels`, float32 (batch, height·width): the
flattened image, values in [0, 1] (64 for `digits`, 784 for `mnist_5k`), and returns
`reconstruction`, float32 (batch, height·width) in [0, 1]. `encode` takes the same
`pixels` and returns `code`, float32 (batch, code_dim); `reconstruct` is `serve`.
"""

import dataclasses
import os
import sys
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf

from deepkit import best_epoch, data, plots, recipe
from deepkit.export import WithEndpoints
from deepkit.layers import Corruption
from deepkit.models import Autoencoder

NAME = "autoencoder"
TASK = "representation learning"
KINDS = ("undercomplete", "sparse", "contractive", "denoising")


@dataclasses.dataclass
class Config(recipe.RecipeConfig):
    DATA_KINDS: ClassVar = ("images",)  # what --data may name

    data: str = "digits"  # images: digits (8x8, offline), mnist_5k (28x28, offline) or tfds:mnist
    code_dim: int = 2  # code size (2 so that the codes can be plotted)
    hidden_units: int = 64  # hidden layer of the encoder and of the decoder
    penalty_weight: float = 1e-3  # λ of the sparse and contractive penalties
    corruption_amount: float = 0.3  # denoising: fraction of pixels masked
    export_kind: str = "denoising"  # which of the four is exported
    validation_percent: int = 10  # last % of the training digits held out to pick each kind's kept epoch
    monitor: str = "val_loss"  # validation metric that picks each kind's kept epoch
    monitor_mode: str = "min"  # min or max: which end of the monitor is best
    epochs: int = 40  # training epochs per kind
    batch_size: int = 64  # images per batch
    learning_rate: float = 2e-3  # Adam step size

    def __post_init__(self):
        if self.export_kind not in KINDS:
            raise ValueError(f"export_kind must be one of {', '.join(KINDS)}; received {self.export_kind!r}")
        if not 0 < self.validation_percent < 100:
            raise ValueError(f"validation_percent must lie in (0, 100), received {self.validation_percent}")
        best_epoch.selection(self)  # a bad monitor_mode is refused before anything runs


def smoke():
    """Seconds-long: eight hidden units, one epoch per kind."""
    return Config(hidden_units=8, epochs=1)


def images_and_labels(name, split):
    arrays = data.split_arrays(name, split)
    images = arrays["image"].astype("float32") / 255.0
    return images.reshape(len(images), -1), arrays["label"], images.shape[1:3]


def build(config, kind, pixels):
    keras.utils.set_random_seed(config.seed)
    encoder = keras.Sequential(
        [keras.Input((pixels,)), keras.layers.Dense(config.hidden_units, activation="relu"),
         keras.layers.Dense(config.code_dim, activation="sigmoid" if kind == "sparse" else None)],
        name="encoder",
    )
    decoder = keras.Sequential(
        [keras.Input((config.code_dim,)), keras.layers.Dense(config.hidden_units, activation="relu"),
         keras.layers.Dense(pixels, activation="sigmoid")],
        name="decoder",
    )
    model = Autoencoder(
        encoder, decoder, kind=kind, penalty_weight=config.penalty_weight, sparsity="kl" if kind == "sparse" else "l1",
        corruption="masking", corruption_amount=config.corruption_amount, reconstruction="binary_crossentropy",
        seed=config.seed,
    )
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
    return model


def serving(model, pixels):
    """The exported ``model`` with named inputs and outputs: ``serve``/``reconstruct``
    pixels -> reconstruction and ``encode`` pixels -> code, as a functional graph of its
    encoder and decoder (what the model computes at inference: no corruption)."""
    image = keras.Input((pixels,), name="pixels")
    code = keras.layers.Identity(name="code")(model.encoder(image))
    reconstruction = keras.layers.Identity(name="reconstruction")(model.decoder(code))
    reconstruct = keras.Model(image, reconstruction, name="autoencoder")
    encode = keras.Model(image, code, name="encoder")
    spec = [tf.TensorSpec((None, pixels), tf.float32, name="pixels")]
    endpoints = {
        "encode": (tf.function(lambda x: {"code": encode(x, training=False)}), spec),
        "reconstruct": (tf.function(lambda x: {"reconstruction": reconstruct(x, training=False)}), spec),
    }
    return WithEndpoints(reconstruct, endpoints, track=[encode], saved=model)


def train_and_evaluate(config, workdir):
    run = recipe.start(NAME, config, workdir)
    x_train, _, shape = images_and_labels(config.data, "train")
    x_test, y_test, _ = images_and_labels(config.data, "test")
    cut = len(x_train) - max(1, round(len(x_train) * config.validation_percent / 100))
    x_fit, x_validation = x_train[:cut], x_train[cut:]
    train = data.batched(tf.data.Dataset.from_tensor_slices(x_fit), config.batch_size, shuffle_seed=config.seed)
    validation = data.batched(tf.data.Dataset.from_tensor_slices(x_validation), 512)

    metrics, codes, rows, titles, exported = {}, {}, [x_test[:10]], ["input"], None
    masked = np.asarray(Corruption("masking", config.corruption_amount, seed=1)(x_test[:10], training=True))
    for kind in KINDS:
        model = build(config, kind, x_train.shape[1])
        history = run.fit(model, train, validation=validation, subdir=kind)  # then holds its kept epoch
        reconstructions = model.predict(x_test, verbose=0)
        metrics[f"{kind}_test_mse"] = np.mean((reconstructions - x_test) ** 2)
        codes[kind] = model.encode(x_test).numpy()
        if kind == "denoising":
            rows += [masked, model.predict(masked, verbose=0)]
            titles += ["masked input", "denoised"]
        else:
            rows.append(reconstructions[:10])
            titles.append(kind)
        if kind == config.export_kind:
            exported, exported_history = model, history
    if config.code_dim == 2:
        plots.scatter_codes(codes, y_test, os.path.join(workdir, "codes.png"), "2-D codes of the test digits",
                            axis_labels=("code unit 1", "code unit 2"), colour_label="digit")
    plots.image_grid(
        np.concatenate(rows).reshape(-1, *shape), os.path.join(workdir, "reconstructions.png"),
        "test digits (top row) and their reconstructions, one row per autoencoder; pixel values 0 (black) to 1",
        columns=10, row_titles=titles,
    )
    metrics["mean_image_mse"] = np.mean((x_train.mean(0) - x_test) ** 2)
    units = {"loss": "loss (nats per pixel, + penalty)", "reconstruction_loss": "binary cross-entropy (nats per pixel)",
             "penalty": "penalty (before the weight λ)"}
    return run.finish(serving(exported, x_train.shape[1]), metrics, exported_history,
                      f"{config.export_kind} autoencoder: training", plots_units=units)


def main(argv=None):
    return recipe.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
