"""The user's own files: ``csv:<path>``, ``text:<path>``, ``npz:<path>``."""

import csv
import os

import numpy as np


def _check_exists(path, prefix):
    if not os.path.exists(path):
        raise FileNotFoundError(f"deepkit.data: '{prefix}:{path}': no such file")


def load_csv(path, label_column=None):
    """Columns become features (float32 where every value parses, strings otherwise)."""
    _check_exists(path, "csv")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"deepkit.data: 'csv:{path}' has a header but no rows")
    if label_column is not None and label_column not in rows[0]:
        raise ValueError(
            f"deepkit.data: `label_column` must be one of the columns {list(rows[0])}. Received: {label_column!r}"
        )
    features = {}
    for column in rows[0]:
        values = [row[column] for row in rows]
        try:
            features[column] = np.array(values, dtype="float32")
        except ValueError:
            features[column] = np.array(values, dtype=object)
    if label_column is not None:
        features["label"] = features.pop(label_column).astype("int64")
    return features


def load_text(path, per_line=True):
    """One element per non-empty line (default) or the whole file as one element."""
    _check_exists(path, "text")
    with open(path, encoding="utf-8") as f:
        content = f.read()
    texts = [line for line in content.splitlines() if line.strip()] if per_line else [content]
    return {"text": np.array(texts, dtype=object)}


def load_npz(path):
    """Each array of the archive becomes a feature; all must share their first dimension."""
    _check_exists(path, "npz")
    with np.load(path, allow_pickle=False) as archive:
        features = {name: archive[name] for name in archive.files}
    lengths = {name: len(array) for name, array in features.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"deepkit.data: the arrays of 'npz:{path}' must have the same length. Received: {lengths}")
    return features
