"""tf.data pipelines: batching, forecasting windows, text vectorization, image scaling.

:func:`batched` is the input pipeline of every recipe; :func:`windows` and
:func:`char_sequences` turn a sequence into supervised (x, y) pairs;
:func:`text_vectorizer` adapts a ``keras.layers.TextVectorization``;
:func:`images_to_float` scales uint8 images to [0, 1].
"""

import keras
import numpy as np
import tensorflow as tf

from deepkit.validation import check_int

AUTOTUNE = tf.data.AUTOTUNE


def _check_dataset(dataset, function):
    if not isinstance(dataset, tf.data.Dataset):
        raise TypeError(f"{function}: argument `dataset` must be a tf.data.Dataset. Received: {type(dataset).__name__}")


def batched(dataset, batch_size, shuffle_seed=None, shuffle_buffer=10_000, cache=True, drop_remainder=False):
    """The training input pipeline: cache → seeded shuffle → batch → prefetch(AUTOTUNE).

    Caching comes first, so the (decoded, mapped) examples are computed once and
    kept in memory while each epoch still gets a new order; the shuffle is seeded,
    so the sequence of epoch orders is the same on every run; prefetching last
    overlaps the pipeline with the training step. Put per-example ``map``s
    (decoding, scaling, windowing) before ``batched``: they then run once, while a
    ``map`` after the cache runs every epoch and is instantiated again for each
    epoch's iterator.

    Args:
        dataset: A ``tf.data.Dataset`` of examples.
        batch_size: Positive integer.
        shuffle_seed: Seed of the shuffle (a new order each epoch, the same
            sequence of orders on every run), or ``None`` (default) to keep the
            order, for evaluation.
        shuffle_buffer: Shuffle buffer size (default 10,000; a buffer at least as
            large as the dataset gives a uniform shuffle, and makes the first epoch
            read the whole dataset, so that the cache is complete even when
            ``model.fit`` stops after exactly ``len(dataset)`` batches).
        cache: Whether to keep the examples in memory after the first pass (default ``True``).
        drop_remainder: Whether to drop a last, smaller batch (default ``False``).

    Returns:
        The batched ``tf.data.Dataset``.

    Example:

    >>> import tensorflow as tf
    >>> ds = batched(tf.data.Dataset.range(10), 4, shuffle_seed=0)
    >>> [len(b) for b in ds], sorted(int(x) for b in ds for x in b)
    ([4, 4, 2], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    """
    _check_dataset(dataset, "batched")
    batch_size = check_int("batched", "batch_size", batch_size)
    shuffle_buffer = check_int("batched", "shuffle_buffer", shuffle_buffer)
    if cache:
        dataset = dataset.cache()
    if shuffle_seed is not None:
        dataset = dataset.shuffle(shuffle_buffer, seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size, drop_remainder=drop_remainder).prefetch(AUTOTUNE)


def _feature(dataset, name, function):
    """``dataset`` itself, or its feature ``name`` when its elements are dicts (as
    ``deepkit.data.load`` returns them)."""
    if not isinstance(dataset.element_spec, dict):
        return dataset
    if name not in dataset.element_spec:
        raise ValueError(
            f"{function}: a dataset of dicts must have a '{name}' feature (as deepkit.data.load returns). "
            f"Received features {sorted(dataset.element_spec)}"
        )
    return dataset.map(lambda element: element[name])


def _series_dataset(series, function):
    """A dataset of float32 scalars, and its length when known."""
    if isinstance(series, tf.data.Dataset):
        series = _feature(series, "value", function)
        if series.element_spec.shape.rank != 0:
            raise ValueError(
                f"{function}: argument `series` must be 1-D (one scalar per step). "
                f"Received a dataset of shape {series.element_spec.shape}"
            )
        length = int(series.cardinality())
        return series.map(lambda v: tf.cast(v, tf.float32)), (length if length >= 0 else None)
    values = np.asarray(series, dtype="float32")
    if values.ndim != 1 and not (values.ndim == 2 and values.shape[1] == 1):
        raise ValueError(f"{function}: argument `series` must be 1-D (one scalar per step). Received shape {values.shape}")
    values = values.reshape(-1)
    return tf.data.Dataset.from_tensor_slices(values), len(values)


