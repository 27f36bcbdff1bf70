"""A run exports its best epoch by a validation metric, not its last; the best so far
survives a resumed run; re-running a finished run exports no new, identical version,
and the run's record says how it was made."""

import dataclasses
import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepkit import best_epoch, recipe, run_record
from deepkit.export import versions
from deepkit.recipes import forecast, sentiment


def regressor():
    inputs = keras.Input((1,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(1, kernel_initializer="zeros", name="y")(inputs))
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=["mae"])
    return model


def identity_data():
    x = np.linspace(-1, 1, 8, dtype="float32")[:, None]
    return tf.data.Dataset.from_tensor_slices((x, x)).batch(4)


def overshoot_from(epoch):
    """SGD at 0.1 (converges on y = x) until ``epoch`` (0-based), then 5.0: each step
    overshoots, so validation gets worse from that epoch on while staying finite."""
    return keras.callbacks.LearningRateScheduler(lambda e, lr: 0.1 if e < epoch else 5.0)


def config_for(tmp_path, epochs):
    return dataclasses.replace(forecast.smoke(), epochs=epochs, export_dir=str(tmp_path / "saved_models"))


def fit(tmp_path, epochs, overshoot_epoch):
    run = recipe.start("best_epoch_test", config_for(tmp_path, epochs), str(tmp_path / "run"))
    model = regressor()
    record = run.fit(model, identity_data(), validation=identity_data(), callbacks=[overshoot_from(overshoot_epoch)])
    return run, model, record


def test_the_model_after_fit_holds_its_best_validation_epoch_not_its_last(tmp_path):
    run, model, record = fit(tmp_path, epochs=5, overshoot_epoch=3)
    val_loss = record.history["val_loss"]
    best = int(np.argmin(val_loss))
    assert best < 4 and val_loss[4] > 10 * val_loss[best]  # the last epoch is much worse
    assert record.exported == {"epoch": best + 1, "of": 5, "monitor": "val_loss", "mode": "min",
                               "value": pytest.approx(val_loss[best])}
    assert model.evaluate(identity_data(), verbose=0)[0] == pytest.approx(val_loss[best], rel=1e-5)

    run.finish(model, {"val_loss": model.evaluate(identity_data(), verbose=0)[0]}, record)
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert saved["exported_epoch"]["epoch"] == best + 1
    assert saved["metrics"]["val_loss"] == pytest.approx(val_loss[best], rel=1e-5)


def test_the_best_epoch_so_far_survives_a_resume_that_trains_worse_epochs(tmp_path):
    _, _, first = fit(tmp_path, epochs=3, overshoot_epoch=3)  # three improving epochs
    assert first.exported["epoch"] == 3
    _, model, resumed = fit(tmp_path, epochs=6, overshoot_epoch=3)  # trains on: epochs 4-6 overshoot
    assert resumed.epochs_this_run == 3 and min(resumed.history["val_loss"][3:]) > first.exported["value"]
    assert resumed.exported["epoch"] == 3 and resumed.exported["of"] == 6
    assert model.evaluate(identity_data(), verbose=0)[0] == pytest.approx(first.exported["value"], rel=1e-5)


def test_training_on_to_a_better_epoch_exports_a_new_version_and_a_rerun_none(tmp_path):
    def finished(epochs):
        run, model, record = fit(tmp_path, epochs=epochs, overshoot_epoch=99)
        run.finish(model, {"mae": 0.0}, record)
        return json.loads((tmp_path / "run" / "metrics.json").read_text())

    base = str(tmp_path / "saved_models" / "best_epoch_test")
    first = finished(2)
    assert first["saved_model_is_new"] is True and versions(base) == [1]
    rerun = finished(2)  # the same command again: no epoch trained, nothing exported, no time added
    assert rerun["saved_model_is_new"] is False and versions(base) == [1]
    assert rerun["run"]["total_wall_time_s"] == first["run"]["total_wall_time_s"]
    again = finished(4)  # two better epochs: a new model
    assert again["saved_model_is_new"] is True and again["saved_model"].endswith("/2") and versions(base) == [1, 2]


def test_a_run_without_validation_keeps_its_last_epoch(tmp_path):
    run = recipe.start("best_epoch_test", config_for(tmp_path, 2), str(tmp_path / "run"))
    record = run.fit(regressor(), identity_data())
    assert record.exported == {"epoch": 2, "of": 2}
    assert not (tmp_path / "run" / "checkpoints" / "best.json").exists()


@pytest.mark.parametrize("monitor, mode, expected", [
    (None, None, ("val_loss", "min")),
    ("val_accuracy", None, ("val_accuracy", "max")),
    ("val_mae", "auto", ("val_mae", "min")),
    ("val_loss", "max", ("val_loss", "max")),
])
def test_the_monitor_and_its_direction(monitor, mode, expected):
    assert best_epoch.selection(forecast.smoke(), monitor, mode) == expected


def test_a_recipe_config_names_its_own_monitor():
    assert best_epoch.selection(sentiment.Config()) == ("val_accuracy", "max")
    assert best_epoch.selection(dataclasses.replace(forecast.Config(), monitor="val_mae")) == ("val_mae", "min")


def test_a_bad_monitor_mode_says_what_it_takes():
    with pytest.raises(ValueError, match="monitor_mode must be 'min', 'max' or 'auto', received 'lowest'"):
        best_epoch.selection(forecast.smoke(), "val_loss", "lowest")


def test_the_recorded_command_repeats_the_run():
    assert run_record.command_line("forecast", forecast.Config(), forecast.smoke()) == "deepkit run forecast"
    assert run_record.command_line("forecast", forecast.smoke(), forecast.smoke()) == "deepkit run forecast --smoke"
    config = dataclasses.replace(forecast.Config(), epochs=70, data="co2", residual=True, batch_size=16)
    assert run_record.command_line("forecast", config, forecast.smoke(), "runs/co2") == (
        "deepkit run forecast --data co2 --epochs 70 --batch-size 16 --set residual=True --workdir runs/co2"
    )
