"""layer_norm=True computes the layer-normalized cells of Ba, Kiros & Hinton (2016).

Forward values and gradients against the NumPy reference (``numpy_reference``), masks,
``go_backwards``, the weight layout, config and ``.keras`` round trips, and the loop it
takes (the general one: the fused kernel has no normalization terms).
"""

import keras
import numpy as np
import pytest

from deepkit.layers import PeepholeLSTM, PeepholeLSTMCell, RelevanceGRU, RelevanceGRUCell
from tests.layers import numpy_reference as ref

B, T, D, U = 3, 6, 4, 5


def lstm_weights(rng, kind, scale=0.5):
    weights = [rng.normal(scale=scale, size=(D, 4 * U)), rng.normal(scale=scale, size=(U, 4 * U)), rng.normal(scale=scale, size=(4 * U,))]
    if kind == "diagonal":
        weights.append(rng.normal(scale=scale, size=(3 * U,)))
    elif kind == "full":
        weights.append(rng.normal(scale=scale, size=(U, 3 * U)))
    return weights + norm_weights(rng, [4 * U, 4 * U, U])


def gru_weights(rng, relevance_gate, scale=0.5):
    columns = (3 if relevance_gate else 2) * U
    weights = [rng.normal(scale=scale, size=(D, columns)), rng.normal(scale=scale, size=(U, columns)), rng.normal(scale=scale, size=(columns,))]
    return weights + norm_weights(rng, [columns, columns])


def norm_weights(rng, sizes):
    """Gains around 1 and biases around 0, not the initial ones/zeros, so that both are used."""
    weights = []
    for size in sizes:
        weights += [1.0 + rng.normal(scale=0.3, size=size), rng.normal(scale=0.3, size=size)]
    return weights


def built(layer, weights, dtype="float32"):
    layer.build((None, T, D))
    layer.set_weights([w.astype(dtype) for w in weights])
    return layer


