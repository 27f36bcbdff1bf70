"""The gan recipe measures its fresh samples with the digit judge, and the can recipe
compares a CAN with a GAN of the same generator and says only what its numbers show.
(The smoke runs of gan, vae and can in test_recipes.py check that these measurements
reach metrics.json, within their ranges: METRIC_RANGES there.)"""

import dataclasses
import math

import keras
import numpy as np
import pytest

from deepkit import data, recipe
from deepkit.evaluation import train_digit_judge
from deepkit.recipe import load_recipe


def test_sample_metrics_judge_fresh_samples_and_the_discriminator():
    gan_recipe = load_recipe("gan")
    digits = data.split_arrays("digits", "train")
    images = digits["image"][:200].astype("float32") / 255.0
    judge = train_digit_judge(images[:100], digits["label"][:100].astype("int64"), epochs=1)
    gan = gan_recipe.build(unconditional(gan_recipe), images.shape[1:])
    fake = gan.generate(64, 1).numpy()
    metrics = gan_recipe.sample_metrics(gan, fake, judge, images[100:])
    assert sorted(metrics) == ["class_coverage_min", "confident_fraction", "d_accuracy_on_held_out",
                               "frechet_distance", "mean_image_distance"]
    assert 0.0 <= metrics["confident_fraction"] <= 1.0 and 0.0 <= metrics["class_coverage_min"] <= 0.1
    assert metrics["frechet_distance"] > 0.0 and 0.0 <= metrics["d_accuracy_on_held_out"] <= 1.0
    # The judge's numbers are those of its own measure; real digits are closer to real digits.
    assert metrics["frechet_distance"] == pytest.approx(judge.measure(fake, images[100:])["frechet_distance"])
    assert judge.measure(images[:100], images[100:])["frechet_distance"] < metrics["frechet_distance"]
    expected = np.sqrt(np.mean((fake.mean(0) - images[100:].mean(0)) ** 2))
    assert metrics["mean_image_distance"] == pytest.approx(expected, rel=1e-5)


def unconditional(gan_recipe):
    return gan_recipe.Config(**{**vars(gan_recipe.smoke()), "conditional": False})


def test_conditional_sample_metrics_add_the_share_read_as_the_digit_asked_for():
    gan_recipe = load_recipe("gan")
    digits = data.split_arrays("digits", "train")
    images, labels = digits["image"][:200].astype("float32") / 255.0, digits["label"][:200].astype("int32")
    judge = train_digit_judge(images[:100], labels[:100].astype("int64"), epochs=1)
    gan = gan_recipe.build(gan_recipe.smoke(), images.shape[1:], num_classes=10)
    fake, fake_labels = gan.generate(60, 1).numpy(), gan.balanced_labels(60).numpy()
    metrics = gan_recipe.sample_metrics(gan, fake, judge, images[100:], fake_labels, labels[100:])
    _, probabilities = judge.features_and_probabilities(fake)
    assert metrics["label_agreement"] == pytest.approx(np.mean(probabilities.argmax(1) == np.arange(60) % 10))
    # The discriminator judged each image with its own label: a wrong label changes its accuracy's inputs.
    expected = gan_recipe.real_fake_accuracy(gan.discriminator, images[100:], fake, labels[100:], fake_labels)
    assert metrics["d_accuracy_on_held_out"] == expected


def test_gan_recipe_is_conditional_by_default_and_unconditional_as_before_on_request():
    from deepkit.models import GAN, ConditionalGAN

    gan_recipe = load_recipe("gan")
    conditional = gan_recipe.build(gan_recipe.smoke(), (8, 8, 1), num_classes=10)
    assert isinstance(conditional, ConditionalGAN) and conditional.num_classes == 10
    assert conditional.discriminator.get_layer("label_projection").get_weights()[0].shape == (10, 2 * 4 * 2 * 2)
    plain = gan_recipe.build(unconditional(gan_recipe), (8, 8, 1))
    assert type(plain) is GAN and len(plain.generator.inputs) == 1 == len(plain.discriminator.inputs)
    # The unconditional networks are the ones the recipe built before the conditional option, weight for weight.
    config = unconditional(gan_recipe)
    keras.utils.set_random_seed(0)
    before = [gan_recipe.build_generator(config, (8, 8, 1)), gan_recipe.build_discriminator(config, (8, 8, 1))]
    keras.utils.set_random_seed(0)
    plain = gan_recipe.build(config, (8, 8, 1))
    for network, rebuilt in zip(before, (plain.generator, plain.discriminator)):
        assert [w.shape for w in network.get_weights()] == [w.shape for w in rebuilt.get_weights()]
        for a, b in zip(network.get_weights(), rebuilt.get_weights()):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"num_styles \(a CAN\) or num_classes \(a conditional GAN\), not both"):
        gan_recipe.build_discriminator(config, (8, 8, 1), num_styles=3, num_classes=10)


def test_conditional_sample_grid_draws_a_row_per_digit_and_keeps_one_of_each(tmp_path):
    gan_recipe = load_recipe("gan")
    gan = gan_recipe.build(gan_recipe.smoke(), (8, 8, 1), num_classes=10)
    latents = np.random.default_rng(0).normal(size=(8, gan.latent_dim)).astype("float32")
    grid = gan_recipe.SampleGrid(latents, str(tmp_path), "conditional GAN", num_classes=10)
    grid.set_model(gan)
    grid.on_epoch_end(0)
    (row,) = grid.rows().values()
    expected = gan.predict([latents[np.arange(10) % 8], np.arange(10, dtype="int32")], verbose=0)
    np.testing.assert_allclose(row, expected, rtol=1e-5, atol=1e-6)
    assert (tmp_path / "samples_epoch_001.png").stat().st_size > 0


