"""Style transfer: the Gram matrix against NumPy, the loss falls over the steps, and a
wrong layer or image is named."""

import keras
import numpy as np
import pytest

from deepkit import vision
from deepkit.vision.style import style_layer_loss


def feature_model():
    keras.utils.set_random_seed(4)
    return keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(8, 3, activation="relu", name="a"),
                             keras.layers.AveragePooling2D(2), keras.layers.Conv2D(8, 3, activation="relu", name="b")],
                            name="features")


def test_gram_matrix_matches_numpy():
    features = np.random.default_rng(0).normal(size=(2, 3, 5, 4)).astype("float32")
    flat = features.reshape(2, 15, 4)
    expected = np.einsum("npc,npd->ncd", flat, flat) / 15
    np.testing.assert_allclose(vision.gram_matrix(features), expected, rtol=1e-5)


def test_style_layer_loss_is_gatys_squared_gram_difference():
    features = np.random.default_rng(1).normal(size=(1, 4, 4, 3)).astype("float32")
    target = np.zeros((1, 3, 3), "float32")
    gram = np.asarray(vision.gram_matrix(features))
    assert float(style_layer_loss(features, target)) == pytest.approx((gram**2).sum() / (4 * 9), rel=1e-5)


def test_style_transfer_loss_decreases_and_keeps_the_content_size():
    rng = np.random.default_rng(2)
    content, style = rng.uniform(size=(16, 16, 3)), rng.uniform(size=(20, 20, 3))
    result = vision.style_transfer(content, style, feature_model(), ["b"], ["a", "b"], style_weight=100.0,
                                   total_variation_weight=0.1, steps=15, learning_rate=0.02)
    assert set(result.losses) == {"content", "style", "total_variation", "total"}
    assert all(len(values) == 15 for values in result.losses.values())
    assert result.losses["total"][-1] < 0.5 * result.losses["total"][0]
    assert result.image.shape == (16, 16, 3) and 0 <= result.image.min() and result.image.max() <= 1


def test_style_transfer_names_what_it_expects():
    model, image = feature_model(), np.full((16, 16, 3), 0.5, "float32")
    with pytest.raises(ValueError, match="no layer 'block1_conv1'.*a, .*b"):
        vision.style_transfer(image, image, model, ["b"], ["block1_conv1"])
    with pytest.raises(ValueError, match="3-channel"):
        vision.style_transfer(image[..., :1], image, model, ["b"], ["a"])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vision.style_transfer(image * 255, image, model, ["b"], ["a"])


@pytest.mark.parametrize("name, grey, channels", [("astronaut", False, 3), ("brick", False, 3), ("chelsea", True, 1)])
def test_skimage_images_are_resized_to_the_shorter_side_in_the_unit_interval(name, grey, channels):
    from deepkit.vision.images import skimage_image

    image = skimage_image(name, 30, grey=grey)
    assert min(image.shape[:2]) == 30 and image.shape[2] == channels and 0 <= image.min() and image.max() <= 1
    with pytest.raises(ValueError, match="astronaut, chelsea, coffee, brick"):
        skimage_image("lena", 30)


def test_style_transfer_refuses_a_model_without_a_convolutional_layer_and_flat_layers():
    image = np.full((8, 8, 3), 0.5, "float32")
    dense = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(name="flat"), keras.layers.Dense(2, name="d")],
                             name="mlp")
    with pytest.raises(ValueError, match="no convolutional layer"):
        vision.style_transfer(image, image, dense, ["d"], ["d"])
    mixed = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 3, name="conv"),
                              keras.layers.GlobalAveragePooling2D(name="gap")], name="mixed")
    with pytest.raises(ValueError, match="'gap' .* no 4-D output; layers with one: conv"):
        vision.style_transfer(image, image, mixed, ["conv"], ["gap"])