@pytest.mark.parametrize("kind", ["diagonal", "full", None])
@pytest.mark.parametrize("mask_kind", [None, "right", "left"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_lstm_forward_equals_numpy_reference(kind, mask_kind, go_backwards):
    rng = np.random.default_rng(1)
    weights = lstm_weights(rng, kind)
    x = rng.normal(size=(B, T, D))
    mask = ref.padding_mask(mask_kind, T, [T, 4, 2])
    layer = built(
        PeepholeLSTM(U, peephole=kind, layer_norm=True, return_sequences=True, return_state=True, go_backwards=go_backwards),
        weights,
    )
    outputs, h, c = layer(x.astype("float32"), mask=mask)
    expected, _, (expected_h, expected_c) = ref.lstm(x, weights, kind, layer_norm=True, mask=mask, go_backwards=go_backwards)
    np.testing.assert_allclose(outputs, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(h, expected_h, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(c, expected_c, rtol=1e-5, atol=1e-5)  # the carried state is the raw c_t


@pytest.mark.parametrize("relevance_gate", [True, False])
@pytest.mark.parametrize("mask_kind", [None, "right", "left"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_gru_forward_equals_numpy_reference(relevance_gate, mask_kind, go_backwards):
    rng = np.random.default_rng(2)
    weights = gru_weights(rng, relevance_gate)
    x = rng.normal(size=(B, T, D))
    mask = ref.padding_mask(mask_kind, T, [T, 4, 2])
    layer = built(
        RelevanceGRU(
            U, relevance_gate=relevance_gate, layer_norm=True, return_sequences=True, go_backwards=go_backwards
        ),
        weights,
    )
    expected, _, _ = ref.gru(x, weights, relevance_gate, layer_norm=True, mask=mask, go_backwards=go_backwards)
    np.testing.assert_allclose(layer(x.astype("float32"), mask=mask), expected, rtol=1e-5, atol=1e-5)


def test_layer_norm_epsilon_is_the_one_added_to_the_variance():
    rng = np.random.default_rng(3)
    weights = lstm_weights(rng, "diagonal")
    x = rng.normal(size=(B, T, D))
    layer = built(PeepholeLSTM(U, layer_norm=True, layer_norm_epsilon=0.5, return_sequences=True), weights)
    expected, _, _ = ref.lstm(x, weights, "diagonal", layer_norm=True, epsilon=0.5)
    np.testing.assert_allclose(layer(x.astype("float32")), expected, rtol=1e-5, atol=1e-5)
    default, _, _ = ref.lstm(x, weights, "diagonal", layer_norm=True)
    assert not np.allclose(expected, default, atol=1e-3)


@pytest.mark.parametrize("kind", ["diagonal", "full", None])
def test_lstm_gradients_equal_finite_differences_of_numpy_reference(kind):
    rng = np.random.default_rng(4)
    weights = lstm_weights(rng, kind)
    x = rng.normal(size=(B, T, D))
    mask = ref.padding_mask("right", T, [T, 4, 2])
    layer = built(PeepholeLSTM(U, peephole=kind, layer_norm=True, dtype="float64", return_sequences=True), weights, "float64")
    ref.assert_gradients_match(
        layer, x, weights, lambda x, w: ref.lstm(x, w, kind, layer_norm=True, mask=mask)[0], mask, rng
    )


@pytest.mark.parametrize("relevance_gate", [True, False])
def test_gru_gradients_equal_finite_differences_of_numpy_reference(relevance_gate):
    rng = np.random.default_rng(5)
    weights = gru_weights(rng, relevance_gate)
    x = rng.normal(size=(B, T, D))
    mask = ref.padding_mask("left", T, [T, 4, 2])
    layer = built(
        RelevanceGRU(U, relevance_gate=relevance_gate, layer_norm=True, dtype="float64", return_sequences=True),
        weights,
        "float64",
    )
    ref.assert_gradients_match(
        layer, x, weights, lambda x, w: ref.gru(x, w, relevance_gate, layer_norm=True, mask=mask)[0], mask, rng
    )


def test_normalization_weights_follow_the_default_layout_with_ones_and_zeros():
    lstm = PeepholeLSTM(U, peephole="full", layer_norm=True)
    lstm.build((None, T, D))
    assert [w.name for w in lstm.weights] == [
        "kernel", "recurrent_kernel", "bias", "peephole_kernel",
        "input_norm_gamma", "input_norm_beta", "recurrent_norm_gamma", "recurrent_norm_beta",
        "cell_norm_gamma", "cell_norm_beta",
    ]  # fmt: skip
    assert [w.shape for w in lstm.get_weights()[4:]] == [(4 * U,)] * 4 + [(U,)] * 2
    gru = RelevanceGRU(U, relevance_gate=False, layer_norm=True)
    gru.build((None, T, D))
    assert [w.shape for w in gru.get_weights()] == [(D, 2 * U), (U, 2 * U), (2 * U,)] + [(2 * U,)] * 4
    for layer in (lstm, gru):
        for weight in layer.weights:
            if weight.name.endswith("_norm_gamma"):
                np.testing.assert_array_equal(weight, np.ones(weight.shape))
            elif weight.name.endswith("_norm_beta"):
                np.testing.assert_array_equal(weight, np.zeros(weight.shape))


@pytest.mark.parametrize("make", [PeepholeLSTM, RelevanceGRU])
def test_without_layer_norm_nothing_changes(make):
    layer = make(U)
    layer.build((None, T, D))
    assert not any("norm" in w.name for w in layer.weights)
    assert layer.layer_norm is False


@pytest.mark.parametrize("make", [PeepholeLSTM, RelevanceGRU])
def test_layer_norm_takes_the_general_loop_and_refuses_use_fused(make):
    layer = make(U, layer_norm=True)
    layer(np.zeros((2, T, D), "float32"))
    assert layer.execution_path() == "general (layer_norm=True)"
    with pytest.raises(ValueError, match="layer_norm=True"):
        make(U, layer_norm=True, use_fused=True)(np.zeros((2, T, D), "float32"))


@pytest.mark.parametrize("make", [PeepholeLSTM, RelevanceGRU])
def test_config_round_trips_layer_norm(make):
    layer = make(U, layer_norm=True, layer_norm_epsilon=1e-5)
    config = layer.get_config()
    assert config["layer_norm"] is True and config["layer_norm_epsilon"] == 1e-5
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert clone.layer_norm is True and clone.layer_norm_epsilon == 1e-5


@pytest.mark.parametrize("make", [PeepholeLSTM, RelevanceGRU])
def test_keras_file_round_trip_keeps_the_normalization_weights(make, tmp_path):
    rng = np.random.default_rng(6)
    inputs = keras.Input((T, D))
    model = keras.Model(inputs, make(U, layer_norm=True, return_sequences=True)(inputs))
    model.set_weights([w + rng.normal(scale=0.1, size=w.shape).astype("float32") for w in model.get_weights()])
    x = rng.normal(size=(B, T, D)).astype("float32")
    path = tmp_path / "layer_norm.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "make_cell, make_layer, weights",
    [
        (lambda: PeepholeLSTMCell(U, layer_norm=True), lambda: PeepholeLSTM(U, layer_norm=True), lambda r: lstm_weights(r, "diagonal")),
        (lambda: RelevanceGRUCell(U, layer_norm=True), lambda: RelevanceGRU(U, layer_norm=True), lambda r: gru_weights(r, True)),
    ],
    ids=["lstm", "gru"],
)
def test_cell_in_keras_rnn_equals_the_layer(make_cell, make_layer, weights):
    rng = np.random.default_rng(7)
    w = weights(rng)
    x = rng.normal(size=(B, T, D)).astype("float32")
    np.testing.assert_allclose(
        built(keras.layers.RNN(make_cell()), w)(x), built(make_layer(), w)(x), rtol=1e-5, atol=1e-6
    )


@pytest.mark.parametrize("make", [PeepholeLSTMCell, RelevanceGRUCell])
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"layer_norm": "yes"}, r"`layer_norm` must be True or False. Received: layer_norm='yes'"),
        ({"layer_norm_epsilon": 0.0}, r"`layer_norm_epsilon` must be a float > 0. Received: layer_norm_epsilon=0.0"),
    ],
)
def test_bad_layer_norm_arguments_are_refused(make, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make(U, **kwargs)
