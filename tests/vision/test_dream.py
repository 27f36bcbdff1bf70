"""Deep Dream: the objective rises over the steps, the pyramid ends at the input's size,
and a wrong layer or image is named."""

import keras
import numpy as np
import pytest

from deepkit import vision


def feature_model():
    keras.utils.set_random_seed(3)
    return keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(6, 3, activation="relu", name="low"),
                             keras.layers.MaxPooling2D(2), keras.layers.Conv2D(8, 3, activation="relu", name="high")],
                            name="features")


def photo(size=24):
    return np.random.default_rng(0).uniform(0.2, 0.8, size=(size, size, 3)).astype("float32")


def test_deep_dream_raises_the_activations_of_the_chosen_layers_at_every_octave():
    result = vision.deep_dream(feature_model(), photo(), {"low": 1.0, "high": 0.5}, octaves=2, steps=6, step_size=0.02)
    assert result.losses.shape == (2, 6)
    assert np.all(result.losses[:, -1] > result.losses[:, 0])
    assert result.image.shape == (24, 24, 3) and 0 <= result.image.min() and result.image.max() <= 1
    assert [image.shape[:2] for image in result.octave_images] == [(17, 17), (24, 24)]


def test_octave_sizes_shrink_by_the_scale_and_end_at_the_input():
    assert vision.octave_sizes(100, 50, 3, 2.0) == [(25, 12), (50, 25), (100, 50)]


def test_deep_dream_lists_the_layers_when_one_does_not_exist():
    with pytest.raises(ValueError, match="no layer 'mixed5'.*low, .*high"):
        vision.deep_dream(feature_model(), photo(), ["mixed5"])


def test_deep_dream_refuses_8_bit_images_and_batches():
    with pytest.raises(ValueError, match=r"\[0, 1\].*255"):
        vision.deep_dream(feature_model(), photo() * 255, "low")
    with pytest.raises(ValueError, match="rank 3"):
        vision.deep_dream(feature_model(), photo()[None], "low")
