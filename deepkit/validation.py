"""The argument checks every deepkit constructor and function uses, in one place.

Each check raises a ``ValueError`` that names the owner (``"PeepholeLSTM 'encoder'"``,
``"windows"``), the argument, what was expected and what was received, in one
wording across the package, so that a user reads the same kind of message from a
layer, a model, a loss or a data pipeline (Keras' own layers word theirs the same
way). The numeric checks also refuse booleans, NaN and infinities, which pass a
plain ``value < 0`` test unnoticed.
"""

import math
import numbers


def describe(obj, name=None):
    """``"ClassName 'name'"``, how deepkit's error messages name an object."""
    name = name if name is not None else getattr(obj, "name", None)
    return f"{type(obj).__name__} '{name}'" if name else type(obj).__name__


def _refuse(owner, name, expected, value):
    raise ValueError(f"{owner}: argument `{name}` must be {expected}. Received: {name}={value!r}")


def check_int(owner, name, value, minimum=1):
    """``value`` as an ``int``; ValueError unless it is an integer >= ``minimum``.

    NumPy integers are accepted, booleans are not. The message says "a positive
    integer" for ``minimum=1``.
    """
    expected = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        _refuse(owner, name, expected, value)
    return int(value)


def check_units(owner, units):
    """ValueError unless ``units`` is a positive integer."""
    return check_int(owner, "units", units)


def check_float(owner, name, value, low=None, high=None, low_open=False, high_open=True):
    """``value`` as a ``float``; ValueError unless it is a finite real number in the range.

    The range is ``[low, high)`` by default; ``low_open`` / ``high_open`` open or
    close either end, ``None`` leaves it unbounded. The message states the range as
    ``"a float >= 0"``, ``"a float > 0"`` or ``"a float in [0, 1)"``.
    """
    if low is not None and high is not None:
        expected = f"a float in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    elif low is not None:
        expected = f"a float {'>' if low_open else '>='} {low:g}"
    elif high is not None:
        expected = f"a float {'<' if high_open else '<='} {high:g}"
    else:
        expected = "a finite float"
    ok = not isinstance(value, bool) and isinstance(value, numbers.Real) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        _refuse(owner, name, expected, value)
    return float(value)


def check_rate(owner, name, value):
    """ValueError unless ``value`` is a float in [0, 1) (a dropout rate, a smoothing)."""
    return check_float(owner, name, value, low=0.0, high=1.0)


def check_non_negative(owner, name, value):
    """ValueError unless ``value`` is a finite float >= 0 (a loss weight, a noise scale)."""
    return check_float(owner, name, value, low=0.0)


def check_positive(owner, name, value):
    """ValueError unless ``value`` is a finite float > 0 (an epsilon, a temperature)."""
    return check_float(owner, name, value, low=0.0, low_open=True)


def check_bool(owner, name, value):
    """ValueError unless ``value`` is ``True`` or ``False``."""
    if not isinstance(value, bool):
        _refuse(owner, name, "True or False", value)
    return value


def check_choice(owner, name, value, choices):
    """ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        _refuse(owner, name, f"one of {list(choices)}", value)
    return value
