"""Loading a ``.keras`` file with a message that tells a missing file from a damaged one.

``keras.saving.load_model`` reports a truncated or overwritten ``.keras`` archive as
"File not found"; :func:`load_model` says which of the two it is, and what to do.
"""

import os
import zipfile

import keras


def load_model(filepath, **kwargs):
    """``keras.saving.load_model(filepath, **kwargs)`` for a ``.keras`` archive, after
    checking that the file is there and is a whole zip archive.

    Args:
        filepath: Path of a ``.keras`` file.
        **kwargs: Passed on (``custom_objects``, ``compile``, ``safe_mode``).

    Returns:
        The loaded model.

    Raises:
        FileNotFoundError: if there is no file at ``filepath``.
        ValueError: if the file is not a readable zip archive (cut short while it was
            written, or not a ``.keras`` file), naming its size.

    Example:

    >>> model = deepkit.saving.load_model("runs/forecast/model.keras")  # doctest: +SKIP
    """
    path = os.fspath(filepath)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path!r}: no such file (expected a .keras model file)")
    if not zipfile.is_zipfile(path) or not _archive_is_whole(path):
        raise ValueError(
            f"{path!r} is damaged: expected a .keras zip archive, received {os.path.getsize(path)} bytes "
            f"that are not a whole one (cut short while being written?)"
        )
    return keras.saving.load_model(path, **kwargs)


def _archive_is_whole(path):
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip() is None and "config.json" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
