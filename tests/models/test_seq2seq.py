"""Seq2Seq: teacher forcing, greedy and beam search against exhaustive enumeration, the
string-to-string SavedModel served without deepkit, and the errors on bad input."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepkit import layers
from deepkit.models import Seq2Seq
from deepkit.models.beam_search import length_normaliser
from deepkit.models.seq2seq import END, PAD, START

SOURCE, TARGET = list("abcd"), list("xy")


def make_model(attention="bahdanau", max_target_length=4, scale=1.0, seed=0, units=4, **kwargs):
    keras.utils.set_random_seed(seed)
    model = Seq2Seq(
        layers.BRNN(keras.layers.GRU(units, return_sequences=True, return_state=True)),
        keras.layers.GRUCell(units + 1),
        SOURCE, TARGET, attention=attention, embedding_dim=3, max_source_length=6,
        max_target_length=max_target_length, **kwargs,
    )
    model.build(((None, 6), (None, max_target_length + 1)))
    # Larger weights make the next-token distributions peaked, so greedy and beam differ.
    model.set_weights([w * scale for w in model.get_weights()])
    return model


def sources(model):
    return model.encode_source(["abcd", "dcba", "a", "cab"])


def teacher_forced_log_prob(model, source_ids, sequences):
    """Log probability of each of ``sequences`` (lists of target ids, ``END`` included
    when the sequence ends before the limit) from the teacher-forced logits of ``call``."""
    steps = model.max_target_length + 1
    target_in = np.full((len(sequences), steps), PAD, "int32")
    target_in[:, 0] = START
    for row, sequence in enumerate(sequences):
        target_in[row, 1 : len(sequence)] = sequence[: steps - 1][: len(sequence) - 1]
    logits = model((np.repeat(source_ids, len(sequences), 0), target_in))
    log_probs = np.asarray(tf.nn.log_softmax(logits))
    return np.array([sum(log_probs[row, t, token] for t, token in enumerate(sequence))
                     for row, sequence in enumerate(sequences)])


@pytest.mark.parametrize("attention", [None, "bahdanau", "luong"])
def test_beam_search_of_width_one_equals_greedy_search(attention):
    model = make_model(attention, scale=3.0)
    source_ids = sources(model)
    greedy, beam = model.greedy_search(source_ids), model.beam_search(source_ids, beam_width=1)
    np.testing.assert_array_equal(beam["ids"].numpy()[:, 0], greedy["ids"].numpy())
    np.testing.assert_allclose(beam["scores"].numpy()[:, 0], greedy["scores"].numpy(), rtol=1e-5)
    if attention is not None:
        np.testing.assert_allclose(beam["attention"].numpy()[:, 0], greedy["attention"].numpy(), rtol=1e-5,
                                   atol=1e-6)


def every_sequence(model, max_length):
    """Every output the search can produce: tokens other than padding and <start>, ending at
    <end> or cut at ``max_length``."""
    tokens = [1] + list(range(4, model.target_vocabulary_size))  # unknown and the vocabulary
    found = []
    for length in range(max_length):
        found += [list(prefix) + [END] for prefix in itertools.product(tokens, repeat=length)]
    found += [list(prefix) for prefix in itertools.product(tokens, repeat=max_length)]
    return found


@pytest.mark.parametrize("attention", ["bahdanau", "luong"])
def test_beam_search_finds_the_most_probable_sequence_of_all_that_can_be_enumerated(attention):
    model = make_model(attention, max_target_length=2, scale=3.0, seed=1)
    candidates = every_sequence(model, max_length=3)  # 1 + 3 + 9 + 27 = 40 sequences
    wide = 4**2  # nothing is pruned: every prefix of two tokens stays on the beam
    for source in (["abcd"], ["db"]):
        source_ids = model.encode_source(source)
        log_probs = teacher_forced_log_prob(model, source_ids, candidates)
        found = model.beam_search(source_ids, beam_width=wide)
        best = list(found["ids"].numpy()[0, 0])
        best = best[: best.index(END) + 1] if END in best else best
        assert best == candidates[int(np.argmax(log_probs))]
        np.testing.assert_allclose(found["scores"].numpy()[0, 0], log_probs.max(), rtol=1e-5)
        # Every returned beam's score is that sequence's probability under teacher forcing.
        for beam, score in zip(found["ids"].numpy()[0], found["scores"].numpy()[0]):
            beam = list(beam)
            beam = beam[: beam.index(END) + 1] if END in beam else beam
            np.testing.assert_allclose(score, log_probs[candidates.index(beam)], rtol=1e-5, atol=1e-5)
        greedy = model.greedy_search(source_ids)["scores"].numpy()[0]
        assert greedy <= log_probs.max() + 1e-6


def test_length_penalty_ranks_by_log_probability_over_the_gnmt_normaliser():
    model = make_model("luong", scale=3.0)
    found = model.beam_search(sources(model), beam_width=3, length_penalty=1.0)
    ids, scores = found["ids"].numpy(), found["scores"].numpy()
    lengths = np.where((ids == END).any(-1), (ids == END).argmax(-1) + 1, ids.shape[-1])
    plain = model.beam_search(sources(model), beam_width=3, length_penalty=0.0)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)  # best first
    normalised = plain["scores"].numpy() / np.asarray(length_normaliser(
        np.where((plain["ids"].numpy() == END).any(-1), (plain["ids"].numpy() == END).argmax(-1) + 1,
                 ids.shape[-1]), 1.0))
    np.testing.assert_allclose(np.sort(normalised, 1)[:, ::-1], scores, rtol=1e-5)
    assert lengths.shape == scores.shape


def test_greedy_output_fed_back_by_teacher_forcing_gives_the_same_tokens():
    """The search's decoder step and the teacher-forced call are the same computation."""
    model = make_model("bahdanau", scale=3.0)
    source_ids = sources(model)
    ids = model.greedy_search(source_ids)["ids"].numpy()
    target_in = np.concatenate([np.full((len(ids), 1), START), ids[:, :-1]], 1)
    logits = np.asarray(model((source_ids, target_in)))
    generated = ids != PAD
    banned = logits.copy()
    banned[..., [PAD, START]] = -np.inf
    np.testing.assert_array_equal(banned.argmax(-1)[generated], ids[generated])


