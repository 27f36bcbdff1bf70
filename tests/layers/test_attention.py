"""Bahdanau and Luong attention against NumPy written from the papers, with padded sources."""

import keras
import numpy as np
import pytest

from deepkit.layers import BahdanauAttention, LuongAttention

B, S, DQ, DV, UNITS = 3, 6, 4, 5, 7
LENGTHS = [6, 3, 1]


def numpy_softmax(scores, mask):
    scores = np.where(mask, scores, -np.inf)
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def inputs(rng):
    query = rng.normal(size=(B, DQ))
    values = rng.normal(size=(B, S, DV))
    mask = np.arange(S)[None, :] < np.array(LENGTHS)[:, None]
    return query, values, mask


def test_bahdanau_weights_and_context_equal_numpy_reference_with_padding_masked():
    rng = np.random.default_rng(0)
    query, values, mask = inputs(rng)
    W_q, W_k, v = rng.normal(size=(DQ, UNITS)), rng.normal(size=(DV, UNITS)), rng.normal(size=(UNITS,))
    layer = BahdanauAttention(UNITS)
    layer.build((None, DQ), (None, S, DV))
    layer.set_weights([W_q, W_k, v])
    # e_ij = v^T tanh(W_q s_i + W_k h_j)  (Bahdanau et al. 2015, appendix A.1.2)
    scores = np.tanh((query @ W_q)[:, None, :] + values @ W_k) @ v
    expected_weights = numpy_softmax(scores, mask)
    context, weights = layer(query.astype("float32"), values.astype("float32"), mask=mask)
    np.testing.assert_allclose(weights, expected_weights, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(context, np.einsum("bs,bsd->bd", expected_weights, values), rtol=1e-5, atol=1e-5)
    assert np.all(np.asarray(weights)[~mask] == 0.0)


@pytest.mark.parametrize("score", ["general", "dot"])
def test_luong_weights_and_context_equal_numpy_reference_with_padding_masked(score):
    rng = np.random.default_rng(1)
    query, values, mask = inputs(rng)
    if score == "dot":
        values = values[..., :DQ]
    layer = LuongAttention(score=score)
    layer.build((None, DQ), (None, S, values.shape[-1]))
    if score == "general":
        W = rng.normal(size=(DV, DQ))
        layer.set_weights([W])
        scores = np.einsum("bd,bsd->bs", query, values @ W)  # e_ij = s_i^T W h_j (Luong et al. 2015, eq. 8)
    else:
        scores = np.einsum("bd,bsd->bs", query, values)
    expected_weights = numpy_softmax(scores, mask)
    context, weights = layer(query.astype("float32"), values.astype("float32"), mask=mask)
    np.testing.assert_allclose(weights, expected_weights, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(context, np.einsum("bs,bsd->bd", expected_weights, values), rtol=1e-5, atol=1e-5)


def test_without_a_mask_every_step_gets_weight_and_the_weights_sum_to_one():
    rng = np.random.default_rng(2)
    query, values, _ = inputs(rng)
    _, weights = BahdanauAttention(UNITS)(query.astype("float32"), values.astype("float32"))
    weights = np.asarray(weights)
    assert np.all(weights > 0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-6)


def test_gradients_reach_every_weight_and_not_the_padding():
    import tensorflow as tf

    rng = np.random.default_rng(3)
    query, values, mask = inputs(rng)
    layer = BahdanauAttention(UNITS)
    values = tf.Variable(values.astype("float32"))
    with tf.GradientTape() as tape:
        context, _ = layer(query.astype("float32"), values, mask=mask)
        loss = tf.reduce_sum(context**2)
    grads = tape.gradient(loss, layer.trainable_weights + [values])
    assert all(np.any(np.asarray(g) != 0) for g in grads[:-1])
    assert np.all(np.asarray(grads[-1])[~mask] == 0.0)


def test_config_round_trip_keeps_the_arguments():
    for layer in (BahdanauAttention(5, kernel_initializer="zeros"), LuongAttention(score="dot")):
        clone = type(layer).from_config(layer.get_config())
        assert clone.get_config() == layer.get_config()
        assert keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer)).get_config() == \
            layer.get_config()


def test_bad_arguments_name_what_was_expected_and_received():
    with pytest.raises(ValueError, match="units.*positive integer.*Received: units=0"):
        BahdanauAttention(0)
    with pytest.raises(ValueError, match=r"score.*one of \['general', 'dot'\].*Received: score='concat'"):
        LuongAttention(score="concat")
    with pytest.raises(ValueError, match="query as wide as the values.*size 4.*size 5"):
        LuongAttention(score="dot")(np.ones((2, 4), "float32"), np.ones((2, 3, 5), "float32"))
