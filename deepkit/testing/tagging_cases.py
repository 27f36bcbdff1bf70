"""Harness cases of the sequence-tagging objects: the CRF layer inside a CRFTagger."""

import keras

from deepkit import models
from deepkit.testing.harness import HarnessCase

BATCH, TIMESTEPS, VOCABULARY, EMBEDDING, TAGS = 4, 5, 7, 3, 4


def word_ids(rng):
    """Right-padded sentences of 5, 3, 1 and 4 words (id 0 is padding)."""
    ids = rng.integers(1, VOCABULARY, size=(BATCH, TIMESTEPS)).astype("int32")
    for row, length in enumerate((5, 3, 1, 4)):
        ids[row, length:] = 0
    return ids


def ids_and_tags(rng):
    return word_ids(rng), rng.integers(0, TAGS, size=(BATCH, TIMESTEPS)).astype("int32")


def make_crf_tagger():
    words = keras.Input((TIMESTEPS,), dtype="int32")
    embedded = keras.layers.Embedding(VOCABULARY, EMBEDDING, mask_zero=True)(words)
    encoder = keras.Model(words, keras.layers.Dense(TAGS)(embedded))
    return models.CRFTagger(encoder, TAGS, transitions_initializer="glorot_uniform")


def compile_with_adam(model, jit_compile):
    model.compile(optimizer=keras.optimizers.Adam(1e-2), jit_compile=jit_compile)


def tagging_cases():
    return [
        HarnessCase(
            id="crf_tagger",
            covers=["deepkit>CRFTagger", "deepkit>CRF"],
            make_model=make_crf_tagger,
            make_inputs=word_ids,
            make_train_data=ids_and_tags,
            compile_model=compile_with_adam,
            targets=None,
            weight_shapes=[(VOCABULARY, EMBEDDING), (EMBEDDING, TAGS), (TAGS,), (TAGS, TAGS), (TAGS,), (TAGS,)],
        ),
    ]
