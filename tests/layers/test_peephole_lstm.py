"""PeepholeLSTM computes the SPEC's equations: NumPy reference, Keras LSTM, gradients, states."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepkit.layers import PeepholeLSTM, PeepholeLSTMCell
from tests.layers import numpy_reference as ref

B, T, D, U = 3, 6, 4, 5


def random_weights(rng, kind, scale=0.5):
    weights = [
        rng.normal(scale=scale, size=(D, 4 * U)),
        rng.normal(scale=scale, size=(U, 4 * U)),
        rng.normal(scale=scale, size=(4 * U,)),
    ]
    if kind == "diagonal":
        weights.append(rng.normal(scale=scale, size=(3 * U,)))
    elif kind == "full":
        weights.append(rng.normal(scale=scale, size=(U, 3 * U)))
    return weights


def padding_mask(kind):
    return ref.padding_mask(kind, T, [T, 4, 2])


def build_layer(kind, weights, dtype="float32", batch=None, **kwargs):
    layer = PeepholeLSTM(U, peephole=kind, dtype=dtype, **kwargs)
    layer.build((batch, T, D))
    layer.set_weights([w.astype(dtype) for w in weights])
    return layer


@pytest.mark.parametrize("kind", ["diagonal", "full", None])
@pytest.mark.parametrize("mask_kind", [None, "right", "left"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("with_initial_state", [False, True])
def test_forward_equals_numpy_reference(kind, mask_kind, go_backwards, with_initial_state):
    rng = np.random.default_rng(1)
    weights = random_weights(rng, kind)
    x = rng.normal(size=(B, T, D))
    mask = padding_mask(mask_kind)
    initial = [rng.normal(size=(B, U)), rng.normal(size=(B, U))] if with_initial_state else None
    layer = build_layer(kind, weights, return_sequences=True, return_state=True, go_backwards=go_backwards)
    outputs, h, c = layer(
        x.astype("float32"),
        initial_state=None if initial is None else [s.astype("float32") for s in initial],
        mask=mask,
    )
    expected_outputs, _, (expected_h, expected_c) = ref.lstm(
        x, weights, kind, initial_state=initial, mask=mask, go_backwards=go_backwards
    )
    np.testing.assert_allclose(outputs, expected_outputs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h, expected_h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c, expected_c, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind", ["diagonal", "full"])
def test_gradients_equal_finite_differences_of_numpy_reference(kind):
    rng = np.random.default_rng(2)
    weights = random_weights(rng, kind)
    x = rng.normal(size=(B, T, D))
    mask = padding_mask("right")
    layer = build_layer(kind, weights, dtype="float64", return_sequences=True)
    ref.assert_gradients_match(
        layer, x, weights, lambda x, w: ref.lstm(x, w, kind, mask=mask)[0], mask, rng
    )


def test_zero_peepholes_equal_keras_lstm_with_the_same_three_weights():
    rng = np.random.default_rng(3)
    weights = random_weights(rng, None)
    x = rng.normal(size=(B, T, D)).astype("float32")
    keras_lstm = keras.layers.LSTM(U, return_sequences=True)
    keras_lstm.build((None, T, D))
    keras_lstm.set_weights([w.astype("float32") for w in weights])
    for kind, peephole in (("diagonal", np.zeros(3 * U)), ("full", np.zeros((U, 3 * U)))):
        layer = build_layer(kind, weights + [peephole], return_sequences=True)
        np.testing.assert_allclose(layer(x), keras_lstm(x), rtol=1e-5, atol=1e-6)


def test_keras_lstm_weights_load_unchanged():
    keras_lstm = keras.layers.LSTM(U)
    keras_lstm.build((None, T, D))
    layer = PeepholeLSTM(U, peephole=None)
    layer.build((None, T, D))
    layer.set_weights(keras_lstm.get_weights())
    x = np.random.default_rng(4).normal(size=(B, T, D)).astype("float32")
    np.testing.assert_allclose(layer(x), keras_lstm(x), rtol=1e-5, atol=1e-6)


def test_output_gate_peeks_at_the_new_cell_state():
    layer = PeepholeLSTM(
        1,
        peephole="diagonal",
        use_bias=False,
        kernel_initializer="ones",
        recurrent_initializer="ones",
        peephole_initializer="ones",
    )
    h = layer(np.ones((1, 1, 1), "float32"))
    c = ref.sigmoid(1.0) * np.tanh(1.0)
    np.testing.assert_allclose(h, [[ref.sigmoid(1.0 + c) * np.tanh(c)]], rtol=1e-6)


def test_weight_layout_follows_the_contract():
    for kind, peephole_shape in (("diagonal", (3 * U,)), ("full", (U, 3 * U))):
        layer = PeepholeLSTM(U, peephole=kind)
        layer.build((None, T, D))
        assert [w.shape for w in layer.get_weights()] == [(D, 4 * U), (U, 4 * U), (4 * U,), peephole_shape]
    layer = PeepholeLSTM(U, peephole=None, use_bias=False)
    layer.build((None, T, D))
    assert [w.shape for w in layer.get_weights()] == [(D, 4 * U), (U, 4 * U)]


def test_unit_forget_bias_starts_the_forget_gate_at_one():
    layer = PeepholeLSTM(U)
    layer.build((None, T, D))
    bias = layer.get_weights()[2]
    np.testing.assert_array_equal(bias[U : 2 * U], np.ones(U))
    np.testing.assert_array_equal(np.delete(bias, np.s_[U : 2 * U]), np.zeros(3 * U))


def test_stateful_carries_state_across_batches_and_reset_states_clears_it():
    rng = np.random.default_rng(5)
    weights = random_weights(rng, "diagonal")
    x = rng.normal(size=(B, 2 * T, D)).astype("float32")
    stateful = build_layer("diagonal", weights, batch=B, stateful=True)
    whole = build_layer("diagonal", weights)(x)
    stateful(x[:, :T])
    np.testing.assert_allclose(stateful(x[:, T:]), whole, rtol=1e-5, atol=1e-6)
    stateful.reset_states()
    fresh = build_layer("diagonal", weights)(x[:, T:])
    np.testing.assert_allclose(stateful(x[:, T:]), fresh, rtol=1e-5, atol=1e-6)


def test_dropout_is_off_at_inference_and_reproducible_with_a_seed():
    rng = np.random.default_rng(6)
    weights = random_weights(rng, "diagonal")
    x = rng.normal(size=(B, T, D)).astype("float32")
    plain = build_layer("diagonal", weights)(x)
    runs = []
    for _ in range(2):
        layer = build_layer("diagonal", weights, dropout=0.3, recurrent_dropout=0.3, seed=7)
        np.testing.assert_allclose(layer(x, training=False), plain, rtol=1e-6)
        runs.append(np.asarray(layer(x, training=True)))
    np.testing.assert_allclose(runs[0], runs[1])
    assert not np.allclose(runs[0], plain)


def test_tf_function_and_xla_equal_eager():
    rng = np.random.default_rng(8)
    layer = build_layer("full", random_weights(rng, "full"), return_sequences=True)
    x = rng.normal(size=(B, T, D)).astype("float32")
    mask = padding_mask("right")
    eager = layer(x, mask=mask)
    graph = tf.function(lambda x: layer(x, mask=mask))(x)
    xla = tf.function(lambda x: layer(x, mask=mask), jit_compile=True)(x)
    np.testing.assert_allclose(graph, eager, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(xla, eager, rtol=1e-5, atol=1e-6)


def test_cell_in_keras_rnn_equals_the_layer():
    rng = np.random.default_rng(9)
    weights = random_weights(rng, "diagonal")
    layer = build_layer("diagonal", weights)
    rnn = keras.layers.RNN(PeepholeLSTMCell(U))
    rnn.build((None, T, D))
    rnn.set_weights([w.astype("float32") for w in weights])
    x = rng.normal(size=(B, T, D)).astype("float32")
    np.testing.assert_allclose(rnn(x), layer(x), rtol=1e-5, atol=1e-6)  # float32 sums in another order


def test_mask_from_embedding_is_used():
    ids = np.array([[3, 4, 0, 0], [5, 0, 0, 0]])
    embedding = keras.layers.Embedding(8, D, mask_zero=True)
    lstm = PeepholeLSTM(U)
    masked = lstm(embedding(ids))
    np.testing.assert_allclose(masked[0], lstm(embedding(ids[:1, :2]))[0], rtol=1e-6)
    np.testing.assert_allclose(masked[1], lstm(embedding(ids[1:, :1]))[0], rtol=1e-6)


def test_unroll_and_zero_output_for_mask_follow_keras_rnn():
    rng = np.random.default_rng(11)
    weights = random_weights(rng, "diagonal")
    x = rng.normal(size=(B, T, D))
    mask = padding_mask("right")
    layer = build_layer("diagonal", weights, return_sequences=True, unroll=True, zero_output_for_mask=True)
    expected, _, _ = ref.lstm(x, weights, "diagonal", mask=mask, zero_output_for_mask=True)
    np.testing.assert_allclose(layer(x.astype("float32"), mask=mask), expected, rtol=1e-5, atol=1e-5)
