"""A SavedModel loaded by the TensorFlow runtime alone, and called by signature name with NumPy arrays.

What `deepkit predict` and `deepkit serve` run: ``tf.saved_model.load`` and the
signatures TensorFlow Serving would serve, so a model that answers here needs nothing
of deepkit (no registered layers, no Python code of the recipe) in production either.
"""

import os

import tensorflow as tf
from google.protobuf import json_format

from deepkit.serving.portability import read_saved_model, serving_graph
from deepkit.serving.requests import RequestError, TensorSpec

DEFAULT_SIGNATURE = "serving_default"  # what TensorFlow Serving runs when a request names none


class LoadedModel:
    """One SavedModel version.

    Args:
        path: A SavedModel folder (holding ``saved_model.pb``).

    Raises:
        FileNotFoundError: ``path`` holds no ``saved_model.pb``.

    Example:

    >>> model = LoadedModel("saved_models/sentiment/1")  # doctest: +SKIP
    >>> model.run("serving_default", {"text": np.array([b"a wonderful film"], object)})  # doctest: +SKIP
    {'p_positive': array([[0.93]], dtype=float32)}
    """

    def __init__(self, path):
        if not os.path.isfile(os.path.join(path, "saved_model.pb")):
            versions = sorted(int(v) for v in os.listdir(path) if v.isdigit()) if os.path.isdir(path) else []
            hint = f" ({path} holds the versions {versions}: give {os.path.join(path, str(versions[-1]))})" if versions else ""
            raise FileNotFoundError(f"no SavedModel at {path}: expected {os.path.join(path, 'saved_model.pb')}{hint}")
        self.path = path
        self._loaded = tf.saved_model.load(path)
        # Only the signatures TensorFlow Serving sees (the SavedModel's SignatureDefs),
        # not the init op Keras adds under a private name.
        self.signatures = {name: fn for name, fn in self._loaded.signatures.items() if not name.startswith("__")}

    def signature_names(self):
        return sorted(self.signatures)

    def input_specs(self, signature_name):
        """``{name: TensorSpec}`` of a signature's inputs."""
        _, named = self._signature(signature_name).structured_input_signature
        return {name: _spec(name, spec) for name, spec in named.items()}

    def output_specs(self, signature_name):
        outputs = self._signature(signature_name).structured_outputs
        return {name: _spec(name, spec) for name, spec in outputs.items()}

    def run(self, signature_name, arrays):
        """Calls a signature with ``{input name: array}`` (arrays in the inputs' dtypes, e.g.
        from :func:`deepkit.serving.requests.parse_request`); returns ``{output name: np.ndarray}``.

        Raises:
            RequestError: An unknown signature, or arrays the graph refuses at run time
                (a value out of range of an embedding, say).
        """
        function = self._signature(signature_name)
        specs = self.input_specs(signature_name)
        feed = {name: tf.constant(arrays[name], dtype=tf.as_dtype(specs[name].dtype)) for name in specs}
        try:
            outputs = function(**feed)
        except (tf.errors.InvalidArgumentError, tf.errors.OutOfRangeError) as error:
            raise RequestError(f"signature '{signature_name}' refused the input: {error.message.splitlines()[0]}") from None
        return {name: value.numpy() for name, value in outputs.items()}

    def signature_defs(self):
        """The SignatureDefs as JSON, as TensorFlow Serving's ``GET .../metadata`` writes them."""
        graph = serving_graph(read_saved_model(self.path))
        return {name: json_format.MessageToDict(definition, preserving_proto_field_name=True)
                for name, definition in graph.signature_def.items() if not name.startswith("__")}

    def _signature(self, name):
        if name not in self.signatures:
            raise RequestError(f"unknown signature '{name}'; {self.path} serves {self.signature_names()}")
        return self.signatures[name]


def _spec(name, spec):
    shape = None if spec.shape.rank is None else tuple(spec.shape.as_list())
    return TensorSpec(name, spec.dtype.name, shape)
