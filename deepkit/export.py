"""SavedModels in TensorFlow Serving's layout: ``<base>/<name>/<version>/``, written atomically.

TensorFlow Serving watches ``<base>/<name>/`` and loads the highest integer
version it finds, as soon as the folder appears. A version folder must therefore
never be visible half-written: :func:`export_version` writes the SavedModel into a
hidden temporary folder beside the versions (same file system) and renames it into
place in one step, so the folder either does not exist or is complete.

A plain Keras model is exported with a ``serve`` endpoint (also ``serving_default``)
whose inputs and outputs carry the names of the model's input and output layers, so
that ``saved_model_cli show --all`` and TensorFlow Serving's REST answers name what
goes in and what comes out. Each version records a fingerprint of what it serves
(``assets.extra/deepkit_fingerprint.txt``), so that exporting an unchanged model again
gives no new, identical version.
"""

import hashlib
import json
import os
import shutil
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from deepkit.serving.portability import portable_recurrent_layers

STAGING_PREFIX = ".export-"
STALE_AFTER_S = 24 * 3600  # a staging folder this old is left over from a killed export
FINGERPRINT_FILE = os.path.join("assets.extra", "deepkit_fingerprint.txt")  # beside, not in, the graph


def versions(base):
    """The integer versions under ``base`` (``[]`` when it does not exist), ascending."""
    if not os.path.isdir(base):
        return []
    return sorted(int(name) for name in os.listdir(base) if name.isdigit())


def next_version(base):
    """One more than the highest version under ``base``; 1 for an empty or missing folder."""
    return max(versions(base), default=0) + 1


def export_version(model, export_dir, name, fingerprint=None):
    """Exports ``model`` to ``export_dir/name/<next version>/`` atomically; returns that path.

    Args:
        model: Anything with Keras' ``export(path, verbose=...)``: a plain
            ``keras.Model`` (written by :func:`export_named`: endpoint
            ``serve``/``serving_default`` with named inputs and outputs), or an
            object whose own ``export`` writes its endpoints (deepkit's generative
            models, a recipe's export bundle).
        export_dir: The base folder (a recipe's ``export_dir``, default ``saved_models``).
        name: The model name, usually the recipe's.
        fingerprint: Optional text recorded in the version's ``FINGERPRINT_FILE``
            (see :func:`fingerprint` and :func:`export_unless_unchanged`).

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
        # Keras' LSTM and GRU trace cuDNN-only ops when a GPU is visible; a served model
        # must run on a CPU too.
        with portable_recurrent_layers(model):
            if _plain_keras_model(model):
                export_named(model, written)
            else:
                model.export(written, verbose=False)
        if fingerprint is not None:
            os.makedirs(os.path.dirname(os.path.join(written, FINGERPRINT_FILE)), exist_ok=True)
            with open(os.path.join(written, FINGERPRINT_FILE), "w") as f:
                f.write(fingerprint + "\n")
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


def export_unless_unchanged(model, export_dir, name, fingerprint):
    """Exports ``model`` as the next version unless the newest version already serves
    the same thing (the same ``fingerprint``). Returns ``(path, exported)``: the new
    version, or the newest one and False.

    Only the newest version counts: TensorFlow Serving serves the highest version, so
    a model equal to an older one must be exported again to be served again.
    """
    base = os.path.join(export_dir, name)
    newest = versions(base)
    if newest:
        path = os.path.join(base, str(newest[-1]))
        if recorded_fingerprint(path) == fingerprint:
            return path, False
    return export_version(model, export_dir, name, fingerprint=fingerprint), True


def recorded_fingerprint(version_dir):
    """The fingerprint a version was exported with, or None (exported without one)."""
    try:
        with open(os.path.join(version_dir, FINGERPRINT_FILE)) as f:
            return f.read().strip()
    except FileNotFoundError:
        return None


def fingerprint(model, *context):
    """A SHA-256 of what ``model`` computes: its class, every weight (name order, shape,
    dtype, values) and ``context`` (JSON-able values: the config that built the model,
    the code's version). Layer names are left out: Keras numbers them per process, so
    the same model rebuilt gets other names."""
    digest = hashlib.sha256(type(model).__qualname__.encode())
    for weight in getattr(model, "weights", []):
        value = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
        digest.update(f"{value.dtype}{value.shape}".encode())
        digest.update(value.tobytes())
    digest.update(json.dumps(context, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def _plain_keras_model(model):
    """A functional or sequential model that uses Keras' own ``export``."""
    return (
        isinstance(model, keras.Model)
        and type(model).export is keras.Model.export
        and getattr(model, "_inputs_struct", None) is not None
    )


class WithEndpoints:
    """A Keras model and more SavedModel endpoints: it saves (``.keras``) as the model and
    exports as :func:`export_named` does, plus each extra endpoint.

    What a recipe hands to ``run.finish`` when its SavedModel serves more than the
    model's forward pass (textgen's ``generate``).

    Args:
        model: A functional or sequential ``keras.Model``: ``model.keras`` and ``serve``.
        endpoints: ``{name: (tf.function or function, input_signature)}``; a signature's
            ``tf.TensorSpec`` names are the endpoint's input names, and a function that
            returns a dict names its outputs.
        track: Keras layers or models the endpoints use besides ``model`` (their
            variables and lookup tables go into the SavedModel).
        saved: The model ``model.keras`` holds, when not ``model`` (e.g. a
            ``deepkit.models.Autoencoder`` whose serving graph is a functional model of
            its encoder and decoder); its weights are the fingerprint's.
    """

    def __init__(self, model, endpoints=None, track=(), saved=None):
        self.model, self.endpoints, self.track = model, dict(endpoints or {}), list(track)
        self.saved = saved if saved is not None else model

    @property
    def weights(self):
        return self.saved.weights

    def save(self, path):
        self.saved.save(path)

    def export(self, path, verbose=False):
        export_named(self.model, path, self.endpoints, self.track)


def export_named(model, path, endpoints=None, track=()):
    """Writes ``model`` as a SavedModel whose ``serve`` (= ``serving_default``) takes the
    model's inputs under their ``keras.Input`` names and returns a dict keyed by the
    names of its output layers.

    Keras' own ``model.export`` names the inputs but calls every output ``output_0``,
    ``output_1``...; a client of TensorFlow Serving then cannot tell them apart.

    Args:
        model: A functional or sequential ``keras.Model``.
        path: The SavedModel folder to write.
        endpoints: More endpoints, ``{name: (function, input_signature)}`` (see :class:`WithEndpoints`).
        track: What those endpoints use besides ``model``.
    """
    structure = model._inputs_struct  # what model(...) takes: one tensor, a list or a dict
    tensors = tf.nest.flatten(structure)
    specs = [tf.TensorSpec(t.shape, t.dtype, name=t.name) for t in tensors]
    output_names = list(model.output_names)

    def serve(*inputs):
        outputs = model(tf.nest.pack_sequence_as(structure, list(inputs)), training=False)
        return dict(zip(output_names, tf.nest.flatten(outputs), strict=True))

    archive = keras.export.ExportArchive()
    for resource in [model, *track]:
        archive.track(resource)
    archive.add_endpoint("serve", serve, input_signature=specs)
    for name, (function, signature) in (endpoints or {}).items():
        archive.add_endpoint(name, function, input_signature=signature)
    archive.write_out(path, verbose=False)
