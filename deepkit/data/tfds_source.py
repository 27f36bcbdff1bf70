"""The real TensorFlow Datasets loader, made to fail fast when the network is missing.

Offline, ``tfds.load`` retries for minutes (~205 s here) and leaves an empty
folder behind. :func:`load_tfds` first checks whether the dataset is already
prepared in ``data_dir``; if not, a connection probe of at most ~2 seconds
decides whether a download can work, and an explicit error names the offline
dataset to use instead. Set ``DEEPKIT_OFFLINE=1`` to skip the probe and treat
the network as missing.
"""

import os
import socket
import threading

from deepkit.data.dataset_info import DatasetInfo

PROBE_HOST, PROBE_PORT = "storage.googleapis.com", 443
PROBE_TIMEOUT = 2.0

# TFDS datasets whose layout matches a deepkit kind, and the offline dataset to suggest.
KNOWN = {
    "mnist": ("images", 10, "70,000 MNIST digits, 28x28 (60,000 train / 10,000 test)", "mnist_5k"),
    "fashion_mnist": ("images", 10, "70,000 Zalando clothing images, 28x28", "mnist_5k"),
    "imdb_reviews": ("labelled_text", 2, "50,000 IMDB movie reviews, positive (1) / negative (0)", "polarity"),
    "tiny_shakespeare": ("text", None, "Shakespeare's works as one document per split, ~1M characters",
                         "lee_background"),
}


def tfds_info(name):
    """:class:`DatasetInfo` of ``tfds:<name>`` (kind ``None`` for datasets deepkit does not know)."""
    kind, num_classes, description, _ = KNOWN.get(name.split("/")[0].split(":")[0], (None, None, "", None))
    return DatasetInfo(
        f"tfds:{name}", kind, f"TensorFlow Datasets '{name}' (downloads once, then cached in data_dir)",
        description or "a TensorFlow Datasets dataset", offline=False, num_classes=num_classes,
        split="the TFDS splits (e.g. 'train', 'test', 'train[:90%]')",
    )


def offline_alternative(name):
    """The offline dataset to use instead of ``tfds:<name>``, or ``None``."""
    return KNOWN.get(name.split("/")[0].split(":")[0], (None, None, None, None))[3]


def network_available(timeout=PROBE_TIMEOUT):
    """Whether TFDS' download host accepts a TCP connection within about ``timeout`` seconds.

    The probe (name resolution included, which a socket timeout does not bound)
    runs in a daemon thread, so the answer never takes much longer than ``timeout``.

    Args:
        timeout: Seconds to wait (default 2).

    Returns:
        ``False`` when ``DEEPKIT_OFFLINE`` is set to a non-empty value other than ``"0"``,
        or when the host cannot be reached in time; ``True`` otherwise.
    """
    if os.environ.get("DEEPKIT_OFFLINE", "") not in ("", "0"):
        return False
    result = []

    def probe():
        try:
            with socket.create_connection((PROBE_HOST, PROBE_PORT), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, name="deepkit-network-probe", daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result) and result[0]


def load_tfds(name, split="train", data_dir=None, **options):
    """``split`` of the TFDS dataset ``name`` as a dataset of feature dicts.

    Args:
        name: A TFDS name, optionally with config and version (``"mnist"``, ``"mnist:3.*.*"``).
        split: A TFDS split (``"train"``, ``"test"``, ``"train[:90%]"``...).
        data_dir: TFDS data directory (default: TFDS' own, ``~/tensorflow_datasets``).
        **options: Passed to ``DatasetBuilder.as_dataset`` (e.g. ``shuffle_files=True``).

    Returns:
        A ``tf.data.Dataset`` of feature dicts.

    Raises:
        ConnectionError: At once, when the dataset is not prepared in ``data_dir``
            and the download host cannot be reached.
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError as error:
        raise ImportError(
            f"deepkit.data.load: 'tfds:{name}' needs the package 'tensorflow-datasets' "
            f"({error}); install it with: pip install tensorflow-datasets"
        ) from error
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared() and not network_available():
        alternative = offline_alternative(name)
        hint = f"use the offline dataset '{alternative}' instead" if alternative else "use an offline dataset"
        raise ConnectionError(
            f"deepkit.data.load: 'tfds:{name}' is not prepared in {builder.data_dir!r} and "
            f"{PROBE_HOST}:{PROBE_PORT} cannot be reached, so it cannot be downloaded. Either {hint} "
            "(see deepkit.data.list_datasets()), or prepare it once on a machine with internet "
            "(deepkit.data.load(name) there) and pass its folder as data_dir."
        )
    builder.download_and_prepare()
    return builder.as_dataset(split=split, **options)
