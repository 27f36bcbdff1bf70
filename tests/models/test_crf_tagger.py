"""CRFTagger: fit minimises the CRF's likelihood, predict decodes, the transitions carry what the words cannot."""

import keras
import numpy as np
import pytest

from deepkit.models import CRFTagger

TAGS = 2


def word_only_encoder(vocabulary=3, num_tags=TAGS):
    """Potentials from each word alone: no context reaches a step except through the CRF."""
    words = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(vocabulary, num_tags, mask_zero=True)(words)
    return keras.Model(words, embedded)


def alternating_task(rng, sentences=32, time=6):
    """Every word is the same word; the tags alternate 0, 1, 0, ... from the first word.
    Right-padded to ``time`` with id 0."""
    lengths = rng.integers(2, time + 1, size=sentences)
    ids = np.zeros((sentences, time), "int32")
    tags = np.zeros((sentences, time), "int32")
    for row, length in enumerate(lengths):
        ids[row, :length] = 1
        tags[row, :length] = np.arange(length) % 2
    return ids, tags, ids != 0


def test_the_transitions_learn_an_alternation_that_the_words_alone_cannot_give():
    keras.utils.set_random_seed(0)
    ids, tags, real = alternating_task(np.random.default_rng(0))
    tagger = CRFTagger(word_only_encoder(), TAGS)
    tagger.compile(optimizer=keras.optimizers.Adam(0.1))
    history = tagger.fit(ids, tags, batch_size=8, epochs=15, verbose=0).history
    assert history["loss"][-1] < 0.05 * history["loss"][0]
    decoded = tagger.predict(ids, verbose=0)
    np.testing.assert_array_equal(decoded[real], tags[real])
    assert (decoded[~real] == 0).all()
    transitions = np.asarray(tagger.crf.transitions)
    assert transitions[0, 1] > transitions[0, 0] and transitions[1, 0] > transitions[1, 1]
    assert history["accuracy"][-1] == pytest.approx(1.0)


def test_evaluate_logs_the_mean_sentence_loss_and_the_accuracy_of_real_words_only():
    ids, tags, real = alternating_task(np.random.default_rng(1), sentences=4)
    tagger = CRFTagger(word_only_encoder(), TAGS)
    tagger.compile(optimizer="adam")
    logs = tagger.evaluate(ids, tags, batch_size=4, verbose=0, return_dict=True)
    potentials = tagger.encoder(ids)
    expected_loss = np.mean(tagger.crf.negative_log_likelihood(potentials, tags, real))
    decoded = tagger.predict(ids, verbose=0)
    assert logs["loss"] == pytest.approx(expected_loss, rel=1e-5)
    assert logs["accuracy"] == pytest.approx(np.mean(decoded[real] == tags[real]), rel=1e-6)


def test_sample_weights_weight_each_sentence():
    ids, tags, _ = alternating_task(np.random.default_rng(2), sentences=4)
    tagger = CRFTagger(word_only_encoder(), TAGS, transitions_initializer="glorot_uniform")
    tagger.compile(optimizer="adam")
    weights = np.array([1.0, 0.0, 2.0, 0.0])
    logs = tagger.evaluate(ids, tags, sample_weight=weights, batch_size=4, verbose=0, return_dict=True)
    per_sentence = np.asarray(tagger.crf.negative_log_likelihood(tagger.encoder(ids), tags, ids != 0))
    assert logs["loss"] == pytest.approx(np.mean(per_sentence * weights), rel=1e-5)


def test_an_encoder_with_the_wrong_number_of_tags_is_refused_naming_both():
    with pytest.raises(ValueError, match=r"num_tags=5\).*first of shape \(None, None, 2\)"):
        CRFTagger(word_only_encoder(), 5)


def test_compile_refuses_a_loss_since_the_crf_likelihood_is_built_in():
    tagger = CRFTagger(word_only_encoder(), TAGS)
    with pytest.raises(ValueError, match="losses are built in"):
        tagger.compile(optimizer="adam", loss="mse")


def test_tags_outside_the_tag_set_stop_fit_with_the_range():
    ids, tags, _ = alternating_task(np.random.default_rng(3), sentences=4)
    tagger = CRFTagger(word_only_encoder(), TAGS)
    tagger.compile(optimizer="adam", run_eagerly=True)  # a compiled step raises the same (tests/layers/test_crf.py)
    with pytest.raises(ValueError, match=r"expected tags in \[0, 2\).*Received tags \[2, 3\]"):
        tagger.fit(ids, tags + 2, epochs=1, verbose=0)
