"""What deepkit's recurrent layers share: argument checks and input validation.

:class:`RecurrentLayer` sits between ``keras.layers.RNN`` and deepkit's concrete
layers (:class:`~deepkit.layers.PeepholeLSTM`, :class:`~deepkit.layers.RelevanceGRU`).
It owns the checks that turn a wrong input into an error naming the layer, the
argument, what was expected and what was received, instead of a broadcast or a
shape error deep inside the loop. It never dispatches to Keras' cuDNN kernels:
those implement the plain LSTM/GRU equations only, and a SavedModel holding
``CudnnRNN`` ops cannot be served on a CPU.
"""

import keras
from keras import ops

from deepkit.layers import fused
from deepkit.validation import check_units, describe


def check_use_cudnn(owner, use_cudnn, what):
    """ValueError unless ``use_cudnn`` is ``"auto"`` or ``False``; ``what`` names what cuDNN lacks.

    deepkit never dispatches to cuDNN (see the module docstring), so both values
    run deepkit's own loop; ``True`` would promise a kernel that cannot compute
    the layer.
    """
    if use_cudnn is True:
        raise ValueError(
            f"{owner}: argument `use_cudnn` must be 'auto' or False: deepkit never runs cuDNN, whose "
            f"kernels implement only the plain LSTM/GRU equations (not {what}, nor layer "
            "normalization), and a SavedModel holding cuDNN ops cannot be served on a CPU. "
            f"Received: use_cudnn={use_cudnn!r}"
        )
    if use_cudnn not in ("auto", False):
        raise ValueError(
            f"{owner}: argument `use_cudnn` must be 'auto' or False (True is refused, deepkit "
            f"never runs cuDNN). Received: use_cudnn={use_cudnn!r}"
        )


def zero_padding(sequences, mask):
    """``sequences`` with the masked steps set to zero by a select, not a product.

    Padding may hold anything, NaN included. The loops discard a masked step's result,
    so the forward pass never sees it, but the weight gradients sum ``x_t`` times the
    step's (zero) gradient over every step, and ``NaN * 0`` is NaN; a multiplication
    by the mask would keep the NaN, ``where`` drops it.
    """
    keep = ops.cast(mask, "bool")[:, :, None]
    return ops.where(keep, sequences, ops.zeros_like(sequences))


def cell_property(name):
    """A read-only property of the layer that returns its cell's attribute ``name``."""
    return property(lambda self: getattr(self.cell, name), doc=f"The cell's ``{name}`` (read-only).")


