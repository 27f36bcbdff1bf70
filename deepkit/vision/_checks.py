"""Argument checks shared by deepkit.vision: images, layer names, class indices.

Each raises a ``ValueError`` that names the function, what it expected and what it
received (listing the layers a model does have when a name is wrong), in the wording of
:mod:`deepkit.validation`, so that a wrong image or layer fails at the call, not deep
inside a gradient tape.
"""

import numpy as np


def as_images(owner, images, rank=4, value_range=None, channels=None):
    """``images`` as a float32 array of ``rank`` (4: a batch (N, H, W, C); 3: one image
    (H, W, C)), finite, within ``value_range`` and with ``channels`` channels when given."""
    array = np.asarray(images, dtype="float32")
    layout = "(batch, height, width, channels)" if rank == 4 else "(height, width, channels)"
    if array.ndim != rank:
        raise ValueError(f"{owner}: expected images of rank {rank}, {layout}. Received shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{owner}: the images hold NaN or infinite values")
    if channels is not None and array.shape[-1] != channels:
        raise ValueError(f"{owner}: the model reads {channels}-channel images, {layout}. Received shape {array.shape}")
    if value_range is not None:
        low, high = value_range
        if array.min() < low - 1e-6 or array.max() > high + 1e-6:
            raise ValueError(
                f"{owner}: expected pixel values in [{low:g}, {high:g}]. Received values in "
                f"[{array.min():.4g}, {array.max():.4g}] (divide 8-bit images by 255)"
            )
    return array


def spatial_layers(model):
    """The names of the layers of ``model`` whose output is 4-D (batch, height, width, channels)."""
    names = []
    for layer in model.layers:
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if len(shape) == 4:
            names.append(layer.name)
    return names


def get_layer(owner, model, name, candidates=None):
    """The layer ``name`` of ``model``; ValueError listing ``candidates`` (default: every layer)."""
    names = [layer.name for layer in model.layers]
    if not isinstance(name, str) or name not in names:
        shown = candidates if candidates is not None else names
        raise ValueError(f"{owner}: model '{model.name}' has no layer {name!r}. Its layers: {', '.join(shown)}")
    return model.get_layer(name)


def spatial_layer(owner, model, name):
    """The layer ``name`` of ``model`` if its output is 4-D; ValueError saying that the model
    has no convolutional layer, or naming the layers that have a 4-D output."""
    candidates = spatial_layers(model)
    if not candidates:
        raise ValueError(
            f"{owner}: model '{model.name}' has no convolutional layer (no layer with a 4-D output "
            f"(batch, height, width, channels)); its layers: {', '.join(layer.name for layer in model.layers)}"
        )
    layer = get_layer(owner, model, name, candidates)
    if name not in candidates:
        raise ValueError(f"{owner}: layer {name!r} of model '{model.name}' has no 4-D output; "
                         f"layers with one: {', '.join(candidates)}")
    return layer


def class_indices(owner, class_index, num_classes, batch):
    """``class_index`` (None, an int, or one int per image) as an int array of ``batch``
    entries; None stays None (the predicted class is used)."""
    if class_index is None:
        return None
    indices = np.broadcast_to(np.asarray(class_index), (batch,)) if np.ndim(class_index) == 0 else np.asarray(class_index)
    if indices.shape != (batch,) or not np.issubdtype(indices.dtype, np.integer):
        raise ValueError(f"{owner}: `class_index` must be None, an integer or {batch} integers (one per image). "
                         f"Received: class_index={class_index!r}")
    if indices.min() < 0 or indices.max() >= num_classes:
        raise ValueError(f"{owner}: `class_index` must be in [0, {num_classes}) (the model has {num_classes} classes). "
                         f"Received: class_index={class_index!r}")
    return indices.astype("int32")


def model_input(model):
    """The input of a one-input model (what a sub-model built on it should take)."""
    if len(model.inputs) != 1:
        raise ValueError(f"model '{model.name}' has {len(model.inputs)} inputs; deepkit.vision reads one image input")
    return model.inputs[0]
