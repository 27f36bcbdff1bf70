"""What deepkit's recurrent layers share: argument checks and input validation.

:class:`RecurrentLayer` sits between ``keras.layers.RNN`` and deepkit's concrete
layers (:class:`~deepkit.layers.PeepholeLSTM`, :class:`~deepkit.layers.RelevanceGRU`).
It owns the checks that turn a wrong input into an error naming the layer, the
argument, what was expected and what was received, instead of a broadcast or a
shape error deep inside the loop. It never dispatches to Keras' cuDNN kernels:
those implement the plain LSTM/GRU equations only, and a SavedModel holding
``CudnnRNN`` ops cannot be served on a CPU.
"""

import inspect

import keras

from deepkit.layers import fused_recurrence

# Keras' own LSTM/GRU cells mix this in: it creates one dropout mask per batch
# and reuses it at every time step (Gal & Ghahramani 2016), and `keras.layers.RNN`
# resets it after each call. It is not exported under a public name, so the
# private import lives here, in one place.
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell  # noqa: F401


def describe(obj, name=None):
    """``"ClassName 'name'"``, how deepkit's error messages name a layer."""
    name = name if name is not None else getattr(obj, "name", None)
    return f"{type(obj).__name__} '{name}'" if name else type(obj).__name__


def cell_arguments(cell_class, kwargs):
    """Pops from ``kwargs`` the arguments that ``cell_class`` takes."""
    names = inspect.signature(cell_class.__init__).parameters
    return {key: kwargs.pop(key) for key in list(kwargs) if key in names and key != "self"}


def check_units(owner, units):
    """Raises ValueError unless ``units`` is a positive integer."""
    if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
        raise ValueError(
            f"{owner}: argument `units` must be a positive integer. Received: units={units!r}"
        )


def check_rate(owner, name, value):
    """Raises ValueError unless ``value`` is a float in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(
            f"{owner}: argument `{name}` must be a float in [0, 1). Received: {name}={value!r}"
        )


def check_choice(owner, name, value, choices):
    """Raises ValueError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(
            f"{owner}: argument `{name}` must be one of {list(choices)}. "
            f"Received: {name}={value!r}"
        )


class RecurrentLayer(keras.layers.RNN):
    """Base of deepkit's recurrent layers: ``keras.layers.RNN`` plus strict input checks.

    Subclasses build their cell and pass it here. The checks cover the rank and
    dtype of the sequences, their feature size against the one the layer was
    built with, and the count and shapes of an ``initial_state``.
    """

    def _describe(self):
        return describe(self)

    def _check_sequences_shape(self, shape):
        if len(shape) != 3:
            raise ValueError(
                f"{self._describe()}: argument `sequences` must have rank 3 "
                f"(batch, timesteps, features). Received: shape={tuple(shape)}"
            )
        built_dim = getattr(self.cell, "input_dim", None)
        if built_dim is not None and shape[-1] is not None and shape[-1] != built_dim:
            raise ValueError(
                f"{self._describe()}: argument `sequences` must have {built_dim} features, "
                f"the size the layer was built with. Received: shape={tuple(shape)}"
            )
        if shape[-1] is None:
            raise ValueError(
                f"{self._describe()}: the feature dimension of `sequences` must be known. "
                f"Received: shape={tuple(shape)}"
            )

    def _check_dtype(self, sequences):
        dtype = keras.backend.standardize_dtype(sequences.dtype)
        if "float" not in dtype:
            raise TypeError(
                f"{self._describe()}: argument `sequences` must be a floating-point tensor "
                f"(embed or cast integer ids first). Received: dtype={dtype}"
            )

    def _check_initial_state(self, sequences, initial_state):
        states = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
        if len(states) != len(self.state_size):
            raise ValueError(
                f"{self._describe()}: argument `initial_state` must hold {len(self.state_size)} "
                f"tensor(s) of shape (batch, {self.cell.units}). "
                f"Received: {len(states)} tensor(s)"
            )
        batch = sequences.shape[0]
        for index, (state, size) in enumerate(zip(states, self.state_size)):
            shape = tuple(state.shape)
            ok = len(shape) == 2 and shape[1] in (None, size)
            ok = ok and (batch is None or shape[0] is None or shape[0] == batch)
            if not ok:
                raise ValueError(
                    f"{self._describe()}: `initial_state[{index}]` must have shape "
                    f"({batch}, {size}). Received: shape={shape}"
                )

    def build(self, sequences_shape, initial_state_shape=None):
        self._check_sequences_shape(sequences_shape)
        super().build(sequences_shape, initial_state_shape)

    def call(self, sequences, initial_state=None, mask=None, training=False):
        self._check_dtype(sequences)
        self._check_sequences_shape(sequences.shape)
        if initial_state is not None:
            self._check_initial_state(sequences, initial_state)
        if mask is not None and tuple(mask.shape) != tuple(sequences.shape[:2]):
            raise ValueError(
                f"{self._describe()}: argument `mask` must have shape (batch, timesteps) = "
                f"{tuple(sequences.shape[:2])}. Received: shape={tuple(mask.shape)}"
            )
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    def compute_output_spec(self, sequences, initial_state=None, mask=None, training=False):
        self._check_dtype(sequences)
        self._check_sequences_shape(sequences.shape)
        if initial_state is not None:
            self._check_initial_state(sequences, initial_state)
        return super().compute_output_spec(sequences, initial_state=initial_state, mask=mask)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        # The fused whole-sequence op when the configuration allows it (see
        # deepkit.layers.fused_recurrence), Keras' per-step loop otherwise.
        blocker = fused_recurrence.fast_path_blocker(self)
        self._execution_path = "fast" if blocker is None else f"general ({blocker})"
        if blocker is None:
            return self._fast_inner_loop(sequences, initial_state, mask, training)
        return super().inner_loop(sequences, initial_state, mask, training=training)

    def _fast_inner_loop(self, sequences, initial_state, mask, training):
        raise NotImplementedError

    def execution_path(self):
        """``"fast"`` or ``"general (<why>)"``: the loop the last traced call took."""
        return getattr(self, "_execution_path", "not called yet")

    def reset_states(self):
        """Zeros the carried state of a ``stateful`` layer (alias of ``reset_state``)."""
        self.reset_state()

    def _cell_config(self):
        """The cell's constructor arguments, flattened into the layer's config."""
        config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            config.pop(key, None)
        return config

    def get_config(self):
        config = super().get_config()
        del config["cell"]
        config.update(self._cell_config())
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

