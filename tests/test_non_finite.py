"""A run that turns NaN: training stops at the first non-finite loss naming the epoch, the
step and the value, the last good epoch's checkpoint and backup stay (a rerun resumes from
them), non-finite metrics export no SavedModel, and metrics.json and history.json stay
valid JSON (non-finite values as null)."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from deepkit import cli, recipe
from deepkit.non_finite import NonFiniteLossError, NonFiniteMetricsError, StopOnNonFiniteLoss
from deepkit.recipes import forecast


class PoisonAt(keras.callbacks.Callback):
    """Sets every weight to NaN before one batch: the loss of that batch is NaN."""

    def __init__(self, epoch, batch):
        super().__init__()
        self.at, self.epoch = (epoch, batch), None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            self.model.set_weights([np.full_like(w, np.nan) for w in self.model.get_weights()])


def test_a_nan_loss_stops_training_and_keeps_the_last_good_epoch(tmp_path, monkeypatch):
    config = dataclasses.replace(forecast.smoke(), epochs=3, export_dir=str(tmp_path / "sm"))
    workdir = tmp_path / "w"
    shared = recipe.training_callbacks
    monkeypatch.setattr(recipe, "training_callbacks", lambda w: shared(w) + [PoisonAt(1, 2)])
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss at epoch 2, step 3: loss=nan; training stopped "
                                                 r"\(the workdir keeps epoch 1's state\)"):
        forecast.train_and_evaluate(config, str(workdir))
    assert not (tmp_path / "sm").exists() and not (workdir / "metrics.json").exists()
    assert json.loads((workdir / "backup" / "training_metadata.json").read_text())["epoch"] == 1
    assert list(json.loads((workdir / "history.json").read_text())) == ["0"]
    checkpoint = keras.saving.load_model(workdir / "checkpoints" / "last.keras")
    assert all(np.all(np.isfinite(w)) for w in checkpoint.get_weights())

    monkeypatch.setattr(recipe, "training_callbacks", shared)
    metrics = forecast.train_and_evaluate(config, str(workdir))  # the same call, without the poison, resumes
    assert all(np.isfinite(list(metrics.values())))
    record = json.loads((workdir / "metrics.json").read_text())
    assert record["training"] == {"epochs": 3, "epochs_this_run": 2}
    assert record["saved_model"] == str(tmp_path / "sm" / "forecast" / "1")


def test_non_finite_metrics_export_nothing_and_write_null(tmp_path):
    config = dataclasses.replace(forecast.smoke(), export_dir=str(tmp_path / "sm"))
    run = recipe.start("forecast", config, str(tmp_path / "w"))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(NonFiniteMetricsError, match=r"metrics not finite \(mae=nan, rmse=inf\); no SavedModel"):
        run.finish(model, {"mae": np.float32("nan"), "rmse": float("inf"), "count": 3})
    text = (tmp_path / "w" / "metrics.json").read_text()
    record = json.loads(text)  # valid JSON: no bare NaN
    assert "NaN" not in text and "Infinity" not in text
    assert record["metrics"] == {"mae": None, "rmse": None, "count": 3.0}
    assert record["non_finite"] == ["mae", "rmse"] and record["saved_model"] is None
    assert not (tmp_path / "sm" / "forecast").exists() or not list((tmp_path / "sm" / "forecast").iterdir())


def test_the_epoch_log_writes_non_finite_values_as_null_and_reads_them_as_nan(tmp_path):
    log = recipe.EpochLog(str(tmp_path / "history.json"))
    log.on_epoch_begin(0)
    log.on_epoch_end(0, {"loss": 1.5, "val_loss": float("nan")})
    assert json.loads((tmp_path / "history.json").read_text()) == {"0": {"loss": 1.5, "val_loss": None}}
    read = log.read()[0]
    assert read["loss"] == 1.5 and np.isnan(read["val_loss"])


def test_the_command_line_exits_1_with_one_line_when_the_loss_diverges(tmp_path, capsys):
    code = None
    try:
        cli.main(["run", "forecast", "--smoke", "--workdir", str(tmp_path / "w"), "--set", "learning_rate=1e30",
                  "--set", f"export_dir={tmp_path / 'sm'}"])
    except SystemExit as exit:
        code = exit.code
    err = capsys.readouterr().err
    assert code == 1, err[-2000:]
    (line,) = [line for line in err.splitlines() if line.strip()]
    assert "error: non-finite loss at epoch 1, step " in line and "lower the learning rate" in line
    assert not (tmp_path / "sm").exists()


def test_stop_on_non_finite_loss_raises_at_the_first_bad_batch_of_a_plain_fit():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.array([[1.0], [2.0], [np.inf], [1.0]], "float32")
    with pytest.raises(NonFiniteLossError, match=r"epoch 1, step 3: loss=(nan|inf); .*no epoch had finished"):
        model.fit(x, x, batch_size=1, epochs=2, verbose=0, shuffle=False, callbacks=[StopOnNonFiniteLoss()])


def test_the_docstring_example_runs():
    import doctest

    from deepkit import non_finite

    result = doctest.testmod(non_finite, extraglobs={"np": np, "keras": keras}, optionflags=doctest.ELLIPSIS)
    assert result.attempted >= 4 and result.failed == 0