def _sliding(dataset, length, span, stride):
    """Every run of ``span`` consecutive elements, starting every ``stride`` elements, as one tensor."""
    runs = dataset.window(span, shift=stride, drop_remainder=True)
    runs = runs.flat_map(lambda run: run.batch(span, drop_remainder=True))
    if length is not None:
        runs = runs.apply(tf.data.experimental.assert_cardinality(max(0, (length - span) // stride + 1)))
    return runs


def windows(series, window, horizon=1, many_to_many=False, stride=1):
    """Supervised (x, y) pairs for forecasting from a 1-D series, as a ``tf.data.Dataset``.

    For every start ``t = 0, stride, 2·stride, ...`` (while the pair fits):

    - many-to-one (default): ``x = s[t : t+window]`` of shape ``(window, 1)`` and
      ``y = s[t+window : t+window+horizon]`` of shape ``(horizon,)``, the next
      ``horizon`` values (``x_{t+1}`` for ``horizon=1``);
    - many-to-many: ``x`` as above and ``y = s[t+1 : t+window+1]`` of shape
      ``(window, 1)``, the input shifted by one step (``horizon`` is not used).

    Args:
        series: A 1-D array, or a dataset of scalars or of ``{"value": ...}``
            (a time series of :func:`load`), in time order.
        window: Length of the input window.
        horizon: Number of future values to predict (many-to-one; default 1).
        many_to_many: Predict the next value at every step of the window (default ``False``).
        stride: Steps between consecutive window starts (default 1).

    Returns:
        A ``tf.data.Dataset`` of float32 ``(x, y)`` pairs, with a known length.

    Example:

    >>> pairs = list(windows(np.arange(6), window=3).as_numpy_iterator())
    >>> [(x[:, 0].tolist(), y.tolist()) for x, y in pairs]
    [([0.0, 1.0, 2.0], [3.0]), ([1.0, 2.0, 3.0], [4.0]), ([2.0, 3.0, 4.0], [5.0])]
    """
    window = check_int("windows", "window", window)
    horizon = check_int("windows", "horizon", horizon)
    stride = check_int("windows", "stride", stride)
    dataset, length = _series_dataset(series, "windows")
    span = window + (1 if many_to_many else horizon)
    if length is not None and length < span:
        raise ValueError(
            f"windows: the series must have at least window + {'1' if many_to_many else 'horizon'} = {span} "
            f"steps. Received: window={window}, horizon={horizon}, many_to_many={many_to_many}, length={length}"
        )

    def split(run):
        x = run[:window, None]
        y = run[1:, None] if many_to_many else run[window:]
        return x, y

    return _sliding(dataset, length, span, stride).map(split, num_parallel_calls=AUTOTUNE)


def char_sequences(ids, seq_length, stride=None):
    """Next-character (or next-token) training pairs from a 1-D sequence of ids.

    ``x = ids[t : t+seq_length]`` and ``y = ids[t+1 : t+seq_length+1]``: at every
    position the target is the id that follows (many-to-many).

    Args:
        ids: A 1-D array / tensor of int ids, e.g. ``vectorizer([text])[0]`` of a
            :func:`text_vectorizer` with ``split="character"``.
        seq_length: Length of each input sequence.
        stride: Ids between consecutive starts (default ``seq_length``: disjoint inputs).

    Returns:
        A ``tf.data.Dataset`` of int64 ``(x, y)`` pairs, each of shape ``(seq_length,)``.

    Example:

    >>> pairs = list(char_sequences(np.arange(7), seq_length=3).as_numpy_iterator())
    >>> [(x.tolist(), y.tolist()) for x, y in pairs]
    [([0, 1, 2], [1, 2, 3]), ([3, 4, 5], [4, 5, 6])]
    """
    seq_length = check_int("char_sequences", "seq_length", seq_length)
    stride = seq_length if stride is None else check_int("char_sequences", "stride", stride)
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"char_sequences: argument `ids` must be a 1-D sequence of integer ids. "
            f"Received shape {ids.shape} and dtype {ids.dtype}"
        )
    if len(ids) < seq_length + 1:
        raise ValueError(
            f"char_sequences: the sequence must have at least seq_length + 1 = {seq_length + 1} ids. "
            f"Received {len(ids)}"
        )
    dataset = tf.data.Dataset.from_tensor_slices(ids.astype("int64"))
    runs = _sliding(dataset, len(ids), seq_length + 1, stride)
    return runs.map(lambda run: (run[:-1], run[1:]), num_parallel_calls=AUTOTUNE)


def _texts(texts):
    """A string tensor or dataset of strings from strings, bytes, an array, or a dataset of ``{"text"}``."""
    if isinstance(texts, tf.data.Dataset):
        texts = _feature(texts, "text", "text_vectorizer")
        if texts.element_spec.dtype != tf.string:
            raise ValueError(f"text_vectorizer: the dataset must hold strings. Received {texts.element_spec}")
        return texts
    if isinstance(texts, (str, bytes)):
        raise ValueError(
            "text_vectorizer: argument `texts` must be a list of texts, not one string; wrap it: [text]"
        )
    texts = [t.decode("utf-8") if isinstance(t, bytes) else t for t in np.asarray(texts, dtype=object).reshape(-1)]
    if not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError("text_vectorizer: argument `texts` must be a non-empty list of strings")
    return tf.constant(texts, dtype=tf.string)


def text_vectorizer(texts, max_tokens=None, output_sequence_length=None, split="whitespace",
                    standardize="lower_and_strip_punctuation"):
    """A ``keras.layers.TextVectorization`` adapted to ``texts``.

    Id 0 is padding and id 1 the out-of-vocabulary token, so an
    ``Embedding(mask_zero=True)`` after it masks the padding; ``get_vocabulary()``
    maps ids back to tokens.

    Args:
        texts: A list / array of strings (or UTF-8 bytes), or a dataset of strings or
            of ``{"text": ...}`` (a text dataset of :func:`load`).
        max_tokens: Vocabulary size, padding and OOV included (default ``None``: no limit).
        output_sequence_length: Pad or cut every output to this length (default
            ``None``: the longest text of the batch).
        split: ``"whitespace"`` (default; word tokens) or ``"character"`` (one token
            per character, for next-character models).
        standardize: ``"lower_and_strip_punctuation"`` (default), ``"lower"``,
            ``"strip_punctuation"`` or ``None`` (keep the text as is; use it with
            ``split="character"`` to keep case and punctuation).

    Returns:
        The adapted ``keras.layers.TextVectorization``.

    Example:

    >>> vectorizer = text_vectorizer(["the cat sat", "the dog"], output_sequence_length=4)
    >>> [str(token) for token in vectorizer.get_vocabulary()[:3]]
    ['', '[UNK]', 'the']
    """
    if split not in ("whitespace", "character"):
        raise ValueError(
            f"text_vectorizer: argument `split` must be 'whitespace' or 'character'. Received: split={split!r}"
        )
    standardizers = ("lower_and_strip_punctuation", "lower", "strip_punctuation", None)
    if standardize not in standardizers and not callable(standardize):
        raise ValueError(
            f"text_vectorizer: argument `standardize` must be one of {list(standardizers)} or a callable. "
            f"Received: standardize={standardize!r}"
        )
    if max_tokens is not None:
        max_tokens = check_int("text_vectorizer", "max_tokens", max_tokens)
    if output_sequence_length is not None:
        output_sequence_length = check_int("text_vectorizer", "output_sequence_length", output_sequence_length)
    vectorizer = keras.layers.TextVectorization(
        max_tokens=max_tokens, output_sequence_length=output_sequence_length, split=split, standardize=standardize
    )
    texts = _texts(texts)
    vectorizer.adapt(texts.batch(1024) if isinstance(texts, tf.data.Dataset) else texts)
    return vectorizer


def images_to_float(dataset, with_label=False):
    """Scale ``{"image": uint8, ...}`` elements to float32 images in [0, 1].

    Args:
        dataset: A dataset of ``{"image": uint8, "label": int64}`` (images of :func:`load`).
        with_label: Return ``(image, label)`` pairs instead of images alone (default ``False``).

    Returns:
        A ``tf.data.Dataset`` of float32 images (or ``(image, label)`` pairs).

    Example:

    >>> image = next(iter(images_to_float(load("digits"))))
    >>> image.dtype.name, float(image.numpy().max()) <= 1.0
    ('float32', True)
    """
    _check_dataset(dataset, "images_to_float")
    spec = dataset.element_spec
    if not isinstance(spec, dict) or "image" not in spec or (with_label and "label" not in spec):
        needed = '{"image", "label"}' if with_label else '{"image"}'
        received = sorted(spec) if isinstance(spec, dict) else spec
        raise ValueError(f"images_to_float: the dataset's elements must be dicts with {needed}. Received: {received}")

    def convert(element):
        image = tf.cast(element["image"], tf.float32) / 255.0
        return (image, element["label"]) if with_label else image

    return dataset.map(convert, num_parallel_calls=AUTOTUNE)
