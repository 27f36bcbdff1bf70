"""The user's own files: ``csv:<path>``, ``text:<path>`` and ``npz:<path>``.

Each reader returns a dict of NumPy arrays with one entry per feature; text is
UTF-8 ``bytes``, as ``tfds.as_numpy`` gives it.
"""

import csv
import os

import numpy as np


def _check_exists(path, prefix):
    if not os.path.isfile(path):
        raise FileNotFoundError(f"deepkit.data.load: '{prefix}:{path}': no such file")


def _column(values):
    """float32 where every non-empty value parses as a number (empty → NaN), else UTF-8 bytes."""
    try:
        return np.array([float(v) if v.strip() else np.nan for v in values], dtype="float32")
    except ValueError:
        return np.array([v.encode("utf-8") for v in values], dtype=object)


def _labels(values, path, label_column):
    """Integer labels as int64; any other strings become their index among the sorted distinct labels."""
    try:
        numbers = np.array([float(v) for v in values])
    except ValueError:
        names = sorted(set(values))
        return np.array([names.index(v) for v in values], dtype="int64")
    if not np.all(numbers == np.round(numbers)):
        raise ValueError(
            f"deepkit.data.load: the label column {label_column!r} of 'csv:{path}' must hold integers or "
            f"class names. Received non-integer numbers such as {numbers[numbers != np.round(numbers)][0]}"
        )
    return numbers.astype("int64")


def load_csv(path, label_column=None, delimiter=","):
    """A CSV file with a header row; each column becomes a feature.

    Args:
        path: The file.
        label_column: Column to return as ``"label"`` (int64). Integer values are
            kept; class names become their index in the sorted list of distinct names.
        delimiter: Field separator (default ``","``).

    Returns:
        ``{column: array}``: float32 where every non-empty value is a number (empty
        cells become NaN), UTF-8 bytes otherwise.
    """
    _check_exists(path, "csv")
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f, delimiter=delimiter)
        header = next(reader, None)
        rows = [row for row in reader if row]
    if not header:
        raise ValueError(f"deepkit.data.load: 'csv:{path}' is empty; expected a header row and data rows")
    if not rows:
        raise ValueError(f"deepkit.data.load: 'csv:{path}' has a header but no data rows")
    ragged = [i + 2 for i, row in enumerate(rows) if len(row) != len(header)]
    if ragged:
        raise ValueError(
            f"deepkit.data.load: every row of 'csv:{path}' must have the {len(header)} fields of the header. "
            f"Received other counts on lines {ragged[:5]}"
        )
    if label_column is not None and label_column not in header:
        raise ValueError(
            f"deepkit.data.load: argument `label_column` must be one of the columns {header} of 'csv:{path}'. "
            f"Received: label_column={label_column!r}"
        )
    features = {}
    for position, column in enumerate(header):
        values = [row[position] for row in rows]
        if column == label_column:
            features["label"] = _labels(values, path, label_column)
        else:
            features[column] = _column(values)
    return features


def load_text(path, per_line=True, encoding="utf-8"):
    """A text file: one element per non-empty line (default) or the whole file as one element.

    Args:
        path: The file.
        per_line: ``True``: each non-blank line (without its newline) is an
            element; ``False``: the whole file is one element.
        encoding: Encoding of the file (default ``"utf-8"``).

    Returns:
        ``{"text": array of UTF-8 bytes}``.
    """
    _check_exists(path, "text")
    with open(path, encoding=encoding) as f:
        content = f.read()
    texts = [line for line in content.splitlines() if line.strip()] if per_line else [content]
    return {"text": np.array([t.encode("utf-8") for t in texts], dtype=object)}


def load_npz(path):
    """A NumPy ``.npz`` archive; each array becomes a feature (all share their first dimension).

    Args:
        path: The file (written with ``np.savez`` or ``np.savez_compressed``).

    Returns:
        ``{array name: array}``.
    """
    _check_exists(path, "npz")
    with np.load(path, allow_pickle=False) as archive:
        features = {name: archive[name] for name in archive.files}
    if not features:
        raise ValueError(f"deepkit.data.load: 'npz:{path}' holds no arrays")
    scalars = [name for name, array in features.items() if array.ndim == 0]
    if scalars:
        raise ValueError(
            f"deepkit.data.load: every array of 'npz:{path}' must have a first (example) dimension. "
            f"Received 0-d arrays: {scalars}"
        )
    lengths = {name: len(array) for name, array in features.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(
            f"deepkit.data.load: the arrays of 'npz:{path}' must have the same length. Received: {lengths}"
        )
    return features


READERS = {"csv": load_csv, "text": load_text, "npz": load_npz}
KINDS = {"csv": "table", "text": "text", "npz": "table"}
