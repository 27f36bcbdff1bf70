"""Named entities word by word (many-to-many): a BRNN over word embeddings, with a CRF and with a softmax.

Both taggers read the same word ids (a `TextVectorization` adapted on the training
sentences, words split on spaces, case kept; 0 is padding, 1 an unknown word)
through an `Embedding(mask_zero=True)` and a `BRNN` of `RelevanceGRU`s, then score
every tag of every word with a `Dense` layer. The softmax tagger picks each word's
best tag on its own (cross-entropy per word); the CRF tagger (`deepkit.models.
CRFTagger`) also learns which tag may follow which, trains on the sentence's
likelihood (the forward algorithm) and decodes the best whole sequence (Viterbi).
Both are judged on entities with seqeval (an entity counts when its type and its
exact span are right); the last `validation_percent` of the training split is
held out to keep each model's best epoch.

Writes per_tag_f1.png (entity F1 per entity type, CRF beside softmax) and
transitions.png (the CRF's learned transition scores, tags on both axes, with its
start and end scores). metrics.json: `token_accuracy` (of the CRF tagger),
`token_accuracy_softmax`, `entity_f1_crf`, `entity_f1_softmax` (seqeval, micro
average over entities), and `ill_formed_crf` / `ill_formed_softmax` (test words
tagged `I-X` right after neither `B-X` nor `I-X`: what a CRF learns to avoid). The
SavedModel holds the vectorizer and the CRF tagger: serve takes sentences, strings
(batch,) whose words are separated by spaces, and returns `tags`, strings
(batch, longest sentence + 1) with "" after each sentence's last word, and
`tag_ids`, int32, -1 there; the endpoint tag_ids returns the ids alone.

Offline default: "hironsan_ner", the 500 Japanese sentences of the pip package
hironsancorpus (MIT), MeCab-segmented and tagged with IREX's eight entity types in
IOB2 (400 sentences for training, of which 40 validate; 100 for testing); a sentence
to tag is written as its MeCab words separated by spaces. No English named-entity or
part-of-speech corpus ships inside a package on the registries. `--data
tfds:conll2003` (English Reuters news, PER/ORG/LOC/MISC, online) is the standard task.
"""

import dataclasses
import os
import sys
from typing import ClassVar

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from deepkit import data, recipe
from deepkit.export import WithEndpoints
from deepkit.plots import plt  # pyplot on the Agg backend, set there once
from deepkit.layers import BRNN, RelevanceGRU
from deepkit.models import CRFTagger

NAME = "tagging"
TASK = "sequence tagging (named entities)"


@dataclasses.dataclass
class Config(recipe.RecipeConfig):
    DATA_KINDS: ClassVar = ("tagged_text",)  # what --data may name

    data: str = "hironsan_ner"  # tagged sentences: hironsan_ner (offline) or tfds:conll2003 (online)
    max_sentences: int = 0  # read only the first N sentences of each split (0: all of them)
    validation_percent: int = 10  # last % of the training split held out to keep each model's best epoch
    max_tokens: int = 20000  # vocabulary size (ids 0 and 1 are padding and unknown words)
    embedding_dim: int = 64  # word vector size
    embedding_dropout: float = 0.3  # dropout on the word vectors
    units: int = 64  # RelevanceGRU units per direction
    dropout: float = 0.2  # dropout on the GRU inputs
    epochs: int = 12  # training epochs of each tagger (the best on validation is kept)
    batch_size: int = 16  # sentences per batch
    learning_rate: float = 3e-3  # Adam step size (both taggers)

    def __post_init__(self):
        if not 0 < self.validation_percent < 100:
            raise ValueError(f"validation_percent must lie in (0, 100), received {self.validation_percent}")
        if self.max_sentences < 0:
            raise ValueError(f"max_sentences must be >= 0 (0: all sentences), received {self.max_sentences}")


def smoke():
    """Seconds-long: 10 sentences per split in one batch, tiny layers, one epoch."""
    # One training batch: each batch pads to its longest sentence, and every new length
    # of a batch is another trace of the taggers' train step. The taggers predict the
    # test batch eagerly, a step per word of its longest sentence: 55 words for the
    # first 10 test sentences, 102 for the first 60.
    return Config(max_sentences=10, max_tokens=500, embedding_dim=8, units=4, epochs=1, batch_size=64)


# === Data ===


