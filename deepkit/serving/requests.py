"""TensorFlow Serving's REST bodies: `instances` (rows) and `inputs` (columns) in, `predictions` / `outputs` out.

A client written against TensorFlow Serving sends its inputs in one of two JSON forms
and reads the answer in the matching one; :func:`parse_request` turns either into one
NumPy array per signature input, checked against the signature's dtype and shape, and
:func:`format_response` writes the outputs back the same way. Plain Python and NumPy
only, so `deepkit predict` and `deepkit serve` share the rules and tests need no model.

Reference: https://www.tensorflow.org/tfx/serving/api_rest#request_format_2
"""

import base64
import dataclasses

import numpy as np

# JSON leaves each signature dtype accepts (bool is a subclass of int in Python: listed apart).
_KINDS = {"string": "strings", "bool": "booleans", "int": "integers", "float": "numbers"}
_MISSING = object()


class RequestError(ValueError):
    """A request the signature cannot take; the message says what was expected and what was received."""


@dataclasses.dataclass(frozen=True)
class TensorSpec:
    """One input or output of a signature: its name, dtype name (``"float32"``, ``"string"``,
    ...) and shape (a tuple, ``None`` for a free dimension; ``None`` for an unknown rank)."""

    name: str
    dtype: str
    shape: tuple | None

    def describe(self):
        """``text: string (-1,)``: the spec as ``saved_model_cli show`` writes shapes."""
        if self.shape is None:
            return f"{self.name}: {self.dtype} (unknown rank)"
        dims = ", ".join("-1" if d is None else str(d) for d in self.shape)
        return f"{self.name}: {self.dtype} ({dims}{',' if len(self.shape) == 1 else ''})"

    @property
    def kind(self):
        if self.dtype == "string":
            return "string"
        if self.dtype == "bool":
            return "bool"
        return "int" if "int" in self.dtype else "float"


def parse_request(body, specs, signature_name):
    """The arrays a TensorFlow Serving request body feeds to a signature.

    Args:
        body: The decoded JSON object: ``{"instances": [...]}`` (one entry per example;
            an entry is the value of a one-input signature or an object of named
            values) or ``{"inputs": ...}`` (a value, or an object of named values, each
            with the batch dimension first); optional ``"signature_name"`` (read by the
            caller). Strings may be sent as ``{"b64": "<base64>"}``.
        specs: The signature's inputs, ``{name: TensorSpec}``.
        signature_name: Named in the error messages.

    Returns:
        ``(arrays, rows)``: ``{name: np.ndarray}`` in the specs' dtypes, and whether the
        body used the row form (so the answer is ``predictions``, not ``outputs``).

    Raises:
        RequestError: Neither or both forms, missing or unknown input names, values of
            the wrong type, ragged lists, or a shape the signature does not take.
    """
    if not isinstance(body, dict):
        raise RequestError(f"the request body must be a JSON object with 'instances' or 'inputs'; received {type(body).__name__}")
    forms = [key for key in ("instances", "inputs") if key in body]
    if len(forms) != 1:
        raise RequestError(f"the request body must have exactly one of 'instances' or 'inputs'; received keys {sorted(body)}")
    if forms[0] == "instances":
        columns = _columns_from_instances(body["instances"], specs, signature_name)
    else:
        columns = _named(body["inputs"], specs, signature_name, "inputs")
    arrays = {name: to_array(value, specs[name], signature_name) for name, value in columns.items()}
    return arrays, forms[0] == "instances"


def _columns_from_instances(instances, specs, signature_name):
    if not isinstance(instances, list) or not instances:
        raise RequestError(f"'instances' must be a non-empty list, one entry per example; received {_short(instances)}")
    scalars = [spec.describe() for spec in specs.values() if spec.shape == ()]
    if scalars:
        raise RequestError(f"signature '{signature_name}' takes scalars ({', '.join(scalars)}), which have no rows: "
                           "send them in the columnar form {\"inputs\": {...}}")
    rows = [_named(instance, specs, signature_name, f"instances[{i}]") for i, instance in enumerate(instances)]
    return {name: [row[name] for row in rows] for name in specs}


def _named(value, specs, signature_name, where):
    """``{name: value}`` for every input: an object of named values, or one value for a one-input signature."""
    if isinstance(value, dict) and not _is_b64(value):
        unknown, missing = sorted(set(value) - set(specs)), sorted(set(specs) - set(value))
        if unknown or missing:
            raise RequestError(f"{where} of signature '{signature_name}' must name the inputs {sorted(specs)}; "
                               f"missing {missing}, unknown {unknown}")
        return value
    if len(specs) != 1:
        raise RequestError(f"signature '{signature_name}' has {len(specs)} inputs {sorted(specs)}: {where} must be an "
                           f"object naming each; received {_short(value)}")
    return {next(iter(specs)): value}


