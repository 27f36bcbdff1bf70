"""The training examples of word2vec as a ``tf.data`` pipeline: vocabulary, subsampling,
gensim's reduced windows and negative-sampling tables, with every draw made in the graph.

Keras 3 keeps only the deprecated ``keras.utils.skipgrams``, a Python loop per word whose
negatives are uniform; word2vec (Mikolov et al. 2013) draws them from the unigram
distribution raised to 0.75 and subsamples frequent words. This module does what
gensim's ``Word2Vec`` does to a corpus, vectorised over a whole epoch at once: the
vocabulary in NumPy, then per epoch one graph function that subsamples, draws each
centre's reduced window and forms all (context, centre) examples, cut into batches of
a fixed number of corpus words so that the number of steps, and with it a linear
learning-rate decay over the words seen, is known before training.
"""

import collections
import math
from typing import NamedTuple

import numpy as np
import tensorflow as tf

PAD = -1  # context slot without a word (outside the window, the sentence or the corpus)


class Vocabulary(NamedTuple):
    """Words by descending count (ties in order of first appearance), as gensim sorts them."""

    words: tuple
    counts: tuple


class EncodedCorpus(NamedTuple):
    """A corpus as word ids, words outside the vocabulary dropped (gensim skips them too)."""

    ids: np.ndarray  # int32 (tokens,): word ids in corpus order
    sentence_ids: np.ndarray  # int32 (tokens,): the sentence of each token; windows stay inside one
    raw_words: int  # tokens before dropping unknown words (what words/second counts)


def build_vocabulary(sentences, min_count=5, owner="Word2Vec"):
    """The words occurring at least ``min_count`` times in ``sentences`` (lists of tokens).

    Raises:
        ValueError: for an empty corpus, or a ``min_count`` that leaves no word.
    """
    counts = collections.Counter(word for sentence in sentences for word in sentence)
    if not counts:
        raise ValueError(f"{owner}: expected a corpus of sentences of words. Received: an empty corpus")
    kept = sorted((item for item in counts.items() if item[1] >= min_count), key=lambda item: -item[1])
    if not kept:
        raise ValueError(
            f"{owner}: min_count={min_count} leaves no vocabulary; expected min_count <= {max(counts.values())} "
            f"(the highest count among the corpus's {len(counts)} distinct words)"
        )
    return Vocabulary(tuple(word for word, _ in kept), tuple(int(count) for _, count in kept))


def keep_probabilities(counts, sample):
    """gensim's probability of keeping each occurrence of a word when subsampling.

    With ``t = sample · Σ counts`` (``sample`` < 1) a word of count ``c`` is kept with
    ``min(1, (√(c / t) + 1) · t / c)``; ``sample = 0`` keeps every word.
    """
    counts = np.asarray(counts, "float64")
    if not sample:
        return np.ones_like(counts, "float32")
    threshold = sample * counts.sum() if sample < 1.0 else sample * (3 + math.sqrt(5)) / 2
    return np.minimum(1.0, (np.sqrt(counts / threshold) + 1) * threshold / counts).astype("float32")


def unigram_cdf(counts, ns_exponent=0.75):
    """Cumulative distribution of ``count ** ns_exponent``, normalised: the negatives' table."""
    weights = np.asarray(counts, "float64") ** ns_exponent
    cdf = np.cumsum(weights / weights.sum())
    cdf[-1] = 1.0
    return cdf.astype("float32")


def negatives_from_uniform(cdf, uniform):
    """Word ids drawn from the distribution whose cumulative table is ``cdf``, by inverting it
    at ``uniform`` numbers in [0, 1) (any shape; the ids have the same)."""
    ids = tf.searchsorted(cdf, tf.reshape(uniform, [-1]), side="right")
    return tf.reshape(tf.minimum(tf.cast(ids, tf.int32), tf.size(cdf) - 1), tf.shape(uniform))


def encode(sentences, words):
    """``sentences`` as an :class:`EncodedCorpus` over the vocabulary ``words``."""
    index = {word: i for i, word in enumerate(words)}
    ids, sentence_ids, raw = [], [], 0
    for number, sentence in enumerate(sentences):
        raw += len(sentence)
        known = [index[word] for word in sentence if word in index]
        ids.extend(known)
        sentence_ids.extend([number] * len(known))
    return EncodedCorpus(np.array(ids, "int32"), np.array(sentence_ids, "int32"), raw)


def draw_epoch(seed, keep_probability, window):
    """One epoch's random draws for tokens whose keep probabilities are ``keep_probability``:
    which tokens survive subsampling, and each token's reduced window ``span`` in
    ``[1, window]`` (gensim draws ``b`` in ``[0, window)`` and uses ``window - b``)."""
    seed = tf.cast(seed, tf.int64)
    n = tf.shape(keep_probability)[0]
    keep = tf.random.stateless_uniform([n], tf.stack([seed, 0])) < keep_probability
    spans = tf.random.stateless_uniform([n], tf.stack([seed, 1]), minval=1, maxval=window + 1, dtype=tf.int32)
    return keep, spans


