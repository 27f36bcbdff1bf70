"""CAM and Grad-CAM against NumPy: the CAM is the class-weighted sum of the last feature
maps, Grad-CAM gives the CAM again for a GAP classifier, and wrong arguments are named."""

import keras
import numpy as np
import pytest

from deepkit import vision


def gap_classifier(classes=4, softmax=True):
    keras.utils.set_random_seed(1)
    image = keras.Input((12, 12, 1), name="image")
    x = keras.layers.Conv2D(5, 3, padding="same", activation="relu", name="conv1")(image)
    x = keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    output = keras.layers.Dense(classes, activation="softmax" if softmax else None, name="classes")(x)
    return keras.Model(image, output, name="gap_classifier")


def images(n=3, size=12):
    return np.random.default_rng(0).uniform(size=(n, size, size, 1)).astype("float32")


def numpy_cam(model, x, classes):
    """CAM by hand: the last maps times the Dense weights of the class, ReLU, / max, resized."""
    features = np.asarray(keras.Model(model.inputs[0], model.get_layer("last_conv").output)(x))
    kernel = model.get_layer("classes").kernel.numpy()
    maps = np.stack([features[n] @ kernel[:, c] for n, c in enumerate(classes)])  # (N, 6, 6)
    maps = np.maximum(maps, 0)
    maps = maps / maps.max(axis=(1, 2), keepdims=True)
    return np.asarray(keras.ops.image.resize(maps[..., None], (12, 12), interpolation="bilinear"))[..., 0]


def test_cam_equals_the_class_weighted_sum_of_the_last_feature_maps_in_numpy():
    model, x = gap_classifier(), images()
    np.testing.assert_allclose(vision.class_activation_map(model, x, class_index=[0, 2, 3]),
                               numpy_cam(model, x, [0, 2, 3]), rtol=1e-5, atol=1e-6)


def test_cam_of_the_predicted_class_by_default():
    model, x = gap_classifier(), images()
    predicted = model.predict(x, verbose=0).argmax(1)
    np.testing.assert_allclose(vision.class_activation_map(model, x), numpy_cam(model, x, predicted), atol=1e-6)


def test_weighted_feature_sum_matches_numpy():
    rng = np.random.default_rng(2)
    features, weights = rng.normal(size=(2, 3, 4, 5)), rng.normal(size=(2, 5))
    np.testing.assert_allclose(vision.weighted_feature_sum(features, weights),
                               np.einsum("nhwk,nk->nhw", features, weights), rtol=1e-6)


@pytest.mark.parametrize("softmax", [True, False])
def test_grad_cam_equals_cam_for_a_gap_classifier_up_to_normalisation(softmax):
    model, x = gap_classifier(softmax=softmax), images()
    for class_index in (None, 1):
        np.testing.assert_allclose(vision.grad_cam(model, x, class_index),
                                   vision.class_activation_map(model, x, class_index), atol=1e-5)


def test_heatmaps_are_at_input_resolution_in_the_unit_interval():
    model = gap_classifier()
    heatmaps = vision.grad_cam(model, images(), layer_name="conv1")
    assert heatmaps.shape == (3, 12, 12) and heatmaps.min() >= 0 and heatmaps.max() <= 1


def test_grad_cam_names_the_convolutional_layers_when_the_layer_does_not_exist():
    with pytest.raises(ValueError, match="no layer 'conv9'.*conv1, last_conv"):
        vision.grad_cam(gap_classifier(), images(), layer_name="conv9")


def test_grad_cam_refuses_a_model_without_a_convolutional_layer():
    dense = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Flatten(), keras.layers.Dense(3)], name="mlp")
    with pytest.raises(ValueError, match="no convolutional layer"):
        vision.grad_cam(dense, images())


def test_cam_refuses_a_model_without_a_global_average_pooling_head_and_points_to_grad_cam():
    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(3, 3), keras.layers.Flatten(),
                              keras.layers.Dense(3)], name="flat")
    with pytest.raises(ValueError, match="GlobalAveragePooling2D.*grad_cam"):
        vision.class_activation_map(model, images())


@pytest.mark.parametrize("function", [vision.class_activation_map, vision.grad_cam])
def test_wrong_rank_and_out_of_range_class_are_named(function):
    model = gap_classifier()
    with pytest.raises(ValueError, match="rank 4"):
        function(model, images()[0])
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        function(model, images(), class_index=4)


def test_overlay_blends_the_heatmap_over_a_grey_image_and_checks_the_range():
    image = np.full((5, 6), 0.5, "float32")
    heatmap = np.zeros((5, 6), "float32")
    blended = vision.overlay(image, heatmap, alpha=0.0)
    assert blended.shape == (5, 6, 3) and np.allclose(blended, 0.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        vision.overlay(image * 255, heatmap)
    with pytest.raises(ValueError, match="differ in size"):
        vision.overlay(image, np.zeros((4, 4)))
