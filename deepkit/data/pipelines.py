"""tf.data pipelines: batching, time-series windows, text vectorization, image scaling."""

import keras
import numpy as np
import tensorflow as tf

AUTOTUNE = tf.data.AUTOTUNE


def batched(dataset, batch_size, shuffle_seed=None, shuffle_buffer=10_000, cache=True, drop_remainder=False):
    """cache → shuffle (seeded, reshuffled each epoch) → batch → prefetch(AUTOTUNE).

    Caching before shuffling keeps the decoded data in memory while each epoch
    still sees a new order. ``shuffle_seed=None`` keeps the order (evaluation).
    """
    if not isinstance(batch_size, int) or batch_size <= 0:
        raise ValueError(f"batched: argument `batch_size` must be a positive integer. Received: {batch_size!r}")
    if cache:
        dataset = dataset.cache()
    if shuffle_seed is not None:
        dataset = dataset.shuffle(shuffle_buffer, seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(AUTOTUNE)


def series_values(series):
    """A 1-D float32 NumPy array from an array or a dataset of ``{"value": ...}`` / scalars."""
    if isinstance(series, tf.data.Dataset):
        series = np.array([e["value"] if isinstance(e, dict) else e for e in series.as_numpy_iterator()])
    return np.asarray(series, dtype="float32").reshape(-1)


def windows(series, window, horizon=1, many_to_many=False, stride=1):
    """(x, y) pairs for forecasting from a 1-D series, as a ``tf.data.Dataset``.

    Many-to-one: ``x = s[t : t+window]`` (shape ``(window, 1)``) and
    ``y = s[t+window : t+window+horizon]`` (shape ``(horizon,)``; ``x_{t+1}`` for
    horizon 1). Many-to-many: ``y = s[t+1 : t+window+1]`` (shape ``(window, 1)``),
    the input shifted by one step.

    Example:

    >>> pairs = list(windows(np.arange(6), window=3).as_numpy_iterator())
    >>> [(x[:, 0].tolist(), y.tolist()) for x, y in pairs]
    [([0.0, 1.0, 2.0], [3.0]), ([1.0, 2.0, 3.0], [4.0]), ([2.0, 3.0, 4.0], [5.0])]
    """
    values = series_values(series)
    span = window + (1 if many_to_many else horizon)
    if window < 1 or horizon < 1 or len(values) < span:
        raise ValueError(
            f"windows: need window >= 1, horizon >= 1 and a series of at least {span} steps. "
            f"Received: window={window}, horizon={horizon}, length={len(values)}"
        )
    starts = np.arange(0, len(values) - span + 1, stride)
    x = np.stack([values[s : s + window] for s in starts])[..., None]
    if many_to_many:
        y = np.stack([values[s + 1 : s + window + 1] for s in starts])[..., None]
    else:
        y = np.stack([values[s + window : s + window + horizon] for s in starts])
    return tf.data.Dataset.from_tensor_slices((x, y))


def text_vectorizer(texts, max_tokens=None, output_sequence_length=None, split="whitespace",
                    standardize="lower_and_strip_punctuation"):
    """A ``keras.layers.TextVectorization`` adapted to ``texts`` (strings or a string dataset).

    ``split="character"`` gives one token per character (for next-character models).
    Id 0 is padding and id 1 the out-of-vocabulary token, so ``Embedding(mask_zero=True)``
    masks the padding.
    """
    vectorizer = keras.layers.TextVectorization(
        max_tokens=max_tokens, output_sequence_length=output_sequence_length, split=split, standardize=standardize
    )
    vectorizer.adapt(texts if isinstance(texts, tf.data.Dataset) else tf.constant(list(texts)))
    return vectorizer


def char_sequences(ids, seq_length, stride=None):
    """Next-character training pairs from a 1-D array of character ids.

    ``x = ids[t : t+seq_length]``, ``y = ids[t+1 : t+seq_length+1]`` (many-to-many),
    windows starting every ``stride`` characters (default ``seq_length``).
    """
    ids = np.asarray(ids, dtype="int64").reshape(-1)
    stride = stride or seq_length
    starts = np.arange(0, len(ids) - seq_length - 1 + 1, stride)
    if len(starts) == 0:
        raise ValueError(f"char_sequences: the text ({len(ids)} ids) is shorter than seq_length + 1 = {seq_length + 1}")
    x = np.stack([ids[s : s + seq_length] for s in starts])
    y = np.stack([ids[s + 1 : s + seq_length + 1] for s in starts])
    return tf.data.Dataset.from_tensor_slices((x, y))


def images_to_float(dataset, with_label=False):
    """``{"image": uint8, "label"}`` → float32 images in [0, 1] (and the label if asked)."""

    def convert(example):
        image = tf.cast(example["image"], tf.float32) / 255.0
        return (image, example["label"]) if with_label else image

    return dataset.map(convert, num_parallel_calls=AUTOTUNE)
