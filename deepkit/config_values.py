"""Config values from the command line or a JSON file, converted to their fields' types.

Free of TensorFlow: :mod:`deepkit.recipe` applies these to a recipe's ``Config``, and the
command line applies them to the defaults read from the recipe's source, so that an
unknown key or a value of the wrong type is refused in a fraction of a second, before
Keras and TensorFlow are imported.
"""

import difflib
import json
import math

# Fields with a lower bound the runner itself needs; a recipe's __post_init__ checks the rest.
MINIMUMS = (("epochs", 1), ("batch_size", 1), ("seed", 0))


def parse_value(text, current):
    """``text`` (from the command line) converted to the type of the field's ``current`` value."""
    if isinstance(current, bool):
        if text.lower() in ("1", "true", "yes"):
            return True
        if text.lower() in ("0", "false", "no"):
            return False
        raise ValueError(f"expected true or false, received {text!r}")
    if isinstance(current, int):
        return int(text)
    if isinstance(current, float):
        return float(text)
    if isinstance(current, tuple):
        item = current[0] if current else ""
        return tuple(parse_value(part.strip(), item) for part in text.split(","))
    return text


def typed(value, current):
    """``value`` (a command-line string or a JSON value) as the type of ``current``."""
    if isinstance(value, str):
        return parse_value(value, current)
    if isinstance(current, bool) and not isinstance(value, bool):
        raise ValueError(f"expected true or false, received {value!r}")
    if isinstance(current, int) and not isinstance(current, bool) and (
        isinstance(value, bool) or not float(value).is_integer()
    ):
        raise ValueError(f"expected an integer, received {value!r}")
    if isinstance(current, tuple):
        return tuple(typed(item, current[0] if current else item) for item in value)
    return type(current)(value)


def all_finite(value):
    """Whether every float in ``value`` (a number, or a tuple or list of them) is finite;
    anything that is not a float counts as finite."""
    if isinstance(value, (tuple, list)):
        return all(all_finite(item) for item in value)
    return not isinstance(value, float) or math.isfinite(value)


def converted(defaults, values):
    """``values`` (key -> value) converted to the types of ``defaults`` (key -> default).

    Args:
        defaults: Every field of the config and its current value. A field missing
            from it is unknown; one whose value is ``None`` is known but not checked.
        values: The keys and values to set.

    Returns:
        A dict of the converted values (those of unchecked fields as given).

    Raises:
        ValueError: naming an unknown key (and the closest known one), a value that
            does not convert, a non-finite number, or ``epochs``, ``batch_size`` or
            ``seed`` below its minimum.
    """
    changes = {}
    for key, value in values.items():
        if key not in defaults:
            close = difflib.get_close_matches(key, list(defaults), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"unknown config key {key!r}; {hint}the keys of this recipe are: "
                             f"{', '.join(sorted(defaults))}")
        current = defaults[key]
        if current is None:
            changes[key] = value
            continue
        try:
            changes[key] = typed(value, current)
        except (TypeError, ValueError) as error:
            raise ValueError(f"bad value for {key!r} ({type(current).__name__} expected): {error}") from None
        if not all_finite(changes[key]):  # float("nan") parses, and passes any `< minimum` test
            raise ValueError(f"bad value for {key!r} ({type(current).__name__} expected): expected a finite "
                             f"number, received {value!r}")
    for key, minimum in MINIMUMS:
        if key in changes and isinstance(changes[key], int) and changes[key] < minimum:
            raise ValueError(f"{key} must be >= {minimum}, received {changes[key]}")
    return changes


def values_from_arguments(args):
    """The config values the parsed command line sets: ``--config``, then ``--set``, then
    the flags; ValueError when ``--config`` cannot be read or a ``--set`` is not KEY=VALUE."""
    values = {}
    if args.config:
        try:
            with open(args.config, encoding="utf-8") as f:
                loaded = json.load(f)
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(f"--config {args.config}: expected a readable JSON file of config fields; "
                             f"received {type(error).__name__}: {error}") from None
        if not isinstance(loaded, dict):
            raise ValueError(f"--config {args.config}: expected a JSON object of config fields, "
                             f"received a {type(loaded).__name__}")
        values.update(loaded)
    for item in args.set:
        key, separator, value = item.partition("=")
        if not separator or not key:
            raise ValueError(f"--set expects KEY=VALUE, received {item!r}")
        values[key.strip()] = value
    for key in ("epochs", "batch_size", "data", "seed"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    return values
