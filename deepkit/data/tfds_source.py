"""The real TensorFlow Datasets loader, which fails fast when the network is missing.

Offline, ``tfds.load`` retries for minutes and leaves an empty folder behind; a
2-second connection probe first turns that into an immediate, explicit error.
"""

import socket

PROBE_HOST, PROBE_PORT = "storage.googleapis.com", 443


def network_available(timeout=2.0):
    """Whether TFDS' download host answers within ``timeout`` seconds."""
    try:
        with socket.create_connection((PROBE_HOST, PROBE_PORT), timeout=timeout):
            return True
    except OSError:
        return False


def load_tfds(name, split, data_dir=None, offline_alternative=None):
    """``tfds.load(name, split=split)`` as a dataset of feature dicts.

    Raises ConnectionError at once when the dataset is not prepared in
    ``data_dir`` and the network is unreachable.
    """
    import tensorflow_datasets as tfds

    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared() and not network_available():
        hint = f" Use the offline dataset '{offline_alternative}' instead" if offline_alternative else ""
        raise ConnectionError(
            f"deepkit.data: 'tfds:{name}' is not prepared in {builder.data_dir!r} and "
            f"{PROBE_HOST} cannot be reached, so it cannot be downloaded.{hint} (see "
            "deepkit.data.list_datasets()), or prepare it on a machine with internet and pass data_dir."
        )
    builder.download_and_prepare()
    return builder.as_dataset(split=split)
