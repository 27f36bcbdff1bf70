"""Word2Vec: its examples equal a plain-Python word2vec's, its negatives follow unigram^0.75,
its loss and gradient equal NumPy's, it learns planted co-occurrences, and it saves,
loads and serves without deepkit."""

import json
import textwrap

import keras
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from deepkit.data import skipgrams
from deepkit.models import Word2Vec
from deepkit.models.word2vec import context_mean, negative_sampling_loss
from deepkit.testing import run_without_deepkit, serve_without_deepkit

TEXT = [
    "the quick brown fox jumps over the lazy dog".split(),
    "the dog sleeps and the fox runs".split(),
    "a fox".split(),
]


def python_examples(ids, sentence_ids, keep, spans, mode):
    """word2vec's loops, written plainly: drop the subsampled tokens, then each centre's
    context words within its span and its sentence, left to right."""
    kept = [(i, ids[i], sentence_ids[i]) for i in range(len(ids)) if keep[i]]
    examples = []
    for c, (position, centre, sentence) in enumerate(kept):
        span = spans[position]
        window = [
            kept[j][1] for j in range(max(0, c - span), min(len(kept), c + span + 1))
            if j != c and kept[j][2] == sentence
        ]
        if mode == "skipgram":
            examples += [((context,), centre) for context in window]
        elif window:
            examples.append((tuple(window), centre))
    return examples


def deepkit_examples(ids, sentence_ids, keep, spans, window, mode):
    positions, centres, contexts = skipgrams.windows_from_draws(ids, sentence_ids, keep, spans, window)
    layout = {"skipgram": "pairs", "cbow": "windows"}[mode]
    inputs, targets, _ = skipgrams.examples_from_windows(positions, centres, contexts, layout, 1000, 1)
    return [(tuple(int(i) for i in row if i != skipgrams.PAD), int(t)) for row, t in zip(inputs.numpy(), targets.numpy())]


@pytest.mark.parametrize("mode", ["skipgram", "cbow"])
def test_examples_equal_a_plain_python_word2vec_with_reduced_windows_and_subsampling(mode):
    vocabulary = skipgrams.build_vocabulary(TEXT, min_count=1)
    corpus = skipgrams.encode(TEXT, vocabulary.words)
    keep_probability = skipgrams.keep_probabilities(vocabulary.counts, sample=0.02)
    assert keep_probability.min() < 1  # "the" and "fox" are subsampled
    token_keep = keep_probability[corpus.ids]
    for seed in range(5):
        keep, spans = skipgrams.draw_epoch(seed, token_keep, window=3)
        keep, spans = keep.numpy(), spans.numpy()
        assert set(spans) <= {1, 2, 3}
        expected = python_examples(corpus.ids, corpus.sentence_ids, keep, spans, mode)
        assert deepkit_examples(corpus.ids, corpus.sentence_ids, keep, spans, 3, mode) == expected


def test_draws_subsample_with_the_keep_probability_and_reduce_windows_uniformly():
    token_keep = tf.constant(np.array([0.2, 0.5, 1.0] * 20000, "float32"))
    keep, spans = skipgrams.draw_epoch(7, token_keep, window=4)
    kept = keep.numpy().reshape(-1, 3).mean(0)
    np.testing.assert_allclose(kept, [0.2, 0.5, 1.0], atol=0.01)
    np.testing.assert_allclose(np.bincount(spans.numpy(), minlength=5)[1:] / len(spans), [0.25] * 4, atol=0.01)


def test_keep_probabilities_are_gensims():
    gensim = pytest.importorskip("gensim")
    sentences = [["w%d" % (i % 40)] * (i % 7 + 1) for i in range(400)]
    model = gensim.models.Word2Vec(sentences, min_count=1, sample=1e-2, vector_size=4, workers=1)
    words = list(model.wv.index_to_key)
    counts = [model.wv.get_vecattr(w, "count") for w in words]
    theirs = np.array([model.wv.get_vecattr(w, "sample_int") for w in words]) / 2.0**32
    np.testing.assert_allclose(skipgrams.keep_probabilities(counts, 1e-2), theirs, rtol=1e-5)


def test_negatives_follow_the_unigram_distribution_to_the_power_0_75():
    counts = np.array([500, 200, 100, 50, 20, 10, 5, 2, 1])
    cdf = skipgrams.unigram_cdf(counts, 0.75)
    uniform = tf.random.stateless_uniform([200_000], seed=[1, 2])
    drawn = np.bincount(skipgrams.negatives_from_uniform(cdf, uniform).numpy(), minlength=len(counts))
    expected = counts**0.75 / np.sum(counts**0.75) * drawn.sum()
    assert scipy.stats.chisquare(drawn, expected).pvalue > 1e-3
    assert scipy.stats.chisquare(drawn, counts / counts.sum() * drawn.sum()).pvalue < 1e-10  # not plain unigram


