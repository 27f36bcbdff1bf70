"""``deepkit.data.load``: one entry point from a dataset name to a ``tf.data.Dataset``.

Names are the offline datasets of :mod:`deepkit.data.offline`, ``tfds:<name>``
(the real TensorFlow Datasets loader) and the user's files (``csv:<path>``,
``text:<path>``, ``npz:<path>``).
"""

import inspect

import numpy as np
import tensorflow as tf

from deepkit.data import files, offline, splits, tfds_source
from deepkit.data.dataset_info import DatasetInfo

FILE_SPLIT = "80/20 in file order (the first 80% of the rows for training)"


class MissingFeatureError(KeyError):
    """A feature (a CSV column, an array of an ``.npz``) a caller asked for that the dataset lacks."""

    def __str__(self):  # KeyError's own str() quotes the message
        return str(self.args[0])


class Features(dict):
    """``{feature: array}`` of one dataset; a missing feature is a :class:`MissingFeatureError`
    naming the dataset and the features it has (a recipe reading ``["value"]`` from a CSV
    without that column says so)."""

    def __init__(self, name, features):
        super().__init__(features)
        self.name = name

    def __missing__(self, key):
        raise MissingFeatureError(
            f"deepkit.data: {self.name!r} has no feature {key!r}; expected a column or array named {key!r}. "
            f"Received features: {sorted(self)}"
        )


def _available():
    return sorted(offline.OFFLINE) + ["tfds:<name>", "csv:<path>", "text:<path>", "npz:<path>"]


def _check_name(name, function):
    if not isinstance(name, str) or not name:
        raise ValueError(f"deepkit.data.{function}: argument `name` must be a non-empty string. Received: {name!r}")


def list_datasets():
    """Every dataset deepkit knows by name: the offline ones, then the known TFDS ones.

    Returns:
        A list of :class:`DatasetInfo`; ``offline`` tells which load without a network.

    Example:

    >>> [i.name for i in list_datasets() if i.offline]
    ['digits', 'mnist_5k', 'polarity', 'rotten_tomatoes', 'lee_background', 'head500', 'sunspots', 'co2',
     'jsb_chorales', 'jsb_chorales_20', 'hironsan_ner', 'digit_captions']
    """
    return [entry[0] for entry in offline.OFFLINE.values()] + [
        tfds_source.tfds_info(name) for name in tfds_source.KNOWN
    ]


def info(name):
    """The :class:`DatasetInfo` of ``name``, without loading the data.

    Args:
        name: An offline dataset, ``"tfds:<name>"``, ``"csv:<path>"``,
            ``"text:<path>"`` or ``"npz:<path>"``.

    Returns:
        A :class:`DatasetInfo`.

    Example:

    >>> info("polarity").num_classes
    2
    """
    _check_name(name, "info")
    if name in offline.OFFLINE:
        return offline.OFFLINE[name][0]
    prefix, _, rest = name.partition(":")
    if prefix == "tfds" and rest:
        return tfds_source.tfds_info(rest)
    if prefix in files.READERS and rest:
        files.check_exists(rest, prefix)  # a missing file is found before anything trains
        return DatasetInfo(name, files.KINDS[prefix], f"user file {rest}", f"the {prefix} file {rest}",
                           split=FILE_SPLIT)
    raise ValueError(f"deepkit.data: unknown dataset {name!r}. Available: {_available()}")


def split_indices(length, split, chronological, seed=splits.SEED):
    """See :func:`deepkit.data.splits.split_indices`."""
    return splits.split_indices(length, split, chronological, seed)


