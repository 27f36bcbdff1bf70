"""``deepkit.data.load``: one entry point from a name to a ``tf.data.Dataset``."""

import numpy as np
import tensorflow as tf

from deepkit.data import files, offline, tfds_source
from deepkit.data.dataset_info import DatasetInfo

SPLITS = ("train", "test", "all")
TRAIN_FRACTION = 0.8
FILE_PREFIXES = ("csv", "text", "npz")
# The offline dataset to suggest when a TFDS download is impossible.
OFFLINE_ALTERNATIVES = {
    "mnist": "mnist_5k", "imdb_reviews": "polarity", "fashion_mnist": "mnist_5k", "emnist": "mnist_5k",
}


def list_datasets():
    """The built-in offline datasets, as :class:`DatasetInfo`."""
    return [entry[0] for entry in offline.OFFLINE.values()]


def info(name):
    """The :class:`DatasetInfo` of ``name`` (offline name, ``tfds:<name>`` or a file)."""
    if name in offline.OFFLINE:
        return offline.OFFLINE[name][0]
    prefix, _, rest = name.partition(":")
    if prefix == "tfds" and rest:
        return DatasetInfo(name, "tfds", f"TensorFlow Datasets '{rest}' (downloads)", "the real dataset",
                           offline=False, split="as TFDS defines it")
    if prefix in FILE_PREFIXES and rest:
        kind = {"csv": "table", "text": "text", "npz": "table"}[prefix]
        return DatasetInfo(name, kind, f"user file {rest}", f"{prefix} file", split="80/20 in file order")
    available = sorted(offline.OFFLINE) + ["tfds:<name>", "csv:<path>", "text:<path>", "npz:<path>"]
    raise ValueError(f"deepkit.data: unknown dataset {name!r}. Available: {available}")


def split_indices(length, split, chronological, seed=0):
    """Indices of ``split``: a seeded 80/20 shuffle, or the first/last 80/20% in order."""
    if split not in SPLITS:
        raise ValueError(f"deepkit.data: argument `split` must be one of {list(SPLITS)}. Received: split={split!r}")
    order = np.arange(length) if chronological else np.random.default_rng(seed).permutation(length)
    cut = int(round(TRAIN_FRACTION * length))
    return {"train": order[:cut], "test": order[cut:], "all": order}[split]


def load_arrays(name, split="train", **options):
    """The dict of NumPy arrays of an offline or file dataset's ``split``."""
    dataset_info = info(name)
    if dataset_info.kind == "tfds":
        raise ValueError(f"deepkit.data.load_arrays: {name!r} is a TFDS dataset; use deepkit.data.load")
    if name in offline.OFFLINE:
        features = offline.OFFLINE[name][1]()
    else:
        prefix, _, path = name.partition(":")
        features = {"csv": files.load_csv, "text": files.load_text, "npz": files.load_npz}[prefix](path, **options)
    length = len(next(iter(features.values())))
    # Time series and the user's files keep their order; i.i.d. offline data is shuffled.
    chronological = dataset_info.kind == "time_series" or name not in offline.OFFLINE
    indices = split_indices(length, split, chronological)
    return {key: value[indices] for key, value in features.items()}


def _to_tensor(array):
    if array.dtype == object:
        return tf.constant(array.astype(str))
    return tf.constant(array)


def load(name, split="train", data_dir=None, **options):
    """Returns ``split`` of dataset ``name`` as a ``tf.data.Dataset`` of feature dicts.

    Args:
        name: An offline dataset (see :func:`list_datasets`), ``"tfds:<name>"`` (the
            real TensorFlow Datasets loader; fails at once when it cannot download),
            or a file: ``"csv:<path>"`` (option ``label_column``), ``"text:<path>"``
            (option ``per_line=True``), ``"npz:<path>"``.
        split: ``"train"``, ``"test"`` or ``"all"`` (any TFDS split for ``tfds:``).
            Offline i.i.d. data is cut 80/20 after a shuffle with seed 0; time series
            chronologically (first 80% of the steps for training).
        data_dir: TFDS data directory.

    Example:

    >>> ds = load("digits", split="test")
    >>> element = next(iter(ds))
    >>> tuple(element["image"].shape), element["image"].dtype.name, len(ds)
    ((8, 8, 1), 'uint8', 359)
    """
    prefix, _, rest = name.partition(":")
    if prefix == "tfds" and rest:
        return tfds_source.load_tfds(rest, split, data_dir, OFFLINE_ALTERNATIVES.get(rest.split("/")[0]))
    arrays = load_arrays(name, split, **options)
    return tf.data.Dataset.from_tensor_slices({key: _to_tensor(value) for key, value in arrays.items()})
