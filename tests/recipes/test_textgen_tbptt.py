"""textgen with truncated backpropagation through time and gradient clipping: the
stateful copy trains, the exported model is stateless, the run resumes, and `clipnorm`
reaches the optimizer as global-norm clipping."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from deepkit import recipe, tbptt
from deepkit.recipes import textgen
from deepkit.testing import serve_without_deepkit

LINES = ["the cat sat on the mat and the dog sat on the log", "a bird in the hand is worth two in the bush",
         "all that glitters is not gold", "the quick brown fox jumps over the lazy dog"]


def small_config(tmp_path, **changes):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(LINES[i % 4] + f" {i}" for i in range(80)) + "\n")
    return dataclasses.replace(textgen.smoke(), data=f"text:{path}", batch_size=4, seq_length=10, tbptt_steps=10,
                               sample_length=5, export_dir=str(tmp_path / "saved_models"), **changes)


def test_tbptt_run_trains_a_stateful_copy_exports_a_stateless_model_and_resumes(tmp_path):
    config = small_config(tmp_path, epochs=2)
    metrics = textgen.train_and_evaluate(config, str(tmp_path / "run"))
    assert all(np.isfinite(value) for value in metrics.values())
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["training"] == {"epochs": 2, "epochs_this_run": 2}
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert all("val_loss" in logs for logs in history.values())  # validated on the test text, streamed
    # The checkpoint is the stateful trainer; the SavedModel serves any batch size, from a zero state.
    ids = np.random.default_rng(0).integers(2, 10, size=(3, 7)).astype("int64")  # 3 rows, not batch_size=4
    served = serve_without_deepkit(record["saved_model"], [ids])[0]
    assert served.shape[:2] == (3, 7)
    restored = keras.models.load_model(str(tmp_path / "run" / "model.keras"))
    for row in range(3):  # each row read alone from a zero state gives what the batch gave it
        np.testing.assert_allclose(served[row], np.asarray(restored(ids[row : row + 1]))[0], atol=1e-5)
    again = textgen.train_and_evaluate(config, str(tmp_path / "run"))
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["training"]["epochs_this_run"] == 0
    assert again["test_loss"] == pytest.approx(metrics["test_loss"], rel=1e-5)


def test_clipnorm_is_global_norm_clipping_and_zero_turns_it_off():
    optimizer = textgen.build_model(dataclasses.replace(textgen.smoke(), clipnorm=0.5), 9).optimizer
    assert optimizer.global_clipnorm == 0.5 and optimizer.clipnorm is None
    assert textgen.build_model(dataclasses.replace(textgen.smoke(), clipnorm=0.0), 9).optimizer.global_clipnorm is None


@pytest.mark.parametrize("key, value", [("tbptt_steps", "-1"), ("clipnorm", "-0.5")])
def test_negative_tbptt_steps_or_clipnorm_are_refused(key, value):
    with pytest.raises(ValueError, match=f"clipnorm and tbptt_steps must be >= 0.*{key}={value}"):
        recipe.override(textgen.Config(), {key: value})


def test_a_text_too_short_for_one_chunk_per_row_is_refused_naming_the_fix(tmp_path):
    config = dataclasses.replace(small_config(tmp_path), batch_size=64, tbptt_steps=100)
    with pytest.raises(ValueError, match="fewer than one chunk of steps=100; lower batch_size or steps"):
        textgen.train_and_evaluate(config, str(tmp_path / "run"))


def test_the_trainer_is_a_stateful_copy_of_the_served_architecture():
    model = textgen.build_model(textgen.smoke(), 9)
    trainer = tbptt.stateful_copy(model, 4)
    assert [layer.name for layer in tbptt.stateful_layers(trainer)] == ["lstm"]
    assert [w.shape for w in trainer.get_weights()] == [w.shape for w in model.get_weights()]
