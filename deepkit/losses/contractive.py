"""Contractive autoencoder penalty (Rifai et al. 2011): ‖∂f(x)/∂x‖_F² per sample."""

import keras
import tensorflow as tf
from keras import ops

from deepkit.registry import register


def _single_sigmoid_dense(encoder):
    """The Dense layer of an encoder that is exactly one sigmoid Dense layer, else None."""
    if isinstance(encoder, keras.layers.Dense):
        dense = encoder
    elif isinstance(encoder, keras.Model):
        weighted = [layer for layer in encoder.layers if not isinstance(layer, keras.layers.InputLayer)]
        if len(weighted) != 1 or not isinstance(weighted[0], keras.layers.Dense):
            return None
        dense = weighted[0]
    else:
        return None
    if dense.activation is not keras.activations.sigmoid:
        return None
    return dense


@register
def contractive_penalty(encoder, x):
    """Per-sample squared Frobenius norm of the encoder's Jacobian, ``‖∂f(x)/∂x‖_F²``.

    For an encoder that is a single sigmoid ``Dense`` layer, ``h = σ(xW + b)``, the
    closed form ``Σ_j (h_j(1-h_j))² Σ_i W_ij²`` is used; for any other encoder (deep,
    convolutional) the batch Jacobian. Both read the encoder's live weights, so the
    penalty's gradient reaches them (unlike implementations that freeze a copy of W).

    Args:
        encoder: A callable Keras layer or model mapping ``x`` to the code.
        x: Batch of inputs, shape ``(batch, ...)``.

    Returns:
        Tensor of shape ``(batch,)``.

    Example:

    >>> encoder = keras.layers.Dense(3, activation="sigmoid")
    >>> tuple(contractive_penalty(encoder, np.ones((2, 4), "float32")).shape)
    (2,)

    Reference:
        Rifai et al., "Contractive Auto-Encoders: Explicit Invariance During
        Feature Extraction", ICML 2011.
    """
    x = ops.convert_to_tensor(x)
    if not keras.backend.is_float_dtype(x.dtype):
        raise TypeError(
            f"contractive_penalty: argument `x` must be a floating-point tensor. "
            f"Received: dtype={keras.backend.standardize_dtype(x.dtype)}"
        )
    dense = _single_sigmoid_dense(encoder)
    if dense is not None and len(x.shape) == 2:
        h = encoder(x)
        column_norms = ops.sum(ops.square(ops.cast(dense.kernel, h.dtype)), axis=0)  # Σ_i W_ij²
        return ops.sum(ops.square(h * (1.0 - h)) * column_norms, axis=-1)
    # The Jacobian of any other encoder needs the backend's autodiff.
    with tf.GradientTape() as tape:
        tape.watch(x)
        h = encoder(x)
        h = tf.reshape(h, (tf.shape(h)[0], -1))
    jacobian = tape.batch_jacobian(h, x)
    return tf.reduce_sum(tf.square(tf.reshape(jacobian, (tf.shape(jacobian)[0], -1))), axis=-1)
