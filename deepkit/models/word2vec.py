"""word2vec (Mikolov et al. 2013): skip-gram and CBOW with negative sampling, trained by
``fit`` on the in-graph pipeline of :mod:`deepkit.data.skipgrams`, with gensim's defaults."""

import os

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from deepkit.data import skipgrams
from deepkit.models.tracked_model import TrackedModel
from deepkit.registry import register
from deepkit.validation import check_bool, check_choice, check_float, check_int, check_positive

MODES = ("skipgram", "cbow")
METRICS = ("cosine", "euclidean", "dot")


def negative_sampling_loss(hidden, slot_mask, target_vectors, negative_vectors, negative_weights):
    """Per-example loss of negative sampling (Mikolov et al. 2013, eq. 4), over the slots
    of an example that share its target and negatives.

    ``loss = Σ_s m_s · (softplus(-h_s·u_o) + Σ_k w_k · softplus(h_s·u_k))``, i.e.
    ``-log σ(h_s·u_o) - Σ_k w_k log σ(-h_s·u_k)`` summed over the valid slots ``s``
    (``m_s = 1``), for the input vectors ``h_s`` (the context words' vectors in
    skip-gram, one slot holding the mean of the context vectors in CBOW), the output
    vector ``u_o`` of the target and ``u_k`` of the negatives; ``w_k`` is 0 for a
    negative that drew the target itself (gensim skips those), 1 otherwise.

    Args:
        hidden: (batch, slots, dim).
        slot_mask: (batch, slots), 1 for a slot that holds a word.
        target_vectors: (batch, dim).
        negative_vectors: (batch, negatives, dim).
        negative_weights: (batch, negatives).

    Returns:
        (batch,) losses.
    """
    positive = ops.sum(hidden * target_vectors[:, None, :], axis=-1)
    negative = ops.einsum("bsd,bkd->bsk", hidden, negative_vectors)
    per_slot = ops.softplus(-positive) + ops.sum(negative_weights[:, None, :] * ops.softplus(negative), axis=-1)
    return ops.sum(ops.cast(slot_mask, per_slot.dtype) * per_slot, axis=-1)


def context_mean(context_vectors, mask):
    """Mean of the valid context vectors, whose gradient reaches each of them undivided.

    word2vec.c and gensim (``cbow_mean=1``) add the whole error of the mean to every
    context word; the forward value is the mean, the backward pass that of the sum.
    """
    mask = ops.cast(mask, context_vectors.dtype)[..., None]
    total = ops.sum(context_vectors * mask, axis=1)
    count = ops.maximum(ops.sum(mask, axis=1), 1.0)
    return total + ops.stop_gradient(total / count - total)


