"""The products with the weights that both fused kernels take, gate by gate.

Every product with a recurrent kernel is taken one gate at a time: the gates'
small GEMMs are independent, and TensorFlow runs them concurrently on the CPU's
cores, where one ``(batch, ·) x (·, k·units)`` GEMM leaves a core mostly idle.
"""

import tensorflow as tf


def gate_weights(kernel, recurrent_kernel, bias, count):
    """Per gate ``[W_g; U_g; b_g]``, so that a step forms ``W_g x_t + U_g h + b_g``
    as one product, ``[x_t, h, 1] [W_g; U_g; b_g]``.

    Stacking ``W_g`` and ``b_g`` under ``U_g`` saves the separate ``x_t W``
    product and the additions.
    """
    return tuple(tf.split(tf.concat([kernel, recurrent_kernel, bias[None]], axis=0), count, axis=-1))


def per_gate_zeros(kernel, count):
    """Zero accumulators for the ``count`` gate blocks of ``kernel``'s columns."""
    rows, columns = kernel.shape
    return tuple(tf.zeros([rows, columns // count], kernel.dtype) for _ in range(count))


def recurrent_read(h, rdm):
    """The state as the recurrent kernel reads it: ``h ⊙ rdm`` (recurrent dropout) or ``h``."""
    return h if rdm is None else h * rdm


def add_recurrent_gradient(totals, reads, dzs):
    """``dU_g += read_gᵀ dz_g`` for each gate block ``g``, ``read_g`` being what ``U_g`` multiplied."""
    return tuple(total + tf.matmul(read, dz, transpose_a=True) for total, read, dz in zip(totals, reads, dzs))


def states_from_previous(previous, last):
    """``[h_1, ..., h_T]`` from the TensorArray ``[h_0, ..., h_{T-1}]`` and ``h_T``."""
    return tf.concat([previous.stack()[1:], last[None]], axis=0)


def zeros_if_none(gradient, like):
    """``gradient``, or zeros like ``like`` where TensorFlow passed ``None``."""
    return tf.zeros_like(like) if gradient is None else gradient


def bias_or_zeros(bias, kernel, dtype):
    """``bias``, or zeros of the kernel's column count when the layer has no bias."""
    return tf.zeros([kernel.shape[-1]], dtype) if bias is None else bias
