"""The fused fast path of PeepholeLSTM / RelevanceGRU equals Keras' general loop.

Every comparison runs the same layer (same weights, same inputs) twice: once on
the fast path (``deepkit.layers.fused``) and once forced onto the general path
(``fused.general_path()``), and compares the outputs, the final states and the
gradients with respect to the inputs, the initial states and every weight. The
last tests cover the choice itself: ``use_fused``, ``general_path()`` and layers
without a fused kernel.
"""

import contextlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepkit.layers import PeepholeLSTM, RelevanceGRU, fused
from deepkit.layers.recurrent_layer import RecurrentLayer

B, T, D, U = 3, 5, 4, 6
LENGTHS = np.array([5, 3, 1])


def padding_mask(kind, values="bool"):
    """The padding mask of ``kind`` as booleans, 0/1 integers or floats whose
    real steps hold other non-zero values (which Keras treats as real steps)."""
    steps = np.arange(T)[None, :]
    if kind == "right":
        mask = steps < LENGTHS[:, None]
    elif kind == "left":
        mask = steps >= (T - LENGTHS)[:, None]
    else:
        return None
    if values == "int":
        return mask.astype("int32")
    if values == "float":
        return mask * np.array([0.5, 2.0, -0.25, 1.0, 3.0], "float32")[None, :]
    return mask


def make_layer(family, option, weights_seed=7, units=U, features=D, **kwargs):
    """A built layer with random (non-trivial) weights that depend only on ``weights_seed``."""
    if family == "lstm":
        layer = PeepholeLSTM(units, peephole=option, return_state=True, **kwargs)
    else:
        layer = RelevanceGRU(units, relevance_gate=option, return_state=True, **kwargs)
    layer.build((B, T, features))
    rng = np.random.default_rng(weights_seed)
    layer.set_weights([rng.normal(scale=0.6, size=w.shape).astype(w.dtype) for w in layer.get_weights()])
    return layer


UNSUPPORTED = [
    ({"activation": "relu"}, "activation is not tanh"),
    ({"recurrent_activation": "hard_sigmoid"}, "recurrent_activation is not sigmoid"),
    ({"unroll": True}, "unroll=True"),
]
"""Configurations the fused path does not cover, with the reason ``execution_path()`` gives."""


def state_count(family):
    return 2 if family == "lstm" else 1


def outputs_and_gradients(layer, x, mask, initial_state, mode, general, training=False):
    """Outputs and d(Σ wᵢ·outputᵢ)/d(x, initial states, weights) on the chosen path."""

    def compute(x, initial_state):
        with tf.GradientTape() as tape:
            tape.watch(x)
            tape.watch(initial_state)
            outputs = layer(x, initial_state=initial_state or None, mask=mask, training=training)
            rng = np.random.default_rng(0)
            loss = sum(
                tf.reduce_sum(tf.cast(out, "float32") * rng.normal(size=out.shape).astype("float32"))
                for out in outputs
            )
        grads = tape.gradient(loss, [x, *initial_state, *layer.trainable_weights])
        return list(outputs), grads

    with fused.general_path() if general else contextlib.nullcontext():
        if mode == "eager":
            result = compute(x, initial_state)
        else:
            result = tf.function(compute, jit_compile=mode == "jit")(x, initial_state)
        path = layer.execution_path()
    assert path.startswith("general") == general, path
    return [np.asarray(v, "float64") for v in result[0]], [np.asarray(g, "float64") for g in result[1]]