def test_can_and_gan_start_from_the_same_generator():
    can_recipe = load_recipe("can")
    config = can_recipe.smoke()
    can, gan = can_recipe.build(config, (8, 8, 1), num_styles=10)
    assert [w.shape for w in can.generator.get_weights()] == [w.shape for w in gan.generator.get_weights()]
    for a, b in zip(can.generator.get_weights(), gan.generator.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert [tuple(o.shape) for o in can.discriminator.outputs] == [(None, 1), (None, 10)]
    assert tuple(gan.discriminator.outputs[0].shape) == (None, 1)


@pytest.mark.parametrize("can, gan, verdict", [(1.2, 0.4, "are closer to uniform"), (0.3, 0.5, "are not closer")])
def test_the_printed_claim_follows_from_the_entropies(can, gan, verdict):
    metrics = {"style_entropy_can": can, "style_entropy_gan": gan, "max_entropy": math.log(10),
               "style_entropy_real": 0.05, "d_accuracy_can": 0.9, "d_accuracy_gan": 0.6}
    assert verdict in load_recipe("can").claim(metrics)


def test_mosaic_tiles_images_with_a_grey_border():
    images = np.ones((5, 4, 4, 1))
    tiled = load_recipe("can").mosaic(images, columns=3)
    assert tiled.shape == (2 * 5, 3 * 5)
    assert tiled[:4, :4].min() == 1.0 and tiled[4, 0] == 0.5 and tiled[5:, 10:].max() == 0.5  # the empty slot


def test_can_recipe_passes_generator_ema_to_both_models():
    from deepkit.recipes import can

    averaged = can.build(can.smoke().__class__(data="digits", latent_dim=4, filters=2, generator_ema=0.9), (8, 8, 1), 10)
    plain = can.build(can.smoke(), (8, 8, 1), 10)
    assert all(model.ema_generator is not None and model.generator_ema == 0.9 for model in averaged)
    assert all(model.ema_generator is None for model in plain)


def test_gan_recipe_trains_the_hinge_loss_by_default_and_the_logistic_one_with_label_smoothing():
    gan_recipe = load_recipe("gan")
    hinge = gan_recipe.build(gan_recipe.smoke(), (8, 8, 1))
    assert hinge.adversarial_loss == "hinge" and hinge.label_smoothing == 0.0
    config = gan_recipe.Config(**{**vars(gan_recipe.smoke()), "adversarial_loss": "logistic"})
    logistic = gan_recipe.build(config, (8, 8, 1))
    assert logistic.adversarial_loss == "logistic" and logistic.label_smoothing == config.label_smoothing == 0.1
    with pytest.raises(ValueError, match=r"adversarial_loss must be one of \('logistic', 'hinge'\), received 'wgan'"):
        gan_recipe.Config(adversarial_loss="wgan")


def test_can_recipe_plays_the_logistic_game_in_both_models_and_refuses_another():
    from deepkit.recipes import can

    assert all(model.adversarial_loss == "logistic" for model in can.build(can.smoke(), (8, 8, 1), 10))
    # can's config is its own: the gan recipe's options are unknown keys there, not silently ignored.
    for key, value in (("adversarial_loss", "hinge"), ("upsampling", "nearest"), ("conditional", "true")):
        with pytest.raises(ValueError, match=rf"unknown config key '{key}'; the keys of this recipe are: .*ambiguity_weight"):
            recipe.override(can.Config(), {key: value})
    gan_fields = {field.name for field in dataclasses.fields(load_recipe("gan").Config)}
    assert {"adversarial_loss", "upsampling", "conditional"} <= gan_fields
    assert can.Config().epochs == 20 and can.Config().batch_size == 32  # its own defaults, measured for it


def test_gan_recipe_upsamples_with_transposed_convolutions_or_nearest_neighbours_and_can_keeps_transposed():
    from deepkit.recipes import can

    gan_recipe = load_recipe("gan")
    config = gan_recipe.Config(**{**vars(unconditional(gan_recipe)), "upsampling": "nearest"})
    nearest = gan_recipe.build(config, (8, 8, 1)).generator
    transposed = gan_recipe.build(unconditional(gan_recipe), (8, 8, 1)).generator
    kinds = lambda model: [type(layer).__name__ for layer in model.layers]  # noqa: E731
    assert kinds(nearest).count("UpSampling2D") == 2 and "Conv2DTranspose" not in kinds(nearest)
    assert kinds(transposed).count("Conv2DTranspose") == 2 and "UpSampling2D" not in kinds(transposed)
    z = np.random.default_rng(0).normal(size=(3, config.latent_dim)).astype("float32")
    images = nearest(z).numpy()
    assert images.shape == (3, 8, 8, 1) and images.min() >= 0.0 and images.max() <= 1.0  # sigmoid pixels
    can_models = can.build(can.smoke(), (8, 8, 1), 10)
    assert all("UpSampling2D" not in kinds(model.generator) for model in can_models)
    with pytest.raises(ValueError, match=r"upsampling must be one of \('transposed', 'nearest'\), received 'bilinear'"):
        gan_recipe.Config(upsampling="bilinear")


@pytest.mark.parametrize("name", ["gan", "can"])
@pytest.mark.parametrize("generator_ema", [-0.1, 1.0])
def test_both_gan_recipes_refuse_a_generator_average_outside_0_to_1(name, generator_ema):
    config_class = load_recipe(name).Config
    assert config_class(generator_ema=0.5).generator_ema == 0.5
    with pytest.raises(ValueError, match=rf"generator_ema must lie in \[0, 1\) \(0: no average\), received {generator_ema}"):
        config_class(generator_ema=generator_ema)
