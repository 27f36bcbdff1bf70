"""Neural style transfer: an image with one photograph's content and another's style.

Gatys et al. (2016) describe content by a network's feature maps and style by their Gram
matrices (which features fire together, wherever they are); the image is optimised to
match the content's maps in some layers and the style's Gram matrices in others, with a
total-variation penalty against pixel noise. The whole optimisation (Adam on the pixels)
runs as one compiled ``tf.function`` loop.
"""

import typing

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from deepkit.validation import check_int, check_non_negative, check_positive
from deepkit.vision import _checks


class StyleResult(typing.NamedTuple):
    """What :func:`style_transfer` returns."""

    image: np.ndarray  # (H, W, C) in [0, 1], the content image's size
    losses: dict  # "content", "style", "total_variation" (each times its weight) and "total": one value per step


def gram_matrix(features):
    """Gram matrices ``G[n, c, d] = sum_ij F[n, i, j, c] F[n, i, j, d] / (h w)`` of (N, h, w, C) maps."""
    features = ops.convert_to_tensor(features)
    positions = ops.sum(ops.ones_like(features[:1, :, :, :1]))  # h * w, also when they are unknown until called
    return ops.einsum("nijc,nijd->ncd", features, features) / positions


def style_layer_loss(features, target_gram):
    """Gatys et al.'s ``E_l = sum (G - A)^2 / (4 C^2)`` (with G normalised by the positions)."""
    channels = ops.cast(ops.shape(features)[-1], features.dtype)
    return ops.sum(ops.square(gram_matrix(features) - target_gram)) / (4.0 * channels**2)


def content_layer_loss(features, target):
    """Half the mean squared difference of the maps."""
    return 0.5 * ops.mean(ops.square(features - target))


def total_variation_loss(images):
    """Mean squared difference of vertically and of horizontally neighbouring pixels."""
    return ops.mean(ops.square(images[:, 1:] - images[:, :-1])) + ops.mean(ops.square(images[:, :, 1:] - images[:, :, :-1]))


def style_transfer(content, style, feature_model, content_layers, style_layers, content_weight=1.0, style_weight=1.0,
                   total_variation_weight=1.0, steps=200, learning_rate=0.02, preprocess=None, jit_compile=False):
    """Gatys et al.'s style transfer, starting from the content image.

    Minimises ``content_weight * mean_l content_layer_loss + style_weight * mean_l
    style_layer_loss + total_variation_weight * total_variation_loss`` over the pixels with
    Adam, clipping them to [0, 1] after every step.

    Args:
        content: (H, W, C) in [0, 1]; the result has its size.
        style: (H', W', C) in [0, 1], any size.
        feature_model: A built Keras model reading C-channel images.
        content_layers, style_layers: Names of layers of ``feature_model`` with 4-D outputs.
        content_weight, style_weight, total_variation_weight: The weights of the terms (>= 0).
        steps: Adam steps, default 200.
        learning_rate: Adam's step size in pixel units, default 0.02.
        preprocess: Optional function from [0, 1] pixels to what the model reads (e.g.
            VGG19's ``preprocess_input(255 * x)``); default none.
        jit_compile: Compile the loop with XLA, default False.

    Returns:
        A :class:`StyleResult`: the image and the weighted loss terms of every step.

    Raises:
        ValueError: on images of another rank, channel count or outside [0, 1], an unknown
            layer (the message lists the usable ones), no layers, or a bad number.
    """
    owner = "style_transfer"
    channels = feature_model.inputs[0].shape[-1]
    content = _checks.as_images(owner, content, rank=3, value_range=(0.0, 1.0), channels=channels)
    style = _checks.as_images(owner, style, rank=3, value_range=(0.0, 1.0), channels=channels)
    usable = _checks.spatial_layers(feature_model)
    content_layers, style_layers = list(content_layers), list(style_layers)
    if not content_layers or not style_layers:
        raise ValueError(f"{owner}: name at least one content layer and one style layer; layers of "
                         f"'{feature_model.name}' with 4-D outputs: {', '.join(usable)}")
    for name in content_layers + style_layers:
        _checks.spatial_layer(owner, feature_model, name)
    weights = {
        "content": check_non_negative(owner, "content_weight", content_weight),
        "style": check_non_negative(owner, "style_weight", style_weight),
        "total_variation": check_non_negative(owner, "total_variation_weight", total_variation_weight),
    }
    steps = check_int(owner, "steps", steps)
    learning_rate = check_positive(owner, "learning_rate", learning_rate)
    preprocess = preprocess or (lambda x: x)
    names = content_layers + style_layers
    extractor = keras.Model(_checks.model_input(feature_model), [feature_model.get_layer(n).output for n in names])

    def features(x):
        maps = extractor(preprocess(x), training=False)
        maps = maps if isinstance(maps, (list, tuple)) else [maps]
        return maps[: len(content_layers)], maps[len(content_layers) :]

    content_targets, _ = features(tf.constant(content[None]))
    _, style_maps = features(tf.constant(style[None]))
    gram_targets = [gram_matrix(m) for m in style_maps]

    def terms(x):
        content_maps, style_maps = features(x)
        return {
            "content": weights["content"] * sum(map(content_layer_loss, content_maps, content_targets)) / len(content_maps),
            "style": weights["style"] * sum(map(style_layer_loss, style_maps, gram_targets)) / len(style_maps),
            "total_variation": weights["total_variation"] * total_variation_loss(x),
        }

    @tf.function(jit_compile=jit_compile)
    def optimise(x):
        beta_1, beta_2, epsilon = 0.9, 0.999, 1e-7
        m, v = tf.zeros_like(x), tf.zeros_like(x)
        content_history, style_history, tv_history, total_history = (
            tf.TensorArray(tf.float32, size=steps) for _ in range(4))
        for step in tf.range(steps):
            with tf.GradientTape() as tape:
                tape.watch(x)
                parts = terms(x)
                total = parts["content"] + parts["style"] + parts["total_variation"]
            gradient = tape.gradient(total, x)
            m = beta_1 * m + (1 - beta_1) * gradient
            v = beta_2 * v + (1 - beta_2) * gradient**2
            t = tf.cast(step + 1, tf.float32)
            update = (m / (1 - beta_1**t)) / (tf.sqrt(v / (1 - beta_2**t)) + epsilon)
            x = tf.clip_by_value(x - learning_rate * update, 0.0, 1.0)
            content_history = content_history.write(step, parts["content"])
            style_history = style_history.write(step, parts["style"])
            tv_history = tv_history.write(step, parts["total_variation"])
            total_history = total_history.write(step, total)
        return x, {"content": content_history.stack(), "style": style_history.stack(),
                   "total_variation": tv_history.stack(), "total": total_history.stack()}

    image, history = optimise(tf.constant(content[None]))
    return StyleResult(ops.convert_to_numpy(image[0]), {key: ops.convert_to_numpy(v) for key, v in history.items()})