def test_fit_learns_and_padding_does_not_count_in_the_loss():
    model = make_model("bahdanau", units=16)
    model.compile(optimizer=keras.optimizers.Adam(0.02))
    texts = ["abc", "dcba", "ab", "d"]
    source_ids = model.encode_source(texts)
    target_in, target_out = model.encode_target(["xy", "yyx", "x", ""])
    logits = np.asarray(model((source_ids, target_in)))
    noisy = logits + np.where((target_out == PAD)[..., None], 100.0 * np.random.default_rng(0).normal(
        size=logits.shape), 0.0)
    np.testing.assert_allclose(model.loss(target_out, noisy), model.loss(target_out, logits), rtol=1e-6)
    history = model.fit((source_ids, target_in), target_out, epochs=60, batch_size=4, verbose=0).history
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["masked_token_accuracy"][-1] == 1.0
    assert list(model.translate(texts, beam_width=2)) == ["xy", "yyx", "x", ""]
    evaluated = model.evaluate((source_ids, target_in), target_out, verbose=0, return_dict=True)
    assert set(evaluated) == {"loss", "masked_token_accuracy"}


SERVE_STRINGS = """
import json, sys
sys.modules["deepkit"] = None  # any import of deepkit now fails
import tensorflow as tf
loaded = tf.saved_model.load(sys.argv[1])
texts = tf.constant(json.loads(sys.argv[2]))
beams = loaded.translate_beams(texts)
default = loaded.signatures["serving_default"](texts)
print(json.dumps({
    "translate": [t.decode() for t in loaded.translate(texts).numpy()],
    "translate_greedy": [t.decode() for t in loaded.translate_greedy(texts).numpy()],
    "beams": [[t.decode() for t in row] for row in beams["translations"].numpy()],
    "serving_default": [t.decode() for t in next(iter(default.values())).numpy()],
}))
"""


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """A model and its SavedModel, written once: the export traces every endpoint's search,
    the slowest step of the tests that serve it."""
    model = make_model("luong", scale=3.0)
    path = str(tmp_path_factory.mktemp("seq2seq") / "seq2seq")
    model.export(path, verbose=False)
    return model, path


