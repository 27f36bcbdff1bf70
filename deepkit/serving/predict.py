"""`deepkit predict <saved_model_dir> --input FILE`: one SavedModel call from a file, answered in TensorFlow Serving's JSON.

The input file is what a client has at hand: a TensorFlow Serving request body (JSON,
``instances`` or ``inputs``), a ``.npy`` array (a one-input signature) or ``.npz`` of
named arrays, or a text file with one input per line for a signature that takes one
batch of strings. The SavedModel runs through ``tf.saved_model.load`` alone, as
TensorFlow Serving would run it, so a file that works here works against the server.
"""

import json
import os

import numpy as np

from deepkit.serving.requests import RequestError, format_response, parse_request, shape_fits, to_array


def read_request(path, specs, signature_name):
    """The arrays an input file feeds to a signature, and whether to answer in rows.

    Args:
        path: A ``.json`` request body, a ``.npy`` array, a ``.npz`` of named arrays, or
            a text file (one input per line).
        specs: The signature's inputs, ``{name: TensorSpec}``.
        signature_name: Named in the error messages.

    Returns:
        ``(arrays, rows, body_signature)``: the arrays, whether the answer is
        ``predictions`` (rows) rather than ``outputs``, and the ``signature_name`` a JSON
        body names (``None`` when it names none).

    Raises:
        RequestError: A file that is not what its suffix says, or inputs the signature
            does not take (the message names the expected spec and what was received).
    """
    suffix = os.path.splitext(path)[1].lower()
    if suffix == ".json":
        try:
            with open(path, encoding="utf-8") as f:
                body = json.load(f)
        except (ValueError, UnicodeDecodeError) as error:
            raise RequestError(f"{path} is not JSON: {error}") from None
        named = body.get("signature_name") if isinstance(body, dict) else None
        arrays, rows = parse_request(body, specs, signature_name)
        return arrays, rows, named
    if suffix in (".npy", ".npz"):
        return _read_numpy(path, specs, signature_name), True, None
    return _read_lines(path, specs, signature_name), True, None


def _read_numpy(path, specs, signature_name):
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as error:
        raise RequestError(f"{path} is not a NumPy file without pickled objects: {error}") from None
    if isinstance(loaded, np.ndarray):
        if len(specs) != 1:
            raise RequestError(f"{path} holds one array, but signature '{signature_name}' takes {len(specs)} inputs "
                               f"({_describe(specs)}): give a .npz with one array per name")
        named = {next(iter(specs)): loaded}
    else:
        named = {name: loaded[name] for name in loaded.files}
        if set(named) != set(specs):
            raise RequestError(f"{path} holds the arrays {sorted(named)}; signature '{signature_name}' takes "
                               f"{_describe(specs)}")
    return {name: _checked_array(array, specs[name], signature_name, path) for name, array in named.items()}


def _checked_array(array, spec, signature_name, path):
    """A file's array in the spec's dtype, refused when the dtype would change its meaning."""
    kind = "string" if array.dtype.kind in "SU" else "bool" if array.dtype.kind == "b" else \
        "int" if array.dtype.kind in "iu" else "float" if array.dtype.kind == "f" else None
    # Integers feed a float input (pixel values); the other way round would truncate.
    fits = kind == spec.kind or (kind == "int" and spec.kind == "float")
    if not fits:
        raise RequestError(f"signature '{signature_name}' expects {spec.describe()}; {path} holds '{spec.name}' as "
                           f"{array.dtype} of shape {array.shape}")
    if kind == "string":
        return to_array(array.tolist(), spec, signature_name)
    if not shape_fits(array.shape, spec.shape):
        raise RequestError(f"signature '{signature_name}' expects {spec.describe()}; {path} holds '{spec.name}' as "
                           f"{array.dtype} of shape {array.shape}")
    return array.astype(spec.dtype)


def _read_lines(path, specs, signature_name):
    (spec,) = specs.values() if len(specs) == 1 else (None,)
    if spec is None or spec.kind != "string" or spec.shape not in ((None,), None):
        raise RequestError(f"a text file (one input per line) is for a signature that takes one batch of strings; "
                           f"signature '{signature_name}' takes {_describe(specs)}. Give a .json or .npy file")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError as error:
        raise RequestError(f"{path} is not UTF-8 text: {error}") from None
    if not lines:
        raise RequestError(f"{path} is empty: expected one input per line")
    return {spec.name: to_array(lines, spec, signature_name)}


def _describe(specs):
    return ", ".join(spec.describe() for spec in specs.values())


def predict(saved_model_dir, input_path, signature_name=None):
    """Runs a SavedModel on an input file; returns the JSON answer (a dict).

    Args:
        saved_model_dir: A SavedModel folder (``saved_models/<recipe>/<version>``).
        input_path: See :func:`read_request`.
        signature_name: The signature to run; default: the one a JSON body names, else
            ``serving_default``.

    Returns:
        ``{"predictions": [...]}`` or ``{"outputs": ...}`` as TensorFlow Serving answers.

    Raises:
        FileNotFoundError: No SavedModel or no input file.
        RequestError: An unknown signature (the message lists the available ones) or an
            input it does not take.
    """
    if not os.path.isfile(input_path):
        raise FileNotFoundError(f"no input file {input_path}: expected a .json, .npy, .npz or text file")
    from deepkit.serving.loaded_model import DEFAULT_SIGNATURE, LoadedModel

    model = LoadedModel(saved_model_dir)
    name = signature_name or _signature_named_in(input_path) or DEFAULT_SIGNATURE
    specs = model.input_specs(name)
    arrays, rows, named = read_request(input_path, specs, name)
    if signature_name and named and named != signature_name:
        raise RequestError(f"{input_path} names the signature '{named}' but --signature says '{signature_name}'")
    return format_response(model.run(name, arrays), rows)


def _signature_named_in(path):
    if not path.lower().endswith(".json"):
        return None
    try:
        with open(path, encoding="utf-8") as f:
            body = json.load(f)
    except (ValueError, UnicodeDecodeError):
        return None  # read_request says what is wrong with it
    return body.get("signature_name") if isinstance(body, dict) else None


def write_answer(answer, output_path=None):
    """Prints the JSON answer, or writes it to ``output_path``."""
    text = json.dumps(answer)
    if output_path is None:
        print(text)
        return
    with open(output_path, "w", encoding="utf-8") as f:
        f.write(text + "\n")
