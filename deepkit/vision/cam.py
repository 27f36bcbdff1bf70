"""Where a convolutional classifier looks: class activation maps and Grad-CAM.

CAM (Zhou et al. 2016) reads the heatmap off a classifier that ends in global average
pooling and one dense layer: the dense weights of a class, summed over the last feature
maps. Grad-CAM (Selvaraju et al. 2017) needs no such head: it weights the maps of any
convolutional layer by the spatially averaged gradient of the class score, so for a GAP
classifier it gives the CAM again. Both return heatmaps at the input's resolution in [0, 1].
"""

import keras
import matplotlib
import numpy as np
import tensorflow as tf
from keras import ops

from deepkit.validation import check_float
from deepkit.vision import _checks

# Layers that may sit between global average pooling and the classifying dense layer
# without changing the CAM (they are the identity at inference, or follow the dense layer).
_PASS_THROUGH = (keras.layers.Dropout, keras.layers.Flatten, keras.layers.Reshape)


def weighted_feature_sum(features, weights):
    """The maps ``sum_k weights[n, k] * features[n, :, :, k]``: CAM's and Grad-CAM's core.

    Args:
        features: (N, h, w, K) feature maps.
        weights: (N, K), one weight per map and image (the dense weights of the class for
            CAM, the averaged gradients for Grad-CAM).

    Returns:
        (N, h, w) maps, not normalised.
    """
    return ops.einsum("nhwk,nk->nhw", ops.convert_to_tensor(features), ops.convert_to_tensor(weights))


def normalize_heatmaps(maps, size=None):
    """``maps`` (N, h, w) with negative evidence removed (ReLU) and each map divided by its
    maximum (an all-zero map stays zero), resized bilinearly to ``size`` = (H, W) if given."""
    maps = ops.relu(ops.convert_to_tensor(maps, "float32"))
    peak = ops.max(maps, axis=(1, 2), keepdims=True)
    maps = ops.where(peak > 0, maps / ops.maximum(peak, 1e-12), 0.0)
    if size is not None:
        maps = ops.image.resize(maps[..., None], tuple(int(s) for s in size), interpolation="bilinear")[..., 0]
    return ops.clip(maps, 0.0, 1.0)


def gap_head(model, owner="class_activation_map"):
    """The ``(GlobalAveragePooling2D, Dense)`` pair that ends a CAM classifier; ValueError
    saying what is expected (and that Grad-CAM works without it) if ``model`` has none."""
    layers = model.layers
    for index, layer in enumerate(layers):
        if isinstance(layer, keras.layers.GlobalAveragePooling2D) and not layer.keepdims:
            following = [later for later in layers[index + 1 :] if not isinstance(later, _PASS_THROUGH)]
            if following and isinstance(following[0], keras.layers.Dense) and following[0] is layers[-1]:
                return layer, following[0]
    raise ValueError(
        f"{owner}: model '{model.name}' does not end in GlobalAveragePooling2D followed by its output Dense "
        f"layer (its layers: {', '.join(layer.name for layer in layers)}); CAM needs that head "
        "(Zhou et al. 2016). grad_cam works for any convolutional classifier."
    )


def _num_classes(model):
    return int(model.outputs[0].shape[-1])


def _chosen(owner, model, class_index, predictions):
    indices = _checks.class_indices(owner, class_index, _num_classes(model), len(predictions))
    return np.argmax(predictions, axis=-1).astype("int32") if indices is None else indices


def class_activation_map(model, images, class_index=None):
    """Class activation maps of a global-average-pooling classifier (Zhou et al. 2016).

    For a model ``... -> A (h, w, K) -> GlobalAveragePooling2D -> Dense(C)``, the map of
    class ``c`` is ``M_c = sum_k W[k, c] A_k``; the logit of ``c`` is ``mean(M_c) + b_c``.
    ``M_c`` is then cut at zero, divided by its maximum and resized to the input.

    Args:
        model: A built Keras classifier ending in GlobalAveragePooling2D and its output
            Dense layer (Dropout may sit between them).
        images: (N, H, W, C) images, as the model reads them.
        class_index: None (each image's predicted class, default), an int, or one int per image.

    Returns:
        (N, H, W) float32 heatmaps in [0, 1].

    Raises:
        ValueError: on a model without that head, images of another rank or channel count,
            or a class index out of range.

    Example:
        >>> heatmaps = class_activation_map(model, x_test[:8])          # doctest: +SKIP
    """
    owner = "class_activation_map"
    gap, dense = gap_head(model, owner)
    images = _checks.as_images(owner, images, channels=model.inputs[0].shape[-1])
    features, predictions = keras.Model(_checks.model_input(model), [gap.input, model.outputs[0]])(images, training=False)
    classes = _chosen(owner, model, class_index, ops.convert_to_numpy(predictions))
    weights = ops.transpose(ops.take(dense.kernel, classes, axis=1))  # (N, K)
    return ops.convert_to_numpy(normalize_heatmaps(weighted_feature_sum(features, weights), images.shape[1:3]))


