"""The cnn_cam recipe's own behaviour: the served heatmap is the library's CAM, the
layer-size table agrees with the formula, and the canvases' boxes hold their digits."""

import numpy as np

from deepkit import vision
from deepkit.recipe import load_recipe

cnn_cam = load_recipe("cnn_cam")


def test_the_serving_model_returns_the_probabilities_and_the_cam_of_the_predicted_class():
    classifier = cnn_cam.build_classifier(10, filters=(3, 4, 5))
    x = np.random.default_rng(0).uniform(size=(3, 20, 20, 1)).astype("float32")
    probabilities, heatmaps = cnn_cam.serving_model(classifier).predict(x, verbose=0)
    np.testing.assert_allclose(probabilities, classifier.predict(x, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(heatmaps, vision.class_activation_map(classifier, x), atol=1e-5)


def test_every_layer_output_size_is_the_formulas_for_28_and_56_pixel_inputs():
    classifier = cnn_cam.build_classifier(10)
    for size, final in ((28, 7), (56, 14)):
        rows = cnn_cam.layer_sizes(classifier, size)
        assert all(row["formula"] == row["keras"] for row in rows) and rows[-1]["keras"] == final


def test_digits_pasted_on_canvases_lie_inside_their_boxes():
    digits = np.zeros((2, 8, 8, 1), "float32")
    digits[:, 2:5, 3:7] = 1.0
    canvases, boxes, patches = cnn_cam.paste_on_canvases(digits, 16, np.random.default_rng(0))
    for canvas, (top, left, bottom, right), patch in zip(canvases, boxes, patches):
        assert canvas[top:bottom, left:right].sum() == canvas.sum() == 12 and (bottom - top, right - left) == (3, 4)
        assert (patch[2] - patch[0], patch[3] - patch[1]) == (8, 8) and (patch[0], patch[1]) == (top - 2, left - 3)
    assert cnn_cam.inside(np.array([[2, 3], [5, 3]]), np.array([[2, 3, 5, 7], [2, 3, 5, 7]])).tolist() == [True, False]
