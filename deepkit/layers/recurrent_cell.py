"""What deepkit's recurrent cells share: arguments, gate weights, dropout, layer normalization, config.

:class:`RecurrentCell` is the base of :class:`~deepkit.layers.PeepholeLSTMCell` and
:class:`~deepkit.layers.RelevanceGRUCell`, so that a cell file holds only its
equations, its own weights and its own arguments, as Keras' ``LSTMCell`` and
``GRUCell`` would if they shared a base. :class:`BlockLayerNorm` is the layer
normalization of Ba, Kiros & Hinton (2016) applied per gate block, which the cells'
step functions take as an optional argument.
"""

import inspect
from typing import NamedTuple

import keras
from keras import activations, constraints, initializers, ops, regularizers

# Keras' own LSTM/GRU cells mix this in: it creates one dropout mask per batch
# and reuses it at every time step (Gal & Ghahramani 2016), and `keras.layers.RNN`
# resets it after each call. It is not exported under a public name, so the
# private import lives here, in one place.
from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell

from deepkit.validation import check_bool, check_choice, check_positive, check_rate, check_units, describe


class BlockLayerNorm(NamedTuple):
    """Layer normalization (Ba et al. 2016) of each block of ``units`` columns.

    A pre-activation ``z`` of shape ``(batch, k·units)`` holds ``k`` gate blocks;
    each block is normalized over its own ``units`` columns (its mean and variance
    over those columns, per sample), then scaled by ``gamma`` and shifted by
    ``beta``, both ``(k·units,)``. Float16 and bfloat16 inputs are normalized in
    float32, as ``keras.layers.LayerNormalization`` does.
    """

    gamma: object
    beta: object
    units: int
    epsilon: float

    def __call__(self, z):
        dtype = z.dtype
        wide = "float32" if keras.backend.standardize_dtype(dtype) in ("float16", "bfloat16") else dtype
        blocks = z.shape[-1] // self.units
        x = ops.reshape(ops.cast(z, wide), (-1, blocks, self.units))
        mean = ops.mean(x, axis=-1, keepdims=True)
        variance = ops.var(x, axis=-1, keepdims=True)
        x = ops.reshape((x - mean) * ops.rsqrt(variance + self.epsilon), (-1, blocks * self.units))
        return ops.cast(x, dtype) * ops.cast(self.gamma, dtype) + ops.cast(self.beta, dtype)

    def split(self, columns):
        """Two norms: the first ``columns`` columns' and the rest's."""
        gammas = ops.split(self.gamma, [columns], axis=-1)
        betas = ops.split(self.beta, [columns], axis=-1)
        return tuple(BlockLayerNorm(g, b, self.units, self.epsilon) for g, b in zip(gammas, betas))


