"""What deepkit.export writes a user can rely on: serving_default names its inputs and
outputs after the model's layers, and an unchanged model exported again adds no version."""

import keras
import numpy as np
import tensorflow as tf

from deepkit import export
from deepkit.testing import serve_without_deepkit


def two_headed(seed):
    keras.utils.set_random_seed(seed)
    history = keras.Input((3,), name="history")
    hidden = keras.layers.Dense(4)(history)
    model = keras.Model(history, [keras.layers.Dense(1, name="next_value")(hidden),
                                  keras.layers.Dense(2, activation="softmax", name="trend")(hidden)])
    return model


def test_serving_default_names_inputs_and_outputs_after_the_layers(tmp_path):
    model = two_headed(0)
    path = export.export_version(model, str(tmp_path), "m")
    signature = tf.saved_model.load(path).signatures["serving_default"]
    assert list(signature.structured_input_signature[1]) == ["history"]
    outputs = signature.structured_outputs
    assert sorted(outputs) == ["next_value", "trend"]
    assert outputs["trend"].dtype == tf.float32 and outputs["trend"].shape.as_list() == [None, 2]
    x = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    next_value, trend = serve_without_deepkit(path, [x], "serve")  # a dict, flattened in key order
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(next_value, expected[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(trend, expected[1], rtol=1e-5, atol=1e-6)


def test_the_fingerfirst_printfollows_the_weights_not_the_layer_names():
    first, rebuilt, other = two_headed(0), two_headed(0), two_headed(1)  # rebuilt: dense_2, ... not dense
    assert [w.path for w in first.weights] != [w.path for w in rebuilt.weights]
    assert export.fingerprint(first, "ctx") == export.fingerprint(rebuilt, "ctx")
    assert export.fingerprint(first, "ctx") != export.fingerprint(other, "ctx")
    assert export.fingerprint(first, "ctx") != export.fingerprint(first, "another context")


def test_an_unchanged_model_exported_again_adds_no_version(tmp_path):
    model = two_headed(0)
    first_print = export.fingerprint(model)
    assert export.export_unless_unchanged(model, str(tmp_path), "m", first_print) == (str(tmp_path / "m" / "1"), True)
    assert export.export_unless_unchanged(two_headed(0), str(tmp_path), "m", first_print) == (str(tmp_path / "m" / "1"), False)
    changed = export.fingerprint(two_headed(1))
    assert export.export_unless_unchanged(two_headed(1), str(tmp_path), "m", changed) == (str(tmp_path / "m" / "2"), True)
    # Only the newest version counts: the first model again is served only as a new version.
    assert export.export_unless_unchanged(model, str(tmp_path), "m", first_print) == (str(tmp_path / "m" / "3"), True)
    assert export.recorded_fingerprint(str(tmp_path / "m" / "3")) == first_print