@register
class Word2Vec(TrackedModel):
    """word2vec with negative sampling: ``mode="skipgram"`` or ``"cbow"``.

    Skip-gram trains each context word's input vector ``v`` to predict the centre word
    through its output vector ``u``; CBOW trains the mean of the window's input vectors
    to predict it. Both minimise :func:`negative_sampling_loss` with ``negative`` words
    drawn (in the graph) from the unigram distribution raised to ``ns_exponent``: in
    skip-gram one set per (context, centre) pair as in gensim (default), or one set per
    centre shared by the pairs of its window (``shared_negatives=True``: each pair's
    negatives still follow that distribution and a step updates far fewer output
    vectors, about twice as fast, but the vectors come out worse for the same
    epochs; see docs/performance.md); frequent
    words are subsampled with gensim's formula; each centre uses a reduced window drawn
    uniformly in ``[1, window]``. The defaults are gensim 4's.

    Optimizer: plain SGD on the sum of the batch's example losses (so that a batch moves
    the vectors as gensim's per-example updates would), with the learning rate falling
    linearly from ``alpha`` to ``min_alpha`` over the words of the whole run
    (:meth:`linear_decay_sgd`, a Keras ``PolynomialDecay`` of power 1). The logged
    ``loss`` is the mean per (context, centre) pair (per centre in CBOW). Keep batches to a few hundred corpus words: a
    batch adds up all updates of a word at once, where gensim's sequential updates
    shrink as they go, so large batches overshoot the frequent words' vectors.

    ``call(ids)`` returns the input vectors of word ids. ``export(path)`` writes the
    endpoints ``serve`` (ids -> vectors), ``lookup`` (words -> ``vectors``, zero for an
    unknown word, and ``word_ids``, -1 for it) and ``similar(words, k)`` (the ``k``
    words of highest cosine similarity and their ``scores``; ``b""`` and NaN for an
    unknown word).

    Args:
        vocabulary: Words, most frequent first (``None``: call :meth:`build_vocabulary`).
        counts: Their corpus counts (same length as ``vocabulary``).
        mode: ``"skipgram"`` (default) or ``"cbow"``.
        vector_size: Dimension of the vectors (default 100).
        window: Largest distance between centre and context words (default 5).
        negative: Negatives per example (default 5).
        ns_exponent: Exponent of the unigram distribution of negatives (default 0.75).
        sample: Subsampling threshold (default 1e-3; 0 keeps every word).
        min_count: Words rarer than this are dropped (default 5).
        alpha: Initial learning rate (default 0.025).
        min_alpha: Final learning rate (default 1e-4).
        shared_negatives: Skip-gram: one set of negatives per pair (default False, as
            gensim), or one per centre word, shared by its window's pairs (True).
        seed: Seed of the initial vectors and of the negatives.

    Example:

    >>> sentences = [["a", "b", "c", "a", "b"]] * 20
    >>> model = Word2Vec(vector_size=8, window=2, min_count=1, seed=0)
    >>> model.build_vocabulary(sentences)
    >>> train = model.dataset(sentences, batch_words=50, seed=0)
    >>> model.compile(optimizer=model.linear_decay_sgd(steps=2 * len(train)))
    >>> sorted(model.fit(train, epochs=2, verbose=0).history)
    ['loss']
    >>> model.vectors.shape
    (3, 8)

    Reference:
        Mikolov, Sutskever, Chen, Corrado & Dean, "Distributed Representations of Words and
        Phrases and their Compositionality", NeurIPS 2013.
    """

    def __init__(
        self,
        vocabulary=None,
        counts=None,
        mode="skipgram",
        vector_size=100,
        window=5,
        negative=5,
        ns_exponent=0.75,
        sample=1e-3,
        min_count=5,
        alpha=0.025,
        min_alpha=1e-4,
        shared_negatives=False,
        seed=None,
        **kwargs,
    ):
        owner = "Word2Vec"
        check_choice(owner, "mode", mode, MODES)
        super().__init__(tracked=("loss",), **kwargs)
        # === Config ===
        self.mode = mode
        self.vector_size = check_int(owner, "vector_size", vector_size)
        self.window = check_int(owner, "window", window)
        self.negative = check_int(owner, "negative", negative)
        self.ns_exponent = check_float(owner, "ns_exponent", ns_exponent)
        self.sample = check_float(owner, "sample", sample, low=0.0)
        self.min_count = check_int(owner, "min_count", min_count)
        self.alpha = check_positive(owner, "alpha", alpha)
        self.min_alpha = check_float(owner, "min_alpha", min_alpha, low=0.0)
        self.shared_negatives = check_bool(owner, "shared_negatives", shared_negatives)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed, name="negatives")
        self.vocabulary = self.counts = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, counts)

    # === Vocabulary and weights ===

    def set_vocabulary(self, vocabulary, counts):
        """Sets the words (most frequent first) and their counts, and makes the weights."""
        if counts is None or len(counts) != len(vocabulary) or not len(vocabulary):
            raise ValueError(
                "Word2Vec: expected a non-empty `vocabulary` and one count per word in `counts`. Received: "
                f"{len(vocabulary)} words and {'no' if counts is None else len(counts)} counts"
            )
        if self.built:
            raise ValueError("Word2Vec: the vocabulary is already set; make a new model for another corpus")
        self.vocabulary = [str(word) for word in vocabulary]
        self.counts = [int(count) for count in counts]
        self.index = {word: i for i, word in enumerate(self.vocabulary)}
        self.cdf = skipgrams.unigram_cdf(self.counts, self.ns_exponent)
        self.keep_probability = skipgrams.keep_probabilities(self.counts, self.sample)
        size = (len(self.vocabulary), self.vector_size)
        scale = 0.5 / self.vector_size  # gensim: (uniform[0, 1) - 0.5) / vector_size
        self.input_vectors = self.add_weight(
            shape=size, name="input_vectors",
            initializer=keras.initializers.RandomUniform(-scale, scale, seed=self.seed),
        )
        self.output_vectors = self.add_weight(shape=size, name="output_vectors", initializer="zeros")
        self.built = True

    def build_vocabulary(self, sentences):
        """Keeps the words of ``sentences`` (lists of tokens) occurring ``min_count`` times or more.

        Raises:
            ValueError: for an empty corpus, or a ``min_count`` that leaves no word.
        """
        vocabulary = skipgrams.build_vocabulary(sentences, self.min_count)
        self.set_vocabulary(vocabulary.words, vocabulary.counts)

    def dataset(self, sentences, batch_words=256, seed=None):
        """The ``tf.data`` pipeline of ``sentences`` for ``fit`` (one epoch per iteration):
        subsampling, reduced windows and examples drawn in the graph, ``batch_words``
        corpus words per batch (see :func:`deepkit.data.skipgrams.word2vec_dataset`)."""
        self._require_vocabulary("dataset")
        check_int("Word2Vec", "batch_words", batch_words)
        corpus = skipgrams.encode(sentences, self.vocabulary)
        if not len(corpus.ids):
            raise ValueError("Word2Vec: expected sentences with words of the vocabulary. Received: none of them")
        layout = "windows" if self.mode == "cbow" or self.shared_negatives else "pairs"
        return skipgrams.word2vec_dataset(corpus, self.keep_probability, layout, self.window, batch_words, seed)

    def linear_decay_sgd(self, steps):
        """Plain SGD whose learning rate falls linearly from ``alpha`` to ``min_alpha`` in ``steps``."""
        schedule = keras.optimizers.schedules.PolynomialDecay(self.alpha, check_int("Word2Vec", "steps", steps),
                                                              self.min_alpha, power=1.0)
        return keras.optimizers.SGD(schedule)

    def _require_vocabulary(self, what):
        if self.vocabulary is None:
            raise ValueError(f"Word2Vec.{what}: no vocabulary yet; call build_vocabulary(sentences) first")

    # === Training ===

    def call(self, ids, training=False):
        return ops.take(self.input_vectors, ops.cast(ids, "int32"), axis=0)

    def example_losses(self, inputs, targets):
        """Per-example losses of a batch and its number of (context, centre) pairs.

        ``inputs`` (batch, slots) are context word ids padded with -1: one slot per
        example (a pair), or a centre's whole window (skip-gram with shared negatives,
        and CBOW, which averages it into one slot); ``targets`` (batch,) are the centre
        ids; the negatives are drawn here from the unigram^0.75 table."""
        inputs = tf.cast(inputs, tf.int32)
        targets = tf.reshape(tf.cast(targets, tf.int32), [-1])
        mask = inputs >= 0
        hidden = tf.gather(self.input_vectors, tf.maximum(inputs, 0))
        if self.mode == "cbow":
            hidden, mask = context_mean(hidden, mask)[:, None, :], tf.reduce_any(mask, axis=1, keepdims=True)
        uniform = keras.random.uniform(tf.stack([tf.shape(targets)[0], self.negative]), seed=self.seed_generator)
        negatives = skipgrams.negatives_from_uniform(self.cdf, uniform)
        weights = tf.cast(negatives != targets[:, None], hidden.dtype)
        losses = negative_sampling_loss(
            hidden, mask, tf.gather(self.output_vectors, targets), tf.gather(self.output_vectors, negatives), weights
        )
        return losses, tf.maximum(tf.reduce_sum(tf.cast(mask, losses.dtype)), 1.0)

    def train_step(self, data):
        inputs, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            losses, pairs = self.example_losses(inputs, targets)
            # A sum, not a mean: SGD then moves each vector as per-example updates would.
            # Replicas' gradients add up to the global batch's, so nothing is divided.
            scaled = self.optimizer.scale_loss(tf.reduce_sum(losses))
        self.update(tape, scaled, self.optimizer, self.trainable_variables)
        return self.record({"loss": tf.reduce_sum(losses) / pairs})

    def test_step(self, data):
        inputs, targets, _ = keras.utils.unpack_x_y_sample_weight(data)
        losses, pairs = self.example_losses(inputs, targets)
        return self.record({"loss": tf.reduce_sum(losses) / pairs})

    # === Queries ===

    @property
    def vectors(self):
        """The word vectors (the input vectors), (vocabulary, vector_size), NumPy."""
        self._require_vocabulary("vectors")
        return np.asarray(self.input_vectors.numpy())

    def word_id(self, word):
        """The id of ``word``; ValueError naming it if it is not in the vocabulary."""
        self._require_vocabulary("word_id")
        if word not in self.index:
            raise ValueError(
                f"Word2Vec: expected a word of the vocabulary ({len(self.vocabulary)} words, e.g. "
                f"{', '.join(map(repr, self.vocabulary[:3]))}). Received: {word!r}"
            )
        return self.index[word]

    def scores(self, query, metric="cosine"):
        """Scores of every word against the vector ``query``: cosine similarity, dot product, or
        euclidean distance (smaller is closer)."""
        check_choice("Word2Vec", "metric", metric, METRICS)
        vectors = self.vectors
        if metric == "euclidean":
            return np.linalg.norm(vectors - query, axis=1)
        if metric == "dot":
            return vectors @ query
        norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(query)
        return vectors @ query / np.maximum(norms, 1e-12)

    def _nearest(self, query, exclude, topn, metric):
        scores = self.scores(query, metric)
        order = np.argsort(scores if metric == "euclidean" else -scores, kind="stable")
        order = [i for i in order if i not in exclude][: check_int("Word2Vec", "topn", topn)]
        return [(self.vocabulary[i], float(scores[i])) for i in order]

    def most_similar(self, word, topn=10, metric="cosine"):
        """The ``topn`` nearest words to ``word`` (itself excluded) as ``(word, score)``, nearest
        first; the score is the cosine, the dot product or the euclidean distance."""
        i = self.word_id(word)
        return self._nearest(self.vectors[i], {i}, topn, metric)

    def analogy(self, a, b, c, topn=1):
        """``a`` is to ``b`` as ``c`` is to …: the words nearest to ``b - a + c`` in unit
        vectors (3CosAdd, gensim's ``most_similar(positive=[b, c], negative=[a])``), the three
        excluded; ``(word, cosine)`` pairs."""
        ids = [self.word_id(word) for word in (a, b, c)]
        unit = self.vectors[ids] / np.maximum(np.linalg.norm(self.vectors[ids], axis=1, keepdims=True), 1e-12)
        return self._nearest(unit[1] - unit[0] + unit[2], set(ids), topn, "cosine")

    def similarity(self, a, b):
        """Cosine similarity of the vectors of words ``a`` and ``b``."""
        return float(self.scores(self.vectors[self.word_id(a)])[self.word_id(b)])

    def export_projector(self, directory):
        """Writes ``vectors.tsv``, ``metadata.tsv`` (one word a line) and
        ``projector_config.pbtxt`` for TensorBoard's embedding projector
        (``tensorboard --logdir directory``, or load the two TSVs at projector.tensorflow.org)."""
        os.makedirs(directory, exist_ok=True)
        np.savetxt(os.path.join(directory, "vectors.tsv"), self.vectors, delimiter="\t", fmt="%.6g")
        with open(os.path.join(directory, "metadata.tsv"), "w", encoding="utf-8") as f:
            f.writelines(word.replace("\t", " ").replace("\n", " ") + "\n" for word in self.vocabulary)
        with open(os.path.join(directory, "projector_config.pbtxt"), "w") as f:
            f.write('embeddings {\n  tensor_path: "vectors.tsv"\n  metadata_path: "metadata.tsv"\n}\n')
        return [os.path.join(directory, name) for name in ("vectors.tsv", "metadata.tsv", "projector_config.pbtxt")]

    # === Export ===

    def lookup_table(self):
        if getattr(self, "_table", None) is None:
            self._table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(
                    tf.constant(self.vocabulary), tf.range(len(self.vocabulary), dtype=tf.int64)
                ),
                default_value=-1,
            )
        return self._table

    def lookup(self, words):
        """``{"vectors": (batch, dim), "word_ids": (batch,)}`` of string ``words``; an unknown
        word has id -1 and a zero vector."""
        ids = self.lookup_table().lookup(words)
        vectors = tf.gather(self.input_vectors, tf.maximum(ids, 0))
        return {"vectors": tf.where((ids >= 0)[:, None], vectors, 0.0), "word_ids": ids}

    def similar(self, words, k):
        """``{"scores": (batch, k), "words": (batch, k)}``: the ``k`` words of highest cosine
        similarity to each of ``words`` (itself excluded); NaN and ``b""`` for an unknown word."""
        ids = self.lookup_table().lookup(words)
        unit = tf.math.l2_normalize(tf.convert_to_tensor(self.input_vectors), axis=1)
        scores = tf.matmul(tf.gather(unit, tf.maximum(ids, 0)), unit, transpose_b=True)
        scores = tf.tensor_scatter_nd_update(
            scores, tf.stack([tf.range(tf.shape(ids)[0], dtype=tf.int64), tf.maximum(ids, 0)], 1),
            tf.fill(tf.shape(ids), -np.inf),
        )
        k = tf.minimum(k, len(self.vocabulary) - 1)
        top, indices = tf.math.top_k(scores, k)
        known = (ids >= 0)[:, None]
        return {
            "scores": tf.where(known, top, np.nan),
            "words": tf.where(known, tf.gather(tf.constant(self.vocabulary), indices), b""),
        }

    def serving_endpoints(self):
        ids = tf.TensorSpec((None,), tf.int32)
        words = tf.TensorSpec((None,), tf.string)
        return {
            "serve": (lambda x: self(x, training=False), [ids]),
            "lookup": (self.lookup, [words]),
            "similar": (self.similar, [words, tf.TensorSpec((), tf.int32)]),
        }

    def export(self, filepath, format="tf_saved_model", verbose=True, **kwargs):
        """Writes the SavedModel of :meth:`serving_endpoints` (see the class docstring); its
        vocabulary table is tracked so the endpoints serve without deepkit."""
        self._require_vocabulary("export")
        self.lookup_table()
        super().export(filepath, format=format, verbose=verbose, **kwargs)

    def get_config(self):
        return {
            **super().get_config(),
            "vocabulary": self.vocabulary,
            "counts": self.counts,
            "mode": self.mode,
            "vector_size": self.vector_size,
            "window": self.window,
            "negative": self.negative,
            "ns_exponent": self.ns_exponent,
            "sample": self.sample,
            "min_count": self.min_count,
            "alpha": self.alpha,
            "min_alpha": self.min_alpha,
            "shared_negatives": self.shared_negatives,
            "seed": self.seed,
        }
