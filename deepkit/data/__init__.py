"""Datasets as ``tf.data.Dataset``s: offline data that pip packages ship, TFDS, user files,
and the pipelines recipes use (batching, windows, text vectorization)."""

from deepkit.data.dataset_info import DatasetInfo
from deepkit.data.load import info, list_datasets, load, load_arrays
from deepkit.data.pipelines import batched, char_sequences, images_to_float, text_vectorizer, windows

__all__ = [
    "DatasetInfo",
    "batched",
    "char_sequences",
    "images_to_float",
    "info",
    "list_datasets",
    "load",
    "load_arrays",
    "text_vectorizer",
    "windows",
]
