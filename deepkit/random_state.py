"""Saving the random stream of a layer or model with its weights.

Keras saves a layer's variables but not the state of the ``keras.random.SeedGenerator``
it owns, so a model reloaded from a ``.keras`` file restarts its random stream from
the seed: training that resumes draws different noise than training that never
stopped. :class:`SavesSeedState` stores the state next to the variables.
"""

import keras
import numpy as np

SEED_STATE_KEY = "seed_generator_state"


class SavesSeedState:
    """Mixin for a ``keras.layers.Layer`` (or ``keras.Model``) whose ``seed_generator``
    attribute is a ``keras.random.SeedGenerator``: ``save_own_variables`` also stores
    the generator's state, ``load_own_variables`` restores it (files without it load
    as before), so a reloaded object continues the same random stream."""

    def save_own_variables(self, store):
        super().save_own_variables(store)
        store[SEED_STATE_KEY] = keras.ops.convert_to_numpy(self.seed_generator.state)

    def load_own_variables(self, store):
        keys = list(store.keys())
        if SEED_STATE_KEY in keys:
            state = self.seed_generator.state
            state.assign(np.asarray(store[SEED_STATE_KEY]).astype(state.dtype))
        super().load_own_variables({key: store[key] for key in keys if key != SEED_STATE_KEY})