class RecurrentCell(keras.layers.Layer, DropoutRNNCell):
    """Base of deepkit's recurrent cells: the arguments and weights every gated cell has.

    A subclass sets :attr:`state_count` (1 for ``[h]``, 2 for ``[h, c]``) and
    :attr:`gate_count` (how many ``units``-wide column blocks the kernels have),
    takes its own arguments and passes the rest here, builds its own weights in
    :meth:`build_cell_weights` and writes its step in ``call``, reading the
    inputs through :meth:`dropped_inputs` / :meth:`input_projection` and the state
    through :meth:`dropped_state`. A subclass whose step applies the recurrent
    norms (``self.norm("recurrent")``, ...) sets :attr:`supports_layer_norm`.

    Weights, in this order: ``kernel (input_dim, gates·units)``,
    ``recurrent_kernel (units, gates·units)``, ``bias (gates·units,)`` (when
    ``use_bias``), the subclass's own weights, and with ``layer_norm=True`` the
    layer-normalization gains (ones) and biases (zeros): ``input_norm_gamma``,
    ``input_norm_beta``, ``recurrent_norm_gamma``, ``recurrent_norm_beta``
    (each ``(gates·units,)``) and whatever :meth:`layer_norm_sizes` adds.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation of the candidate (default ``"tanh"``).
        recurrent_activation: Activation of the gates (default ``"sigmoid"``).
        use_bias: Whether the cell has a bias vector (default ``True``).
        kernel_initializer, recurrent_initializer, bias_initializer: Initializers
            (defaults ``"glorot_uniform"``, ``"orthogonal"``, ``"zeros"``).
        kernel_regularizer, recurrent_regularizer, bias_regularizer: Regularizers
            (default ``None``).
        kernel_constraint, recurrent_constraint, bias_constraint: Constraints
            (default ``None``).
        dropout: Fraction of the inputs to drop (default 0), one mask per sequence.
        recurrent_dropout: Fraction of the recurrent state to drop (default 0).
        layer_norm: Layer-normalize the input and recurrent pre-activations per
            gate block (Ba et al. 2016; default ``False``). See the subclass for
            which terms it normalizes.
        layer_norm_epsilon: Added to the variance before the square root
            (default ``1e-3``, as ``keras.layers.LayerNormalization``).
        implementation: Accepted for ``keras.layers.LSTMCell``/``GRUCell``
            compatibility (1 or 2); it has no effect and is not saved, as in Keras 3.
        seed: Seed of the dropout masks.
    """

    state_count = 1
    # Whether the subclass's step applies the recurrent norms (:meth:`norm`);
    # without it ``layer_norm=True`` is refused rather than half applied.
    supports_layer_norm = False

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        layer_norm=False,
        layer_norm_epsilon=1e-3,
        implementation=2,
        seed=None,
        **kwargs,
    ):
        owner = describe(self, kwargs.get("name"))
        units = check_units(owner, units)
        check_rate(owner, "dropout", dropout)
        check_rate(owner, "recurrent_dropout", recurrent_dropout)
        check_bool(owner, "layer_norm", layer_norm)
        if layer_norm and not self.supports_layer_norm:
            raise ValueError(
                f"{owner}: argument `layer_norm` must be False: this cell does not implement layer "
                f"normalization. Received: layer_norm={layer_norm!r}"
            )
        check_positive(owner, "layer_norm_epsilon", layer_norm_epsilon)
        check_choice(owner, "implementation", implementation, (1, 2))
        super().__init__(**kwargs)
        self.units = units
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.layer_norm = layer_norm
        self.layer_norm_epsilon = float(layer_norm_epsilon)
        self.implementation = implementation

        # === Initializers, regularizers, constraints ===
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

        # === Dropout ===
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)

        self.state_size = units if self.state_count == 1 else [units] * self.state_count
        self.output_size = units
        self.input_dim = None

    @classmethod
    def for_layer(cls, default_name, units, layer_kwargs, **arguments):
        """The cell a recurrent layer runs, from the layer's ``**kwargs``.

        Pops from ``layer_kwargs`` every argument the cell takes (those of
        ``cls.__init__`` and its bases' down to this class) and names the cell
        ``"<layer name>_cell"``, ``default_name`` standing for an unnamed layer.
        """
        names = set()
        for klass in cls.__mro__[: cls.__mro__.index(RecurrentCell) + 1]:
            names.update(inspect.signature(klass.__init__).parameters)
        names -= {"self", "units", "kwargs", "name", "dtype"}
        cell_kwargs = {key: layer_kwargs.pop(key) for key in list(layer_kwargs) if key in names}
        return cls(
            units,
            name=f"{layer_kwargs.get('name', default_name)}_cell",
            dtype=layer_kwargs.get("dtype"),
            **arguments,
            **cell_kwargs,
        )

    @property
    def gate_count(self):
        """How many ``units``-wide column blocks ``kernel`` and ``recurrent_kernel`` have."""
        raise NotImplementedError

    # === Weights ===

    def add_cell_weight(self, name, shape, prefix, initializer=None):
        """``add_weight`` with the ``<prefix>_initializer/_regularizer/_constraint`` arguments."""
        return self.add_weight(
            shape=shape,
            name=name,
            initializer=initializer or getattr(self, f"{prefix}_initializer"),
            regularizer=getattr(self, f"{prefix}_regularizer"),
            constraint=getattr(self, f"{prefix}_constraint"),
        )

    def bias_initial_value(self, shape, dtype=None):
        """The bias's initializer (a subclass overrides it, e.g. the LSTM's unit forget bias)."""
        return self.bias_initializer(shape, dtype=dtype)

    def build(self, input_shape):
        self.input_dim = int(input_shape[-1])
        columns = self.gate_count * self.units
        self.kernel = self.add_cell_weight("kernel", (self.input_dim, columns), "kernel")
        self.recurrent_kernel = self.add_cell_weight("recurrent_kernel", (self.units, columns), "recurrent")
        self.bias = None
        if self.use_bias:
            self.bias = self.add_cell_weight("bias", (columns,), "bias", initializer=self.bias_initial_value)
        self.build_cell_weights()
        self.norms = {}
        if self.layer_norm:
            for name, size in self.layer_norm_sizes():
                gamma = self.add_weight(shape=(size,), name=f"{name}_norm_gamma", initializer="ones")
                beta = self.add_weight(shape=(size,), name=f"{name}_norm_beta", initializer="zeros")
                self.norms[name] = (gamma, beta)

    def build_cell_weights(self):
        """Adds the subclass's own weights, after the bias (default: none)."""

    def layer_norm_sizes(self):
        """``[(name, size)]`` of the layer-normalized terms; a subclass may append its own."""
        columns = self.gate_count * self.units
        return [("input", columns), ("recurrent", columns)]

    def norm(self, name):
        """The :class:`BlockLayerNorm` of term ``name``, or ``None`` without ``layer_norm``."""
        if name not in self.norms:
            return None
        gamma, beta = self.norms[name]
        return BlockLayerNorm(gamma, beta, self.units, self.layer_norm_epsilon)

    # === Call helpers ===

    def dropped_inputs(self, inputs, training):
        """``inputs`` times the input-dropout mask while training with ``dropout``."""
        if training and self.dropout > 0:
            return inputs * self.get_dropout_mask(inputs)
        return inputs

    def dropped_state(self, h_prev, training):
        """What the gates read of ``h_{t-1}``: times the recurrent-dropout mask while training."""
        if training and self.recurrent_dropout > 0:
            return h_prev * self.get_recurrent_dropout_mask(h_prev)
        return h_prev

    def input_projection(self, inputs):
        """``x_t W + b``, with ``layer_norm`` ``LN(x_t W) + b``, shape ``(batch, gates·units)``."""
        projection = ops.matmul(inputs, self.kernel)
        if self.layer_norm:
            projection = self.norm("input")(projection)
        if self.use_bias:
            projection = projection + self.bias
        return projection

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype) for _ in range(self.state_count)]

    # === Config ===

    def get_config(self):
        config = {
            "units": self.units,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "layer_norm": self.layer_norm,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}
