"""The registry of harness cases: every public deepkit object appears in at least one.

Add a case here when you add a public class; ``tests/test_conformance.py``
fails until every registered ``deepkit>`` name is covered by some case.
"""

import keras
import numpy as np

from deepkit import layers, models
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
    cases += seq2seq_cases()
    cases += image_captioner_cases()
    return cases


SOURCE_TOKENS, TARGET_TOKENS = list("abcde"), list("xyz")
# <start> and two tokens: the decoder unrolls one step per target position, so its graph,
# which every check traces (and `jit` compiles), grows with this length.
TARGET_STEPS = 3


def token_pairs(rng):
    """``[source_ids, target_in]``, int32, padded after a few real tokens."""
    source = rng.integers(2, 2 + len(SOURCE_TOKENS), size=(BATCH, TIMESTEPS)).astype("int32")
    source[1, 3:] = source[3, 1:] = 0
    target_in = rng.integers(4, 4 + len(TARGET_TOKENS), size=(BATCH, TARGET_STEPS)).astype("int32")
    target_in[:, 0] = 2  # <start>
    target_in[2, 2:] = 0
    return [source, target_in]


def token_pairs_and_targets(rng):
    source, target_in = token_pairs(rng)
    target_out = np.concatenate([target_in[:, 1:], np.zeros((BATCH, 1), "int32")], 1)
    return [source, target_in], target_out


def seq2seq_model(attention, encoder, cell):
    def make_model():
        return models.Seq2Seq(encoder(), cell(), SOURCE_TOKENS, TARGET_TOKENS, attention=attention, embedding_dim=3,
                              max_source_length=TIMESTEPS, max_target_length=TARGET_STEPS - 1, beam_width=2)

    return make_model


def compile_seq2seq(model, jit_compile):
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=jit_compile)


def seq2seq_cases():
    """The encoder-decoder with each attention (teacher-forced logits are what the checks compare)."""
    common = dict(make_inputs=token_pairs, make_train_data=token_pairs_and_targets, compile_model=compile_seq2seq)
    return [
        HarnessCase(
            id="seq2seq_bahdanau_brnn_gru",
            covers=["deepkit>Seq2Seq", "deepkit>BahdanauAttention", "deepkit>masked_token_accuracy",
                    "deepkit>masked_sparse_crossentropy", "deepkit>BRNN"],
            make_model=seq2seq_model(
                "bahdanau", lambda: layers.BRNN(keras.layers.GRU(UNITS, return_sequences=True, return_state=True)),
                lambda: layers.RelevanceGRUCell(UNITS)),
            **common,
        ),
        HarnessCase(
            id="seq2seq_luong_peephole_lstm",
            covers=["deepkit>Seq2Seq", "deepkit>LuongAttention", "deepkit>PeepholeLSTMCell"],
            make_model=seq2seq_model(
                "luong", lambda: layers.PeepholeLSTM(UNITS, return_sequences=True, return_state=True),
                lambda: layers.PeepholeLSTMCell(UNITS)),
            # Under MirroredStrategy both seq2seq cases take one training path (Keras' train
            # step with DecoderModel.compile's masked loss, the replicas' gradients summed);
            # the attention and cells change only the forward pass each replica runs.
            checks_run_by={"distributed": "seq2seq_bahdanau_brnn_gru"},
            **common,
        ),
    ]


IMAGE_SHAPE = (6, 10, 1)


def images_and_target_in(rng):
    """``[images, target_in]``: small images and caption ids of the ``TARGET_TOKENS`` words."""
    _, target_in = token_pairs(rng)
    return [rng.uniform(size=(BATCH,) + IMAGE_SHAPE).astype("float32"), target_in]


def images_and_targets(rng):
    images, target_in = images_and_target_in(rng)
    target_out = np.concatenate([target_in[:, 1:], np.zeros((BATCH, 1), "int32")], 1)
    return [images, target_in], target_out


def image_captioner_model(attention, states_from, cell):
    def make_model():
        encoder = keras.Sequential([keras.Input(IMAGE_SHAPE), keras.layers.Conv2D(3, 3, strides=2, padding="same")])
        return models.ImageCaptioner(encoder, cell(), TARGET_TOKENS, attention=attention, states_from=states_from,
                                     embedding_dim=3, max_target_length=TARGET_STEPS - 1, beam_width=2)

    return make_model


def image_captioner_cases():
    """The CNN + recurrent decoder: Show and Tell (the image starts the state), and with
    attention over the CNN grid (teacher-forced logits are what the checks compare)."""
    common = dict(make_inputs=images_and_target_in, make_train_data=images_and_targets,
                  compile_model=compile_seq2seq)
    return [
        HarnessCase(id="image_captioner_show_and_tell", covers=["deepkit>ImageCaptioner"],
                    make_model=image_captioner_model(None, "flatten", lambda: keras.layers.GRUCell(UNITS)),
                    # The same DecoderModel training path as the attention case's, which runs it.
                    checks_run_by={"distributed": "image_captioner_bahdanau_lstm"}, **common),
        HarnessCase(id="image_captioner_bahdanau_lstm", covers=["deepkit>ImageCaptioner"],
                    make_model=image_captioner_model("bahdanau", "average", lambda: keras.layers.LSTMCell(UNITS)),
                    **common),
    ]


def all_cases():
    """Every harness case of the package."""
    from deepkit.testing.generative_cases import generative_cases
    from deepkit.testing.tagging_cases import tagging_cases

    return recurrent_cases() + generative_cases() + tagging_cases()
