"""Deterministic train/test splits of in-memory datasets, with TFDS-style slicing.

``"train"`` is 80% and ``"test"`` the other 20% of the examples: after a shuffle
with seed 0 for i.i.d. data, in order (the first 80% of the steps for training)
for time series and the user's files. ``"all"`` is every example in the source
order. Any of them takes a slice: ``"train[:90%]"``, ``"train[90%:]"``,
``"test[:100]"``, ``"all[-50:]"`` (percentages are rounded to whole examples).
"""

import re

import numpy as np

SPLITS = ("train", "test", "all")
TRAIN_FRACTION = 0.8
SEED = 0
_PATTERN = re.compile(r"^(train|test|all)(?:\[\s*(-?\d+%?)?\s*:\s*(-?\d+%?)?\s*\])?$")


def parse_split(split):
    """``"train[10%:50%]"`` → ``("train", slice(...bounds...))``.

    Args:
        split: ``"train"``, ``"test"`` or ``"all"``, optionally followed by a slice
            ``[start:stop]`` whose bounds are integers or percentages.

    Returns:
        ``(name, (start, stop))`` with each bound a string (``"10%"``, ``"-5"``) or ``None``.
    """
    match = _PATTERN.match(split) if isinstance(split, str) else None
    if match is None:
        raise ValueError(
            f"deepkit.data: argument `split` must be one of {list(SPLITS)}, optionally sliced like "
            f"'train[:90%]' or 'test[10:]'. Received: split={split!r}"
        )
    return match.group(1), (match.group(2), match.group(3))


def _bound(bound, length):
    if bound is None:
        return None
    if bound.endswith("%"):
        percent = int(bound[:-1])
        if not -100 <= percent <= 100:
            raise ValueError(f"deepkit.data: split percentages must lie in [-100%, 100%]. Received: {bound}")
        return int(round(percent * length / 100.0))
    return int(bound)


def split_indices(length, split, chronological, seed=SEED):
    """The indices of ``split`` among ``length`` examples.

    Args:
        length: Number of examples in the whole dataset.
        split: See :func:`parse_split`.
        chronological: Keep the order (time series, user files) instead of
            shuffling with ``seed`` first.
        seed: Seed of the shuffle (default 0).

    Returns:
        A 1-D int64 array; ``train`` and ``test`` are disjoint and together hold every index.
    """
    name, (start, stop) = parse_split(split)
    if name == "all":
        indices = np.arange(length)
    else:
        order = np.arange(length) if chronological else np.random.default_rng(seed).permutation(length)
        cut = int(round(TRAIN_FRACTION * length))
        indices = order[:cut] if name == "train" else order[cut:]
    return indices[_bound(start, len(indices)) : _bound(stop, len(indices))].astype("int64")


def held_out_splits(validation_percent, split="train"):
    """The split strings ``(fit, validation)`` that hold out the last ``validation_percent``
    of ``split``, e.g. ``("train[:90%]", "train[90%:]")`` for 10: the epoch a run keeps is
    picked on data that is neither trained on nor tested on.

    Raises:
        ValueError: unless ``validation_percent`` is an integer in (0, 100).
    """
    if isinstance(validation_percent, bool) or not isinstance(validation_percent, int) or not (
        0 < validation_percent < 100
    ):
        raise ValueError(f"validation_percent must be an integer in (0, 100), received {validation_percent!r}")
    cut = 100 - validation_percent
    return f"{split}[:{cut}%]", f"{split}[{cut}%:]"
