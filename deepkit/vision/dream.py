"""Deep Dream: an image changed by gradient ascent so that chosen layers fire harder.

Mordvintsev et al. (2015) amplify whatever a network sees: the image climbs the
gradient of the activations of some layers (low layers give strokes and ornaments, high
layers objects), one octave of an image pyramid at a time, with the detail lost by
shrinking put back after each octave. The ascent of each octave runs as one compiled
``tf.function`` loop.
"""

import typing

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from deepkit.validation import check_float, check_int, check_positive
from deepkit.vision import _checks


class DreamResult(typing.NamedTuple):
    """What :func:`deep_dream` returns."""

    image: np.ndarray  # (H, W, C) in [0, 1], the dream at the input's size
    octave_images: list  # the image after each octave, smallest first
    losses: np.ndarray  # (octaves, steps): the objective at each step of each octave


def layer_weights(owner, feature_model, layers):
    """``layers`` (a name, names, or ``{name: weight}``) as ``{name: weight}``, each checked."""
    if isinstance(layers, str):
        layers = {layers: 1.0}
    elif not isinstance(layers, dict):
        layers = {name: 1.0 for name in layers}
    if not layers:
        raise ValueError(f"{owner}: `layers` names no layer; layers of '{feature_model.name}': "
                         f"{', '.join(_checks.spatial_layers(feature_model))}")
    for name, weight in layers.items():
        _checks.get_layer(owner, feature_model, name, _checks.spatial_layers(feature_model))
        check_float(owner, f"layers[{name!r}]", weight)
    return {name: float(weight) for name, weight in layers.items()}


def normalized_gradient(gradient):
    """``gradient / mean(|gradient|)``: steps of the same size whatever the layer's scale."""
    return gradient / (ops.mean(ops.abs(gradient)) + 1e-8)


def octave_sizes(height, width, octaves, octave_scale):
    """The image pyramid's (height, width) sizes, smallest first, the last the input's."""
    return [
        (max(1, round(height / octave_scale**i)), max(1, round(width / octave_scale**i)))
        for i in reversed(range(octaves))
    ]


def _resize(image, size):
    return ops.image.resize(image, size, interpolation="bilinear")


def deep_dream(feature_model, image, layers, octaves=3, octave_scale=1.4, steps=20, step_size=0.01,
               preprocess=None, jit_compile=False):
    """Deep Dream of ``image`` through ``feature_model``.

    The objective is ``sum_l weight_l * mean(a_l ** 2)`` over the activations ``a_l`` of
    the chosen layers. Each octave runs ``steps`` steps ``x <- clip(x + step_size * g /
    mean|g|, 0, 1)``; then the image is enlarged to the next octave's size and the detail
    that shrinking the original had lost is added back.

    Args:
        feature_model: A built Keras model; its layers named in ``layers`` must have 4-D outputs.
        image: (H, W, C) in [0, 1], C the channels the model reads.
        layers: A layer name, a list of names, or ``{name: weight}``.
        octaves: Levels of the image pyramid (1: no pyramid), default 3.
        octave_scale: Ratio of the sizes of successive octaves, > 1, default 1.4.
        steps: Gradient-ascent steps per octave, default 20.
        step_size: Step in pixel units of the normalised gradient, default 0.01.
        preprocess: Optional function from [0, 1] pixels to what the model reads (e.g.
            ``lambda x: x * 2 - 1`` for InceptionV3); default none.
        jit_compile: Compile each octave's loop with XLA, default False (on CPU the compile
            costs more than a few steps save).

    Returns:
        A :class:`DreamResult`: the image, the image after each octave, the losses.

    Raises:
        ValueError: on an image of another rank, channel count or outside [0, 1], an
            unknown layer (the message lists the usable ones) or a bad number.
    """
    owner = "deep_dream"
    weights = layer_weights(owner, feature_model, layers)
    image = _checks.as_images(owner, image, rank=3, value_range=(0.0, 1.0), channels=feature_model.inputs[0].shape[-1])
    octaves = check_int(owner, "octaves", octaves)
    octave_scale = check_float(owner, "octave_scale", octave_scale, low=1.0, low_open=True)
    steps = check_int(owner, "steps", steps)
    step_size = check_positive(owner, "step_size", step_size)
    preprocess = preprocess or (lambda x: x)
    names = list(weights)
    dreamer = keras.Model(_checks.model_input(feature_model), [feature_model.get_layer(n).output for n in names])

    def objective(x):
        activations = dreamer(preprocess(x), training=False)
        activations = activations if isinstance(activations, (list, tuple)) else [activations]
        return sum(weights[n] * ops.mean(ops.square(a)) for n, a in zip(names, activations))

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def ascend(x):
        losses = tf.TensorArray(tf.float32, size=steps)
        for step in tf.range(steps):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = objective(x)
            x = ops.clip(x + step_size * normalized_gradient(tape.gradient(loss, x)), 0.0, 1.0)
            losses = losses.write(step, loss)
        return x, losses.stack()

    original = tf.constant(image[None])
    sizes = octave_sizes(*image.shape[:2], octaves, octave_scale)
    shrunk_original = _resize(original, sizes[0])
    x, octave_images, losses = shrunk_original, [], []
    for size in sizes:
        x = _resize(x, size)
        x, octave_losses = ascend(x)
        lost_detail = _resize(original, size) - _resize(shrunk_original, size)  # re-injected
        x = ops.clip(x + lost_detail, 0.0, 1.0)
        shrunk_original = _resize(original, size)
        octave_images.append(ops.convert_to_numpy(x[0]))
        losses.append(ops.convert_to_numpy(octave_losses))
    return DreamResult(octave_images[-1], octave_images, np.stack(losses))