def _score_source(model):
    """(tensor whose entries are the class scores, function turning it into scores): the
    pre-softmax logits when the model ends in a softmax (Selvaraju et al. use them)."""
    last = model.layers[-1]
    softmax = getattr(last, "activation", None) in (keras.activations.softmax, ops.softmax)
    if isinstance(last, keras.layers.Dense) and softmax:
        return last.input, lambda x: ops.matmul(x, last.kernel) + (last.bias if last.use_bias else 0.0)
    if isinstance(last, (keras.layers.Activation, keras.layers.Softmax)) and (softmax or isinstance(last, keras.layers.Softmax)):
        return last.input, lambda x: x
    return model.outputs[0], lambda x: x


def default_cam_layer(model, owner="grad_cam"):
    """The name of the last layer of ``model`` with a 4-D output; ValueError if there is none."""
    names = _checks.spatial_layers(model)
    return names[-1] if names else _checks.spatial_layer(owner, model, None)  # the latter raises


def grad_cam(model, images, class_index=None, layer_name=None):
    """Gradient-weighted class activation maps (Selvaraju et al. 2017).

    With ``A`` the maps of ``layer_name`` and ``y_c`` the score of class ``c`` (the logit
    before a final softmax), the weights are ``alpha_k = mean_ij dy_c / dA_k[i, j]`` and the
    heatmap is ``ReLU(sum_k alpha_k A_k)``, divided by its maximum and resized to the input.
    For a GAP classifier ``alpha_k = W[k, c] / (h w)``: the CAM, up to that normalisation.

    Args:
        model: A built Keras model with at least one layer of 4-D output.
        images: (N, H, W, C) images, as the model reads them.
        class_index: None (each image's predicted class, default), an int, or one int per image.
        layer_name: The convolutional layer to explain; default the last layer with a 4-D output.

    Returns:
        (N, H, W) float32 heatmaps in [0, 1].

    Raises:
        ValueError: on a model without a convolutional layer, an unknown or non-spatial
            ``layer_name`` (the message lists the usable ones), images of another rank or
            channel count, or a class index out of range.
    """
    owner = "grad_cam"
    layer = _checks.spatial_layer(owner, model, default_cam_layer(model, owner) if layer_name is None else layer_name)
    images = _checks.as_images(owner, images, channels=model.inputs[0].shape[-1])
    source, to_scores = _score_source(model)
    gradients_model = keras.Model(_checks.model_input(model), [layer.output, source])
    x = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(x)  # records the path from the maps to the scores even for frozen weights
        features, scores = gradients_model(x, training=False)
        scores = to_scores(scores)
        classes = _chosen(owner, model, class_index, ops.convert_to_numpy(scores))
        chosen = ops.sum(ops.take_along_axis(scores, classes[:, None], axis=1))
    gradients = tape.gradient(chosen, features)
    alphas = ops.mean(gradients, axis=(1, 2))
    return ops.convert_to_numpy(normalize_heatmaps(weighted_feature_sum(features, alphas), images.shape[1:3]))


def overlay(image, heatmap, alpha=0.4, colormap="jet"):
    """``image`` with ``heatmap`` drawn over it in ``colormap``: (H, W, 3) in [0, 1].

    Args:
        image: (H, W), (H, W, 1) or (H, W, 3) in [0, 1].
        heatmap: (H, W) in [0, 1], e.g. one of :func:`grad_cam`'s.
        alpha: Opacity of the heatmap, in [0, 1].
        colormap: A Matplotlib colormap name.
    """
    owner = "overlay"
    alpha = check_float(owner, "alpha", alpha, low=0.0, high=1.0, high_open=False)
    image = np.asarray(image, "float32")
    image = image[..., None] if image.ndim == 2 else image
    image = _checks.as_images(owner, image, rank=3, value_range=(0.0, 1.0))
    if image.shape[-1] not in (1, 3):
        raise ValueError(f"{owner}: expected a grey or RGB image (1 or 3 channels). Received shape {image.shape}")
    heatmap = _checks.as_images(owner, np.asarray(heatmap, "float32")[..., None], rank=3, value_range=(0.0, 1.0))[..., 0]
    if heatmap.shape != image.shape[:2]:
        raise ValueError(f"{owner}: heatmap {heatmap.shape} and image {image.shape[:2]} differ in size; "
                         "class_activation_map and grad_cam return heatmaps at the input's size")
    colours = matplotlib.colormaps[colormap](heatmap)[..., :3]
    rgb = np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
    return ((1 - alpha) * rgb + alpha * colours).astype("float32")
