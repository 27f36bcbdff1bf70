"""NaN (or infinity) in masked padding never reaches the outputs or the weight gradients,
on the fused path and the general one: the layer answers as if the padding held zeros."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepkit.layers import BRNN, PeepholeLSTM, RelevanceGRU

LAYERS = {
    "lstm_diagonal": lambda **kw: PeepholeLSTM(3, **kw),
    "lstm_full": lambda **kw: PeepholeLSTM(3, peephole="full", **kw),
    "gru": lambda **kw: RelevanceGRU(3, **kw),
    "gru_backwards": lambda **kw: RelevanceGRU(3, relevance_gate=False, go_backwards=True, **kw),
}


def padded_batch(fill):
    """Three right-padded sequences of lengths 5, 3 and 1, their padding set to ``fill``."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 5, 2)).astype("float32")
    mask = np.arange(5)[None, :] < np.array([5, 3, 1])[:, None]
    x[~mask] = fill
    return tf.constant(x), tf.constant(mask)


def outputs_and_weight_gradients(layer, x, mask):
    with tf.GradientTape() as tape:
        out = layer(x, mask=mask)
        loss = tf.reduce_sum(out * tf.range(1.0, out.shape[-1] + 1.0))
    return out.numpy(), [g.numpy() for g in tape.gradient(loss, layer.trainable_weights)]


@pytest.mark.parametrize("use_fused", [True, False])
@pytest.mark.parametrize("fill", [np.nan, np.inf])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_non_finite_padding_gives_the_outputs_and_gradients_of_zero_padding(name, fill, use_fused):
    layer = LAYERS[name](return_sequences=True, use_fused=use_fused)
    zeros_x, mask = padded_batch(0.0)
    bad_x, _ = padded_batch(fill)
    expected_out, expected_grads = outputs_and_weight_gradients(layer, zeros_x, mask)
    out, grads = outputs_and_weight_gradients(layer, bad_x, mask)
    assert layer.execution_path() == ("fast" if use_fused else "general (use_fused=False)")
    np.testing.assert_allclose(out, expected_out, rtol=1e-6, atol=1e-7)
    assert len(grads) == len(layer.trainable_weights) >= 3
    for grad, expected in zip(grads, expected_grads, strict=True):
        assert np.all(np.isfinite(grad))
        np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)


def test_brnn_of_a_keras_lstm_keeps_nan_padding_out_of_the_gradients():
    layer = BRNN(keras.layers.LSTM(3, return_sequences=True))
    zeros_x, mask = padded_batch(0.0)
    bad_x, _ = padded_batch(np.nan)
    expected_out, expected_grads = outputs_and_weight_gradients(layer, zeros_x, mask)
    out, grads = outputs_and_weight_gradients(layer, bad_x, mask)
    np.testing.assert_allclose(out, expected_out, rtol=1e-6, atol=1e-7)
    for grad, expected in zip(grads, expected_grads, strict=True):
        np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)
