"""SavedModels in TensorFlow Serving's layout: ``<base>/<name>/<version>/``, written atomically.

TensorFlow Serving watches ``<base>/<name>/`` and loads the highest integer
version it finds, as soon as the folder appears. A version folder must therefore
never be visible half-written: :func:`export_version` writes the SavedModel into a
hidden temporary folder beside the versions (same file system) and renames it into
place in one step, so the folder either does not exist or is complete.
"""

import os
import shutil
import tempfile
import time

STAGING_PREFIX = ".export-"
STALE_AFTER_S = 24 * 3600  # a staging folder this old is left over from a killed export


def versions(base):
    """The integer versions under ``base`` (``[]`` when it does not exist), ascending."""
    if not os.path.isdir(base):
        return []
    return sorted(int(name) for name in os.listdir(base) if name.isdigit())


def next_version(base):
    """One more than the highest version under ``base``; 1 for an empty or missing folder."""
    return max(versions(base), default=0) + 1


def export_version(model, export_dir, name):
    """Exports ``model`` to ``export_dir/name/<next version>/`` atomically; returns that path.

    Args:
        model: Anything with Keras' ``export(path, verbose=...)``: a ``keras.Model``
            (endpoint ``serve``/``serving_default``), or one of deepkit's generative
            models, whose ``export`` writes named endpoints.
        export_dir: The base folder (a recipe's ``export_dir``, default ``saved_models``).
        name: The model name, usually the recipe's.

    Returns:
        The version folder, e.g. ``saved_models/forecast/3``.

    Raises:
        Whatever ``model.export`` raises; the temporary folder is removed and no
        version folder is left behind.
    """
    base = os.path.join(export_dir, name)
    os.makedirs(base, exist_ok=True)
    remove_stale_staging(base)
    staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=base)
    try:
        written = os.path.join(staging, "saved_model")
        model.export(written, verbose=False)
        while True:
            target = os.path.join(base, str(next_version(base)))
            try:
                # os.rename onto a missing path is atomic; if another process took this
                # version number in the meantime, the rename fails and we take the next.
                os.rename(written, target)
                return target
            except OSError:
                if not os.path.exists(target):
                    raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def remove_stale_staging(base, now=None):
    """Removes staging folders older than a day under ``base``: what exports killed before
    they could clean up (SIGKILL, power loss) left behind. Servers ignore them anyway
    (hidden, not integers); this only frees the disk."""
    now = time.time() if now is None else now
    for entry in os.listdir(base):
        path = os.path.join(base, entry)
        if entry.startswith(STAGING_PREFIX) and now - os.path.getmtime(path) > STALE_AFTER_S:
            shutil.rmtree(path, ignore_errors=True)
