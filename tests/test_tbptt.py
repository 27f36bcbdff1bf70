"""Truncated backpropagation through time (deepkit.tbptt): the batch layout carries each row
on, the stateful layers carry the forward state across chunks but no gradient, the resets
land where sequences start, and TBPTT learns long text as well as full backprop."""

import doctest
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepkit import tbptt
from deepkit.layers import PeepholeLSTM, RelevanceGRU

RECURRENT = [
    pytest.param(PeepholeLSTM, {}, id="PeepholeLSTM-fused"),
    pytest.param(PeepholeLSTM, {"use_fused": False}, id="PeepholeLSTM-general"),
    pytest.param(PeepholeLSTM, {"layer_norm": True}, id="PeepholeLSTM-layer_norm"),
    pytest.param(RelevanceGRU, {}, id="RelevanceGRU-fused"),
    pytest.param(RelevanceGRU, {"use_fused": False}, id="RelevanceGRU-general"),
    pytest.param(keras.layers.LSTM, {}, id="keras-LSTM"),
]


def test_the_module_docstring_examples_run():
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(tbptt, globs={"np": np, "keras": keras, **vars(tbptt)}):
        runner.run(test)
    assert runner.tries >= 6 and runner.failures == 0


# === The batch layout ===


def test_row_i_of_batch_k_plus_1_continues_row_i_of_batch_k_of_one_stream():
    stream = np.arange(1000)
    layout = tbptt.stream_batches(stream[:-1], stream[1:], batch_size=4, steps=7)
    batches = list(layout.dataset.as_numpy_iterator())
    assert layout.batches == len(batches) == 999 // 4 // 7 and layout.starts == (0,)
    inputs = np.concatenate([x for x, _ in batches], axis=1)  # (4, row length): each row read across batches
    targets = np.concatenate([y for _, y in batches], axis=1)
    row_length = inputs.shape[1]
    for i in range(4):  # each row is one contiguous piece of the stream, the rows in stream order
        np.testing.assert_array_equal(inputs[i], stream[i * row_length : (i + 1) * row_length])
    np.testing.assert_array_equal(targets, inputs + 1)  # the target is the next item, across chunk boundaries too
    assert all(x.shape == (4, 7) for x, _ in batches)


def test_stream_layout_keeps_feature_axes():
    series = np.arange(60, dtype="float32").reshape(30, 2)
    x, y = next(tbptt.stream_batches(series, series, batch_size=3, steps=5).dataset.as_numpy_iterator())
    assert x.shape == (3, 5, 2)
    np.testing.assert_array_equal(x[1], series[10:15])


def test_each_row_of_sequence_batches_is_one_sequence_and_states_reset_per_group():
    sequences = [np.arange(100 * j, 100 * j + n) for j, n in enumerate([5, 3, 7, 2, 4])]
    layout = tbptt.sequence_batches(sequences, [s + 1 for s in sequences], batch_size=2, steps=3)
    batches = list(layout.dataset.as_numpy_iterator())
    # Groups: (5, 3) -> 2 chunks, (7, 2) -> 3 chunks, (4, padded row) -> 2 chunks.
    assert layout.starts == (0, 2, 5) and layout.batches == len(batches) == 7
    for group, (first, end) in enumerate(zip(layout.starts, layout.starts[1:] + (len(batches),))):
        x = np.concatenate([batches[k][0] for k in range(first, end)], axis=1)
        w = np.concatenate([batches[k][2] for k in range(first, end)], axis=1)
        for row in range(2):
            j = 2 * group + row
            real = len(sequences[j]) if j < len(sequences) else 0
            np.testing.assert_array_equal(w[row], np.arange(x.shape[1]) < real)
            if real:
                np.testing.assert_array_equal(x[row, :real], sequences[j])
    assert all(x.shape == (2, 3) for x, _, _ in batches)


