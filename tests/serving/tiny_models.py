"""Two tiny SavedModels the serving tests export themselves (no recipe run): numbers in, and strings in."""

import keras

from deepkit import export


def numbers_model(seed=0):
    """``x`` (batch, 3) float32 -> ``scores`` (batch, 2) and ``total`` (batch, 1)."""
    keras.utils.set_random_seed(seed)
    x = keras.Input((3,), name="x")
    scores = keras.layers.Dense(2, name="scores")(x)
    total = keras.layers.Dense(1, kernel_initializer="ones", name="total")(x)
    return keras.Model(x, [scores, total])


def strings_model():
    """``word`` (batch,) string -> ``score`` (batch, 1): 1 for "good", -1 for "bad", 0 for any other."""
    word = keras.Input((), dtype="string", name="word")
    one_hot = keras.layers.StringLookup(vocabulary=["good", "bad"], output_mode="one_hot")(word)
    weights = keras.initializers.Constant([[0.0], [1.0], [-1.0]])  # [unknown, good, bad]
    score = keras.layers.Dense(1, use_bias=False, kernel_initializer=weights, name="score")(one_hot)
    return keras.Model(word, score)


def export_next(model, base, name):
    """Exports ``model`` as the next version of ``base/name``; returns the version folder."""
    return export.export_version(model, str(base), name)
