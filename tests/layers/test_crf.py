"""deepkit.layers.CRF against brute force: every tag sequence of short sentences enumerated in NumPy."""

import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepkit.layers import CRF
from deepkit.layers.crf import crf_log_partition, crf_sequence_score, crf_viterbi

NUM_TAGS, TIME = 3, 4


def random_crf(rng, num_tags=NUM_TAGS):
    crf = CRF(num_tags)
    crf.build((None, None, num_tags))
    weights = [rng.normal(size=w.shape).astype("float32") for w in crf.get_weights()]
    crf.set_weights(weights)
    return crf, [w.astype("float64") for w in weights]


# === NumPy reference, written from the definition: enumerate every tag sequence ===


def reference_score(potentials, tags, transitions, start, end):
    """s(x, y) of one unpadded sentence."""
    score = start[tags[0]] + end[tags[-1]] + sum(potentials[t, tag] for t, tag in enumerate(tags))
    return score + sum(transitions[a, b] for a, b in zip(tags[:-1], tags[1:]))


def enumerate_scores(potentials, weights):
    """{tag sequence: score} over every sequence of one unpadded sentence."""
    num_tags = potentials.shape[-1]
    return {
        tags: reference_score(potentials, tags, *weights)
        for tags in itertools.product(range(num_tags), repeat=len(potentials))
    }


def reference_log_partition(potentials, weights):
    scores = np.array(list(enumerate_scores(potentials, weights).values()))
    return np.log(np.sum(np.exp(scores - scores.max()))) + scores.max()


def reference_viterbi(potentials, weights):
    scores = enumerate_scores(potentials, weights)
    best = max(scores, key=scores.get)
    return np.array(best), scores[best]


def reference_marginals(potentials, weights):
    """p(y_t = j | x) of one unpadded sentence, (time, num_tags)."""
    scores = enumerate_scores(potentials, weights)
    log_z = reference_log_partition(potentials, weights)
    marginals = np.zeros(potentials.shape)
    for tags, score in scores.items():
        marginals[np.arange(len(tags)), tags] += np.exp(score - log_z)
    return marginals


# === Forward algorithm, sequence score and Viterbi ===


def test_log_partition_equals_the_log_sum_over_every_tag_sequence():
    rng = np.random.default_rng(0)
    crf, weights = random_crf(rng)
    potentials = rng.normal(size=(3, TIME, NUM_TAGS)).astype("float32")
    expected = [reference_log_partition(p.astype("float64"), weights) for p in potentials]
    np.testing.assert_allclose(crf.log_partition(potentials), expected, rtol=1e-5)


def test_sequence_score_equals_the_definition():
    rng = np.random.default_rng(1)
    crf, weights = random_crf(rng)
    potentials = rng.normal(size=(3, TIME, NUM_TAGS)).astype("float32")
    tags = rng.integers(0, NUM_TAGS, size=(3, TIME))
    expected = [reference_score(p.astype("float64"), t, *weights) for p, t in zip(potentials, tags)]
    np.testing.assert_allclose(crf.sequence_score(potentials, tags), expected, rtol=1e-5)


def test_negative_log_likelihood_is_log_partition_minus_score_and_probabilities_sum_to_one():
    rng = np.random.default_rng(2)
    crf, weights = random_crf(rng)
    potentials = rng.normal(size=(1, 3, NUM_TAGS)).astype("float32")
    every = np.array(list(itertools.product(range(NUM_TAGS), repeat=3)))
    nll = np.asarray(crf.negative_log_likelihood(np.repeat(potentials, len(every), axis=0), every))
    np.testing.assert_allclose(np.sum(np.exp(-nll)), 1.0, rtol=1e-5)


def test_viterbi_path_is_the_highest_scoring_of_every_tag_sequence():
    rng = np.random.default_rng(3)
    crf, weights = random_crf(rng)
    potentials = rng.normal(size=(6, TIME, NUM_TAGS)).astype("float32")
    tags, scores = crf.decode(potentials)
    for p, decoded, score in zip(potentials, np.asarray(tags), np.asarray(scores)):
        best, best_score = reference_viterbi(p.astype("float64"), weights)
        np.testing.assert_array_equal(decoded, best)
        np.testing.assert_allclose(score, best_score, rtol=1e-5)
    np.testing.assert_array_equal(crf(potentials), tags)  # calling the layer decodes


def test_a_one_word_sentence_takes_the_best_of_start_unary_and_end():
    rng = np.random.default_rng(4)
    crf, (_, start, end) = random_crf(rng)
    potentials = rng.normal(size=(2, 1, NUM_TAGS)).astype("float32")
    expected = np.argmax(potentials[:, 0] + start + end, axis=-1)
    np.testing.assert_array_equal(np.asarray(crf(potentials))[:, 0], expected)


