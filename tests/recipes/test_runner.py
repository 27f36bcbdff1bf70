"""The shared recipe machinery: resuming after a crash, training on with more epochs, the
per-epoch history across resumes, the workdir's config guard, and config overrides."""

import argparse
import dataclasses
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepkit import recipe
from deepkit.data import tfds_source
from deepkit.recipes import forecast, sentiment, textgen, timing, vae


def smoke_forecast(tmp_path, **changes):
    return dataclasses.replace(forecast.smoke(), export_dir=str(tmp_path / "saved_models"), **changes)


class CrashAfterEpoch(keras.callbacks.Callback):
    def __init__(self, epoch, seen):
        super().__init__()
        self.epoch, self.seen = epoch, seen

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            self.seen["weights_at_crash"] = self.model.get_weights()
            raise RuntimeError("simulated crash")


class WeightsAtStart(keras.callbacks.Callback):
    def __init__(self, seen):
        super().__init__()
        self.seen = seen

    def on_train_begin(self, logs=None):  # runs after BackupAndRestore has restored its state
        self.seen["weights_at_start"] = self.model.get_weights()


def test_a_crashed_run_resumes_where_it_stopped(tmp_path, monkeypatch):
    config, workdir, seen = smoke_forecast(tmp_path, epochs=3), tmp_path / "run", {}
    shared = recipe.training_callbacks
    monkeypatch.setattr(recipe, "training_callbacks", lambda w: shared(w) + [CrashAfterEpoch(1, seen)])
    with pytest.raises(RuntimeError, match="simulated crash"):
        forecast.train_and_evaluate(config, str(workdir))
    assert not (tmp_path / "saved_models").exists()  # nothing exported from a crashed run
    logged_before = json.loads((workdir / "history.json").read_text())
    assert sorted(logged_before) == ["0", "1"]

    monkeypatch.setattr(recipe, "training_callbacks", lambda w: shared(w) + [WeightsAtStart(seen)])
    forecast.train_and_evaluate(config, str(workdir))

    for at_start, at_crash in zip(seen["weights_at_start"], seen["weights_at_crash"], strict=True):
        np.testing.assert_array_equal(at_start, at_crash)
    record = json.loads((workdir / "metrics.json").read_text())
    assert record["training"] == {"epochs": 3, "epochs_this_run": 1}
    logged = json.loads((workdir / "history.json").read_text())
    assert sorted(logged) == ["0", "1", "2"] and logged["1"] == logged_before["1"]
    assert record["saved_model"] == str(tmp_path / "saved_models" / "forecast" / "1")


def test_more_epochs_train_on_from_the_finished_run(tmp_path):
    config = smoke_forecast(tmp_path, epochs=1)
    forecast.train_and_evaluate(config, str(tmp_path / "run"))
    forecast.train_and_evaluate(dataclasses.replace(config, epochs=3), str(tmp_path / "run"))
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["training"] == {"epochs": 3, "epochs_this_run": 2}
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())) == 3


def test_a_workdir_refuses_a_config_that_trains_something_else(tmp_path):
    config = textgen.smoke()
    recipe.check_workdir(config, str(tmp_path))  # no run there yet
    (tmp_path / "config.json").write_text(json.dumps(dataclasses.asdict(config)))
    recipe.check_workdir(dataclasses.replace(config, epochs=9, export_dir="elsewhere"), str(tmp_path))
    recipe.check_workdir(dataclasses.replace(config, temperatures=(0.7,)), str(tmp_path))  # only sampling changes
    with pytest.raises(ValueError, match=r"another config \(units: 8 -> 64\)"):
        recipe.check_workdir(dataclasses.replace(config, units=64), str(tmp_path))
    # A run recorded before a field existed resumes when the field keeps its default.
    older = {key: value for key, value in dataclasses.asdict(forecast.Config()).items() if key != "residual"}
    (tmp_path / "config.json").write_text(json.dumps(older))
    recipe.check_workdir(forecast.Config(), str(tmp_path))
    with pytest.raises(ValueError, match="residual: False -> True"):
        recipe.check_workdir(forecast.Config(residual=True), str(tmp_path))
    # A run recorded with a field the recipe has dropped since resumes; the others still count.
    (tmp_path / "config.json").write_text(json.dumps({**dataclasses.asdict(forecast.Config()), "dropped": 3}))
    recipe.check_workdir(forecast.Config(), str(tmp_path))
    with pytest.raises(ValueError, match=r"another config \(units: 32 -> 5\)"):
        recipe.check_workdir(forecast.Config(units=5), str(tmp_path))


def test_overrides_convert_to_the_field_types():
    config = recipe.override(
        textgen.Config(), {"units": "12", "learning_rate": "0.01", "data": "head500", "temperatures": "0.3, 1.5"}
    )
    assert (config.units, config.learning_rate, config.data, config.temperatures) == (12, 0.01, "head500", (0.3, 1.5))
    config = recipe.override(forecast.Config(), {"units": 7, "learning_rate": 1, "epochs": 3.0})  # JSON values
    assert (config.units, config.learning_rate, config.epochs) == (7, 1.0, 3)
    assert type(config.learning_rate) is float and type(config.epochs) is int
    config = recipe.override(textgen.Config(), {"temperatures": [0.3, 1], "seed": 2})
    assert config.temperatures == (0.3, 1.0) and config.seed == 2
    assert recipe.override(forecast.Config(), {"residual": "yes"}).residual is True