def to_array(value, spec, signature_name):
    """``value`` (nested JSON lists) as an array of ``spec``'s dtype, after checking its
    leaves' type and its shape against the spec."""
    shape, leaves = _rectangular(value, spec, signature_name)
    expected = _KINDS[spec.kind]
    wrong = next((leaf for leaf in leaves if not _leaf_ok(leaf, spec.kind)), _MISSING)
    if wrong is not _MISSING:
        raise RequestError(f"signature '{signature_name}' expects {spec.describe()} ({expected}); input "
                           f"'{spec.name}' received {type(wrong).__name__} {_short(wrong)}")
    if spec.kind == "string":
        leaves = [_as_bytes(leaf) for leaf in leaves]
        array = np.empty(len(leaves), dtype=object)
        array[:] = leaves
        array = array.reshape(shape)
    else:
        try:
            array = np.array(leaves, dtype=spec.dtype).reshape(shape)
        except OverflowError:
            raise RequestError(f"input '{spec.name}' of signature '{signature_name}' holds a value outside {spec.dtype}") from None
    if not shape_fits(shape, spec.shape):
        raise RequestError(f"signature '{signature_name}' expects {spec.describe()}; input '{spec.name}' received "
                           f"{spec.dtype} of shape {_shape_text(shape)}")
    return array


def _rectangular(value, spec, signature_name):
    """The shape of nested lists and their leaves in order; ragged lists are refused."""
    if isinstance(value, list):
        parts = [_rectangular(item, spec, signature_name) for item in value]
        shapes = {shape for shape, _ in parts}
        if len(shapes) > 1:
            raise RequestError(f"input '{spec.name}' of signature '{signature_name}' is ragged: its lists have the "
                               f"lengths {sorted(shapes)}; every example must have the shape {spec.describe()}")
        inner = shapes.pop() if shapes else ()
        return (len(value), *inner), [leaf for _, leaves in parts for leaf in leaves]
    if isinstance(value, dict) and _is_b64(value):
        if spec.kind != "string":
            raise RequestError(f"signature '{signature_name}' expects {spec.describe()}; input '{spec.name}' "
                               "received a {\"b64\": ...} string")
        try:
            return (), [base64.b64decode(value["b64"], validate=True)]
        except (ValueError, TypeError):
            raise RequestError(f"input '{spec.name}': {{\"b64\": ...}} must hold base64 text") from None
    return (), [value]


def _leaf_ok(leaf, kind):
    if kind == "string":
        return isinstance(leaf, (str, bytes))
    if kind == "bool":
        return isinstance(leaf, bool)
    if isinstance(leaf, bool):
        return False
    return isinstance(leaf, int) if kind == "int" else isinstance(leaf, (int, float))


def _as_bytes(leaf):
    return leaf.encode("utf-8") if isinstance(leaf, str) else leaf


def _is_b64(value):
    return isinstance(value, dict) and list(value) == ["b64"]


def shape_fits(shape, expected):
    """Whether a shape fits a spec's (``None``: any size; a spec shape of ``None``: any rank)."""
    if expected is None:
        return True
    return len(shape) == len(expected) and all(e is None or e == s for s, e in zip(shape, expected))


def format_response(outputs, rows):
    """The JSON answer to a request: ``{"predictions": [...]}`` (one entry per example: the
    value of a one-output signature or an object of named values) when the request came
    in rows, ``{"outputs": ...}`` (a value or an object of named values) otherwise.

    Strings come back as text, or as ``{"b64": ...}`` when they are not UTF-8.

    Raises:
        RequestError: The request came in rows but the outputs do not share a batch dimension.
    """
    names = sorted(outputs)
    if not rows:
        values = {name: _json_value(outputs[name]) for name in names}
        return {"outputs": values[names[0]] if len(names) == 1 else values}
    sizes = {name: (outputs[name].shape[:1] or [None])[0] for name in names}
    if None in sizes.values() or len(set(sizes.values())) != 1:
        raise RequestError(f"the outputs do not share a batch dimension (first dimensions {sizes}), so they have no "
                           "rows: send the request in the columnar form {\"inputs\": ...}")
    columns = {name: _json_value(outputs[name]) for name in names}
    if len(names) == 1:
        return {"predictions": columns[names[0]]}
    return {"predictions": [{name: columns[name][i] for name in names} for i in range(sizes[names[0]])]}


def _json_value(array):
    array = np.asarray(array)
    if array.dtype.kind in "OSU":
        return _strings(array.tolist())
    return array.tolist()


def _strings(value):
    if isinstance(value, list):
        return [_strings(item) for item in value]
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return {"b64": base64.b64encode(value).decode("ascii")}
    return value


def _shape_text(shape):
    return "(" + ", ".join(str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _short(value, limit=60):
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