def assert_paths_agree(family, option, mask_kind=None, go_backwards=False, with_initial_state=False,
                       return_sequences=True, mode="eager", atol=2e-5, mask_values="bool", **kwargs):
    rng = np.random.default_rng(1)
    x = tf.constant(rng.normal(size=(B, T, D)).astype("float32"))
    initial = [tf.constant(rng.normal(size=(B, U)).astype("float32")) for _ in range(state_count(family))]
    initial = initial if with_initial_state else []
    mask = padding_mask(mask_kind, mask_values)
    results = []
    for general in (False, True):
        layer = make_layer(family, option, go_backwards=go_backwards, return_sequences=return_sequences, **kwargs)
        results.append(outputs_and_gradients(layer, x, mask, initial, mode, general, kwargs.get("dropout", 0) > 0))
    (fast_out, fast_grads), (general_out, general_grads) = results
    for fast, general in zip(fast_out, general_out):
        np.testing.assert_allclose(fast, general, atol=atol, rtol=atol)
    assert len(fast_grads) == len(general_grads)
    for fast, general in zip(fast_grads, general_grads):
        np.testing.assert_allclose(fast, general, atol=atol, rtol=atol)
    return fast_out, fast_grads


@pytest.mark.parametrize("kind", ["diagonal", "full", None])
@pytest.mark.parametrize("mask_kind", [None, "right", "left"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("variant", ["sequences+initial_state", "last+zero_state"])
def test_lstm_fast_path_equals_general_path(kind, mask_kind, go_backwards, variant):
    with_state = variant == "sequences+initial_state"
    assert_paths_agree("lstm", kind, mask_kind, go_backwards, with_state, return_sequences=with_state)


@pytest.mark.parametrize("relevance_gate", [True, False])
@pytest.mark.parametrize("mask_kind", [None, "right", "left"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("variant", ["sequences+initial_state", "last+zero_state"])
def test_gru_fast_path_equals_general_path(relevance_gate, mask_kind, go_backwards, variant):
    with_state = variant == "sequences+initial_state"
    assert_paths_agree("gru", relevance_gate, mask_kind, go_backwards, with_state, return_sequences=with_state)


@pytest.mark.parametrize("mode", ["function", "jit"])
@pytest.mark.parametrize(
    "family, option", [("lstm", "diagonal"), ("lstm", "full"), ("lstm", None), ("gru", True), ("gru", False)]
)
def test_fast_path_equals_general_path_in_tf_function_and_xla(family, option, mode):
    assert_paths_agree(family, option, "left", go_backwards=True, with_initial_state=True, mode=mode)


@pytest.mark.parametrize("steps", [1, 3, 8, 9, None])
@pytest.mark.parametrize("family, option", [("lstm", "diagonal"), ("gru", True)])
def test_every_sequence_length_runs_every_step(family, option, steps):
    # The loops run several steps per iteration and the steps left over after
    # them; None: the length is only known when the graph runs (one per iteration).
    length = steps or 7
    assert fused.STEPS_PER_ITERATION in (2, 3, 4, 5, 6, 7, 8)
    rng = np.random.default_rng(8)
    x = tf.constant(rng.normal(size=(B, length, D)).astype("float32"))
    mask = tf.constant(np.arange(length)[None, :] >= np.array([0, 1, length - 1])[:, None])
    signature = [tf.TensorSpec((B, steps, D)), tf.TensorSpec((B, steps), tf.bool)]
    results = []
    for general in (False, True):
        layer = make_layer(family, option, go_backwards=True, return_sequences=True)

        @tf.function(input_signature=signature)
        def compute(x, mask):
            with tf.GradientTape() as tape:
                tape.watch(x)
                outputs = layer(x, mask=mask)
                loss = tf.reduce_sum(outputs[0] * tf.range(1.0, length + 1.0)[:, None])
            return outputs, tape.gradient(loss, [x, *layer.trainable_weights])

        with fused.general_path() if general else contextlib.nullcontext():
            outputs, grads = compute(x, mask)
        assert layer.execution_path().startswith("general") == general
        results.append([np.asarray(v) for v in [*outputs, *grads]])
    for fast, general in zip(*results):
        np.testing.assert_allclose(fast, general, atol=2e-5, rtol=2e-5)


@pytest.mark.parametrize(
    "family, option", [("lstm", "diagonal"), ("lstm", "full"), ("gru", True), ("gru", False)]
)
@pytest.mark.parametrize("extra", [-1, 0, 3])
def test_long_sequences_under_xla_give_the_general_paths_weight_gradients(family, option, extra):
    # Under XLA the LSTM's backward loop forms dU, dW and db once per window of
    # steps; the first window it runs (the last steps) is partial unless the
    # length is a multiple of the window. Mask, recurrent dropout and a returned
    # sequence make every step's dz reach the weights differently. The GRU's
    # per-step accumulation is pinned at the same lengths.
    window = fused.WEIGHT_GRADIENT_WINDOW
    length = 2 * window + extra
    rng = np.random.default_rng(9)
    x = tf.constant(rng.normal(size=(B, length, D)).astype("float32"))
    mask = tf.constant(np.arange(length)[None, :] < np.array([length, length - window + 1, 2])[:, None])
    results = []
    for general in (False, True):
        layer = make_layer(family, option, return_sequences=True, recurrent_dropout=0.3, seed=4)

        @tf.function(jit_compile=True)
        def compute(x, mask):
            with tf.GradientTape() as tape:
                outputs = layer(x, mask=mask, training=True)
                loss = tf.reduce_sum(outputs[0] * tf.range(1.0, length + 1.0)[:, None]) + tf.reduce_sum(outputs[-1])
            return tape.gradient(loss, layer.trainable_weights)

        with fused.general_path() if general else contextlib.nullcontext():
            grads = compute(x, mask)
            windowed = "XlaDynamicUpdateSlice" in op_types(compute.get_concrete_function(x, mask))
        assert layer.execution_path().startswith("general") == general
        assert windowed == (family == "lstm" and not general)
        results.append([np.asarray(g) for g in grads])
    for fast, general in zip(*results):
        np.testing.assert_allclose(fast, general, atol=1e-4, rtol=1e-4)


def op_types(concrete_function):
    """The op types of a traced function, loop bodies and branches included."""
    graph_def = concrete_function.graph.as_graph_def()
    nodes = list(graph_def.node)
    for function in graph_def.library.function:
        nodes.extend(function.node_def)
    return {node.op for node in nodes}


@pytest.mark.parametrize("family, option", [("lstm", "diagonal"), ("gru", True)])
def test_a_gradient_of_the_gradient_under_xla_equals_the_general_paths(family, option):
    # A gradient penalty differentiates the backward loop itself; under XLA the
    # LSTM's windowed weight gradients (written with an op that has no gradient)
    # must then give way to differentiable per-step products.
    length = fused.WEIGHT_GRADIENT_WINDOW + 3
    x = tf.constant(np.random.default_rng(5).normal(size=(B, length, D)).astype("float32"))
    results = []
    for general in (False, True):
        layer = make_layer(family, option)

        @tf.function(jit_compile=True)
        def penalty_gradient(x):
            with tf.GradientTape() as outer:
                with tf.GradientTape() as inner:
                    inner.watch(x)
                    loss = tf.reduce_sum(layer(x)[0] ** 2)
                penalty = tf.reduce_sum(inner.gradient(loss, x) ** 2)
            return outer.gradient(penalty, layer.trainable_weights)

        with fused.general_path() if general else contextlib.nullcontext():
            grads = penalty_gradient(x)
        assert layer.execution_path().startswith("general") == general
        results.append([np.asarray(g) for g in grads])
    for fast, general in zip(*results):
        np.testing.assert_allclose(fast, general, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("family, option", [("lstm", "diagonal"), ("gru", True)])
def test_masked_steps_output_zeros_with_zero_output_for_mask(family, option):
    outputs, _ = assert_paths_agree(family, option, "right", zero_output_for_mask=True)
    padded = ~padding_mask("right")
    assert np.all(outputs[0][padded] == 0)


@pytest.mark.parametrize("family, option", [("lstm", "diagonal"), ("lstm", "full"), ("gru", True), ("gru", False)])
def test_dropout_uses_the_same_per_sequence_masks_as_the_cell(family, option):
    # Both layers are seeded alike, so both paths draw the same masks; the
    # outputs then only agree if the fast path applies them as the cell does.
    outputs, _ = assert_paths_agree(family, option, "right", dropout=0.3, recurrent_dropout=0.4, seed=11)
    layer = make_layer(family, option, return_sequences=True)
    x = np.random.default_rng(1).normal(size=(B, T, D)).astype("float32")
    without_dropout = layer(x, mask=padding_mask("right"))[0]
    assert not np.allclose(outputs[0], without_dropout, atol=1e-3)


@pytest.mark.parametrize("mode", ["eager", "function"])
@pytest.mark.parametrize("kind", ["diagonal", "full", None])
def test_lstm_last_output_without_mask_recomputes_the_unstored_states(kind, mode):
    # Without a mask, returning h_T only, outside XLA, the fast path does not store
    # h_{t-1}; the backward pass recomputes it and adds h_0's share of dU after its
    # loop, which only a non-zero initial state (and recurrent dropout, scaling it) can show.
    assert_paths_agree(
        "lstm", kind, None, with_initial_state=True, return_sequences=False, mode=mode,
        dropout=0.3, recurrent_dropout=0.4, seed=5,
    )


def test_lstm_sequence_without_stored_states_equals_finite_differences():
    # Each input element costs two runs of the sequence: a smaller batch, features and
    # units than the module's, but its T = 5 steps (an iteration of 4 and one left over).
    b, d, u = 2, 2, 3
    rng = np.random.default_rng(6)
    x, h0, c0 = (rng.normal(size=shape) for shape in ((T, b, d), (b, u), (b, u)))
    kernel, recurrent_kernel = rng.normal(scale=0.5, size=(d, 4 * u)), rng.normal(scale=0.5, size=(u, 4 * u))
    bias, peephole = rng.normal(scale=0.5, size=4 * u), rng.normal(scale=0.5, size=3 * u)
    rdm = tf.constant((rng.random((b, u)) > 0.3) / 0.7)

    def last_states(x, kernel, bias, h0, c0, recurrent_kernel, peephole):
        h, c = fused.lstm_sequence(
            x, kernel=kernel, bias=bias, h0=h0, c0=c0, recurrent_kernel=recurrent_kernel, peephole=peephole,
            kind="diagonal", rdm=rdm, sequences=False,
        )
        return tf.concat([h, c], axis=-1)

    arguments = [x, kernel, bias, h0, c0, recurrent_kernel, peephole]
    theoretical, numerical = tf.test.compute_gradient(last_states, arguments, delta=1e-6)
    for analytic, numeric in zip(theoretical, numerical):
        np.testing.assert_allclose(analytic, numeric, atol=1e-6)


def test_mixed_bfloat16_fast_path_close_to_general_path():
    keras.config.set_dtype_policy("mixed_bfloat16")
    for family, option in (("lstm", "diagonal"), ("gru", True)):
        assert_paths_agree(family, option, "left", go_backwards=True, atol=0.1)
        layer = make_layer(family, option, return_sequences=True)
        out = layer(np.ones((B, T, D), "float32"))
        assert layer.execution_path() == "fast"
        assert keras.backend.standardize_dtype(out[0].dtype) == "bfloat16"


@pytest.mark.parametrize("family, option", [("lstm", "diagonal"), ("gru", True)])
def test_inference_without_a_tape_equals_general_path(family, option):
    # Without a recording tape the fast path stores nothing for a backward pass.
    x = np.random.default_rng(2).normal(size=(B, T, D)).astype("float32")
    mask = padding_mask("left")
    results = []
    for general in (False, True):
        layer = make_layer(family, option, go_backwards=True)
        with fused.general_path() if general else contextlib.nullcontext():
            results.append([np.asarray(v) for v in tf.function(lambda: layer(x, mask=mask))()])
    for fast, general in zip(*results):
        np.testing.assert_allclose(fast, general, atol=2e-5)


@pytest.mark.parametrize("family, option", [("lstm", "full"), ("gru", False)])
def test_gradients_equal_finite_differences(family, option):
    # Each input element costs two runs of the layer: fewer features and units than the
    # module's, its batch of the three padded lengths and its T = 5 steps.
    d, u = 2, 3
    layer = make_layer(family, option, units=u, features=d, return_sequences=True, dtype="float64")
    x = np.random.default_rng(3).normal(size=(B, T, d))
    h0 = np.random.default_rng(4).normal(size=(B, u))
    mask = padding_mask("left")

    def f(x, h0):
        states = [h0] * state_count(family)
        return layer(x, initial_state=states, mask=mask)[0]

    theoretical, numerical = tf.test.compute_gradient(f, [x, h0], delta=1e-6)
    assert layer.execution_path() == "fast"
    for analytic, numeric in zip(theoretical, numerical):
        np.testing.assert_allclose(analytic, numeric, atol=1e-6)


@pytest.mark.parametrize("family, option", [("lstm", "diagonal"), ("gru", True)])
def test_stateful_layer_carries_the_same_state_on_both_paths(family, option):
    x = np.random.default_rng(5).normal(size=(B, T, D)).astype("float32")
    results = []
    for general in (False, True):
        layer = make_layer(family, option, stateful=True)
        with fused.general_path() if general else contextlib.nullcontext():
            first = layer(x)[0]
            second = layer(x)[0]
        assert not np.allclose(first, second)
        results.append((first, second, [np.asarray(s) for s in layer.states]))
    for fast, general in zip(results[0][:2], results[1][:2]):
        np.testing.assert_allclose(fast, general, atol=2e-5)
    for fast, general in zip(results[0][2], results[1][2]):
        np.testing.assert_allclose(fast, general, atol=2e-5)


@pytest.mark.parametrize("kwargs, reason", UNSUPPORTED)
@pytest.mark.parametrize("family, option", [("lstm", "diagonal"), ("gru", True)])
def test_unsupported_configurations_fall_back_to_the_general_path(family, option, kwargs, reason):
    layer = make_layer(family, option, **kwargs)
    assert layer.execution_path() == "not called yet"
    layer(np.zeros((B, T, D), "float32"))
    assert layer.execution_path() == f"general ({reason})"


def test_fit_on_the_fast_path_under_xla_matches_the_general_path():
    x = np.random.default_rng(6).normal(size=(8, T, D)).astype("float32")
    y = np.random.default_rng(7).normal(size=(8, 1)).astype("float32")
    losses = []
    for general in (False, True):
        keras.utils.set_random_seed(0)
        with fused.general_path() if general else contextlib.nullcontext():
            inputs = keras.Input((T, D))
            hidden = PeepholeLSTM(U, return_sequences=True)(inputs)
            outputs = keras.layers.Dense(1)(RelevanceGRU(U)(hidden))
            model = keras.Model(inputs, outputs)
            model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", jit_compile=True)
            history = model.fit(x, y, epochs=3, batch_size=4, shuffle=False, verbose=0)
        losses.append(history.history["loss"])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-4)
    assert losses[0][-1] < losses[0][0]


def test_fit_under_xla_with_a_partial_last_batch_and_a_new_length():
    # Keras retraces with the batch (and the length) unknown once they change;
    # the backward loop's window buffers must then take their shape at run time.
    window = fused.WEIGHT_GRADIENT_WINDOW
    rng = np.random.default_rng(3)
    x = rng.normal(size=(10, window + 5, D)).astype("float32")
    y = rng.normal(size=(10, 1)).astype("float32")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((None, D))
    model = keras.Model(inputs, keras.layers.Dense(1)(PeepholeLSTM(U)(inputs)))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse", jit_compile=True)
    first = model.fit(x, y, batch_size=4, epochs=3, shuffle=False, verbose=0).history["loss"]
    second = model.fit(x[:, :7], y, batch_size=4, epochs=1, shuffle=False, verbose=0).history["loss"]
    assert np.all(np.isfinite(first + second))
    assert first[-1] < first[0]


@pytest.fixture(scope="module")
def boolean_mask_runs():
    """``assert_paths_agree`` with the boolean right-padding mask, per (family, option, mode),
    made (and checked) by the first test that needs it: the int and the float mask cases
    compare with the same run, and under XLA each of its two paths costs a compile."""
    return {}


@pytest.mark.parametrize("mask_values", ["int", "float"])
@pytest.mark.parametrize("family, option", [("lstm", "diagonal"), ("gru", True)])
@pytest.mark.parametrize("mode", ["eager", "jit"])
def test_int_and_non_binary_float_masks_count_every_nonzero_step_as_real(
    family, option, mask_values, mode, boolean_mask_runs
):
    # Keras casts the mask to booleans: 0.5 or -0.25 is a real step, not a scaled one.
    if (family, option, mode) not in boolean_mask_runs:
        boolean_mask_runs[family, option, mode] = assert_paths_agree(
            family, option, "right", with_initial_state=True, mode=mode
        )
    as_bool = boolean_mask_runs[family, option, mode]
    other = assert_paths_agree(family, option, "right", with_initial_state=True, mode=mode, mask_values=mask_values)
    for with_bool_mask, with_other_mask in zip(as_bool[0] + as_bool[1], other[0] + other[1]):
        np.testing.assert_array_equal(with_bool_mask, with_other_mask)


@pytest.mark.parametrize("family, option", [("lstm", "diagonal"), ("gru", True)])
def test_nan_in_masked_padding_never_reaches_the_outputs(family, option):
    x = np.random.default_rng(1).normal(size=(B, T, D)).astype("float32")
    mask = padding_mask("right")
    x[~mask] = np.nan
    for general in (False, True):
        layer = make_layer(family, option, return_sequences=True)
        with fused.general_path() if general else contextlib.nullcontext():
            outputs = layer(x, mask=mask)
        assert layer.execution_path().startswith("general") == general
        assert all(np.all(np.isfinite(out)) for out in outputs)


# === Choosing the path: general_path(), use_fused, layers without a fused kernel ===


def run_once(layer):
    layer(np.zeros((B, T, D), "float32"))
    return layer.execution_path()


def test_general_path_is_restored_after_the_block_even_when_it_raises():
    layer = make_layer("lstm", "diagonal")
    with pytest.raises(RuntimeError):
        with fused.general_path():
            assert run_once(layer) == "general (fast path switched off)"
            raise RuntimeError("inside")
    assert run_once(layer) == "fast"


def test_nested_general_path_blocks_restore_the_outer_block():
    layer = make_layer("gru", True)
    with fused.general_path():
        with fused.general_path():
            assert run_once(layer) == "general (fast path switched off)"
        assert run_once(layer) == "general (fast path switched off)"
    assert run_once(layer) == "fast"


@pytest.mark.parametrize("family, option", [("lstm", "diagonal"), ("gru", True)])
def test_use_fused_false_always_takes_the_general_loop_with_the_same_numbers(family, option):
    x = np.random.default_rng(2).normal(size=(B, T, D)).astype("float32")
    auto, forbidden = make_layer(family, option), make_layer(family, option, use_fused=False)
    expected = auto(x, mask=padding_mask("left"))
    outputs = forbidden(x, mask=padding_mask("left"))
    assert auto.execution_path() == "fast"
    assert forbidden.execution_path() == "general (use_fused=False)"
    for fused_out, general_out in zip(expected, outputs):
        np.testing.assert_allclose(fused_out, general_out, atol=2e-5)


@pytest.mark.parametrize("family, option", [("lstm", "diagonal"), ("gru", True)])
def test_use_fused_true_takes_the_fused_path_where_it_can_run(family, option):
    assert run_once(make_layer(family, option, use_fused=True)) == "fast"


@pytest.mark.parametrize("kwargs, reason", UNSUPPORTED)
@pytest.mark.parametrize("family, option", [("lstm", "diagonal"), ("gru", True)])
def test_use_fused_true_raises_naming_what_stops_the_fused_path(family, option, kwargs, reason):
    layer = make_layer(family, option, use_fused=True, name="x", **kwargs)
    message = f"{type(layer).__name__} 'x': use_fused=True but the fused path cannot run: {reason}"
    with pytest.raises(ValueError, match=message):
        layer(np.zeros((B, T, D), "float32"))


def test_general_path_wins_over_use_fused_true():
    layer = make_layer("lstm", "diagonal", use_fused=True)
    with fused.general_path():
        assert run_once(layer) == "general (fast path switched off)"


@pytest.mark.parametrize("value", [1, 0, "true", "True", None, "fused"])
def test_use_fused_rejects_anything_but_auto_true_false(value):
    with pytest.raises(ValueError, match=r"`use_fused` must be one of \['auto', True, False\]. Received: use_fused="):
        PeepholeLSTM(U, use_fused=value, name="x")
    with pytest.raises(ValueError, match=r"RelevanceGRU 'y': argument `use_fused`"):
        RelevanceGRU(U, use_fused=value, name="y")


@pytest.mark.parametrize("value", ["auto", True, False])
@pytest.mark.parametrize("family, option", [("lstm", "diagonal"), ("gru", True)])
def test_use_fused_survives_the_config_round_trip(family, option, value):
    layer = make_layer(family, option, use_fused=value)
    config = layer.get_config()
    assert config["use_fused"] == value
    assert type(layer).from_config(config).use_fused == value
    del config["use_fused"]  # a config saved before the option existed
    assert type(layer).from_config(config).use_fused == "auto"


class TanhCell(keras.layers.Layer):
    """A plain tanh RNN cell: the generic conditions of the fused path hold, no kernel exists."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units
        self.activation = keras.activations.tanh
        self.recurrent_activation = keras.activations.sigmoid

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        self.recurrent_kernel = self.add_weight(shape=(self.units, self.units), initializer="orthogonal")

    def call(self, inputs, states):
        h = self.activation(
            keras.ops.matmul(inputs, self.kernel) + keras.ops.matmul(states[0], self.recurrent_kernel)
        )
        return h, [h]


class TanhRNN(RecurrentLayer):
    def __init__(self, units, **kwargs):
        super().__init__(TanhCell(units), **kwargs)


def test_a_recurrent_layer_without_a_fused_kernel_takes_the_general_loop():
    layer = TanhRNN(U, return_sequences=True, name="tanh_rnn")
    x = np.random.default_rng(4).normal(size=(B, T, D)).astype("float32")
    outputs = np.asarray(layer(x))
    assert layer.execution_path() == "general (no fused kernel for TanhRNN)"
    kernel, recurrent_kernel = (np.asarray(w) for w in layer.get_weights())
    h = np.zeros((B, U), "float32")
    for t in range(T):
        h = np.tanh(x[:, t] @ kernel + h @ recurrent_kernel)
        np.testing.assert_allclose(outputs[:, t], h, atol=1e-5)


def test_a_recurrent_layer_without_a_fused_kernel_refuses_use_fused_true():
    layer = TanhRNN(U, use_fused=True, name="tanh_rnn")
    with pytest.raises(ValueError, match="TanhRNN 'tanh_rnn': use_fused=True but the fused path cannot run: "
                                         "no fused kernel for TanhRNN"):
        layer(np.zeros((B, T, D), "float32"))