@pytest.mark.parametrize(
    "module, values, message",
    [
        (forecast, {"colour": "red"}, "unknown config key 'colour'"),
        (forecast, {"window": "wide"}, "bad value for 'window' (int expected)"),
        (forecast, {"window": 2.5}, "expected an integer, received 2.5"),
        (forecast, {"epochs": "0"}, "epochs must be >= 1, received 0"),
        (forecast, {"batch_size": -4}, "batch_size must be >= 1, received -4"),
        (forecast, {"seed": "-1"}, "seed must be >= 0"),
        (timing, {"data": "digits"}, "timing generates its own data"),
        (timing, {"timesteps": "3"}, "timesteps must be >= 2 . max_interval . 1 = 61"),
        (sentiment, {"learning_rate": "fast"}, "bad value for 'learning_rate'"),
        (forecast, {"residual": "maybe"}, "expected true or false, received 'maybe'"),
        (textgen, {"temperatures": "0.5,0"}, "temperatures must be one or more positive numbers"),
    ],
)
def test_bad_overrides_say_what_is_wrong(module, values, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        recipe.override(module.Config(), values)


@pytest.mark.parametrize(
    "module, name, message",
    [
        (forecast, "polarity", "holds labelled_text data; this recipe reads time_series"),
        (sentiment, "sunspots", "this recipe reads labelled_text (e.g. polarity, rotten_tomatoes, tfds:imdb_reviews)"),
        (forecast, "no_such_data", "unknown dataset 'no_such_data'"),
    ],
)
def test_data_of_the_wrong_kind_is_refused(module, name, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        recipe.dataset_info(dataclasses.replace(module.Config(), data=name))


def test_config_file_then_set_then_flags(tmp_path):
    (tmp_path / "c.json").write_text('{"units": 7, "window": 4, "epochs": 2}')
    parser = argparse.ArgumentParser()
    recipe.add_run_arguments(parser)
    args = parser.parse_args(["--config", str(tmp_path / "c.json"), "--set", "window=5", "--epochs", "3", "--smoke"])
    config = recipe.config_from_arguments(forecast, args)
    assert (config.units, config.window, config.epochs) == (7, 5, 3)
    assert config.learning_rate == forecast.smoke().learning_rate


def fake_tfds(examples):
    """Stands in for the TFDS loader behind deepkit.data's 'tfds:' names (no network here):
    the same feature dicts."""

    def load_tfds(name, split="train", data_dir=None, **options):
        return tf.data.Dataset.from_tensor_slices(examples(split))

    return load_tfds


@pytest.mark.parametrize("module, name, examples", [
    (vae, "tfds:mnist", lambda split: {
        "image": np.random.default_rng(len(split)).integers(0, 256, (64, 28, 28, 1)).astype("uint8"),
        "label": np.arange(64) % 10}),
    (sentiment, "tfds:imdb_reviews", lambda split: {
        "text": [b"a fine film", b"a dull film", "caf\u00e9 noir".encode()] * 8, "label": [1, 0, 1] * 8}),
])
def test_an_online_dataset_goes_through_the_same_recipe(module, name, examples, tmp_path, monkeypatch):
    monkeypatch.setattr(tfds_source, "load_tfds", fake_tfds(examples))
    config = dataclasses.replace(module.smoke(), data=name, export_dir=str(tmp_path / "saved_models"))
    metrics = module.train_and_evaluate(config, str(tmp_path / "run"))
    assert all(np.isfinite(value) for value in metrics.values())
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["dataset"]["name"] == name and record["dataset"]["offline"] is False


def tiny_regressor():
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    return model


def printed_tensorboard_logdir(run, capsys):
    capsys.readouterr()
    run.finish(tiny_regressor(), {"loss": 0.0})
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("TensorBoard:")]
    return line.removeprefix("TensorBoard: tensorboard --logdir ")


def event_files_under(folder):
    return {os.path.relpath(root, folder) for root, _, files in os.walk(folder) if any("tfevents" in f for f in files)}


@pytest.mark.parametrize("subdirs, logdir, logged", [
    ([None], "tensorboard", {"train"}),
    (["first", "second"], ".", {os.path.join("first", "tensorboard", "train"), os.path.join("second", "tensorboard", "train")}),
])
def test_the_printed_tensorboard_command_shows_the_logs_of_every_model(subdirs, logdir, logged, tmp_path, capsys):
    run = recipe.start("runner_test", smoke_forecast(tmp_path, epochs=1), str(tmp_path / "run"))
    train = tf.data.Dataset.from_tensor_slices((np.ones((4, 2), "float32"), np.ones((4, 1), "float32"))).batch(2)
    for subdir in subdirs:
        run.fit(tiny_regressor(), train, subdir=subdir)
    printed = printed_tensorboard_logdir(run, capsys)
    assert printed == os.path.normpath(tmp_path / "run" / logdir)
    assert event_files_under(printed) == logged