def splits(config):
    """``{"train", "validation", "test"}: (words, tags)`` of ``config.data``."""
    if config.data.startswith("tfds:"):  # CoNLL-2003 comes with its own validation split, "dev"
        names = {"train": "train", "validation": "dev", "test": "test"}
    else:
        cut = 100 - config.validation_percent
        names = {"train": f"train[:{cut}%]", "validation": f"train[{cut}%:]", "test": "test"}
    return {key: data.tagged_sentences(config.data, split, config.max_sentences) for key, split in names.items()}


def as_sentences(words):
    """Sentences as the served model reads them: the words joined by single spaces."""
    return np.array([" ".join(sentence) for sentence in words], dtype=object)


def tag_ids(tags, tag_set):
    """Each sentence's tag ids (a ragged list), refusing a tag outside ``tag_set``."""
    index = {tag: i for i, tag in enumerate(tag_set)}
    unknown = sorted({tag for sentence in tags for tag in sentence} - set(index))
    if unknown:
        raise ValueError(
            f"tagging: expected tags of the tag set {tag_set}. Received: {unknown}"
        )
    return [[index[tag] for tag in sentence] for sentence in tags]


def batches(vectorizer, words, ids, batch_size, shuffle_seed=None):
    """``(word ids, tag ids)`` batches, each padded with 0 to its longest sentence."""
    padded = vectorizer(tf.constant(as_sentences(words).astype(str)))
    lengths = [len(sentence) for sentence in words]
    word_ids = tf.RaggedTensor.from_tensor(padded, lengths=lengths)
    if int(tf.reduce_sum(tf.cast(word_ids != 0, tf.int32))) != sum(lengths):  # a word the split would cut
        raise ValueError("tagging: a word of the data holds whitespace; the served model splits sentences on it")
    dataset = tf.data.Dataset.from_tensor_slices((word_ids, tf.ragged.constant(ids, dtype=tf.int32)))
    dataset = dataset.cache()
    if shuffle_seed is not None:
        dataset = dataset.shuffle(len(words), seed=shuffle_seed, reshuffle_each_iteration=True)
    dataset = dataset.ragged_batch(batch_size).map(lambda words, tags: (words.to_tensor(), tags.to_tensor()))
    return dataset.prefetch(tf.data.AUTOTUNE)


# === Models ===


def build_encoder(config, vocabulary_size, num_tags, name):
    """Word ids -> tag scores (batch, time, num_tags), the padding masked."""
    ids = keras.Input((None,), dtype="int64", name="word_ids")
    embedded = keras.layers.Embedding(vocabulary_size, config.embedding_dim, mask_zero=True)(ids)
    embedded = keras.layers.Dropout(config.embedding_dropout, seed=config.seed)(embedded)
    hidden = BRNN(RelevanceGRU(config.units, return_sequences=True, dropout=config.dropout, seed=config.seed))(embedded)
    return keras.Model(ids, keras.layers.Dense(num_tags, name="tag_scores")(hidden), name=name)


def build_crf_tagger(config, vocabulary_size, num_tags):
    tagger = CRFTagger(build_encoder(config, vocabulary_size, num_tags, "crf_encoder"), num_tags, name="crf_tagger")
    tagger.compile(optimizer=keras.optimizers.Adam(config.learning_rate))
    return tagger


