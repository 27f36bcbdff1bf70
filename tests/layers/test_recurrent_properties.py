"""Property-based tests of the recurrent layers (hypothesis): over random batch sizes,
lengths, units, feature sizes and masks, the outputs have the documented shapes, are
finite, and the fused path equals the general one. Few examples each, so CI stays fast."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepkit.layers import PeepholeLSTM, RelevanceGRU, fused

LAYERS = {
    "peephole_lstm_diagonal": lambda units, **kw: PeepholeLSTM(units, **kw),
    "peephole_lstm_full": lambda units, **kw: PeepholeLSTM(units, peephole="full", **kw),
    "relevance_gru": lambda units, **kw: RelevanceGRU(units, **kw),
    "simplified_gru": lambda units, **kw: RelevanceGRU(units, relevance_gate=False, **kw),
}

PROPERTY_SETTINGS = settings(max_examples=6, deadline=None, derandomize=True,
                             suppress_health_check=[HealthCheck.too_slow])


@st.composite
def batches(draw):
    batch, steps = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    features, units = draw(st.integers(1, 3)), draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=2.0, size=(batch, steps, features)).astype("float32")
    mask = draw(st.none() | st.just(rng.uniform(size=(batch, steps)) < 0.7))
    return {
        "x": x, "mask": mask, "units": units,
        "layer": draw(st.sampled_from(sorted(LAYERS))),
        "return_sequences": draw(st.booleans()), "go_backwards": draw(st.booleans()),
    }


def make_layer(case):
    return LAYERS[case["layer"]](case["units"], return_sequences=case["return_sequences"],
                                 go_backwards=case["go_backwards"], return_state=True, use_fused=True)


@PROPERTY_SETTINGS
@given(batches())
def test_outputs_have_the_documented_shapes_and_are_finite(case):
    layer = make_layer(case)
    output, *states = layer(case["x"], mask=case["mask"])
    batch, steps = case["x"].shape[:2]
    expected = (batch, steps, case["units"]) if case["return_sequences"] else (batch, case["units"])
    assert tuple(output.shape) == expected
    assert len(states) == (2 if "lstm" in case["layer"] else 1)
    for tensor in (output, *states):
        assert np.all(np.isfinite(np.asarray(tensor)))
    assert all(tuple(state.shape) == (batch, case["units"]) for state in states)


@PROPERTY_SETTINGS
@given(batches())
def test_the_fused_path_equals_the_general_path(case):
    layer = make_layer(case)
    fast = layer(case["x"], mask=case["mask"])
    assert layer.execution_path() == "fast"
    with fused.general_path():
        general = layer(case["x"], mask=case["mask"])
    assert layer.execution_path().startswith("general")
    for a, b in zip(fast, general, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