@pytest.mark.parametrize("call, message", [
    (lambda: tbptt.stream_batches(np.arange(10), np.arange(10), batch_size=4, steps=3),
     "gives rows of 2 steps, fewer than one chunk of steps=3"),
    (lambda: tbptt.stream_batches(np.arange(10), np.arange(9), batch_size=1, steps=3), "received 10 and 9"),
    (lambda: tbptt.stream_batches(np.arange(10), np.arange(10), batch_size=0, steps=3), "batch_size"),
    (lambda: tbptt.sequence_batches([np.arange(3)], [np.arange(2)], batch_size=1, steps=3),
     "received 3 inputs, 2 targets"),
    (lambda: tbptt.sequence_batches([], [], batch_size=1, steps=3), "received 0, 0"),
    (lambda: tbptt.stateful_copy(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]), 2),
     "has no recurrent layer"),
    (lambda: tbptt.ResetStates(train=(0, -1)), "received (0, -1)"),
])
def test_bad_arguments_are_refused_naming_what_was_expected(call, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        call()


# === State carried forward, gradient cut ===


@pytest.mark.parametrize("layer_class, kwargs", RECURRENT)
def test_stateful_chunks_give_the_untruncated_forward_output_and_reset_to_zero(layer_class, kwargs):
    x = np.random.default_rng(0).normal(size=(3, 12, 5)).astype("float32")
    full = layer_class(4, return_sequences=True, **kwargs)
    expected = keras.ops.convert_to_numpy(full(x))
    chunked = layer_class(4, return_sequences=True, stateful=True, **kwargs)
    chunked.build((3, 4, 5))
    chunked.set_weights(full.get_weights())
    outputs = np.concatenate([keras.ops.convert_to_numpy(chunked(x[:, k : k + 4])) for k in (0, 4, 8)], axis=1)
    np.testing.assert_allclose(outputs, expected, atol=1e-6)
    assert np.abs(outputs[:, 4:] - keras.ops.convert_to_numpy(full(x[:, 4:]))).max() > 1e-3  # the state mattered
    chunked.reset_states()
    np.testing.assert_allclose(keras.ops.convert_to_numpy(chunked(x[:, :4])), expected[:, :4], atol=1e-6)


@pytest.mark.parametrize("layer_class, kwargs", RECURRENT)
def test_the_loss_on_chunk_k_plus_1_has_zero_gradient_wrt_the_inputs_of_chunk_k(layer_class, kwargs):
    rng = np.random.default_rng(1)
    first, second = (tf.constant(rng.normal(size=(2, 6, 3)).astype("float32")) for _ in range(2))
    stateful = layer_class(4, return_sequences=True, stateful=True, **kwargs)
    untruncated = layer_class(4, return_sequences=True, **kwargs)
    stateful.build((2, 6, 3))
    untruncated.build((2, 12, 3))
    untruncated.set_weights(stateful.get_weights())

    with tf.GradientTape(persistent=True) as tape:
        tape.watch([first, second])
        stateful(first)  # chunk k: its final state goes into the layer's variables
        loss = tf.reduce_sum(stateful(second) ** 2)  # chunk k+1 starts from that state
        full_loss = tf.reduce_sum(untruncated(tf.concat([first, second], axis=1))[:, 6:] ** 2)
    zero = tf.UnconnectedGradients.ZERO
    np.testing.assert_array_equal(tape.gradient(loss, first, unconnected_gradients=zero).numpy(), 0.0)
    assert np.abs(tape.gradient(loss, second).numpy()).max() > 0
    # Without the cut the same loss reaches back into chunk k: the test above can fail.
    assert np.abs(tape.gradient(full_loss, first).numpy()).max() > 1e-4
    np.testing.assert_allclose(loss.numpy(), full_loss.numpy(), rtol=1e-5)  # same forward value


def char_model(vocabulary, units=8):
    ids = keras.Input((None,), dtype="int64", name="char_ids")
    hidden = PeepholeLSTM(units, return_sequences=True, name="lstm")(keras.layers.Embedding(vocabulary, 4)(ids))
    return keras.Model(ids, keras.layers.Dense(vocabulary, name="logits")(hidden))


def test_stateful_copy_is_stateful_holds_the_weights_and_gives_them_back():
    model = char_model(12)
    trainer = tbptt.stateful_copy(model, batch_size=3)
    assert [layer.name for layer in tbptt.stateful_layers(trainer)] == ["lstm"]
    assert not tbptt.stateful_layers(model)
    for a, b in zip(model.get_weights(), trainer.get_weights()):
        np.testing.assert_array_equal(a, b)
    trainer.set_weights([w + 1 for w in trainer.get_weights()])
    model.set_weights(trainer.get_weights())
    np.testing.assert_array_equal(model.get_layer("logits").get_weights()[1],
                                  trainer.get_layer("logits").get_weights()[1])


def test_copy_trained_brings_back_weights_and_optimizer_state_so_the_model_saves_as_trained(tmp_path):
    model = char_model(12)
    trainer = tbptt.stateful_copy(model, batch_size=2)
    for m in (model, trainer):
        m.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = np.random.default_rng(3).integers(0, 12, (2, 5))
    trainer.train_on_batch(ids, ids)
    tbptt.copy_trained(trainer, model)
    for a, b in zip(trainer.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(model.optimizer.iterations) == 1
    model.save(tmp_path / "m.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "Skipping variable loading for optimizer"
        restored = keras.models.load_model(tmp_path / "m.keras")
    np.testing.assert_allclose(np.asarray(restored(ids)), np.asarray(model(ids)), atol=1e-6)
    with pytest.raises(ValueError, match="must hold the same weights"):
        tbptt.copy_trained(trainer, char_model(12, units=6))


def test_predict_through_a_sequence_layout_with_reset_states_equals_each_sequence_read_whole():
    rng = np.random.default_rng(2)
    sequences = [rng.integers(0, 12, n) for n in (9, 4, 6, 11, 3)]
    model = char_model(12)
    layout = tbptt.sequence_batches(sequences, sequences, batch_size=2, steps=4)
    trainer = tbptt.stateful_copy(model, batch_size=2)
    inputs = layout.dataset.map(lambda x, y, w: x)
    chunks = trainer.predict(inputs, verbose=0, callbacks=[tbptt.ResetStates(predict=layout)])
    ends = layout.starts[1:] + (layout.batches,)
    for group, (first, end) in enumerate(zip(layout.starts, ends)):
        read = np.concatenate([chunks[2 * k : 2 * k + 2] for k in range(first, end)], axis=1)
        for row, j in enumerate(range(2 * group, min(2 * group + 2, len(sequences)))):
            expected = model.predict(sequences[j][None], verbose=0)[0]
            np.testing.assert_allclose(read[row, : len(sequences[j])], expected, atol=1e-5)
    # Without the resets, the second group would start from the first group's state.
    tbptt.reset_states(trainer)
    carried = trainer.predict(inputs, verbose=0)
    assert np.abs(carried[2 * layout.starts[1]] - chunks[2 * layout.starts[1]]).max() > 1e-4


def test_reset_states_refuses_a_model_without_stateful_layers():
    model = char_model(6)
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = np.zeros((4, 5), "int64")
    with pytest.raises(ValueError, match="has no layer with stateful=True"):
        model.fit(ids, ids, epochs=1, verbose=0, callbacks=[tbptt.ResetStates()])


# === TBPTT against full backprop on long text ===


def lee_text(split, characters):
    from deepkit import data

    return "\n".join(t.decode("utf-8") for t in data.split_arrays("lee_background", split)["text"])[:characters]


def segments(ids, length):
    """Disjoint (input, next-id target) pairs of ``length`` ids: the long sequences both ways train on."""
    count = (len(ids) - 1) // length
    return [ids[j * length : (j + 1) * length] for j in range(count)], [ids[j * length + 1 : (j + 1) * length + 1]
                                                                           for j in range(count)]


def trained_bits_per_char(train, test, vocabulary, steps, batch_size, units, epochs):
    """Trains a char model on the ``train`` segments backpropagating ``steps`` ids (the whole
    segment for full backprop), state carried across the chunks of a segment; returns the
    held-out bits per character of the stateless model reading each ``test`` segment whole."""
    keras.utils.set_random_seed(0)
    model = char_model(vocabulary, units)
    trainer = tbptt.stateful_copy(model, batch_size)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2, global_clipnorm=1.0),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    layout = tbptt.sequence_batches(*train, batch_size, steps)  # no padding: segments fill whole chunks
    trainer.fit(layout.dataset.map(lambda x, y, w: (x, y)), epochs=epochs, verbose=0, shuffle=False,
                callbacks=[tbptt.ResetStates(layout)])
    model.set_weights(trainer.get_weights())
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return model.evaluate(np.stack(test[0]), np.stack(test[1]), batch_size=64, verbose=0) / np.log(2)


def peak_step_memory(steps, batch_size, units, vocabulary):
    """Bytes a train step allocates at its peak beyond what is held before it (TensorFlow's
    CPU allocator statistics, which need TF_CPU_ALLOCATOR_USE_BFC=true at start-up)."""
    import tensorflow as tf

    trainer = tbptt.stateful_copy(char_model(vocabulary, units), batch_size)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-2, global_clipnorm=1.0),
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    ids = np.zeros((batch_size, steps), "int64")
    trainer.train_on_batch(ids, ids)  # traced, optimizer built
    tf.config.experimental.reset_memory_stats("CPU:0")
    before = tf.config.experimental.get_memory_info("CPU:0")["current"]
    trainer.train_on_batch(ids, ids)
    return tf.config.experimental.get_memory_info("CPU:0")["peak"] - before


def peak_step_memories(step_counts, batch_size, units, vocabulary):
    """:func:`peak_step_memory` of each of ``step_counts``, measured in a fresh process."""
    import json
    import os
    import pathlib
    import subprocess
    import sys

    code = ("import json, sys; from tests.test_tbptt import peak_step_memory as m; "
            f"print(json.dumps([m(s, {batch_size}, {units}, {vocabulary}) for s in {list(step_counts)}]))")
    root = pathlib.Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=600,
                            env=dict(os.environ, TF_CPU_ALLOCATOR_USE_BFC="true", TF_CPP_MIN_LOG_LEVEL="3"))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def unigram_bits_per_char(train_ids, test_ids):
    counts = np.bincount(train_ids, minlength=test_ids.max() + 1) + 1.0
    return float(-np.mean(np.log2((counts / counts.sum())[test_ids])))


