"""SavedModels that serve on any device: find cuDNN-only ops in an exported graph, and keep Keras from tracing them.

Keras' ``LSTM`` and ``GRU`` (``use_cudnn="auto"``) trace TensorFlow's ``CudnnRNN*``
ops whenever a GPU is visible, and those ops have no CPU kernel: a model exported on a
GPU machine then fails to load in a CPU-only TensorFlow Serving. :func:`cudnn_only_ops`
reads every function of a SavedModel's graph library for them (no TensorFlow runtime
needed, only its protos); :func:`portable_recurrent_layers` turns cuDNN off in every
Keras recurrent layer while an export traces, so the portable loop is what gets saved.
"""

import contextlib
import os

CUDNN_ONLY_PREFIX = "CudnnRNN"  # CudnnRNN, CudnnRNNV2, CudnnRNNV3, CudnnRNNBackprop*, CudnnRNNParamsToCanonical...


def read_saved_model(saved_model_dir):
    """The ``SavedModel`` proto of ``saved_model.pb`` (read, not loaded: no variables, no runtime).

    Raises:
        FileNotFoundError: No ``saved_model.pb`` in ``saved_model_dir``.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    path = os.path.join(saved_model_dir, "saved_model.pb")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no SavedModel at {saved_model_dir}: expected {path}")
    saved_model = saved_model_pb2.SavedModel()
    with open(path, "rb") as f:
        saved_model.ParseFromString(f.read())
    return saved_model


def signature_def(saved_model_dir, name):
    """The ``SignatureDef`` called ``name`` in the ``serve`` MetaGraph (KeyError naming the ones there)."""
    graph = serving_graph(read_saved_model(saved_model_dir))
    if name not in graph.signature_def:
        raise KeyError(f"no signature '{name}' in {saved_model_dir}; it has {sorted(graph.signature_def)}")
    return graph.signature_def[name]


def serving_graph(saved_model):
    """The MetaGraph tagged ``serve`` (what TensorFlow Serving loads), else the first."""
    tagged = [graph for graph in saved_model.meta_graphs if "serve" in graph.meta_info_def.tags]
    return (tagged or list(saved_model.meta_graphs))[0]


def graph_ops(saved_model_dir):
    """``{function name: set of op types}`` of a SavedModel: ``""`` for each MetaGraph's top
    level, then every function of its graph library (the bodies of ``tf.function``\\ s,
    ``While`` loops and ``If`` branches, where cuDNN ops hide).

    Raises:
        FileNotFoundError: No ``saved_model.pb`` in ``saved_model_dir``.
    """
    ops = {}
    for graph in read_saved_model(saved_model_dir).meta_graphs:
        ops.setdefault("", set()).update(node.op for node in graph.graph_def.node)
        for function in graph.graph_def.library.function:
            ops.setdefault(function.signature.name, set()).update(node.op for node in function.node_def)
    return ops


def cudnn_only_ops(saved_model_dir):
    """``[(function name, op type), ...]`` of the ops with no CPU kernel; ``[]`` for a portable SavedModel."""
    return sorted((function, op) for function, ops in graph_ops(saved_model_dir).items()
                  for op in ops if op.startswith(CUDNN_ONLY_PREFIX))


@contextlib.contextmanager
def portable_recurrent_layers(*exported):
    """Sets ``use_cudnn=False`` on every Keras layer reachable from ``exported`` that has it
    (``LSTM``, ``GRU``, their ``Bidirectional`` wrappers' layers), and restores it on exit.

    Wrap an export in it: the graph traced inside holds Keras' portable loop, which runs
    on CPUs and GPUs alike, whatever device the exporting machine has. Training is not
    affected (it runs outside the block, with cuDNN where available).

    Args:
        *exported: Keras layers or models, or objects holding them in their attributes
            (``deepkit.export.WithEndpoints``, a recipe's export bundle); lists are searched.

    Example:

    >>> with portable_recurrent_layers(model):  # doctest: +SKIP
    ...     model.export("saved_models/m/1")
    """
    layers = _recurrent_layers(exported)
    saved = [(layer, layer.use_cudnn) for layer in layers]
    try:
        for layer in layers:
            layer.use_cudnn = False
        yield layers
    finally:
        for layer, value in saved:
            layer.use_cudnn = value


def _recurrent_layers(objects):
    import keras

    found, found_ids, seen, stack = [], set(), set(), list(objects)
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        if isinstance(item, keras.layers.Layer):
            for layer in item._flatten_layers(include_self=True, recursive=True):
                if hasattr(layer, "use_cudnn") and layer.use_cudnn is not False and id(layer) not in found_ids:
                    found_ids.add(id(layer))
                    found.append(layer)
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            stack.extend(value for value in vars(item).values() if isinstance(value, (keras.layers.Layer, list, tuple, dict)))
    return found