def numpy_loss_and_gradients(h, m, u_o, u_n, w):
    """Loss and gradients of negative sampling for slots ``h`` (batch, slots, dim) sharing
    their example's target ``u_o`` and negatives ``u_n``; slots with ``m = 0`` count nothing."""
    sigmoid = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    positive, negative = np.einsum("bsd,bd->bs", h, u_o), np.einsum("bsd,bkd->bsk", h, u_n)
    loss = np.sum(m * (-np.log(sigmoid(positive)) - np.sum(w[:, None] * np.log(sigmoid(-negative)), -1)), -1)
    g_positive, g_negative = m * (sigmoid(positive) - 1), m[..., None] * w[:, None] * sigmoid(negative)  # d loss / d logit
    d_h = g_positive[..., None] * u_o[:, None] + np.einsum("bsk,bkd->bsd", g_negative, u_n)
    return loss, d_h, np.einsum("bs,bsd->bd", g_positive, h), np.einsum("bsk,bsd->bkd", g_negative, h)


def test_loss_and_its_gradient_equal_a_numpy_reference():
    rng = np.random.default_rng(0)
    h, u_o, u_n = rng.normal(size=(4, 3, 5)), rng.normal(size=(4, 5)), rng.normal(size=(4, 2, 5))
    m = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 1, 1]], "float64")
    w = np.array([[1, 1], [1, 0], [0, 1], [1, 1]], "float64")
    variables = [tf.Variable(a) for a in (h, u_o, u_n)]
    with tf.GradientTape() as tape:
        loss = negative_sampling_loss(variables[0], tf.constant(m), variables[1], variables[2], tf.constant(w))
        total = tf.reduce_sum(loss)
    gradients = tape.gradient(total, variables)
    expected = numpy_loss_and_gradients(h, m, u_o, u_n, w)
    np.testing.assert_allclose(loss.numpy(), expected[0], rtol=1e-10)
    for actual, wanted in zip(gradients, expected[1:]):
        np.testing.assert_allclose(actual.numpy(), wanted, rtol=1e-10)


def test_cbow_mean_passes_the_whole_error_to_every_context_word_like_word2vec_c():
    vectors = tf.Variable(np.arange(12.0).reshape(1, 4, 3))
    mask = tf.constant([[True, True, False, True]])
    with tf.GradientTape() as tape:
        mean = context_mean(vectors, mask)
        total = tf.reduce_sum(mean)
    np.testing.assert_allclose(mean.numpy(), [[(0 + 3 + 9) / 3, (1 + 4 + 10) / 3, (2 + 5 + 11) / 3]])
    np.testing.assert_allclose(tape.gradient(total, vectors).numpy()[0], [[1] * 3, [1] * 3, [0] * 3, [1] * 3])


def test_the_dataset_holds_one_epoch_of_examples_with_new_draws_each_epoch():
    model = Word2Vec(min_count=1, window=2, sample=0.05)
    model.build_vocabulary(TEXT)
    dataset = model.dataset(TEXT, batch_words=4, seed=3)
    assert len(dataset) == 5  # 19 tokens, 4 a batch
    first, second = ([(x.numpy().tolist(), y.numpy().tolist()) for x, y in dataset] for _ in range(2))
    assert first != second
    again = [(x.numpy().tolist(), y.numpy().tolist()) for x, y in model.dataset(TEXT, batch_words=4, seed=3)]
    assert again == first


def topic_corpus(seed=0):
    """400 sentences, each of ten words drawn from one of five topics of six words."""
    rng = np.random.default_rng(seed)
    topics = [[f"t{t}w{w}" for w in range(6)] for t in range(5)]
    return topics, [list(rng.choice(topics[rng.integers(5)], 10)) for _ in range(400)]


def trained(mode="skipgram", epochs=3, shared_negatives=True):
    keras.utils.set_random_seed(0)  # the pipeline's draws depend on TensorFlow's global seed
    topics, sentences = topic_corpus()
    model = Word2Vec(mode=mode, vector_size=16, window=3, negative=5, sample=0, min_count=1, alpha=0.05,
                     shared_negatives=shared_negatives, seed=0)
    model.build_vocabulary(sentences)
    train = model.dataset(sentences, batch_words=200, seed=0)
    model.compile(optimizer=model.linear_decay_sgd(epochs * len(train)))
    model.fit(train, epochs=epochs, verbose=0)
    return topics, model


