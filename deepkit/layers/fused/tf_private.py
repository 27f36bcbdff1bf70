"""Every private TensorFlow name the fused path uses, imported in this one module.

The fused path asks TensorFlow three things it has no public API for: whether a
tape is recording (at all, or through a tensor), whether the graph being traced
will be compiled by XLA, and XLA's in-place ``dynamic_update_slice``. Each import
falls back to a conservative stand-in (assume a gradient is needed, assume no
XLA, no windowed weight gradients) so that a TensorFlow that moved one still
runs, slower; :data:`FOUND` records which were found and
``tests/layers/test_tf_private.py`` fails when one is missing on the supported
TensorFlow, so a fallback is never taken silently.
"""

import importlib

import tensorflow as tf

FOUND = {}
"""``"module.name"`` of each private import -> whether this TensorFlow has it."""


def _private(module, name, fallback):
    """``module.name``, or ``fallback`` when this TensorFlow lacks it; recorded in :data:`FOUND`."""
    try:
        value = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):  # pragma: no cover - depends on the TensorFlow version
        FOUND[f"{module}.{name}"] = False
        return fallback
    FOUND[f"{module}.{name}"] = True
    return value


_could_possibly_record = _private("tensorflow.python.eager.record", "could_possibly_record", lambda: True)
_should_record_backprop = _private("tensorflow.python.eager.record", "should_record_backprop", lambda tensors: True)
_graph_in_xla = _private("tensorflow.python.ops.control_flow_util", "GraphOrParentsInXlaContext", lambda graph: False)

xla_dynamic_update_slice = _private("tensorflow.compiler.tf2xla.python.xla", "dynamic_update_slice", None)
"""XLA's ``dynamic_update_slice`` (in place on a carried buffer), or ``None``."""


def tape_active():
    """Whether any GradientTape (or tf.function's gradient) could be recording now."""
    return _could_possibly_record()


def needs_gradient(tensor):
    """Whether a recording tape watches ``tensor`` (a model's first layer's inputs are not)."""
    return bool(_should_record_backprop([tensor]))


def compiled_by_xla():
    """Whether the ops being traced run under XLA (``jit_compile=True``)."""
    return bool(_graph_in_xla(tf.compat.v1.get_default_graph()))
