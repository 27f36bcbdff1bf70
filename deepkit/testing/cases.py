"""The registry of harness cases: every public deepkit object appears in at least one.

Add a case here when you add a public class; ``tests/test_conformance.py``
fails until every registered ``deepkit>`` name is covered by some case.
"""

import keras

from deepkit import layers
from deepkit.testing.harness import HarnessCase

BATCH, TIMESTEPS, FEATURES, UNITS = 4, 5, 4, 6


def sequences(rng):
    return rng.normal(size=(BATCH, TIMESTEPS, FEATURES)).astype("float32")


def sequence_model(make_layer, timesteps=TIMESTEPS, batch_size=None):
    """A Functional model ``Input(timesteps, FEATURES) -> make_layer()``."""

    def make_model():
        inputs = keras.Input((timesteps, FEATURES), batch_size=batch_size, name="sequences")
        return keras.Model(inputs, make_layer()(inputs))

    return make_model


def _lstm_shapes(units, peephole, layer_norm=False):
    shapes = [(FEATURES, 4 * units), (units, 4 * units), (4 * units,)]
    if peephole == "diagonal":
        shapes.append((3 * units,))
    elif peephole == "full":
        shapes.append((units, 3 * units))
    if layer_norm:  # gains and biases of x W, h U (per gate) and of the cell state
        shapes += [(4 * units,)] * 4 + [(units,)] * 2
    return shapes


def _gru_shapes(units, gates, layer_norm=False):
    shapes = [(FEATURES, gates * units), (units, gates * units), (gates * units,)]
    if layer_norm:  # gains and biases of x W and of the recurrent products (per gate)
        shapes += [(gates * units,)] * 4
    return shapes


def recurrent_cases():
    cases = []
    for peephole in ("diagonal", "full", None):
        cases.append(
            HarnessCase(
                id=f"peephole_lstm_{peephole}",
                covers=["deepkit>PeepholeLSTM", "deepkit>PeepholeLSTMCell"],
                make_model=sequence_model(
                    lambda p=peephole: layers.PeepholeLSTM(UNITS, peephole=p, return_sequences=True)
                ),
                make_inputs=sequences,
                weight_shapes=_lstm_shapes(UNITS, peephole),
            )
        )
    cases.append(
        HarnessCase(
            id="peephole_lstm_cell_in_keras_rnn",
            covers=["deepkit>PeepholeLSTMCell"],
            make_model=sequence_model(lambda: keras.layers.RNN(layers.PeepholeLSTMCell(UNITS))),
            make_inputs=sequences,
            weight_shapes=_lstm_shapes(UNITS, "diagonal"),
        )
    )
    for relevance_gate in (True, False):
        cases.append(
            HarnessCase(
                id=f"relevance_gru_{relevance_gate}",
                covers=["deepkit>RelevanceGRU", "deepkit>RelevanceGRUCell"],
                make_model=sequence_model(
                    lambda r=relevance_gate: layers.RelevanceGRU(
                        UNITS, relevance_gate=r, return_sequences=True, go_backwards=True
                    )
                ),
                make_inputs=sequences,
                weight_shapes=_gru_shapes(UNITS, 3 if relevance_gate else 2),
            )
        )
    cases.append(
        HarnessCase(
            id="peephole_lstm_layer_norm",
            covers=["deepkit>PeepholeLSTM", "deepkit>PeepholeLSTMCell"],
            make_model=sequence_model(
                lambda: layers.PeepholeLSTM(UNITS, peephole="full", layer_norm=True, return_sequences=True)
            ),
            make_inputs=sequences,
            weight_shapes=_lstm_shapes(UNITS, "full", layer_norm=True),
        )
    )
    cases.append(
        HarnessCase(
            id="relevance_gru_layer_norm",
            covers=["deepkit>RelevanceGRU", "deepkit>RelevanceGRUCell"],
            make_model=sequence_model(
                lambda: layers.RelevanceGRU(UNITS, layer_norm=True, return_sequences=True, go_backwards=True)
            ),
            make_inputs=sequences,
            weight_shapes=_gru_shapes(UNITS, 3, layer_norm=True),
        )
    )
    cases.append(
        HarnessCase(
            id="brnn_peephole_lstm_return_state",
            covers=["deepkit>BRNN", "deepkit>PeepholeLSTM"],
            make_model=sequence_model(
                lambda: layers.BRNN(layers.PeepholeLSTM(UNITS, return_state=True), merge_mode="sum")
            ),
            make_inputs=sequences,
            weight_shapes=_lstm_shapes(UNITS, "diagonal") * 2,
        )
    )
    cases.append(
        HarnessCase(
            id="brnn_relevance_gru_concat",
            covers=["deepkit>BRNN", "deepkit>RelevanceGRU"],
            make_model=sequence_model(lambda: layers.BRNN(layers.RelevanceGRU(UNITS, return_sequences=True))),
            make_inputs=sequences,
            weight_shapes=_gru_shapes(UNITS, 3) * 2,
        )
    )
    return cases


def all_cases():
    """Every harness case of the package."""
    from deepkit.testing.generative_cases import generative_cases
    from deepkit.testing.tagging_cases import tagging_cases

    return recurrent_cases() + generative_cases() + tagging_cases()