@pytest.mark.parametrize("mode, shared_negatives", [("skipgram", True), ("skipgram", False), ("cbow", True)])
def test_a_trained_model_recovers_planted_co_occurrences(mode, shared_negatives):
    topics, model = trained(mode, epochs=6, shared_negatives=shared_negatives)
    topic_of = {word: t for t, words in enumerate(topics) for word in words}
    hits = [topic_of[n] == topic_of[w] for w in topic_of for n, _ in model.most_similar(w, topn=3)]
    assert np.mean(hits) >= 0.85
    assert model.similarity("t0w0", "t0w1") > model.similarity("t0w0", "t1w1")
    hits = [topic_of[model.most_similar(w, topn=1, metric="euclidean")[0][0]] == topic_of[w] for w in topic_of]
    assert np.mean(hits) >= 0.8
    v = model.vectors[model.index["t0w0"]]
    by_dot = model.most_similar("t0w0", topn=5, metric="dot")  # the dot product favours long vectors
    assert [s for _, s in by_dot] == sorted((s for _, s in by_dot), reverse=True)
    np.testing.assert_allclose([s for _, s in by_dot], [model.vectors[model.index[w]] @ v for w, _ in by_dot], rtol=1e-5)
    assert {w for w, _ in model.analogy("t0w0", "t0w1", "t1w0", topn=3)}.isdisjoint({"t0w0", "t0w1", "t1w0"})


def test_save_and_load_keep_the_vocabulary_and_the_vectors(tmp_path):
    _, model = trained(epochs=1)
    model.save(tmp_path / "w2v.keras")
    restored = keras.saving.load_model(tmp_path / "w2v.keras")
    assert restored.vocabulary == model.vocabulary and restored.counts == model.counts
    np.testing.assert_array_equal(restored.vectors, model.vectors)
    assert restored.most_similar("t2w3", 4) == model.most_similar("t2w3", 4)


SERVE_SIMILAR_WITHOUT_DEEPKIT = textwrap.dedent(
    """
    import json, sys
    sys.modules["deepkit"] = None  # any import of deepkit now fails
    import tensorflow as tf

    loaded = tf.saved_model.load(sys.argv[1])
    answer = loaded.similar(tf.constant([w.encode() for w in sys.argv[3:]]), tf.constant(int(sys.argv[2])))
    print(json.dumps({"words": [[w.decode() for w in row] for row in answer["words"].numpy()],
                      "scores": answer["scores"].numpy().tolist()}))
    """
)


def test_export_serves_lookup_and_similar_without_deepkit(tmp_path):
    _, model = trained(epochs=1)
    path = str(tmp_path / "w2v_savedmodel")
    model.export(path, verbose=False)
    words = np.array([b"t1w2", b"no-such-word", b"t3w0"])
    vectors, ids = serve_without_deepkit(path, [words], "lookup")
    np.testing.assert_allclose(vectors[[0, 2]], model.vectors[[model.index["t1w2"], model.index["t3w0"]]], rtol=1e-6)
    np.testing.assert_array_equal(vectors[1], 0)
    np.testing.assert_array_equal(ids, [model.index["t1w2"], -1, model.index["t3w0"]])

    printed = run_without_deepkit(SERVE_SIMILAR_WITHOUT_DEEPKIT, [path, "4", "t1w2", "no-such-word"], cwd=str(tmp_path))
    served = json.loads(printed.strip().splitlines()[-1])
    expected = model.most_similar("t1w2", topn=4)
    assert served["words"][0] == [w for w, _ in expected]
    np.testing.assert_allclose(served["scores"][0], [s for _, s in expected], rtol=1e-5)
    assert served["words"][1] == [""] * 4 and np.isnan(served["scores"][1]).all()


def test_a_projector_export_writes_vectors_metadata_and_config(tmp_path):
    _, model = trained(epochs=1)
    model.export_projector(str(tmp_path))
    assert np.loadtxt(tmp_path / "vectors.tsv", delimiter="\t").shape == (30, 16)
    assert (tmp_path / "metadata.tsv").read_text().split("\n")[:2] == model.vocabulary[:2]
    assert 'tensor_path: "vectors.tsv"' in (tmp_path / "projector_config.pbtxt").read_text()


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Word2Vec(mode="glove"), r"`mode` must be one of \['skipgram', 'cbow'\]. Received: mode='glove'"),
        (lambda: Word2Vec(window=0), r"`window` must be a positive integer. Received: window=0"),
        (lambda: Word2Vec().build_vocabulary([]), "expected a corpus of sentences of words. Received: an empty corpus"),
        (lambda: Word2Vec(min_count=9).build_vocabulary(TEXT), r"min_count=9 leaves no vocabulary; expected min_count <= 4"),
        (lambda: Word2Vec().most_similar("fox"), r"no vocabulary yet; call build_vocabulary"),
    ],
)
def test_bad_input_is_refused_naming_what_was_expected_and_received(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_an_unknown_word_or_metric_is_refused_naming_it():
    model = Word2Vec(min_count=1)
    model.build_vocabulary(TEXT)
    with pytest.raises(ValueError, match=r"expected a word of the vocabulary \(12 words.*Received: 'cat'"):
        model.most_similar("cat")
    with pytest.raises(ValueError, match=r"`metric` must be one of \['cosine', 'euclidean', 'dot'\]"):
        model.most_similar("fox", metric="manhattan")
