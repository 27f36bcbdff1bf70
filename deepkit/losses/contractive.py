"""Contractive autoencoder penalty (Rifai et al. 2011): ‖∂f(x)/∂x‖_F² per sample."""

import keras
import tensorflow as tf
from keras import ops

from deepkit.registry import register
from deepkit.validation import check_choice


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


JACOBIANS = ("batch", "per_unit")


def _squared_norm_per_sample(tensor):
    return tf.reduce_sum(tf.square(tf.reshape(tensor, (tf.shape(tensor)[0], -1))), axis=-1)


@register
def contractive_penalty(encoder, x, jacobian="batch"):
    """Per-sample squared Frobenius norm of the encoder's Jacobian, ``‖∂f(x)/∂x‖_F²``.

    For an encoder that is a single sigmoid ``Dense`` layer, ``h = σ(xW + b)``, the
    closed form ``Σ_j (h_j(1-h_j))² Σ_i W_ij²`` is used; for any other encoder (deep,
    convolutional) the Jacobian itself. Both read the encoder's live weights, so the
    penalty's gradient reaches them (unlike implementations that freeze a copy of W).
    Like ``tf.GradientTape.batch_jacobian``, the Jacobian assumes each sample's code
    depends on that sample only.

    Args:
        encoder: A callable Keras layer or model mapping ``x`` to the code.
        x: Batch of inputs, shape ``(batch, ...)``.
        jacobian: How a non-closed-form Jacobian is computed. ``"batch"`` (default):
            ``tf.GradientTape.batch_jacobian``, vectorised, the fastest in eager and
            ``tf.function`` code. ``"per_unit"``: one backward pass per code unit
            (the code size must be static), far faster under XLA.
            :class:`~deepkit.models.Autoencoder` picks it when compiled with
            ``jit_compile=True``.

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
    check_choice("contractive_penalty", "jacobian", jacobian, JACOBIANS)
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
    with tf.GradientTape(persistent=jacobian == "per_unit") as tape:
        tape.watch(x)
        h = encoder(x)
        h = tf.reshape(h, (tf.shape(h)[0], -1))
        units = h.shape[-1]
        if jacobian == "per_unit" and units is not None:
            # Row j of every sample's Jacobian: ∂(Σ_n h_nj)/∂x, as samples are independent.
            columns = [h[:, j] for j in range(units)]
    if jacobian == "per_unit" and units is not None:
        zero = tf.UnconnectedGradients.ZERO
        return tf.add_n([_squared_norm_per_sample(tape.gradient(c, x, unconnected_gradients=zero)) for c in columns])
    return _squared_norm_per_sample(tape.batch_jacobian(h, x))
