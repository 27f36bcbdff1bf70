"""Checks of a recipe's exported SavedModel that tests/recipes/test_recipes.py runs on every smoke
run's version (no training of its own): no cuDNN-only op in any function of the graph, and, for
one recipe per kind of input, `saved_model_cli run` answering what the Keras model answers."""

import os
import tempfile

import numpy as np

from deepkit.serving.portability import cudnn_only_ops
from deepkit.testing import run_without_deepkit

# One recipe per kind of input a client sends; the tool runs the graph in a TF1 Session,
# as TensorFlow Serving's C++ loader does, not through tf.saved_model.load.
SAVED_MODEL_CLI_CHECKED = {"sentiment": "strings", "cnn_cam": "images", "vae": "latent vectors", "gan": "seeds"}


def check_exported_graph(name, version_dir, endpoint, inputs, expected):
    """The recipe's SavedModel serves on any device, and `saved_model_cli run` of ``endpoint``
    on ``inputs`` (positional, as the endpoint takes them) gives ``expected`` as its first output."""
    found = cudnn_only_ops(version_dir)
    assert not found, f"{name}'s SavedModel holds cuDNN-only ops, which no CPU can run: {found}"
    if name not in SAVED_MODEL_CLI_CHECKED:
        return
    outputs = saved_model_cli_run(version_dir, endpoint, inputs)
    np.testing.assert_allclose(outputs[sorted(outputs)[0]], expected, rtol=1e-4, atol=1e-5)


# The tool's `run` command without its flag parsing (absl flags parse once per process),
# in the process without deepkit: the same feeds parser, Session and loader.
SAVED_MODEL_CLI_RUN = """
import sys
from tensorflow.python.tools import saved_model_cli

version_dir, signature, inputs, outdir = sys.argv[1:5]
feeds = saved_model_cli.load_inputs_from_input_arg_string(inputs, "", "")
saved_model_cli.run_saved_model_with_feed_dict(version_dir, "serve", signature, feeds, outdir, False)
"""


def saved_model_cli_run(version_dir, signature, inputs):
    """``{output name: array}`` from ``saved_model_cli run --signature_def signature`` on ``inputs``.

    Raises:
        AssertionError: The tool failed (its traceback in the message).
    """
    names = input_names(version_dir, signature, len(inputs))
    with tempfile.TemporaryDirectory() as folder:
        feeds = []
        for input_name, value in zip(names, inputs):
            value = np.asarray(value)
            if value.dtype.kind in "OU":  # the tool's np.load refuses pickled object arrays
                value = np.array([v if isinstance(v, bytes) else str(v).encode() for v in value.ravel()]).reshape(value.shape)
            file = os.path.join(folder, f"{input_name}.npy")
            np.save(file, value)
            feeds.append(f"{input_name}={file}")
        outdir = os.path.join(folder, "outputs")
        run_without_deepkit(SAVED_MODEL_CLI_RUN, [version_dir, signature, ";".join(feeds), outdir], cwd=folder)
        return {file[: -len(".npy")]: np.load(os.path.join(outdir, file)) for file in os.listdir(outdir)}


def input_names(version_dir, signature, count):
    """The endpoint's input names in the order it takes them positionally."""
    import tensorflow as tf

    if count == 1:  # one name: the SignatureDef's, without loading the model
        from deepkit.serving.portability import signature_def

        return list(signature_def(version_dir, signature).inputs)
    function = getattr(tf.saved_model.load(version_dir), signature)
    specs = function.concrete_functions[0].structured_input_signature[0]
    return [spec.name for spec in specs]
