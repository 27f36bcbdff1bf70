"""The deepdream and style_transfer recipes' own behaviour: the offline networks have the
layers the recipes name, the served style descriptor is the Gram matrices the transfer
matched, and unknown networks or images are refused with the choices."""

import keras
import numpy as np
import pytest

from deepkit import vision
from deepkit.recipe import load_recipe

deepdream = load_recipe("deepdream")
style_transfer = load_recipe("style_transfer")


def test_the_offline_random_network_has_the_content_and_style_layers_it_is_used_with():
    network = style_transfer.random_convnet(seed=0)
    content, style = style_transfer.NETWORKS["random_convnet"]
    assert {layer.name for layer in network.layers} >= set(content + style)


def test_the_style_descriptor_serves_the_gram_matrices_of_the_style_layers():
    network = style_transfer.random_convnet(seed=0, channels=(4, 6, 8))
    layers = ["block1_conv1", "block2_conv1"]
    image = np.random.default_rng(0).uniform(size=(1, 12, 12, 3)).astype("float32")
    served = style_transfer.style_descriptor(network, layers, None).predict(image, verbose=0)
    maps = [network.get_layer(name).output for name in layers]
    expected = [np.asarray(vision.gram_matrix(m)).reshape(1, -1) for m in keras.Model(network.inputs[0], maps)(image)]
    np.testing.assert_allclose(served, np.concatenate(expected, axis=1), rtol=1e-5)


def test_unknown_networks_and_images_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="digit_cnn, inception_v3"):
        deepdream.Config(network="resnet")
    with pytest.raises(ValueError, match="brick, grass, gravel"):
        style_transfer.Config(style="starry_night")