def windows_from_draws(ids, sentence_ids, keep, spans, window):
    """The examples of one epoch from its draws, centres in corpus order.

    Subsampled tokens are removed first (so windows reach past them, as in gensim); then
    each surviving centre ``i`` has the context slots ``i-window … i-1, i+1 … i+window``,
    left to right, holding the word id where the offset is within the centre's span and
    the sentence, :data:`PAD` elsewhere.

    Returns:
        positions: int32 (centres,): each centre's index in the encoded corpus.
        centres: int32 (centres,): the centre word ids.
        contexts: int32 (centres, 2·window): the context word ids or :data:`PAD`.
    """
    positions = tf.cast(tf.reshape(tf.where(keep), [-1]), tf.int32)
    kept_ids, kept_sentences = tf.gather(ids, positions), tf.gather(sentence_ids, positions)
    kept_spans = tf.gather(spans, positions)
    n = tf.size(kept_ids)
    offsets = tf.concat([tf.range(-window, 0), tf.range(1, window + 1)], 0)
    neighbours = tf.range(n)[:, None] + offsets[None, :]
    inside = (neighbours >= 0) & (neighbours < n)
    neighbours = tf.clip_by_value(neighbours, 0, tf.maximum(n - 1, 0))
    valid = (
        inside
        & (tf.gather(kept_sentences, neighbours) == kept_sentences[:, None])
        & (tf.abs(offsets)[None, :] <= kept_spans[:, None])
    )
    contexts = tf.where(valid, tf.gather(kept_ids, neighbours), PAD)
    return positions, kept_ids, contexts


def _batch_starts(batch_of_examples, steps):
    sizes = tf.math.bincount(batch_of_examples, minlength=steps, maxlength=steps, dtype=tf.int32)
    return tf.concat([[0], tf.cumsum(sizes)], 0)


def examples_from_windows(positions, centres, contexts, layout, batch_words, steps):
    """The epoch's examples ``(inputs, targets)`` and where each batch starts.

    ``"pairs"``: one example per (context, centre) pair, ``inputs`` of shape
    (pairs, 1); ``"windows"``: one per centre with at least one context word, ``inputs``
    of shape (centres, 2·window) padded with :data:`PAD`. ``targets`` are the centre
    ids (gensim trains the context word's input vector to predict the centre). Batch
    ``b`` holds the examples whose centre lies in tokens ``[b, b + 1) · batch_words``.
    """
    valid = contexts != PAD
    if layout == "pairs":
        inputs = tf.reshape(tf.boolean_mask(contexts, valid), [-1, 1])
        repeated = tf.broadcast_to(tf.stack([centres, positions], 1)[:, None, :], tf.concat([tf.shape(contexts), [2]], 0))
        targets_and_positions = tf.boolean_mask(repeated, valid)
        targets, example_positions = targets_and_positions[:, 0], targets_and_positions[:, 1]
    else:
        some = tf.reduce_any(valid, axis=1)
        inputs = tf.boolean_mask(contexts, some)
        targets, example_positions = tf.boolean_mask(centres, some), tf.boolean_mask(positions, some)
    return inputs, targets, _batch_starts(example_positions // batch_words, steps)


def steps_per_epoch(tokens, batch_words):
    """Batches in one epoch of ``tokens`` (in-vocabulary) tokens."""
    return max(1, -(-int(tokens) // int(batch_words)))


def word2vec_dataset(corpus, keep_probability, layout, window, batch_words, seed=None):
    """A ``tf.data.Dataset`` of ``(inputs, targets)`` batches for one epoch per iteration.

    Each iteration (each epoch of ``fit``) draws new subsampling and windows in the graph
    from a seed of its own (``Dataset.random(seed, rerandomize_each_iteration=True)``),
    so a fixed ``seed`` makes the whole run reproducible. The dataset's cardinality is
    :func:`steps_per_epoch` exactly.

    Args:
        corpus: An :class:`EncodedCorpus`.
        keep_probability: float32 (vocabulary,) from :func:`keep_probabilities`.
        layout: ``"pairs"`` or ``"windows"`` (see :func:`examples_from_windows`).
        window: The largest distance between a centre and a context word.
        batch_words: Corpus tokens whose examples make one batch.
        seed: Seed of the draws (``None``: a different run each time).
    """
    ids = tf.constant(corpus.ids)
    sentence_ids = tf.constant(corpus.sentence_ids)
    token_keep = tf.gather(tf.constant(keep_probability, tf.float32), ids)
    steps = steps_per_epoch(len(corpus.ids), batch_words)

    def epoch(epoch_seed):
        keep, spans = draw_epoch(epoch_seed, token_keep, window)
        positions, centres, contexts = windows_from_draws(ids, sentence_ids, keep, spans, window)
        return examples_from_windows(positions, centres, contexts, layout, batch_words, steps)

    def batches(inputs, targets, starts):
        def batch(b):
            return inputs[starts[b] : starts[b + 1]], targets[starts[b] : starts[b + 1]]

        return tf.data.Dataset.range(steps).map(batch)

    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(1)
    dataset = seeds.map(epoch).flat_map(batches)
    return dataset.apply(tf.data.experimental.assert_cardinality(steps)).prefetch(tf.data.AUTOTUNE)
