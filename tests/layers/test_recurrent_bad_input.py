"""Bad input to the recurrent layers raises an error naming the layer, the argument, expected and received."""

import keras
import numpy as np
import pytest

from deepkit.layers import BRNN, PeepholeLSTM, PeepholeLSTMCell, RelevanceGRU, RelevanceGRUCell

x = np.zeros((2, 5, 3), "float32")


@pytest.mark.parametrize("cls", [PeepholeLSTM, PeepholeLSTMCell, RelevanceGRU, RelevanceGRUCell])
@pytest.mark.parametrize("units", [0, -3, 2.5, "8", True])
def test_units_must_be_a_positive_integer(cls, units):
    with pytest.raises(ValueError, match=rf"{cls.__name__}.*`units`.*positive integer.*Received: units="):
        cls(units)


def test_unknown_peephole_kind():
    with pytest.raises(ValueError, match=r"PeepholeLSTM 'p': argument `peephole` must be one of .*Received: peephole='diag'"):
        PeepholeLSTM(4, peephole="diag", name="p")


@pytest.mark.parametrize("argument", ["dropout", "recurrent_dropout"])
@pytest.mark.parametrize("value", [-0.1, 1.0, "0.5"])
def test_dropout_rates_must_be_in_zero_one(argument, value):
    with pytest.raises(ValueError, match=rf"`{argument}` must be a float in \[0, 1\)"):
        RelevanceGRU(4, **{argument: value})


def test_relevance_gate_must_be_a_bool():
    with pytest.raises(ValueError, match=r"`relevance_gate` must be True or False. Received: relevance_gate='yes'"):
        RelevanceGRU(4, relevance_gate="yes")


def test_unknown_merge_mode():
    with pytest.raises(ValueError, match=r"BRNN.*`merge_mode` must be one of .*Received: merge_mode='max'"):
        BRNN(PeepholeLSTM(4), merge_mode="max")


def test_brnn_needs_a_recurrent_layer():
    with pytest.raises(ValueError, match=r"BRNN.*`layer` must be a recurrent layer.*Received: layer=<Dense"):
        BRNN(keras.layers.Dense(4))


def test_brnn_backward_layer_must_go_backwards_and_match():
    with pytest.raises(ValueError, match=r"`backward_layer.go_backwards` must be the opposite"):
        BRNN(RelevanceGRU(4), backward_layer=RelevanceGRU(4))
    with pytest.raises(ValueError, match=r"`backward_layer.return_sequences` must equal"):
        BRNN(RelevanceGRU(4), backward_layer=RelevanceGRU(4, go_backwards=True, return_sequences=True))


@pytest.mark.parametrize("layer", [PeepholeLSTM(4), RelevanceGRU(4)], ids=["lstm", "gru"])
@pytest.mark.parametrize("shape", [(2, 3), (2, 5, 3, 1)])
def test_sequences_must_have_rank_3(layer, shape):
    with pytest.raises(ValueError, match=r"argument `sequences` must have rank 3.*Received: shape="):
        layer(np.zeros(shape, "float32"))


def test_rank_is_checked_symbolically_too():
    with pytest.raises(ValueError, match=r"PeepholeLSTM .* must have rank 3"):
        PeepholeLSTM(4)(keras.Input((5,)))


@pytest.mark.parametrize("cls", [PeepholeLSTM, RelevanceGRU])
def test_feature_size_must_match_the_built_one(cls):
    layer = cls(4, name="rnn")
    layer(x)
    with pytest.raises(ValueError, match=r"'rnn': argument `sequences` must have 3 features.*Received: shape=\(2, 5, 7\)"):
        layer(np.zeros((2, 5, 7), "float32"))


@pytest.mark.parametrize("cls", [PeepholeLSTM, RelevanceGRU])
def test_integer_inputs_are_rejected(cls):
    with pytest.raises(TypeError, match=r"must be a floating-point tensor.*Received: dtype=int32"):
        cls(4)(np.zeros((2, 5, 3), "int32"))


def test_initial_state_count_must_match():
    with pytest.raises(ValueError, match=r"`initial_state` must hold 2 tensor\(s\) of shape \(batch, 4\). Received: 1"):
        PeepholeLSTM(4)(x, initial_state=[np.zeros((2, 4), "float32")])
    with pytest.raises(ValueError, match=r"`initial_state` must hold 1 tensor\(s\).*Received: 2"):
        RelevanceGRU(4)(x, initial_state=[np.zeros((2, 4), "float32")] * 2)


@pytest.mark.parametrize("shape", [(2, 5), (1, 4), (2, 4, 1)])
def test_initial_state_shape_must_match(shape):
    with pytest.raises(ValueError, match=r"`initial_state\[0\]` must have shape \(2, 4\). Received: shape="):
        RelevanceGRU(4)(x, initial_state=[np.zeros(shape, "float32")])


def test_brnn_initial_state_count_must_match():
    with pytest.raises(ValueError, match=r"BRNN.*`initial_state` must hold 4 tensors.*Received: 2"):
        BRNN(PeepholeLSTM(4))(x, initial_state=[np.zeros((2, 4), "float32")] * 2)


def test_mask_shape_must_match():
    with pytest.raises(ValueError, match=r"`mask` must have shape \(batch, timesteps\) = \(2, 5\). Received: shape=\(2, 4\)"):
        PeepholeLSTM(4)(x, mask=np.ones((2, 4), bool))
