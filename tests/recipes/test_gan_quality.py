"""The generative recipes measure their samples with the digit judge, and the can recipe
compares a CAN with a GAN of the same generator and says only what its numbers show."""

import dataclasses
import math

import numpy as np
import pytest

from deepkit.recipe import load_recipe

QUALITY = {"confident_fraction", "class_coverage_min", "frechet_distance", "judge_test_accuracy"}
CAN_KEYS = {"style_entropy_can", "style_entropy_gan", "max_entropy", "d_accuracy_can", "d_accuracy_gan"}


@pytest.mark.parametrize("name, keys", [("gan", QUALITY), ("vae", QUALITY), ("can", CAN_KEYS)])
def test_smoke_run_reports_the_sample_measurements(name, keys, tmp_path):
    module = load_recipe(name)
    config = dataclasses.replace(module.smoke(), export_dir=str(tmp_path / "saved_models"))
    metrics = module.train_and_evaluate(config, str(tmp_path / "run"))
    assert keys <= set(metrics), sorted(metrics)
    if name == "can":
        assert metrics["max_entropy"] == pytest.approx(math.log(10))
        for key in ("style_entropy_can", "style_entropy_gan", "style_entropy_real"):
            assert 0.0 <= metrics[key] <= metrics["max_entropy"] + 1e-6
    else:
        assert 0.0 <= metrics["class_coverage_min"] <= 0.1 and 0.0 <= metrics["confident_fraction"] <= 1.0
        assert metrics["frechet_distance"] >= 0.0


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