def compare_tbptt_with_full_backprop(characters, segment, steps, batch_size, units, epochs):
    text, held_out = lee_text("train", characters), lee_text("test", max(characters // 5, 4 * segment))
    index = {c: i + 1 for i, c in enumerate(sorted(set(text)))}  # 0: a character the training text lacks
    encode = lambda s: np.array([index.get(c, 0) for c in s], "int64")  # noqa: E731
    train, test = segments(encode(text), segment), segments(encode(held_out), segment)
    train = tuple(part[: len(part) // batch_size * batch_size] for part in train)  # whole groups only
    vocabulary = len(index) + 1
    full, truncated = (trained_bits_per_char(train, test, vocabulary, s, batch_size, units, epochs)
                       for s in (segment, steps))
    memory = peak_step_memories((segment, steps), batch_size, units, vocabulary)
    print(f"{characters} characters, segments of {segment}, {epochs} epochs: full backprop {full:.3f} bits/char, "
          f"TBPTT({steps}) {truncated:.3f}; unigram {unigram_bits_per_char(encode(text), encode(held_out)):.3f}; "
          f"peak memory per step {memory[0] / 2**20:.1f} MiB vs {memory[1] / 2**20:.1f} MiB")
    return full, truncated, unigram_bits_per_char(encode(text), np.concatenate(test[1])), memory


def test_tbptt_learns_long_text_as_well_as_full_backprop_with_less_memory_per_step():
    """Small: 12k characters in segments of 128, backpropagated whole or 32 at a time."""
    full, truncated, unigram, memory = compare_tbptt_with_full_backprop(12_000, 128, 32, 8, 32, 2)
    assert truncated <= full + 0.1
    assert truncated < unigram  # it learned more than the characters' frequencies
    assert memory[1] < 0.6 * memory[0]


@pytest.mark.slow
def test_tbptt_reaches_the_bits_per_char_of_full_backprop_on_long_text_with_less_memory():
    """100k characters in segments of 512, backpropagated whole or 64 at a time."""
    full, truncated, unigram, memory = compare_tbptt_with_full_backprop(100_000, 512, 64, 16, 64, 8)
    assert truncated <= full + 0.05
    assert truncated < unigram - 0.5
    assert memory[1] < 0.4 * memory[0]
