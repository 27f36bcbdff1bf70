"""forecast with truncated backpropagation through time and gradient clipping: the
many-to-many model it trains is the served many-to-one model with the same weights,
validation scores only the validation steps, and a series too short for the rows is
refused naming the fix."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from deepkit import recipe, tbptt
from deepkit.recipes import forecast


@pytest.mark.parametrize("residual", [False, True])
def test_the_many_to_many_trainer_forecasts_each_window_as_the_served_model(residual):
    config = dataclasses.replace(forecast.smoke(), residual=residual)
    sequences = forecast.build_model(config, many_to_many=True)
    model = forecast.build_model(config)
    model.set_weights(tbptt.stateful_copy(sequences, 2).get_weights())
    windows = np.random.default_rng(0).normal(size=(2, config.window, 1)).astype("float32")
    np.testing.assert_allclose(np.asarray(model(windows)), np.asarray(sequences(windows))[:, -1], atol=1e-6)


def test_tbptt_run_validates_on_the_validation_steps_and_exports_the_window_model(tmp_path):
    config = dataclasses.replace(forecast.smoke(), tbptt_steps=8, batch_size=4, clipnorm=1.0,
                                 export_dir=str(tmp_path / "saved_models"))
    metrics = forecast.train_and_evaluate(config, str(tmp_path / "run"))
    assert all(np.isfinite(value) for value in metrics.values())
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["training"]["epochs"] == 2 and record["saved_model"]

    # val_loss is the MSE of the validation steps alone, each forecast with the state carried
    # from `window` steps of context: recompute it with the exported epoch's weights.
    values = forecast.data.split_arrays(config.data, "train")["value"]
    mean, std = values.mean(), values.std()
    cut = len(values) - round(len(values) * config.validation_percent / 100)
    part = ((values[cut - config.window :] - mean) / std).astype("float32")
    sequences = forecast.build_model(config, many_to_many=True)
    sequences.set_weights(keras.models.load_model(str(tmp_path / "run" / "model.keras")).get_weights())
    predicted = np.asarray(sequences(part[None, :-1, None]))[0, :, 0]
    expected = np.mean((predicted - part[1:])[config.window - 1 :] ** 2)
    kept = record["exported_epoch"]["epoch"]
    logged = json.loads((tmp_path / "run" / "history.json").read_text())[str(kept - 1)]["val_loss"]
    assert logged == pytest.approx(expected, rel=1e-4)


def test_a_series_too_short_for_one_chunk_per_row_is_refused_naming_the_fix(tmp_path):
    config = dataclasses.replace(forecast.smoke(), tbptt_steps=24, export_dir=str(tmp_path / "saved_models"))
    with pytest.raises(ValueError, match="rows of 6 steps, fewer than one chunk of steps=24; lower batch_size"):
        forecast.train_and_evaluate(config, str(tmp_path / "run"))


def test_clipnorm_is_global_norm_clipping_off_by_default():
    assert forecast.build_model(forecast.Config()).optimizer.global_clipnorm is None
    optimizer = forecast.build_model(dataclasses.replace(forecast.smoke(), clipnorm=2.0)).optimizer
    assert optimizer.global_clipnorm == 2.0 and optimizer.clipnorm is None
    with pytest.raises(ValueError, match="tbptt_steps=-3"):
        recipe.override(forecast.Config(), {"tbptt_steps": -3})
