"""Every recipe runs its smoke config end to end: metrics, files, a SavedModel that serves
without deepkit, and a second run that resumes instead of starting over."""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepkit.testing import serve_without_deepkit
from recipes import RECIPES, load_recipe


def serving_request(name, config, model):
    """(inputs, endpoint) for the recipe's SavedModel, and the expected outputs."""
    rng = np.random.default_rng(0)
    if name == "forecast":
        x = rng.normal(size=(2, config.window, 1)).astype("float32")
    elif name == "timing":
        x = rng.uniform(size=(2, config.timesteps, 2)).astype("float32")
    elif name == "sentiment":
        x = np.array([b"a wonderful film", b"dull and tedious"])
        return [x], "serve", model.predict(tf.constant(x), verbose=0)
    elif name == "textgen":
        x = rng.integers(2, 10, size=(1, 12)).astype("int64")
    elif name in ("autoencoder", "vae"):
        x = rng.uniform(size=(3, 64)).astype("float32")
    elif name == "gan":
        return [np.int32(3), np.int32(5)], "generate", model.generate(3, 5).numpy()
    return [x], "serve", model.predict(x, verbose=0)


@pytest.mark.parametrize("name", RECIPES)
def test_smoke_run_writes_everything_serves_and_resumes(name, tmp_path):
    module = load_recipe(name)
    config = dataclasses.replace(module.smoke_config(), export_dir=str(tmp_path / "saved_models"))
    workdir = str(tmp_path / "run")
    keras.utils.set_random_seed(0)
    metrics = module.train_and_evaluate(config, workdir)

    assert metrics and all(np.isfinite(v) for v in metrics.values()), metrics
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["dataset"]["offline"] is True and record["dataset"]["source"]
    assert record["metrics"]["epochs_run_this_time"] == config.epochs
    assert any(f.endswith(".png") for f in os.listdir(workdir))
    assert os.path.exists(os.path.join(workdir, "model.keras"))
    version_1 = tmp_path / "saved_models" / name / "1"
    assert record["saved_model"] == str(version_1) and (version_1 / "saved_model.pb").exists()

    restored = keras.saving.load_model(os.path.join(workdir, "model.keras"))
    inputs, endpoint, expected = serving_request(name, config, restored)
    served = serve_without_deepkit(str(version_1), inputs, endpoint)
    np.testing.assert_allclose(served[0], expected, rtol=1e-4, atol=1e-5)

    # Same command again: BackupAndRestore finds the finished run and trains 0 more epochs.
    module.train_and_evaluate(config, workdir)
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["metrics"]["epochs_run_this_time"] == 0
    assert record["saved_model"] == str(tmp_path / "saved_models" / name / "2")


def test_more_epochs_continue_the_previous_run(tmp_path):
    module = load_recipe("forecast")
    config = dataclasses.replace(module.smoke_config(), export_dir=str(tmp_path / "sm"), epochs=1)
    module.train_and_evaluate(config, str(tmp_path))
    module.train_and_evaluate(dataclasses.replace(config, epochs=3), str(tmp_path))
    assert json.loads((tmp_path / "metrics.json").read_text())["metrics"]["epochs_run_this_time"] == 2
