"""PeepholeLSTM(peephole=None) and RelevanceGRU are drop-ins for keras.layers.LSTM and GRU.

Every argument of the Keras layers' signatures is accepted (with Keras' defaults, and
``reset_after=False`` for the GRU: the form deepkit computes), the read-only
properties equal Keras' for the same arguments, and ``get_config`` round trips.
"""

import inspect

import keras
import numpy as np
import pytest

from deepkit.layers import PeepholeLSTM, PeepholeLSTMCell, RelevanceGRU, RelevanceGRUCell

UNITS = 4

# Non-default values for every argument a property reads, so that a property
# returning the default by accident fails.
CHANGED = {
    "activation": "relu",
    "recurrent_activation": "hard_sigmoid",
    "use_bias": False,
    "kernel_initializer": "he_normal",
    "recurrent_initializer": "glorot_normal",
    "bias_initializer": "ones",
    "unit_forget_bias": False,
    "kernel_regularizer": "l2",
    "recurrent_regularizer": "l1",
    "bias_regularizer": "l1",
    "activity_regularizer": "l2",
    "kernel_constraint": "non_neg",
    "recurrent_constraint": "unit_norm",
    "bias_constraint": "max_norm",
    "dropout": 0.25,
    "recurrent_dropout": 0.5,
    "seed": 3,
    "return_sequences": True,
    "return_state": True,
    "go_backwards": True,
    "stateful": True,
    "unroll": True,
    "use_cudnn": False,
    "reset_after": False,
}

PAIRS = [
    pytest.param(keras.layers.LSTM, lambda **kw: PeepholeLSTM(peephole=None, **kw), id="lstm"),
    pytest.param(keras.layers.GRU, RelevanceGRU, id="gru"),
]


def keras_arguments(keras_class, values=None):
    """Every named argument of ``keras_class.__init__``: its default, or ``values[name]``."""
    arguments = {}
    for name, parameter in inspect.signature(keras_class.__init__).parameters.items():
        if name == "self" or parameter.kind is parameter.VAR_KEYWORD:
            continue
        arguments[name] = parameter.default
        if values is not None and name in values:
            arguments[name] = values[name]
    arguments["units"] = UNITS
    if keras_class is keras.layers.GRU:
        arguments["reset_after"] = False  # deepkit's GRU is this form; True is refused
    return arguments


def serialized(value):
    """A comparable form of an activation, initializer, regularizer, constraint or plain value."""
    if callable(value) or hasattr(value, "get_config"):
        return keras.saving.serialize_keras_object(value)
    return value


def keras_properties(keras_class):
    return sorted(name for name, value in vars(keras_class).items() if isinstance(value, property))


@pytest.mark.parametrize("keras_class, make", PAIRS)
@pytest.mark.parametrize("values", [None, CHANGED], ids=["keras_defaults", "changed"])
def test_accepts_every_keras_argument_and_exposes_the_same_properties(keras_class, make, values):
    arguments = keras_arguments(keras_class, values)
    ours, theirs = make(**arguments), keras_class(**arguments)
    assert keras_properties(keras_class), "Keras' layer exposes no properties: the test reads the wrong class"
    for name in keras_properties(keras_class):
        assert serialized(getattr(ours, name)) == serialized(getattr(theirs, name)), name
    for name in ("return_sequences", "return_state", "go_backwards", "stateful", "unroll"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert serialized(ours.activity_regularizer) == serialized(theirs.activity_regularizer)


@pytest.mark.parametrize("keras_class, make", PAIRS)
def test_a_layer_made_with_every_keras_argument_runs_and_matches_keras(keras_class, make):
    values = {"dropout": 0.0, "recurrent_dropout": 0.0, "return_sequences": True, "use_cudnn": False}
    arguments = keras_arguments(keras_class, values)
    ours, theirs = make(**arguments), keras_class(**arguments)
    x = np.random.default_rng(0).normal(size=(2, 3, 5)).astype("float32")
    ours.build(x.shape)
    theirs.build(x.shape)
    weights = theirs.get_weights()
    if keras_class is keras.layers.GRU:
        weights = [w.copy() for w in weights]
        for w in weights:  # Keras' z is deepkit's 1 - Γ_u: the update-gate columns negated
            w[..., :UNITS] *= -1
    ours.set_weights(weights)
    np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("keras_class, make", PAIRS)
def test_get_config_round_trips_the_keras_arguments(keras_class, make):
    layer = make(**keras_arguments(keras_class, CHANGED))
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config
    assert config["use_cudnn"] is False
    assert config["activity_regularizer"] == keras.saving.serialize_keras_object(keras.regularizers.get("l2"))
    if keras_class is keras.layers.GRU:
        assert config["reset_after"] is False


@pytest.mark.parametrize("make", [PeepholeLSTM, RelevanceGRU])
def test_use_cudnn_true_is_refused_with_the_reason(make):
    with pytest.raises(ValueError, match=r"`use_cudnn` must be 'auto' or False: deepkit never runs cuDNN.*plain LSTM/GRU"):
        make(UNITS, use_cudnn=True)
    with pytest.raises(ValueError, match=r"`use_cudnn` must be 'auto' or False.*Received: use_cudnn='yes'"):
        make(UNITS, use_cudnn="yes")


@pytest.mark.parametrize("make", [RelevanceGRU, RelevanceGRUCell])
def test_reset_after_true_is_refused_with_the_reason(make):
    with pytest.raises(ValueError, match=r"`reset_after` must be False: .*\(Γ_r ⊙ h_\{t-1\}\) U_c.*Received: reset_after=True"):
        make(UNITS, reset_after=True)


@pytest.mark.parametrize("implementation", [1, 2])
@pytest.mark.parametrize("make", [PeepholeLSTM, RelevanceGRU, PeepholeLSTMCell, RelevanceGRUCell])
def test_implementation_is_accepted_and_changes_nothing(make, implementation):
    x = np.random.default_rng(1).normal(size=(2, 3, 5)).astype("float32")
    keras.utils.set_random_seed(0)
    plain = make(UNITS)
    keras.utils.set_random_seed(0)
    other = make(UNITS, implementation=implementation)
    if make in (PeepholeLSTMCell, RelevanceGRUCell):
        plain, other = keras.layers.RNN(plain), keras.layers.RNN(other)
    np.testing.assert_array_equal(plain(x), other(x))


def test_dropout_property_reads_the_rate_keras_code_reads():
    assert PeepholeLSTM(8, dropout=0.1).dropout == 0.1
    assert RelevanceGRU(8, recurrent_dropout=0.2).recurrent_dropout == 0.2
    assert PeepholeLSTM(8).unit_forget_bias is True
