"""The user's own files: ``csv:<path>``, ``text:<path>`` and ``npz:<path>``.

Each reader returns a dict of NumPy arrays with one entry per feature; text is
UTF-8 ``bytes``, as ``tfds.as_numpy`` gives it. Numbers that are missing, NaN or
infinite are refused where they are read, naming the file, the column and the first
bad row (a NaN in the data trains a model that serves NaN), unless the caller picks
another ``non_finite`` policy: ``"drop"`` the rows, or ``"keep"`` them as NaN.
"""

import csv
import os
import zipfile

import numpy as np

NON_FINITE_POLICIES = ("error", "drop", "keep")
# Cells that mean "no value" in a numeric column, besides an empty one ("nan" and
# "inf" parse as floats already).
MISSING_MARKERS = {"n/a", "na", "null", "none", "?", "-", "missing"}


def check_exists(path, prefix):
    """FileNotFoundError (or IsADirectoryError) naming ``<prefix>:<path>`` unless it is a file."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"deepkit.data.load: '{prefix}:{path}' is a folder; expected a {prefix} file")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"deepkit.data.load: '{prefix}:{path}': no such file")


def _check_policy(non_finite):
    if non_finite not in NON_FINITE_POLICIES:
        raise ValueError(f"deepkit.data.load: argument `non_finite` must be one of {list(NON_FINITE_POLICIES)}. "
                         f"Received: non_finite={non_finite!r}")


def _column(values):
    """float32 where every value is a number or a missing marker (empty, ``n/a``, ...: NaN),
    with at least one number; UTF-8 bytes otherwise."""
    numbers = []
    for value in values:
        text = value.strip()
        if not text or text.lower() in MISSING_MARKERS:
            numbers.append(np.nan)
            continue
        try:
            numbers.append(float(text))
        except ValueError:
            return np.array([v.encode("utf-8") for v in values], dtype=object)
    if all(np.isnan(n) for n in numbers):  # no number at all: a text column with gaps
        return np.array([v.encode("utf-8") for v in values], dtype=object)
    return np.array(numbers, dtype="float32")


def _bad_rows(array):
    """Whether each example of a numeric array holds a NaN or an infinity."""
    return ~np.isfinite(array.reshape(len(array), -1)).all(axis=1)


def apply_non_finite_policy(features, non_finite, where, describe_row):
    """``features`` after the ``non_finite`` policy on its float arrays.

    Args:
        features: ``{name: array}``, all of one length.
        non_finite: ``"error"``: ValueError naming ``where``, the feature and the first bad
            example (``describe_row(name, index)``); ``"drop"``: the examples with any
            non-finite value are removed; ``"keep"``: unchanged.
        where: The file, as messages name it (``"csv:data.csv"``).
        describe_row: ``(name, index) -> str``, e.g. ``"line 7 ('n/a')"``.
    """
    _check_policy(non_finite)
    floats = {name: array for name, array in features.items() if array.dtype.kind == "f"}
    bad = {name: _bad_rows(array) for name, array in floats.items()}
    if non_finite == "keep" or not any(rows.any() for rows in bad.values()):
        return features
    if non_finite == "error":
        name = min((n for n in bad if bad[n].any()), key=lambda n: np.argmax(bad[n]))
        first = int(np.argmax(bad[name]))
        raise ValueError(
            f"deepkit.data.load: {name!r} of '{where}' must hold finite numbers. Received a missing, NaN or "
            f"infinite value at {describe_row(name, first)} ({int(bad[name].sum())} such row(s) in all); fix the "
            "file, or load it with non_finite='drop' (drop those rows) or non_finite='keep' (keep them as NaN)"
        )
    keep = ~np.any(np.stack(list(bad.values())), axis=0)
    if not keep.any():
        raise ValueError(f"deepkit.data.load: every row of '{where}' holds a missing or non-finite value; "
                         "non_finite='drop' left nothing")
    return {name: array[keep] for name, array in features.items()}


def _read_text_file(path, prefix, encoding, shown=None):
    """The file's text; ValueError naming the file and the ``encoding`` option (``shown``
    as the user gave it) when it does not decode."""
    shown = shown or encoding
    try:
        with open(path, newline="" if prefix == "csv" else None, encoding=encoding) as f:
            return f.read()
    except UnicodeDecodeError as error:
        raise ValueError(
            f"deepkit.data.load: '{prefix}:{path}' is not valid {shown} text (byte {error.start}: "
            f"{error.reason}); expected {shown}, or pass the file's encoding, e.g. encoding='latin-1'"
        ) from None
    except LookupError:
        raise ValueError(f"deepkit.data.load: argument `encoding` must name a Python codec. "
                         f"Received: encoding={encoding!r}") from None


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


def load_csv(path, label_column=None, delimiter=",", encoding="utf-8", non_finite="error"):
    """A CSV file with a header row; each column becomes a feature.

    Args:
        path: The file.
        label_column: Column to return as ``"label"`` (int64). Integer values are
            kept; class names become their index in the sorted list of distinct names.
        delimiter: Field separator (default ``","``).
        encoding: Encoding of the file (default ``"utf-8"``; a byte-order mark is dropped).
        non_finite: What to do with an empty, ``n/a``, NaN or infinite cell of a numeric
            column: ``"error"`` (default), ``"drop"`` its row, or ``"keep"`` it as NaN.

    Returns:
        ``{column: array}``: float32 where every value is a number or missing (empty,
        ``n/a``, ``na``, ``null``, ``?``, ...), UTF-8 bytes otherwise.

    Raises:
        ValueError: naming the file, the column and the first bad line: a missing or
            non-finite number (``non_finite="error"``), text that is not ``encoding``,
            rows of another length than the header, an unknown ``label_column``.
    """
    check_exists(path, "csv")
    _check_policy(non_finite)
    # A header written by Excel starts with a byte-order mark: "utf-8-sig" drops it.
    read_as = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
    reader = csv.reader(_read_text_file(path, "csv", read_as, shown=encoding).splitlines(), delimiter=delimiter)
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
    positions = {("label" if column == label_column else column): i for i, column in enumerate(header)}
    return apply_non_finite_policy(
        features, non_finite, f"csv:{path}",
        lambda name, row: f"line {row + 2} ({rows[row][positions[name]]!r})",  # line 1 is the header
    )


def load_text(path, per_line=True, encoding="utf-8"):
    """A text file: one element per non-empty line (default) or the whole file as one element.

    Args:
        path: The file.
        per_line: ``True``: each non-blank line (without its newline) is an
            element; ``False``: the whole file is one element.
        encoding: Encoding of the file (default ``"utf-8"``).

    Returns:
        ``{"text": array of UTF-8 bytes}``.

    Raises:
        ValueError: the file is empty (or blank), or is not ``encoding`` text.
    """
    check_exists(path, "text")
    content = _read_text_file(path, "text", encoding)
    texts = [line for line in content.splitlines() if line.strip()] if per_line else [content]
    if not content.strip():
        raise ValueError(f"deepkit.data.load: 'text:{path}' is empty; expected at least one line of text")
    return {"text": np.array([t.encode("utf-8") for t in texts], dtype=object)}


def load_npz(path, non_finite="error"):
    """A NumPy ``.npz`` archive; each array becomes a feature (all share their first dimension).

    Args:
        path: The file (written with ``np.savez`` or ``np.savez_compressed``).
        non_finite: What to do with an example holding NaN or infinity in a float
            array: ``"error"`` (default), ``"drop"`` it, or ``"keep"`` it.

    Returns:
        ``{array name: array}``.

    Raises:
        ValueError: the file is not an ``.npz`` archive (a ``.npy`` array, text, a
            truncated zip), arrays of other lengths or without an example dimension,
            a non-finite value (naming the array and the example).
    """
    check_exists(path, "npz")
    _check_policy(non_finite)
    expected = "expected a .npz archive written by np.savez or np.savez_compressed"
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"deepkit.data.load: 'npz:{path}' cannot be read: {expected}; "
                         f"received {type(error).__name__}: {error}") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError(f"deepkit.data.load: 'npz:{path}' holds one .npy array of shape {loaded.shape}: {expected} "
                         "(np.savez(path, name=array) names each feature)")
    try:
        with loaded as archive:
            features = {name: archive[name] for name in archive.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as error:
        raise ValueError(f"deepkit.data.load: 'npz:{path}' is damaged: {expected}; "
                         f"received {type(error).__name__}: {error}") from None
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
    return apply_non_finite_policy(features, non_finite, f"npz:{path}", lambda name, row: f"example {row}")


READERS = {"csv": load_csv, "text": load_text, "npz": load_npz}
KINDS = {"csv": "table", "text": "text", "npz": "table"}