# === Masks ===


@pytest.mark.parametrize("padding", ["right", "left"])
def test_a_padded_sentence_scores_normalises_and_decodes_like_the_unpadded_one(padding):
    rng = np.random.default_rng(5)
    crf, _ = random_crf(rng)
    lengths = [TIME, 2, 1]
    potentials = rng.normal(size=(3, TIME, NUM_TAGS)).astype("float32")
    tags = rng.integers(0, NUM_TAGS, size=(3, TIME))
    mask = np.array([[t < n for t in range(TIME)] for n in lengths])
    if padding == "left":
        mask = mask[:, ::-1]
    nll = np.asarray(crf.negative_log_likelihood(potentials, tags, mask))
    decoded = np.asarray(crf(potentials, mask=mask))
    for i in range(3):
        real = mask[i]
        alone = crf.negative_log_likelihood(potentials[i : i + 1, real], tags[i : i + 1, real])
        np.testing.assert_allclose(nll[i], np.asarray(alone)[0], rtol=1e-5)
        np.testing.assert_array_equal(decoded[i, real], np.asarray(crf(potentials[i : i + 1, real]))[0])
        assert (decoded[i, ~real] == 0).all()


def test_padding_potentials_and_tags_change_nothing():
    rng = np.random.default_rng(6)
    crf, _ = random_crf(rng)
    potentials = rng.normal(size=(2, TIME, NUM_TAGS)).astype("float32")
    tags = rng.integers(0, NUM_TAGS, size=(2, TIME))
    mask = np.array([[True, True, False, False], [True, True, True, False]])
    noisy_potentials, noisy_tags = potentials.copy(), tags.copy()
    noisy_potentials[~mask] = 100.0 * rng.normal(size=noisy_potentials[~mask].shape)
    noisy_tags[~mask] = (noisy_tags[~mask] + 1) % NUM_TAGS
    np.testing.assert_allclose(
        crf.negative_log_likelihood(noisy_potentials, noisy_tags, mask),
        crf.negative_log_likelihood(potentials, tags, mask),
        rtol=1e-5,
    )
    np.testing.assert_array_equal(crf(noisy_potentials, mask=mask), crf(potentials, mask=mask))


def test_a_sentence_without_a_real_step_has_zero_loss_and_decodes_to_zeros():
    rng = np.random.default_rng(7)
    crf, _ = random_crf(rng)
    potentials = rng.normal(size=(2, TIME, NUM_TAGS)).astype("float32")
    mask = np.array([[False] * TIME, [True] * TIME])
    tags = np.zeros((2, TIME), "int32")
    assert float(crf.negative_log_likelihood(potentials, tags, mask)[0]) == 0.0
    np.testing.assert_array_equal(np.asarray(crf(potentials, mask=mask))[0], 0)


def test_the_mask_of_an_embedding_reaches_the_crf():
    words = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(5, NUM_TAGS, mask_zero=True)(words)
    crf = CRF(NUM_TAGS, transitions_initializer=keras.initializers.RandomNormal(seed=0))
    model = keras.Model(words, crf(embedded))
    ids = np.array([[1, 2, 3, 0], [4, 0, 0, 0]])
    decoded = model.predict(ids, verbose=0)
    assert (decoded[ids == 0] == 0).all()
    potentials = model.layers[1](ids).numpy()
    np.testing.assert_array_equal(decoded[0, :3], crf(potentials[:1, :3])[0])


# === Gradients ===


def test_gradient_of_log_partition_is_the_tag_marginals_of_enumeration():
    """∂ log Z / ∂ P[t, j] = p(y_t = j | x): the forward algorithm's gradient is exact."""
    rng = np.random.default_rng(8)
    crf, weights = random_crf(rng)
    potentials = tf.constant(rng.normal(size=(2, TIME, NUM_TAGS)).astype("float32"))
    with tf.GradientTape() as tape:
        tape.watch(potentials)
        log_z = tf.reduce_sum(crf.log_partition(potentials))
    gradient = tape.gradient(log_z, potentials).numpy()
    for p, g in zip(potentials.numpy(), gradient):
        np.testing.assert_allclose(g, reference_marginals(p.astype("float64"), weights), rtol=1e-4, atol=1e-6)


