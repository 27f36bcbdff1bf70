"""NaN and infinity in a run: training stops at the first one, and none reaches a served model.

A loss that turns NaN stays NaN, and the weights it writes serve NaN; Keras'
``TerminateOnNaN`` stops at the end of that batch, but its epoch-end callbacks then
checkpoint and back up the broken weights. :class:`StopOnNonFiniteLoss` raises
instead, so the last good epoch's checkpoint and backup stay what a rerun resumes.
The JSON helpers keep ``metrics.json`` and ``history.json`` valid JSON: a non-finite
value is written as ``null`` (JSON has no NaN), and read back as NaN.
"""

import math

import keras

from deepkit.config_values import all_finite  # noqa: F401  (re-exported)


class NonFiniteLossError(RuntimeError):
    """Training produced a non-finite loss; the message names the epoch, step and value."""


class NonFiniteMetricsError(RuntimeError):
    """A run's evaluation metrics are not finite, so nothing was exported."""


def json_number(value):
    """``float(value)``, or ``None`` for NaN and infinities (how metrics.json writes them)
    and for ``None`` itself."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def from_json_number(value):
    """Inverse of :func:`json_number`: ``None`` reads back as NaN."""
    return float("nan") if value is None else float(value)


def non_finite_keys(metrics):
    """The keys of ``metrics`` whose values are not finite numbers, in order."""
    return [key for key, value in metrics.items() if not math.isfinite(float(value))]


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the first batch whose logged loss is NaN or infinite.

    Raises :class:`NonFiniteLossError` from ``on_train_batch_end``, so ``fit`` ends before
    the epoch's end: ``ModelCheckpoint`` and ``BackupAndRestore`` keep the last finished
    epoch's weights, and rerunning resumes from there (with, say, a lower learning rate).

    Args:
        monitor: The logged value to watch (default ``"loss"``; Keras logs the running
            mean of the epoch, which turns non-finite at the first non-finite batch).

    Raises:
        NonFiniteLossError: ``"non-finite loss at epoch 3, step 17: loss=nan ..."``
            (epochs and steps counted from 1).

    Example:

    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile("sgd", "mse")
    >>> x = np.array([[1.0], [np.nan]], "float32")
    >>> try:
    ...     model.fit(x, x, batch_size=1, verbose=0, callbacks=[StopOnNonFiniteLoss()])
    ... except NonFiniteLossError as error:
    ...     print(str(error).split(";")[0])
    non-finite loss at epoch 1, step 2: loss=nan
    """

    def __init__(self, monitor="loss"):
        super().__init__()
        self.monitor = monitor
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        value = float(value)
        if not math.isfinite(value):
            self.model.stop_training = True
            kept = f"the workdir keeps epoch {self.epoch}'s state" if self.epoch else "no epoch had finished"
            raise NonFiniteLossError(
                f"non-finite loss at epoch {self.epoch + 1}, step {batch + 1}: {self.monitor}={value}; training "
                f"stopped ({kept}). Look for NaN or infinite inputs, or lower the learning rate"
            )
