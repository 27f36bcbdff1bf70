"""RelevanceGRU computes the SPEC's equations: NumPy reference, Keras GRU, gradients, states."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepkit.layers import RelevanceGRU
from tests.layers import numpy_reference as ref

B, T, D, U = 3, 6, 4, 5


def random_weights(rng, relevance_gate=True, scale=0.5):
    gates = 3 if relevance_gate else 2
    return [
        rng.normal(scale=scale, size=(D, gates * U)),
        rng.normal(scale=scale, size=(U, gates * U)),
        rng.normal(scale=scale, size=(gates * U,)),
    ]


def padding_mask(kind):
    return ref.padding_mask(kind, T, [T, 4, 2])


def build_layer(weights, dtype="float32", batch=None, **kwargs):
    layer = RelevanceGRU(U, dtype=dtype, **kwargs)
    layer.build((batch, T, D))
    layer.set_weights([w.astype(dtype) for w in weights])
    return layer


@pytest.mark.parametrize("relevance_gate", [True, False])
@pytest.mark.parametrize("mask_kind", [None, "right", "left"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("with_initial_state", [False, True])
def test_forward_equals_numpy_reference(relevance_gate, mask_kind, go_backwards, with_initial_state):
    rng = np.random.default_rng(1)
    weights = random_weights(rng, relevance_gate)
    x = rng.normal(size=(B, T, D))
    mask = padding_mask(mask_kind)
    initial = [rng.normal(size=(B, U))] if with_initial_state else None
    layer = build_layer(
        weights,
        relevance_gate=relevance_gate,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
    )
    outputs, h = layer(
        x.astype("float32"),
        initial_state=None if initial is None else [initial[0].astype("float32")],
        mask=mask,
    )
    expected_outputs, _, (expected_h,) = ref.gru(
        x, weights, relevance_gate, initial_state=initial, mask=mask, go_backwards=go_backwards
    )
    np.testing.assert_allclose(outputs, expected_outputs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h, expected_h, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("relevance_gate", [True, False])
def test_gradients_equal_finite_differences_of_numpy_reference(relevance_gate):
    rng = np.random.default_rng(2)
    weights = random_weights(rng, relevance_gate)
    x = rng.normal(size=(B, T, D))
    mask = padding_mask("left")
    layer = build_layer(weights, dtype="float64", relevance_gate=relevance_gate, return_sequences=True)
    ref.assert_gradients_match(
        layer, x, weights, lambda x, w: ref.gru(x, w, relevance_gate, mask=mask)[0], mask, rng
    )


def negate_update_columns(weights):
    """Γ_u = 1 - z = σ(-(...)): Keras' update gate z has the negated Γ_u columns."""
    flipped = [w.copy() for w in weights]
    for w in flipped:
        w[..., :U] *= -1
    return flipped


@pytest.mark.parametrize("go_backwards", [False, True])
def test_equals_keras_gru_reset_before_with_negated_update_columns(go_backwards):
    rng = np.random.default_rng(3)
    weights = random_weights(rng)
    x = rng.normal(size=(B, T, D)).astype("float32")
    mask = padding_mask("right")
    keras_gru = keras.layers.GRU(U, reset_after=False, return_sequences=True, go_backwards=go_backwards)
    keras_gru.build((None, T, D))
    keras_gru.set_weights([w.astype("float32") for w in negate_update_columns(weights)])
    layer = build_layer(weights, return_sequences=True, go_backwards=go_backwards)
    np.testing.assert_allclose(layer(x, mask=mask), keras_gru(x, mask=mask), rtol=1e-5, atol=1e-6)


def test_update_gate_gates_the_candidate_not_the_relevance_gate():
    # Γ_u = σ(big) ≈ 1 → h ≈ ĥ whatever Γ_r is; with the lecture notes' typo (Γ_r ⊙ ĥ) and Γ_r ≈ 0, h would be ≈ 0.
    layer = RelevanceGRU(1, use_bias=True, kernel_initializer="zeros", recurrent_initializer="zeros")
    layer.build((None, 1, 1))
    kernel = np.array([[0.0, 0.0, 1.0]], "float32")
    bias = np.array([20.0, -20.0, 0.0], "float32")
    layer.set_weights([kernel, np.zeros((1, 3), "float32"), bias])
    h = layer(np.ones((1, 1, 1), "float32"))
    np.testing.assert_allclose(h, [[np.tanh(1.0)]], rtol=1e-6)


def test_weight_layout_follows_the_contract():
    layer = RelevanceGRU(U)
    layer.build((None, T, D))
    assert [w.shape for w in layer.get_weights()] == [(D, 3 * U), (U, 3 * U), (3 * U,)]
    layer = RelevanceGRU(U, relevance_gate=False)
    layer.build((None, T, D))
    assert [w.shape for w in layer.get_weights()] == [(D, 2 * U), (U, 2 * U), (2 * U,)]


def test_stateful_carries_state_across_batches_and_reset_states_clears_it():
    rng = np.random.default_rng(5)
    weights = random_weights(rng)
    x = rng.normal(size=(B, 2 * T, D)).astype("float32")
    stateful = build_layer(weights, batch=B, stateful=True)
    whole = build_layer(weights)(x)
    stateful(x[:, :T])
    np.testing.assert_allclose(stateful(x[:, T:]), whole, rtol=1e-5, atol=1e-6)
    stateful.reset_states()
    np.testing.assert_allclose(stateful(x[:, T:]), build_layer(weights)(x[:, T:]), rtol=1e-5, atol=1e-6)


def test_dropout_is_off_at_inference_and_reproducible_with_a_seed():
    rng = np.random.default_rng(6)
    weights = random_weights(rng)
    x = rng.normal(size=(B, T, D)).astype("float32")
    plain = build_layer(weights)(x)
    runs = []
    for _ in range(2):
        layer = build_layer(weights, dropout=0.3, recurrent_dropout=0.3, seed=7)
        np.testing.assert_allclose(layer(x, training=False), plain, rtol=1e-6)
        runs.append(np.asarray(layer(x, training=True)))
    np.testing.assert_allclose(runs[0], runs[1])
    assert not np.allclose(runs[0], plain)


def test_tf_function_and_xla_equal_eager():
    rng = np.random.default_rng(8)
    layer = build_layer(random_weights(rng), return_sequences=True)
    x = rng.normal(size=(B, T, D)).astype("float32")
    mask = padding_mask("left")
    eager = layer(x, mask=mask)
    np.testing.assert_allclose(tf.function(lambda x: layer(x, mask=mask))(x), eager, rtol=1e-5, atol=1e-6)
    xla = tf.function(lambda x: layer(x, mask=mask), jit_compile=True)(x)
    np.testing.assert_allclose(xla, eager, rtol=1e-5, atol=1e-6)
