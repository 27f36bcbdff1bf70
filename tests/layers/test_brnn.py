"""BRNN merges a forward and a backward pass; with masks the backward pass starts at the last real step."""

import keras
import numpy as np
import pytest

from deepkit.layers import BRNN, PeepholeLSTM, RelevanceGRU
from tests.layers import numpy_reference as ref

B, T, D, U = 3, 6, 4, 5
LENGTHS = np.array([T, 4, 2])


def right_padded(rng):
    x = rng.normal(size=(B, T, D))
    mask = np.arange(T)[None, :] < LENGTHS[:, None]
    x[~mask] = 0.0
    return x, mask


def lstm_weights(rng):
    return [
        rng.normal(scale=0.5, size=(D, 4 * U)),
        rng.normal(scale=0.5, size=(U, 4 * U)),
        rng.normal(scale=0.5, size=(4 * U,)),
        rng.normal(scale=0.5, size=(3 * U,)),
    ]


def numpy_bidirectional(x, lengths, forward_weights, backward_weights, initial=None):
    """Per sequence: forward over its real steps, backward from its last real step to the first."""
    outputs_f = np.zeros((B, T, U))
    outputs_b = np.zeros((B, T, U))
    states_f, states_b = [], []
    for n, length in enumerate(lengths):
        seq = x[n : n + 1, :length]
        init_f = None if initial is None else [s[n : n + 1] for s in initial[:2]]
        init_b = None if initial is None else [s[n : n + 1] for s in initial[2:]]
        out_f, _, st_f = ref.lstm(seq, forward_weights, "diagonal", initial_state=init_f)
        out_b, _, st_b = ref.lstm(seq[:, ::-1], backward_weights, "diagonal", initial_state=init_b)
        outputs_f[n, :length] = out_f[0]
        outputs_b[n, :length] = out_b[0, ::-1]
        states_f.append(st_f)
        states_b.append(st_b)
    finals = [np.concatenate([s[k] for s in states]) for states in (states_f, states_b) for k in (0, 1)]
    return outputs_f, outputs_b, finals


def build_brnn(rng, merge_mode="concat", **kwargs):
    layer = BRNN(PeepholeLSTM(U, return_sequences=True, **kwargs), merge_mode=merge_mode)
    layer.build((None, T, D))
    forward_weights, backward_weights = lstm_weights(rng), lstm_weights(rng)
    layer.forward_layer.set_weights([w.astype("float32") for w in forward_weights])
    layer.backward_layer.set_weights([w.astype("float32") for w in backward_weights])
    return layer, forward_weights, backward_weights


@pytest.mark.parametrize(
    "merge_mode, merge",
    [
        ("concat", lambda f, b: np.concatenate([f, b], axis=-1)),
        ("sum", lambda f, b: f + b),
        ("mul", lambda f, b: f * b),
        ("ave", lambda f, b: (f + b) / 2),
    ],
)
def test_backward_direction_starts_at_the_last_real_step_of_right_padded_sequences(merge_mode, merge):
    rng = np.random.default_rng(0)
    x, mask = right_padded(rng)
    layer, forward_weights, backward_weights = build_brnn(rng, merge_mode)
    outputs = layer(x.astype("float32"), mask=mask)
    expected_f, expected_b, _ = numpy_bidirectional(x, LENGTHS, forward_weights, backward_weights)
    np.testing.assert_allclose(outputs, merge(expected_f, expected_b), rtol=1e-5, atol=1e-5)


def test_merge_mode_none_returns_both_directions():
    rng = np.random.default_rng(1)
    x, mask = right_padded(rng)
    layer, forward_weights, backward_weights = build_brnn(rng, merge_mode=None)
    forward, backward = layer(x.astype("float32"), mask=mask)
    expected_f, expected_b, _ = numpy_bidirectional(x, LENGTHS, forward_weights, backward_weights)
    np.testing.assert_allclose(forward, expected_f, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(backward, expected_b, rtol=1e-5, atol=1e-5)


def test_return_state_and_initial_state():
    rng = np.random.default_rng(2)
    x, mask = right_padded(rng)
    layer, forward_weights, backward_weights = build_brnn(rng, return_state=True)
    initial = [rng.normal(size=(B, U)) for _ in range(4)]
    outputs, h_f, c_f, h_b, c_b = layer(
        x.astype("float32"), initial_state=[s.astype("float32") for s in initial], mask=mask
    )
    expected_f, expected_b, finals = numpy_bidirectional(x, LENGTHS, forward_weights, backward_weights, initial)
    np.testing.assert_allclose(outputs, np.concatenate([expected_f, expected_b], -1), rtol=1e-5, atol=1e-5)
    for got, want in zip((h_f, c_f, h_b, c_b), finals):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_exposes_forward_and_backward_layers():
    layer = BRNN(RelevanceGRU(U))
    assert isinstance(layer.forward_layer, RelevanceGRU) and not layer.forward_layer.go_backwards
    assert isinstance(layer.backward_layer, RelevanceGRU) and layer.backward_layer.go_backwards


def test_wraps_keras_layers_like_keras_bidirectional():
    rng = np.random.default_rng(3)
    x, mask = right_padded(rng)
    ours = BRNN(keras.layers.LSTM(U, return_sequences=True))
    theirs = keras.layers.Bidirectional(keras.layers.LSTM(U, return_sequences=True))
    ours.build((None, T, D))
    theirs.build((None, T, D))
    theirs.set_weights(ours.get_weights())
    x = x.astype("float32")
    np.testing.assert_allclose(ours(x, mask=mask), theirs(x, mask=mask), rtol=1e-5, atol=1e-6)


def test_custom_backward_layer_is_used():
    backward = RelevanceGRU(3, return_sequences=True, go_backwards=True)
    layer = BRNN(RelevanceGRU(U, return_sequences=True), backward_layer=backward)
    assert layer.backward_layer is backward
    assert layer(np.zeros((B, T, D), "float32")).shape == (B, T, U + 3)


def test_mask_from_embedding_flows_through_brnn_in_a_model():
    ids = np.array([[3, 4, 5, 0, 0], [6, 7, 0, 0, 0]])
    inputs = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(10, D, mask_zero=True)(inputs)
    model = keras.Model(inputs, BRNN(PeepholeLSTM(U))(embedded))
    unpadded = model.predict(ids[:1, :3], verbose=0)
    np.testing.assert_allclose(model.predict(ids, verbose=0)[:1], unpadded, rtol=1e-5, atol=1e-6)