def load_arrays(name, split="train", **options):
    """``split`` of an offline or file dataset as a dict of NumPy arrays.

    The same examples, in the same order, as :func:`load` gives, for code that
    wants the whole split in memory (plots, scikit-learn, scaling statistics).

    Args:
        name: An offline dataset or a file (``csv:``, ``text:``, ``npz:``); not ``tfds:``.
        split: ``"train"``, ``"test"`` or ``"all"``, optionally sliced (``"train[:90%]"``).
        **options: Options of the file reader (``label_column``, ``delimiter``,
            ``encoding`` and ``non_finite`` for CSV, ``per_line`` and ``encoding`` for
            text, ``non_finite`` for NPZ); none for offline datasets.

    Returns:
        ``{feature: array}``; text is an object array of UTF-8 ``bytes``.
    """
    dataset_info = info(name)
    splits.parse_split(split)
    if name.startswith("tfds:"):
        raise ValueError(
            f"deepkit.data.load_arrays: {name!r} is a TFDS dataset; use deepkit.data.load (a tf.data.Dataset) "
            "or tfds.as_numpy on it"
        )
    if name in offline.OFFLINE:
        if options:
            raise TypeError(
                f"deepkit.data.load: the offline dataset {name!r} takes no options. Received: {sorted(options)}"
            )
        features = offline.load_features(name)
        chronological = dataset_info.kind == "time_series"
    else:
        prefix, _, path = name.partition(":")
        reader = files.READERS[prefix]
        allowed = sorted(set(inspect.signature(reader).parameters) - {"path"})
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise TypeError(
                f"deepkit.data.load: '{prefix}:' files take the options {allowed}. Received unknown options: {unknown}"
            )
        features = reader(path, **options)
        chronological = True
    length = len(next(iter(features.values())))
    indices = splits.split_indices(length, split, chronological)
    if len(indices) == 0:  # as TensorFlow Datasets refuses an empty split
        raise ValueError(
            f"deepkit.data.load: split {split!r} of {name!r} selects no examples (the dataset has {length}); "
            "expected a split with at least one example"
        )
    return Features(name, {key: value[indices] for key, value in features.items()})


def _to_tensor(array):
    if array.dtype == object:
        return tf.constant(array.tolist(), dtype=tf.string, shape=array.shape)
    return tf.constant(array)


def load(name, split="train", data_dir=None, **options):
    """``split`` of dataset ``name`` as a ``tf.data.Dataset`` of feature dicts.

    Elements look like TensorFlow Datasets': ``{"image": uint8 (H, W, 1),
    "label": int64}`` for images, ``{"text": string, "label": int64}`` for
    labelled text, ``{"text": string}`` for corpora (one document per element),
    ``{"value": float32}`` for time series (one step per element, in order).

    Args:
        name: An offline dataset (see :func:`list_datasets`), ``"tfds:<name>"``
            (the real TensorFlow Datasets loader; when the data is not prepared in
            ``data_dir`` and the download host cannot be reached it fails within
            ~2 s, naming the offline alternative), or a file: ``"csv:<path>"``
            (columns become features; options ``label_column``, ``delimiter``),
            ``"text:<path>"`` (options ``per_line=True``, ``encoding``) or ``"npz:<path>"``
            (arrays become features).
        split: ``"train"``, ``"test"`` or ``"all"``, optionally sliced like
            ``"train[:90%]"`` (any TFDS split for ``tfds:``). Offline i.i.d. data is
            cut 80/20 after a shuffle with seed 0; time series and files in order
            (the first 80% for training).
        data_dir: TFDS data directory (only for ``tfds:``).
        **options: Options of the file readers, or of ``DatasetBuilder.as_dataset`` for ``tfds:``.

    Returns:
        A ``tf.data.Dataset`` with a known length.

    Example:

    >>> ds = load("digits", split="test")
    >>> element = next(iter(ds))
    >>> tuple(element["image"].shape), element["image"].dtype.name, len(ds)
    ((8, 8, 1), 'uint8', 359)
    """
    _check_name(name, "load")
    prefix, _, rest = name.partition(":")
    if prefix == "tfds" and rest:
        return tfds_source.load_tfds(rest, split, data_dir, **options)
    arrays = load_arrays(name, split, **options)
    return tf.data.Dataset.from_tensor_slices({key: _to_tensor(value) for key, value in arrays.items()})


def split_arrays(name, split="train"):
    """``split`` of any dataset ``name`` as a dict of NumPy arrays, ``tfds:`` ones included.

    :func:`load_arrays` for offline datasets and files; for ``tfds:<name>`` the
    ``tf.data`` pipeline of :func:`load` read into memory, one array per feature.

    Args:
        name: Any name :func:`load` takes.
        split: ``"train"``, ``"test"`` or ``"all"``, optionally sliced (``"train[:90%]"``).

    Returns:
        ``{feature: array}``; text is an object array of UTF-8 ``bytes``.

    Example:

    >>> arrays = split_arrays("sunspots", "test")
    >>> sorted(arrays), arrays["value"].dtype.name
    (['value'], 'float32')
    """
    if not name.startswith("tfds:"):
        return load_arrays(name, split)
    columns = {}
    for example in load(name, split).as_numpy_iterator():
        for key, value in example.items():
            columns.setdefault(key, []).append(value)
    return {
        key: np.array(values, dtype=object if isinstance(values[0], bytes) else None)
        for key, values in columns.items()
    }
