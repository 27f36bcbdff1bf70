"""Every recipe runs its smoke config end to end: finite metrics, its plots and files, a
SavedModel version that serves without deepkit, and a second run that resumes instead of
starting over. The recipes are those the registry finds, so a new one is covered as soon
as its module exists."""

import dataclasses
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepkit import data
from deepkit.export import versions
from deepkit.recipe import load_recipe, recipe_names
from deepkit.testing import serve_without_deepkit
from tests.serving.exported_graphs import check_exported_graph

# Files each recipe writes besides model.keras, metrics.json, config.json and training.png
# (a recipe not named here: its plots recorded in metrics.json).
OWN_FILES = {
    "sentiment": ["test_scores.png"],
    "textgen": ["samples.txt", "vocabulary.txt"],
    "forecast": ["forecast.png"],
    "timing": ["comparison.png", "validation_accuracy.png", "predictions.png", "per_seed.json"],
    "music": ["nll.png", "validation_nll.png", "piano_rolls.png", "generated_tanh.mid", "generated_lstm.mid",
              "generated_peephole_lstm.mid", "generated_gru.mid"],
    "autoencoder": ["reconstructions.png", "codes.png"],
    "vae": ["latent_grid.png", "interpolation.png", "reconstructions.png", "latent_codes.png", "fresh_samples.png",
            "digit_judge.keras"],
    "gan": ["samples_epoch_001.png", "progress.png", "samples.npz", "fresh_samples.png", "digit_judge.keras"],
    "can": ["can/samples_epoch_001.png", "gan/samples_epoch_001.png", "progress_can.png", "progress_gan.png",
            "side_by_side.png", "style_posteriors.png", "digit_judge.keras"],
    "cnn_cam": ["cam_grid.png", "localization.png", "layer_sizes.png"],
    "deepdream": ["octaves.png", "low_vs_high.png", "dream_objective.png"],
    "style_transfer": ["side_by_side.png", "result.png"],
    "tagging": ["per_tag_f1.png", "transitions.png"],
    "optimizers": ["cnn_loss.png", "rnn_loss.png", "rosenbrock.png", "learning_rates.json"],
    "translate": ["attention.png", "samples.txt"],
    "caption": ["captions.png", "samples.txt"],
}

# Recipes whose model is not trained (they optimise pixels): their record says 0 epochs.
UNTRAINED = {"style_transfer"}

# Metrics the issues name, with the closed range each must fall in on the smoke run.
SAMPLE_QUALITY = {"confident_fraction": (0.0, 1.0), "class_coverage_min": (0.0, 0.1),
                  "frechet_distance": (0.0, np.inf), "judge_test_accuracy": (0.0, 1.0)}
METRIC_RANGES = {
    "gan": {**SAMPLE_QUALITY, "label_agreement": (0.0, 1.0)},  # label_agreement: the conditional default's
    "vae": SAMPLE_QUALITY,
    "sentiment": {"mcnemar_p_value": (0.0, 1.0), "gain_over_bag_of_words": (-1.0, 1.0)},
    "can": {"max_entropy": (np.log(10), np.log(10)), "style_entropy_can": (0.0, np.log(10)),
            "style_entropy_gan": (0.0, np.log(10)), "style_entropy_real": (0.0, np.log(10)),
            "d_accuracy_can": (0.0, 1.0), "d_accuracy_gan": (0.0, 1.0)},
}


def serving_request(name, config, model):
    """(inputs, endpoint) for the recipe's SavedModel, and what the trained model answers."""
    rng = np.random.default_rng(0)
    if name == "sentiment":
        texts = np.array([b"a wonderful film", b"dull and tedious"])
        return [texts], "serve", model.predict(tf.constant(texts), verbose=0)
    if name == "word2vec":  # words, one unknown, to the lookup endpoint: their vectors
        words = np.array([model.vocabulary[0].encode(), b"no-such-word"])
        return [words], "lookup", model.lookup(tf.constant(words))["vectors"].numpy()
    if name in ("gan", "can"):
        return [np.int32(3), np.int32(5)], "generate", model.generate(3, 5).numpy()
    if name == "tagging":  # sentences, one empty, to the tag_ids endpoint (serve's strings do not go through npz)
        sentences = np.array(["2005 年 7 月 14 日 、 南アフリカ で".encode(), b"", "no-such-word".encode()])
        return [sentences], "tag_ids", model.predict(tf.constant(sentences), verbose=0)["tag_ids"]
    if name == "translate":  # source ids to beam_search: its outputs sort attention, ids, scores; attention compared
        source = rng.integers(2, model.source_vocabulary_size, size=(2, config.max_source_length)).astype("int32")
        source[1, 5:] = 0
        return [source], "beam_search", model.beam_search(source)["attention"].numpy()
    if name == "caption":  # images to greedy_search: its outputs sort (attention,) ids, scores; the first compared
        x = rng.uniform(size=(2,) + model.image_shape).astype("float32")
        found = model.greedy_search(x)
        return [x], "greedy_search", found[sorted(found)[0]].numpy()
    if name == "vae":
        z = rng.normal(size=(3, config.latent_dim)).astype("float32")
        return [z], "decode", model.decoder.predict(z, verbose=0)
    if name == "cnn_cam":  # serve answers [probabilities, heatmap]; the first is compared
        x = rng.uniform(size=(2, 16, 16, 1)).astype("float32")
        return [x], "serve", model.predict(x, verbose=0)[0]
    if name == "forecast":  # every test window, in the series' own units
        return [forecast_windows(config)[0]], "serve", model.predict(forecast_windows(config)[0], verbose=0)
    x = {
        "timing": lambda: (rng.uniform(size=(2, config.timesteps, 1)) < 0.2).astype("float32"),  # spikes
        "textgen": lambda: rng.integers(2, 10, size=(1, 12)).astype("int64"),
        "autoencoder": lambda: rng.uniform(size=(3, 64)).astype("float32"),
    }.get(name, lambda: uniform_inputs(model, rng))()
    return [x], "serve", model.predict(x, verbose=0)