class RecurrentLayer(keras.layers.RNN):
    """Base of deepkit's recurrent layers: ``keras.layers.RNN`` plus strict input checks.

    Subclasses make their cell with :meth:`_make_cell` and pass it here. The
    checks cover the rank and dtype of the sequences, their feature size against
    the one the layer was built with, and the count and shapes of an
    ``initial_state``. The end of the class holds the read-only properties of
    ``keras.layers.LSTM`` / ``GRU`` (``units``, ``dropout``, ...).
    """

    # What Keras' cuDNN kernels lack for this layer, for the ``use_cudnn=True`` error.
    cudnn_lacks = "deepkit's cell equations"

    def __init__(self, cell, *, use_fused="auto", **kwargs):
        """Wraps ``cell`` as ``keras.layers.RNN`` does, with the choice of loop.

        Args:
            cell: the layer's cell.
            use_fused: ``"auto"`` (default): the fused whole-sequence op
                (:mod:`deepkit.layers.fused`) when the configuration allows it,
                Keras' general loop otherwise; ``True``: the fused op, and a
                ValueError naming what stops it when it cannot run; ``False``:
                always the general loop. Subclasses provide the op by overriding
                ``_fused_inner_loop``.
            **kwargs: the arguments of ``keras.layers.RNN``.

        Raises:
            ValueError: ``use_fused`` is not ``"auto"``, ``True`` or ``False``.
        """
        super().__init__(cell, **kwargs)
        self.use_fused = fused.check_use_fused(self._describe(), use_fused)

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
        if len(shape) > 1 and shape[1] == 0:
            raise ValueError(
                f"{self._describe()}: argument `sequences` must have at least one time step. "
                f"Received: shape={tuple(shape)}"
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
        if mask is not None:
            mask = self._check_mask(sequences, mask)
            sequences = zero_padding(sequences, mask)
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)

    def _check_mask(self, sequences, mask):
        if isinstance(mask, (list, tuple)):
            mask = mask[0]
        dtype = keras.backend.standardize_dtype(mask.dtype)
        if dtype != "bool" and not any(kind in dtype for kind in ("int", "float")):
            raise TypeError(
                f"{self._describe()}: argument `mask` must be boolean or numeric (any non-zero value is a "
                f"real step). Received: dtype={dtype}"
            )
        if tuple(mask.shape) != tuple(sequences.shape[:2]):
            raise ValueError(
                f"{self._describe()}: argument `mask` must have shape (batch, timesteps) = "
                f"{tuple(sequences.shape[:2])}. Received: shape={tuple(mask.shape)}"
            )
        return mask

    def compute_output_spec(self, sequences, initial_state=None, mask=None, training=False):
        self._check_dtype(sequences)
        self._check_sequences_shape(sequences.shape)
        if initial_state is not None:
            self._check_initial_state(sequences, initial_state)
        return super().compute_output_spec(sequences, initial_state=initial_state, mask=mask)

    def inner_loop(self, sequences, initial_state, mask, training=False):
        # The fused whole-sequence op when the configuration and `use_fused` allow
        # it (see deepkit.layers.fused), Keras' per-step loop otherwise.
        blocker = fused.choose_path(self, self._describe())
        self._execution_path = "fast" if blocker is None else f"general ({blocker})"
        if blocker is None:
            return self._fused_inner_loop(sequences, initial_state, mask, training)
        return super().inner_loop(sequences, initial_state, mask, training=training)

    def _fused_inner_loop(self, sequences, initial_state, mask, training):
        """``inner_loop`` on the fused path; subclasses with a fused kernel override it."""
        raise NotImplementedError(f"no fused kernel for {type(self).__name__}")

    def _fused_blocker(self):
        """What stops this layer's fused path beyond the generic conditions, or ``None``."""
        if type(self)._fused_inner_loop is RecurrentLayer._fused_inner_loop:
            return f"no fused kernel for {type(self).__name__}"
        # The fused kernels' hand-written backward passes have no normalization terms.
        if getattr(self.cell, "layer_norm", False):
            return "layer_norm=True"
        return None

    def execution_path(self):
        """``"fast"`` or ``"general (<why>)"``: the loop the last traced call took."""
        return getattr(self, "_execution_path", "not called yet")

    def reset_states(self):
        """Zeros the carried state of a ``stateful`` layer (alias of ``reset_state``)."""
        self.reset_state()

    def _cell_config(self):
        """The cell's constructor arguments, flattened into the layer's config, and ``use_cudnn``."""
        config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            config.pop(key, None)
        config["use_cudnn"] = getattr(self, "use_cudnn", "auto")
        return config

    def get_config(self):
        config = super().get_config()
        del config["cell"]
        config.update(self._cell_config())
        config["use_fused"] = self.use_fused
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    # === Keras LSTM / GRU compatibility: the cell, use_cudnn, read-only properties ===

    def _make_cell(self, cell_class, default_name, units, use_cudnn, kwargs, **arguments):
        """The cell a subclass's ``__init__`` passes on, made from the layer's ``kwargs``.

        Checks ``units`` and ``use_cudnn`` under the layer's name (``use_cudnn`` is
        kept as an attribute, for ``get_config``) and pops the cell's arguments from
        ``kwargs`` (:meth:`RecurrentCell.for_layer`); what stays in ``kwargs`` is
        for ``keras.layers.RNN``. Runs before ``keras.layers.RNN.__init__``.
        """
        owner = describe(self, kwargs.get("name"))
        check_units(owner, units)
        check_use_cudnn(owner, use_cudnn, self.cudnn_lacks)
        self.use_cudnn = use_cudnn
        return cell_class.for_layer(default_name, units, kwargs, **arguments)

    # The names Keras' LSTM and GRU layers expose, read from the cell, so that
    # code written against those layers reads a deepkit layer unchanged.

    units = cell_property("units")
    activation = cell_property("activation")
    recurrent_activation = cell_property("recurrent_activation")
    use_bias = cell_property("use_bias")
    kernel_initializer = cell_property("kernel_initializer")
    recurrent_initializer = cell_property("recurrent_initializer")
    bias_initializer = cell_property("bias_initializer")
    kernel_regularizer = cell_property("kernel_regularizer")
    recurrent_regularizer = cell_property("recurrent_regularizer")
    bias_regularizer = cell_property("bias_regularizer")
    kernel_constraint = cell_property("kernel_constraint")
    recurrent_constraint = cell_property("recurrent_constraint")
    bias_constraint = cell_property("bias_constraint")
    dropout = cell_property("dropout")
    recurrent_dropout = cell_property("recurrent_dropout")
    layer_norm = cell_property("layer_norm")
    layer_norm_epsilon = cell_property("layer_norm_epsilon")