def test_export_serves_strings_to_strings_without_deepkit(exported, tmp_path):
    import json

    from deepkit.testing import run_without_deepkit

    model, path = exported
    texts = ["abcd", "dcba", "a"]
    printed = run_without_deepkit(SERVE_STRINGS, [path, json.dumps(texts)], cwd=str(tmp_path))
    served = json.loads(printed.strip().splitlines()[-1])
    expected = list(model.translate(texts))
    assert served["translate"] == served["serving_default"] == expected
    assert served["translate_greedy"] == list(model.translate(texts, beam_width=1))
    assert [row[0] for row in served["beams"]] == expected and len(served["beams"][0]) == model.beam_width


def test_bad_input_is_refused_with_what_was_expected_and_received(exported):
    model = make_model("bahdanau")
    with pytest.raises(ValueError, match="non-empty strings.*index 1"):
        model.translate(["ab", ""])
    with pytest.raises(ValueError, match="at most 6 characters.*Received 7 in 'abcdabc'"):
        model.translate(["abcdabc"])
    with pytest.raises(ValueError, match=r"vocabulary. Received \['z'\] in 'abz'"):
        model.translate(["abz"])
    with pytest.raises(ValueError, match="beam_width.*positive integer.*Received: beam_width=0"):
        model.beam_search(sources(model), beam_width=0)
    with pytest.raises(ValueError, match="beam_width.*positive integer.*Received: beam_width=0"):
        make_model(beam_width=0)
    with pytest.raises(ValueError, match="return_state=True"):
        Seq2Seq(keras.layers.GRU(4, return_sequences=True), keras.layers.GRUCell(4), SOURCE, TARGET)
    with pytest.raises(ValueError, match="reserved tokens.*<end>"):
        Seq2Seq(keras.layers.GRU(4, return_sequences=True, return_state=True), keras.layers.GRUCell(4),
                SOURCE, ["<end>", "x"], tokens="words")
    with pytest.raises(ValueError, match="distinct tokens.*'a'"):
        Seq2Seq(keras.layers.GRU(4, return_sequences=True, return_state=True), keras.layers.GRUCell(4),
                ["a", "a"], TARGET)
    with pytest.raises(ValueError, match="dropout=0"):
        Seq2Seq(keras.layers.GRU(4, return_sequences=True, return_state=True), keras.layers.GRUCell(4, dropout=0.5),
                SOURCE, TARGET)
    loaded = tf.saved_model.load(exported[1])  # the refusals are the export's, whatever its attention
    for texts, message in (([b"ab", b""], "non-empty"), ([b"abcdabc"], "(?s)at most 6 characters.*abcdabc"),
                           ([b"ab", b"abz"], "(?s)source vocabulary .*abcd.*received strings with others.*abz")):
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            loaded.translate(tf.constant(texts))


def test_words_are_split_on_whitespace_and_joined_with_one_space():
    keras.utils.set_random_seed(0)
    model = Seq2Seq(keras.layers.GRU(4, return_sequences=True, return_state=True), layers.RelevanceGRUCell(4),
                    ["le", "chat"], ["the", "cat"], tokens="words", max_source_length=3, max_target_length=3)
    assert model.encode_source(["le  chat"]).tolist() == [[2, 3, 0]]
    assert model.decode_ids(np.array([[5, 4, END, 4]])).tolist() == ["cat the"]
