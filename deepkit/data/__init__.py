"""Datasets as ``tf.data.Dataset``s, and the pipelines recipes feed to ``model.fit``.

- :func:`load` — one entry point: offline data that pip packages ship
  (:func:`list_datasets`), ``tfds:<name>`` (TensorFlow Datasets, failing fast
  offline) and the user's files (``csv:``, ``text:``, ``npz:``); :func:`load_arrays`
  and :func:`split_arrays`, a split as NumPy arrays; :func:`held_out_splits`, the
  split strings that hold out a validation tail of the training split;
- :func:`info` / :class:`DatasetInfo` — what a dataset is, without loading it;
- :func:`batched`, :func:`windows`, :func:`char_sequences`,
  :func:`text_vectorizer`, :func:`images_to_float` — tf.data pipelines.
"""

from deepkit.data.dataset_info import DatasetInfo
from deepkit.data.load import info, list_datasets, load, load_arrays, split_arrays
from deepkit.data.splits import held_out_splits
from deepkit.data.pipelines import batched, char_sequences, images_to_float, text_vectorizer, windows
from deepkit.data.tagged_corpus import tag_set, tagged_sentences

__all__ = [
    "DatasetInfo",
    "batched",
    "char_sequences",
    "held_out_splits",
    "images_to_float",
    "info",
    "list_datasets",
    "load",
    "load_arrays",
    "split_arrays",
    "tag_set",
    "tagged_sentences",
    "text_vectorizer",
    "windows",
]