def build_softmax_tagger(config, vocabulary_size, num_tags):
    tagger = build_encoder(config, vocabulary_size, num_tags, "softmax_tagger")
    tagger.compile(  # Keras masks the padding out of the loss and the accuracy (the Dense output's mask)
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return tagger


def build_serving_model(vectorizer, crf_tagger, tag_set):
    """Sentences (strings) -> ``{"tags": strings, "tag_ids": int32}``, one column per word plus one."""
    sentence = keras.Input((), dtype="string", name="sentence")
    ids = vectorizer(sentence)
    # One padding column more than the longest sentence: a request of empty strings
    # then still has a step to run the recurrent layers over (and answers "" only).
    ids = ops.pad(ids, [[0, 0], [0, 1]])
    real = ops.not_equal(ids, 0)
    decoded = ops.cast(crf_tagger(ids), "int32")
    names = keras.layers.StringLookup(vocabulary=list(tag_set), mask_token="", num_oov_indices=0, invert=True,
                                      name="tag_names")(ops.where(real, decoded + 1, 0))
    # Named layers name the SavedModel's outputs (deepkit.export.export_named).
    outputs = {
        "tags": keras.layers.Identity(name="tags")(names),
        "tag_ids": keras.layers.Identity(name="tag_ids")(ops.where(real, decoded, -1)),
    }
    return keras.Model(sentence, outputs, name="tagging")


def with_tag_ids_endpoint(model):
    """``model`` for ``run.finish``: its SavedModel serves ``serve`` (``{"tags", "tag_ids"}``)
    and ``tag_ids`` (the ids alone: numbers, for clients, and the tests, that read no strings)."""
    signature = [tf.TensorSpec((None,), tf.string, name="sentence")]
    tag_ids = tf.function(lambda sentence: model(sentence, training=False)["tag_ids"])
    return WithEndpoints(model, endpoints={"tag_ids": (tag_ids, signature)})


# === Evaluation ===


def predicted_tags(model, dataset, tag_set, crf):
    """Each sentence's predicted tag names, padding dropped."""
    sentences = []
    for word_ids, _ in dataset:
        outputs = model(word_ids, training=False)
        ids = np.asarray(outputs) if crf else np.asarray(ops.argmax(outputs, axis=-1))
        lengths = np.sum(np.asarray(word_ids) != 0, axis=1)
        sentences += [[tag_set[i] for i in row[:n]] for row, n in zip(ids, lengths)]
    return sentences


def token_accuracy(true, predicted):
    pairs = [(t, p) for ts, ps in zip(true, predicted) for t, p in zip(ts, ps)]
    return np.mean([t == p for t, p in pairs])


def ill_formed(tags):
    """Words tagged ``I-X`` right after a word tagged neither ``B-X`` nor ``I-X`` (or first)."""
    return sum(
        tag.startswith("I-") and previous[2:] != tag[2:]
        for sentence in tags
        for previous, tag in zip(["O"] + sentence[:-1], sentence)
    )


def per_type_f1(true, predicted):
    """``({entity type: F1}, {entity type: support})`` by seqeval."""
    from seqeval.metrics import classification_report

    report = classification_report(true, predicted, output_dict=True, zero_division=0)
    types = sorted(key for key in report if not key.endswith(" avg"))
    return {t: report[t]["f1-score"] for t in types}, {t: int(report[t]["support"]) for t in types}


def plot_per_type_f1(path, title, crf_f1, softmax_f1, support):
    types = sorted(support)
    x = np.arange(len(types))
    figure, axis = plt.subplots(figsize=(max(6.0, 0.9 * len(types) + 2), 4))
    for offset, (label, values, color) in enumerate(
        [("softmax per word", softmax_f1, "C0"), ("CRF (Viterbi)", crf_f1, "C1")]
    ):
        bars = axis.bar(x + (offset - 0.5) * 0.4, [values.get(t, 0.0) for t in types], 0.4, label=label, color=color)
        axis.bar_label(bars, fmt="%.2f", fontsize=7)
    axis.set_xticks(x, [f"{t}\n({support[t]} in test)" for t in types], fontsize=8)
    axis.set_xlabel("entity type (test entities of that type)")
    axis.set_ylabel("entity F1 (seqeval: type and exact span)")
    axis.set_ylim(0, 1.1)
    axis.legend(loc="upper right", fontsize=8)
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def plot_transitions(path, title, crf, tag_set):
    """The transition scores with the start scores as an extra first row and the end
    scores as an extra last column."""
    size = len(tag_set)
    grid = np.full((size + 1, size + 1), np.nan)
    grid[1:, :size] = np.asarray(crf.transitions)
    grid[0, :size] = np.asarray(crf.start_transitions)
    grid[1:, size] = np.asarray(crf.end_transitions)
    limit = np.nanmax(np.abs(grid)) or 1.0
    figure, axis = plt.subplots(figsize=(0.42 * size + 3, 0.42 * size + 2.4))
    image = axis.imshow(grid, cmap="RdBu_r", vmin=-limit, vmax=limit)
    axis.set_xticks(range(size + 1), list(tag_set) + ["(end)"], rotation=90, fontsize=7)
    axis.set_yticks(range(size + 1), ["(start)"] + list(tag_set), fontsize=7)
    axis.set_xlabel("tag of the next word")
    axis.set_ylabel("tag of the previous word")
    figure.colorbar(image, ax=axis, label="transition score (log-potential; red: favoured, blue: avoided)")
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


# === The run ===


def prefixed(record, prefix):
    """A history's curves renamed ``<prefix>_loss``, ``val_<prefix>_loss``, ... for one training.png."""
    return {
        (f"val_{prefix}_{key[4:]}" if key.startswith("val_") else f"{prefix}_{key}"): values
        for key, values in record.history.items()
    }


def train_and_evaluate(config, workdir):
    run = recipe.start(NAME, config, workdir)
    parts = splits(config)
    (train_words, train_tags), (test_words, test_tags) = parts["train"], parts["test"]
    # The annotation scheme's tags, from every split: a small training split may miss a
    # rare one (the CRF and the softmax then just never learn to give it).
    tag_set = data.tag_set([tags for _, split_tags in parts.values() for tags in split_tags])
    print(f"data: {config.data}, {len(train_words)} sentences for training, {len(parts['validation'][0])} for "
          f"validation, {len(test_words)} for testing; {len(tag_set)} tags: {' '.join(tag_set)}")
    vectorizer = data.text_vectorizer(as_sentences(train_words).astype(str), max_tokens=config.max_tokens,
                                      standardize=None)
    pipelines = {
        key: batches(vectorizer, words, tag_ids(tags, tag_set), config.batch_size if key == "train" else 64,
                     shuffle_seed=config.seed if key == "train" else None)
        for key, (words, tags) in parts.items()
    }
    vocabulary_size, num_tags = vectorizer.vocabulary_size(), len(tag_set)

    crf_tagger = build_crf_tagger(config, vocabulary_size, num_tags)
    crf_history = run.fit(crf_tagger, pipelines["train"], validation=pipelines["validation"], subdir="crf")
    softmax_tagger = build_softmax_tagger(config, vocabulary_size, num_tags)
    softmax_history = run.fit(softmax_tagger, pipelines["train"], validation=pipelines["validation"],
                              subdir="softmax")

    from seqeval.metrics import f1_score

    crf_tags = predicted_tags(crf_tagger, pipelines["test"], tag_set, crf=True)
    softmax_tags = predicted_tags(softmax_tagger, pipelines["test"], tag_set, crf=False)
    crf_f1, support = per_type_f1(test_tags, crf_tags)
    softmax_f1, _ = per_type_f1(test_tags, softmax_tags)
    metrics = {
        "token_accuracy": token_accuracy(test_tags, crf_tags),
        "token_accuracy_softmax": token_accuracy(test_tags, softmax_tags),
        "entity_f1_crf": f1_score(test_tags, crf_tags, zero_division=0),
        "entity_f1_softmax": f1_score(test_tags, softmax_tags, zero_division=0),
        "ill_formed_crf": ill_formed(crf_tags),
        "ill_formed_softmax": ill_formed(softmax_tags),
    }
    plot_per_type_f1(
        os.path.join(run.workdir, "per_tag_f1.png"),
        f"{config.data}: entity F1 on {len(test_words)} test sentences (all types: CRF "
        f"{metrics['entity_f1_crf']:.2f}, softmax {metrics['entity_f1_softmax']:.2f})",
        crf_f1, softmax_f1, support,
    )
    plot_transitions(os.path.join(run.workdir, "transitions.png"),
                     f"{config.data}: the CRF's learned transitions", crf_tagger.crf, tag_set)

    serving_model = build_serving_model(vectorizer, crf_tagger, tag_set)
    example = as_sentences(test_words[:1]).astype(str)
    answer = serving_model(tf.constant(example))
    print(f"sentence: {example[0]}\ntags:     {' '.join(t.decode() for t in answer['tags'].numpy()[0] if t)}")
    training = recipe.TrainingRecord({**prefixed(crf_history, "crf"), **prefixed(softmax_history, "softmax")},
                                     crf_history.epochs_this_run)
    units = {
        "crf_loss": "negative log-likelihood (nats per sentence)",
        "softmax_loss": "cross-entropy (nats per word)",
        "crf_accuracy": "token accuracy (fraction of words)",
        "softmax_accuracy": "token accuracy (fraction of words)",
    }
    kept = [f"{name} epoch {(record.exported or {}).get('epoch', record.epochs)}"
            for name, record in (("CRF", crf_history), ("softmax", softmax_history))]
    title = f"tagging on {config.data}: CRF and softmax taggers (best validation loss kept: {', '.join(kept)})"
    return run.finish(with_tag_ids_endpoint(serving_model), metrics, training, plots_title=title, plots_units=units)


def main(argv=None):
    return recipe.main(sys.modules[__name__], argv)


if __name__ == "__main__":
    raise SystemExit(main())