def test_gradients_of_the_likelihood_equal_central_finite_differences():
    """In float64, through the pure functions, for the potentials and all three transition weights."""
    rng = np.random.default_rng(9)
    potentials = rng.normal(size=(2, TIME, NUM_TAGS))
    weights = [rng.normal(size=(NUM_TAGS, NUM_TAGS)), rng.normal(size=NUM_TAGS), rng.normal(size=NUM_TAGS)]
    tags = rng.integers(0, NUM_TAGS, size=(2, TIME))
    mask = np.array([[True] * TIME, [True, True, True, False]])

    def nll(p, a, s, e):
        return tf.reduce_sum(crf_log_partition(p, mask, a, s, e) - crf_sequence_score(p, tags, mask, a, s, e))

    variables = [tf.constant(v) for v in [potentials, *weights]]
    with tf.GradientTape() as tape:
        tape.watch(variables)
        value = nll(*variables)
    gradients = tape.gradient(value, variables)
    step = 1e-6
    traced = tf.function(nll)  # one graph for the 2 x 39 evaluations
    for index, (array, gradient) in enumerate(zip([potentials, *weights], gradients)):
        numeric = np.zeros_like(array)
        for position in np.ndindex(array.shape):
            plus, minus = [v.copy() for v in [potentials, *weights]], [v.copy() for v in [potentials, *weights]]
            plus[index][position] += step
            minus[index][position] -= step
            numeric[position] = (float(traced(*plus)) - float(traced(*minus))) / (2 * step)
        np.testing.assert_allclose(gradient.numpy(), numeric, rtol=1e-5, atol=1e-7)


# === XLA, saving, configs ===


def test_decoding_and_likelihood_under_xla_equal_eager():
    rng = np.random.default_rng(10)
    crf, _ = random_crf(rng)
    potentials = rng.normal(size=(3, TIME, NUM_TAGS)).astype("float32")
    tags = rng.integers(0, NUM_TAGS, size=(3, TIME)).astype("int32")
    mask = np.array([[True] * TIME, [True, True, False, False], [True, False, False, False]])

    @tf.function(jit_compile=True)
    def compiled(p, y, m):
        return crf(p, mask=m), crf.negative_log_likelihood(p, y, m)

    decoded, nll = compiled(potentials, tags, mask)
    np.testing.assert_array_equal(decoded, crf(potentials, mask=mask))
    np.testing.assert_allclose(nll, crf.negative_log_likelihood(potentials, tags, mask), rtol=1e-5)


def test_viterbi_of_the_pure_function_matches_the_layer_in_float64():
    rng = np.random.default_rng(11)
    crf, weights = random_crf(rng)
    potentials = rng.normal(size=(2, TIME, NUM_TAGS))
    tags, _ = crf_viterbi(tf.constant(potentials), None, *[tf.constant(w) for w in weights])
    np.testing.assert_array_equal(tags, crf(potentials.astype("float32")))


def test_config_round_trip_keeps_the_arguments():
    crf = CRF(4, transitions_initializer="glorot_uniform", transitions_regularizer="l2", name="tags")
    clone = CRF.from_config(crf.get_config())
    assert clone.get_config() == crf.get_config() and clone.num_tags == 4


# === Bad input ===


def test_tags_outside_the_tag_set_are_refused_naming_the_range():
    crf = CRF(NUM_TAGS)
    potentials = np.zeros((1, 2, NUM_TAGS), "float32")
    with pytest.raises(ValueError, match=r"expected tags in \[0, 3\).*Received tags \[3\]"):
        crf.negative_log_likelihood(potentials, np.array([[0, 3]]))
    with pytest.raises(ValueError, match=r"Received tags \[-1\]"):
        crf.sequence_score(potentials, np.array([[-1, 0]]))


def test_tags_outside_the_tag_set_are_refused_in_a_graph():
    crf = CRF(NUM_TAGS)
    graph = tf.function(lambda p, y: crf.negative_log_likelihood(p, y))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"expected tags in \[0, 3\)"):
        graph(np.zeros((1, 2, NUM_TAGS), "float32"), np.array([[0, 7]], "int32"))


def test_potentials_with_the_wrong_number_of_tags_are_refused_naming_both():
    crf = CRF(NUM_TAGS)
    with pytest.raises(ValueError, match=r"num_tags=3 scores per step.*Received: shape \(2, 4, 5\), 5 scores"):
        crf(np.zeros((2, 4, 5), "float32"))
    with pytest.raises(ValueError, match=r"shape \(batch, time, num_tags=3\).*Received: shape \(2, 3\)"):
        crf.log_partition(np.zeros((2, 3), "float32"))


@pytest.mark.parametrize("num_tags", [0, -2, 2.5, True])
def test_num_tags_must_be_a_positive_integer(num_tags):
    with pytest.raises(ValueError, match="num_tags"):
        CRF(num_tags)
