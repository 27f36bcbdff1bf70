"""What deepkit knows about a dataset before loading it: :class:`DatasetInfo`."""

import dataclasses
from typing import Optional

# The kinds of data and their element layout (the same as TensorFlow Datasets').
KINDS = {
    "images": '{"image": uint8 (H, W, 1), "label": int64}',
    "labelled_text": '{"text": string, "label": int64}',
    "text": '{"text": string}, one document per element',
    "time_series": '{"value": float32}, one element per time step, in order',
    "piano_rolls": '{"roll": uint8 (steps, 88), "length": int64, "piece": string}, one piece per element, '
                   'zero rows after length (deepkit.data.chorales)',
    "tagged_text": '{"tokens": string, "tags": string}, one sentence per element, its words and their tags '
                   'joined by single spaces (deepkit.data.tagged_corpus)',
    "captioned_images": '{"image": uint8 (H, W, C), "caption": string}, one captioned image per element '
                        '(deepkit.data.digit_captions)',
    "table": "one feature per CSV column or NPZ array (user files)",
}


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Description of a dataset that ``deepkit.data.load`` can return.

    Args:
        name: The name ``load`` takes (``"digits"``, ``"tfds:mnist"``, ``"csv:/path"``).
        kind: ``"images"`` (``{"image": uint8 (H, W, 1), "label": int64}``),
            ``"labelled_text"`` (``{"text": string, "label": int64}``), ``"text"``
            (``{"text": string}``, one document per element), ``"time_series"``
            (``{"value": float32}``, one element per step, in order) or, for the
            user's CSV and NPZ files, ``"table"`` (one feature per column / array).
        source: Where the data comes from, e.g. ``"scikit-learn load_digits (offline)"``.
        description: One line.
        offline: Whether it loads without a network (default ``True``).
        num_classes: Number of labels, where it applies (default ``None``).
        split: How ``"train"`` and ``"test"`` are cut.

    Example:

    >>> info("sunspots").kind
    'time_series'
    """

    name: str
    kind: str
    source: str
    description: str
    offline: bool = True
    num_classes: Optional[int] = None
    split: str = "80/20 after a shuffle with seed 0"
