"""The timing recipe: the spike-delay streams, the verdict it prints, the epoch it keeps
and the TensorBoard folder it names."""

import dataclasses
import json
import os
import re

import numpy as np
import pytest

from deepkit.recipe import load_recipe

timing = load_recipe("timing")


def test_each_spike_but_the_first_targets_the_interval_since_the_spike_before():
    config = timing.Config(timesteps=80, min_interval=3, max_interval=9)
    spikes, intervals, weights = timing.spike_streams(50, config, np.random.default_rng(0))
    assert spikes.shape == intervals.shape == (50, 80, 1) and weights.shape == (50, 80)
    for row in range(50):
        times = np.flatnonzero(spikes[row, :, 0])
        assert times[0] < config.max_interval and weights[row, times[0]] == 0  # the first spike closes nothing
        np.testing.assert_array_equal(intervals[row, times[1:], 0], np.diff(times))
        np.testing.assert_array_equal(np.flatnonzero(weights[row]), times[1:])
        assert np.all((np.diff(times) >= 3) & (np.diff(times) <= 9))
        assert 80 - times[-1] <= 9  # the stream is filled: no room for one more interval
    assert intervals[weights == 0].sum() == 0


def test_exact_accuracy_counts_outputs_within_half_a_step():
    truth = np.array([[[10.0], [10.0], [10.0]]], "float32")
    predicted = np.array([[[10.49], [9.6], [10.51]]], "float32")
    np.testing.assert_array_equal(np.asarray(timing.exact_accuracy(truth, predicted)), [[1.0, 1.0, 0.0]])


def metrics_of(peephole, plain):
    metrics = {}
    for cell, values in (("peephole", peephole), ("plain", plain)):
        metrics[f"spike_exact_{cell}"] = np.mean(values)
        metrics[f"spike_exact_{cell}_std"] = np.std(values, ddof=1)
    return {"spike_exact_peephole": peephole, "spike_exact_plain": plain}, metrics


def test_the_verdict_reports_a_difference_within_the_spread_as_none_shown():
    verdict = timing.verdict(*metrics_of([0.9, 0.6, 0.8], [0.7, 0.8, 0.6]))
    assert "within the seed-to-seed spread" in verdict and "peephole ahead in 2 of 3 seeds" in verdict


def test_the_verdict_names_the_better_cell_when_the_difference_exceeds_the_spread():
    verdict = timing.verdict(*metrics_of([0.99, 0.98, 0.97], [0.80, 0.85, 0.75]))
    assert "The peephole LSTM measures more intervals exactly" in verdict and "3 of 3" in verdict
    assert "The plain LSTM" in timing.verdict(*metrics_of([0.80, 0.85, 0.75], [0.99, 0.98, 0.97]))


def test_config_refuses_streams_too_short_for_an_interval():
    with pytest.raises(ValueError, match="timesteps must be >= 2 \\* max_interval \\+ 1 = 61"):
        timing.Config(timesteps=40, max_interval=30)
    with pytest.raises(ValueError, match="min_interval <= max_interval"):
        timing.Config(min_interval=12, max_interval=8)


def test_models_are_scored_at_their_best_validation_epoch_and_tensorboard_shows_them_all(tmp_path, capsys):
    config = dataclasses.replace(timing.smoke(), seeds=1, epochs=3, export_dir=str(tmp_path / "saved_models"))
    metrics = timing.train_and_evaluate(config, str(tmp_path / "run"))

    for cell in timing.CELLS:
        history = json.loads((tmp_path / "run" / f"seed0_{cell}" / "history.json").read_text())
        accuracy = [history[str(epoch)]["val_exact_accuracy"] for epoch in range(3)]
        assert metrics[f"best_epoch_{cell}_seed0"] == 1 + int(np.argmax(accuracy))  # the first of the best

    logdir = re.search(r"TensorBoard: tensorboard --logdir (\S+)", capsys.readouterr().out)[1]
    runs = {os.path.relpath(folder, logdir) for folder, _, files in os.walk(logdir)
            if any(name.startswith("events.out.tfevents") for name in files)}
    assert runs == {f"seed0_{cell}/tensorboard/{part}" for cell in timing.CELLS for part in ("train", "validation")}
