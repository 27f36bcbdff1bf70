"""Between a Keras recurrent layer's call and the fused kernels' time-major tensors.

The kernels (:mod:`.lstm_kernel`, :mod:`.gru_kernel`) see time-major inputs in
processing order, a 0/1 mask and the recurrent-dropout mask; these functions
make them from a layer's call arguments, and turn the kernels' states back into
what ``keras.layers.RNN.inner_loop`` returns.
"""

import tensorflow as tf


def time_major_inputs(layer, sequences, training):
    """The inputs time-major ``(T, batch, features)``, in processing order.

    Applies the cell's input-dropout mask (one per sequence, as the cell does)
    and reverses time for ``go_backwards``.
    """
    cell = layer.cell
    x = sequences
    if training and cell.dropout > 0:
        x = x * tf.cast(cell.get_dropout_mask(sequences[:, 0, :]), x.dtype)[:, None, :]
    x = tf.transpose(x, [1, 0, 2])
    return tf.reverse(x, [0]) if layer.go_backwards else x


def time_major_mask(layer, mask, dtype):
    """The mask as ``(T, batch, 1)`` 0/1 values of ``dtype`` in processing order.

    Any non-zero value marks a real step, as in Keras (which casts the mask to
    booleans): a float mask of 0.5 is a real step, not half of one.
    """
    if mask is None:
        return None
    if isinstance(mask, (list, tuple)):
        mask = mask[0]
    mask = tf.transpose(tf.cast(tf.cast(mask, tf.bool), dtype), [1, 0])[:, :, None]
    return tf.reverse(mask, [0]) if layer.go_backwards else mask


def recurrent_dropout_mask(layer, h0, training):
    """The cell's per-sequence recurrent-dropout mask ``(batch, units)``, or ``None``."""
    cell = layer.cell
    if training and cell.recurrent_dropout > 0:
        return tf.cast(cell.get_recurrent_dropout_mask(h0), h0.dtype)
    return None


def layer_outputs(layer, out, *, mask):
    """Keras' ``(last_output, outputs)`` and ``h_T`` from a kernel's output.

    At a masked step Keras outputs the previous output (zeros before the first
    real step) or, with ``zero_output_for_mask``, zeros. The state carried over
    masked steps equals the previous output from the first real step on, so the
    output is the state times "a real step has been seen" (or times the mask).

    Args:
        layer: the recurrent layer (``return_sequences``, ``zero_output_for_mask``).
        out: ``h_t`` after every step, time-major, with ``return_sequences``;
            else only ``h_T``.
        mask: the time-major 0/1 mask of :func:`time_major_mask`, or ``None``.

    Returns:
        ``(last_output, outputs, h_T)``, ``outputs`` batch-major (only the last
        step without ``return_sequences``).
    """
    states, last_state = (out, out[-1]) if layer.return_sequences else (None, out)
    if mask is None:
        last = last_state
        outputs = states
    else:
        keep = mask if layer.zero_output_for_mask else tf.minimum(tf.cumsum(mask, axis=0), 1)
        last = last_state * keep[-1]
        outputs = None if states is None else states * keep
    if layer.return_sequences:
        return last, tf.transpose(outputs, [1, 0, 2]), last_state
    return last, last[:, None, :], last_state