def uniform_inputs(model, rng):
    """Two examples of uniform noise shaped like a one-input model's input: the request
    for a recipe without its own above."""
    (spec,) = model.inputs
    shape = [2] + [dim or 4 for dim in spec.shape[1:]]
    return rng.uniform(size=shape).astype(spec.dtype)


def forecast_windows(config):
    """The windows that precede each test step of the forecast recipe, and the test values."""
    train, test = (data.load_arrays(config.data, split)["value"] for split in ("train", "test"))
    context = np.concatenate([train[-config.window :], test])
    windows = np.stack([context[i : i + config.window] for i in range(len(test))])[..., None]
    return windows.astype("float32"), test


def test_the_registry_finds_every_recipe_whose_files_are_listed():
    assert set(OWN_FILES) <= set(recipe_names())


@pytest.mark.parametrize("name", recipe_names())
def test_smoke_run_writes_everything_serves_and_resumes(name, tmp_path):
    check_smoke_run(load_recipe(name), tmp_path)


def check_smoke_run(module, tmp_path):
    """The smoke config trains, writes its files, exports a version that serves like the
    restored model, and a second run of the same workdir resumes and exports nothing new."""
    name = module.NAME
    config = dataclasses.replace(module.smoke(), export_dir=str(tmp_path / "saved_models"))
    workdir = tmp_path / "run"
    metrics = module.train_and_evaluate(config, str(workdir))

    assert metrics and all(np.isfinite(value) for value in metrics.values()), metrics
    for key, (low, high) in METRIC_RANGES.get(name, {}).items():
        assert key in metrics and low - 1e-6 <= metrics[key] <= high + 1e-6, (key, metrics.get(key))
    for file in ["model.keras", "metrics.json", "config.json", "training.png"] + OWN_FILES.get(name, []):
        assert (workdir / file).stat().st_size > 0, file
    record = json.loads((workdir / "metrics.json").read_text())
    assert all(os.path.getsize(plot) > 0 for plot in record["plots"]), record["plots"]
    assert record["metrics"] == pytest.approx(metrics)
    assert record["dataset"]["offline"] is True and record["dataset"]["source"]
    trained = 0 if name in UNTRAINED else config.epochs
    assert record["training"] == {"epochs": trained, "epochs_this_run": trained}
    version_1 = tmp_path / "saved_models" / name / "1"
    assert record["saved_model"] == str(version_1) and (version_1 / "saved_model.pb").exists()

    restored = keras.saving.load_model(workdir / "model.keras")
    inputs, endpoint, expected = serving_request(name, config, restored)
    served = serve_without_deepkit(str(version_1), inputs, endpoint)
    np.testing.assert_allclose(served[0], expected, rtol=1e-4, atol=1e-5)
    check_exported_graph(name, str(version_1), endpoint, inputs, expected)  # no cuDNN op; saved_model_cli run
    if name == "forecast":  # the served model speaks the series' units: its MAE is the recipe's
        assert np.mean(np.abs(served[0][:, 0] - forecast_windows(config)[1])) == pytest.approx(metrics["mae"], rel=1e-4)

    # The same command again: BackupAndRestore finds the finished run, trains 0 more
    # epochs, the run evaluates the same model and exports no new, identical version.
    again = module.train_and_evaluate(config, str(workdir))
    record = json.loads((workdir / "metrics.json").read_text())
    assert record["training"] == {"epochs": trained, "epochs_this_run": 0}
    assert record["saved_model"] == str(version_1) and record["saved_model_is_new"] is False
    assert again == pytest.approx(metrics, rel=1e-5)  # the restored weights are the trained ones
    base = tmp_path / "saved_models" / name
    assert versions(str(base)) == [1] and not [f for f in os.listdir(base) if f.startswith(".")]


def test_residual_forecaster_starts_from_persistence():
    """With the change head at zero, the residual forecaster outputs the last value it read."""
    forecast = load_recipe("forecast")
    model = forecast.build_model(dataclasses.replace(forecast.smoke(), residual=True))
    head = model.get_layer("next_value")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    history = np.random.default_rng(0).normal(size=(5, forecast.smoke().window, 1)).astype("float32")
    np.testing.assert_allclose(model.predict(history, verbose=0), history[:, -1], rtol=1e-6)
