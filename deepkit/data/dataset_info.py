"""What deepkit knows about a dataset before loading it."""

import dataclasses
from typing import Optional

KINDS = ("images", "labelled_text", "text", "time_series", "table")


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Description of a dataset ``deepkit.data.load`` can return.

    Attributes:
        name: The name ``load`` takes (``"digits"``, ``"tfds:mnist"``, ``"csv:/path"``).
        kind: ``"images"`` (``{"image": uint8 (H, W, 1), "label": int64}``),
            ``"labelled_text"`` (``{"text": string, "label": int64}``), ``"text"``
            (``{"text": string}``, one document per element), ``"time_series"``
            (``{"value": float32}``, one element per step, in order) or ``"table"``.
        source: Where the data comes from, e.g. ``"scikit-learn load_digits"``.
        description: One line.
        offline: Whether it loads without a network.
        num_classes: Number of labels, where it applies.
        split: How ``"train"``/``"test"`` are cut.
    """

    name: str
    kind: str
    source: str
    description: str
    offline: bool = True
    num_classes: Optional[int] = None
    split: str = "80/20 after a shuffle with seed 0"
