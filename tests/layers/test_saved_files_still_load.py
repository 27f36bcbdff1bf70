"""`.keras` files saved by deepkit 0.1.0 load with today's code and give the same numbers."""

import pathlib

import keras
import numpy as np
import pytest

import deepkit  # noqa: F401  (registers the deepkit> classes)
from tests.layers.fixtures.make_saved_before_restructure import MODELS

FIXTURES = pathlib.Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("name", sorted(MODELS))
def test_keras_files_saved_before_the_restructure_load_and_give_the_same_outputs(name):
    saved = np.load(FIXTURES / "outputs_before_restructure.npz")
    model = keras.saving.load_model(FIXTURES / f"{name}.keras")
    result = model.predict([saved["x"], saved["mask"]], verbose=0)
    result = list(result) if isinstance(result, (list, tuple)) else [result]
    expected = sorted(key for key in saved.files if key.startswith(f"{name}/"))
    assert len(result) == len(expected)
    for array, key in zip(result, expected):
        np.testing.assert_allclose(array, saved[key], rtol=1e-5, atol=1e-6)
