"""The epoch a run exports: the best one by a validation metric, kept across resumed runs.

Training longer is not training better: the last epoch of a run that overfits, or of a
noisy one, is often worse on validation than an earlier one. :class:`BestEpoch` keeps
the weights of the best epoch so far beside the other checkpoints of a run, and
:func:`restore_best` loads them after ``fit``, so that the model a recipe evaluates,
saves and exports is that epoch's.
"""

import json
import os
import warnings

import keras

# A monitored name ending in one of these is better when higher; any other when lower.
HIGHER_IS_BETTER = ("accuracy", "acc", "auc", "precision", "recall", "f1_score", "fbeta_score")
DEFAULT_MONITOR = "val_loss"


def selection(config, monitor=None, mode=None):
    """``(monitor, mode)`` of a run: the arguments if given, else the config's ``monitor``
    and ``monitor_mode`` fields where the recipe's ``Config`` has them, else ``val_loss``;
    mode ``"auto"`` (or none given) is ``"max"`` for accuracy-like names, ``"min"`` otherwise.
    A ``monitor`` argument without a ``mode`` takes ``"auto"``, not the config's mode.

    Raises:
        ValueError: if the mode is not ``"min"``, ``"max"`` or ``"auto"``, or the
            monitor is empty.
    """
    if monitor is None:  # the config's choice, both halves of it
        monitor = getattr(config, "monitor", None) or DEFAULT_MONITOR
        mode = mode or getattr(config, "monitor_mode", None)
    mode = mode or "auto"
    if not isinstance(monitor, str) or not monitor.strip():
        raise ValueError(f"monitor must name a logged metric such as 'val_loss', received {monitor!r}")
    if mode not in ("min", "max", "auto"):
        raise ValueError(f"monitor_mode must be 'min', 'max' or 'auto', received {mode!r}")
    if mode == "auto":
        mode = "max" if monitor.removeprefix("val_").endswith(HIGHER_IS_BETTER) else "min"
    return monitor, mode


class BestEpoch(keras.callbacks.Callback):
    """Saves the weights of the best epoch so far by ``monitor`` to ``<directory>/best.weights.h5``
    and what it was to ``<directory>/best.json`` (``{"epoch", "monitor", "mode", "value"}``,
    epoch counted from 1).

    The best so far survives a resumed run: the record is read at the start of ``fit``,
    and a later epoch replaces it only when it is strictly better. A record made under
    another monitor or mode is discarded (the workdir guard refuses such a change for
    recipes whose config holds the monitor). Placed after ``BackupAndRestore`` in the
    callbacks, so the best epoch is never one a crash made the run train again.

    Args:
        directory: Where the two files go (a run's ``checkpoints/``).
        monitor: A name in the epoch logs, e.g. ``"val_loss"``.
        mode: ``"min"`` or ``"max"``.
    """

    def __init__(self, directory, monitor, mode):
        super().__init__()
        self.directory, self.monitor, self.mode = directory, monitor, mode
        self.weights_path = os.path.join(directory, "best.weights.h5")
        self.record_path = os.path.join(directory, "best.json")
        self.best = None
        self._warned = False

    def read(self):
        """The best epoch's record, or None when there is none for this monitor and mode."""
        if not (os.path.exists(self.record_path) and os.path.exists(self.weights_path)):
            return None
        with open(self.record_path) as f:
            record = json.load(f)
        if (record.get("monitor"), record.get("mode")) != (self.monitor, self.mode):
            return None
        return record

    def on_train_begin(self, logs=None):
        self.best = self.read()

    def _better(self, value):
        if self.best is None:
            return True
        return value < self.best["value"] if self.mode == "min" else value > self.best["value"]

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            if not self._warned:
                warnings.warn(
                    f"best-epoch selection: {self.monitor!r} is not among the logged metrics "
                    f"({', '.join(sorted(logs or {}))}); the last epoch is exported", stacklevel=2,
                )
                self._warned = True
            return
        value = float(value)
        if value != value or not self._better(value):  # NaN never counts as best
            return
        os.makedirs(self.directory, exist_ok=True)
        partial = os.path.join(self.directory, ".best.partial.weights.h5")
        self.model.save_weights(partial, overwrite=True)
        os.replace(partial, self.weights_path)
        self.best = {"epoch": epoch + 1, "monitor": self.monitor, "mode": self.mode, "value": value}
        with open(self.record_path + ".tmp", "w") as f:
            json.dump(self.best, f, indent=1)
        os.replace(self.record_path + ".tmp", self.record_path)


def restore_best(model, callback, last_epoch):
    """Loads the best epoch's weights into ``model`` (after ``fit``); returns what was
    exported as ``{"epoch", "of", "monitor", "mode", "value"}``, where ``value`` is None
    and ``epoch`` the last when the monitor was never logged (nothing to choose by)."""
    best = callback.read()
    if best is None:
        return {"epoch": last_epoch, "of": last_epoch, "monitor": callback.monitor, "mode": callback.mode,
                "value": None}
    model.load_weights(callback.weights_path)
    return {**best, "of": last_epoch}
