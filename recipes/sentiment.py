"""Sentiment of a sentence (many-to-one): a bidirectional RelevanceGRU over word embeddings.

Raw strings go in: a `TextVectorization` layer adapted on the training sentences
turns them into word ids (0 is padding), an `Embedding(mask_zero=True)` passes the
mask on, so the `BRNN`'s backward direction starts at each sentence's last word.
A bag-of-words logistic regression trained on the same ids is the baseline: what
the recurrent model adds by reading the words in order.

Writes test_scores.png (P(positive) of every test text, by its true label).
metrics.json: `test_accuracy`, `test_loss`, `bag_of_words_accuracy` and
`majority_class_accuracy`. The SavedModel contains the vectorizer: serve takes raw
strings, (batch,), and returns P(positive), (batch, 1).

Offline default: the 200 labelled Pang & Lee sentences gensim ships ("polarity";
160 for training, 40 for testing). That is far too few to learn sentiment from
scratch (one standard error of an accuracy on 40 sentences is about 8 points): the
offline run shows the whole pipeline, and `--data tfds:imdb_reviews` (25,000 +
25,000 reviews, online) is the real task.
"""

import dataclasses
import os
import sys
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf

from deepkit import data, plots, recipe
from deepkit.layers import BRNN, RelevanceGRU

NAME = "sentiment"
TASK = "text classification"


@dataclasses.dataclass
class Config(recipe.RecipeConfig):
    DATA_KINDS: ClassVar = ("labelled_text",)  # what --data may name

    data: str = "polarity"  # labelled text: polarity (offline) or tfds:imdb_reviews
    max_tokens: int = 20000  # vocabulary size (ids 0 and 1 are padding and out-of-vocabulary)
    max_length: int = 100  # words kept per text
    embedding_dim: int = 64  # word vector size
    units: int = 32  # RelevanceGRU units per direction
    dropout: float = 0.2  # dropout on the GRU inputs
    epochs: int = 15  # training epochs
    batch_size: int = 32  # texts per batch
    learning_rate: float = 2e-3  # Adam step size


def smoke():
    """Seconds-long: a small vocabulary, short texts, tiny layers, one epoch."""
    return Config(max_tokens=500, max_length=20, embedding_dim=8, units=4, epochs=1)


def texts_and_labels(arrays):
    texts = np.array([text.decode("utf-8", "replace") for text in arrays["text"]], dtype=object)
    return texts, arrays["label"].astype("float32")


def build_classifier(config, vocabulary_size):
    ids = keras.Input((config.max_length,), dtype="int64", name="word_ids")
    embedded = keras.layers.Embedding(vocabulary_size, config.embedding_dim, mask_zero=True)(ids)
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


def train_and_evaluate(config, workdir):
    run = recipe.start(NAME, config, workdir)
    train_texts, train_labels = texts_and_labels(data.split_arrays(config.data, "train"))
    test_texts, test_labels = texts_and_labels(data.split_arrays(config.data, "test"))
    vectorizer = data.text_vectorizer(train_texts, max_tokens=config.max_tokens, output_sequence_length=config.max_length)

    def encode(texts, labels):
        return tf.data.Dataset.from_tensor_slices((vectorizer(tf.constant(texts.astype(str))), labels))

    train = data.batched(encode(train_texts, train_labels), config.batch_size, shuffle_seed=config.seed)
    test = data.batched(encode(test_texts, test_labels), 256)

    classifier = build_classifier(config, vectorizer.vocabulary_size())
    history = run.fit(classifier, train, validation=test)
    loss, accuracy = classifier.evaluate(test, verbose=0)
    majority = max(test_labels.mean(), 1 - test_labels.mean())
    baseline = build_bag_of_words(config, vectorizer.vocabulary_size())
    baseline.fit(train, epochs=config.epochs, shuffle=False, verbose=0)  # the pipeline shuffles
    _, baseline_accuracy = baseline.evaluate(test, verbose=0)

    # The served model takes raw strings: vectorizer + classifier in one graph.
    raw_text = keras.Input((), dtype="string", name="text")
    serving_model = keras.Model(raw_text, classifier(vectorizer(raw_text)), name="sentiment")

    examples = ["a wonderful , moving film", "dull , tedious and far too long"]
    scores = serving_model.predict(tf.constant(examples), verbose=0)[:, 0]
    for text, score in zip(examples, scores):
        print(f"P(positive | {text!r}) = {score:.2f}")
    test_scores = serving_model.predict(tf.constant(test_texts.astype(str)), verbose=0)[:, 0]
    plots.histograms(
        os.path.join(workdir, "test_scores.png"),
        f"{config.data}: P(positive) of the test texts (accuracy {accuracy:.0%}, bag of words {baseline_accuracy:.0%})",
        {"negative texts": test_scores[test_labels == 0], "positive texts": test_scores[test_labels == 1]},
        "P(positive)",
    )
    metrics = {
        "test_accuracy": accuracy,
        "test_loss": loss,
        "bag_of_words_accuracy": baseline_accuracy,
        "majority_class_accuracy": majority,
    }
    return run.finish(serving_model, metrics, history)


def main(argv=None):
    return recipe.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
