"""GRU with a relevance gate (Cho et al. 2014), in the notation of the seeds (Ng's Γ_u, Γ_r).

The maths of one step is :func:`relevance_gru_step`; :class:`RelevanceGRUCell`
owns the weights and dropout; :class:`RelevanceGRU` runs the cell over a sequence.
"""

import keras
from keras import activations, constraints, initializers, ops, regularizers

from deepkit.layers import fused_recurrence
from deepkit.layers.recurrent_layer import (
    DropoutRNNCell,
    RecurrentLayer,
    cell_arguments,
    check_rate,
    check_units,
    describe,
)
from deepkit.registry import register


def relevance_gru_step(
    x_projection,
    h_prev,
    recurrent_kernel,
    relevance_gate,
    activation=ops.tanh,
    recurrent_activation=ops.sigmoid,
    h_read=None,
):
    """One step of the GRU with relevance gate.

    Equations (seed 001; gate order Γ_u, Γ_r, candidate)::

        Γ_u = σ(M_u [h_{t-1}, x_t] + b_u)             update gate
        Γ_r = σ(M_r [h_{t-1}, x_t] + b_r)             relevance gate
        ĥ_t = g(M [Γ_r ⊙ h_{t-1}, x_t] + b_h)
        h_t = Γ_u ⊙ ĥ_t + (1 - Γ_u) ⊙ h_{t-1}

    Seed 001 prints the last line as ``Γ_r ⊙ ĥ + (1 - Γ_u) ⊙ h``; that is a typo
    (the update gate would then not gate the candidate), and the line above is
    what Cho et al. define. Without the relevance gate, ``ĥ_t = g(M [h_{t-1}, x_t] + b_h)``.

    Args:
        x_projection: ``x_t W + b``: ``(batch, 3·units)`` with the relevance gate,
            ``(batch, 2·units)`` without (gates Γ_u, candidate).
        h_prev: ``(batch, units)``.
        recurrent_kernel: ``(units, 3·units)`` or ``(units, 2·units)``.
        relevance_gate: Whether Γ_r is present.
        activation, recurrent_activation: ``g`` and ``σ``.
        h_read: What the gates and the candidate read of ``h_{t-1}``, when it
            differs from the carried state (recurrent dropout); default ``h_prev``.

    Returns:
        ``h_t``.
    """
    h_read = h_prev if h_read is None else h_read
    units = ops.shape(h_prev)[-1]
    gates_kernel, candidate_kernel = ops.split(recurrent_kernel, [recurrent_kernel.shape[1] - units], axis=-1)
    x_gates, x_candidate = ops.split(x_projection, [x_projection.shape[-1] - units], axis=-1)
    gates = recurrent_activation(x_gates + ops.matmul(h_read, gates_kernel))
    if relevance_gate:
        update, relevance = ops.split(gates, 2, axis=-1)
        recurrent_input = relevance * h_read
    else:
        update = gates
        recurrent_input = h_read
    candidate = activation(x_candidate + ops.matmul(recurrent_input, candidate_kernel))
    return update * candidate + (1.0 - update) * h_prev


@register
class RelevanceGRUCell(keras.layers.Layer, DropoutRNNCell):
    """Cell of the GRU with relevance gate, for use inside ``keras.layers.RNN``.

    Weights: ``kernel (input_dim, 3·units)``, ``recurrent_kernel (units, 3·units)``,
    ``bias (3·units,)`` in gate order Γ_u, Γ_r, candidate, with the seed's
    convention ``h = Γ_u ⊙ ĥ + (1 - Γ_u) ⊙ h_prev``. Keras' GRU writes
    ``h = z ⊙ h_prev + (1 - z) ⊙ ĥ``, i.e. ``Γ_u = 1 - z``: this cell equals
    ``keras.layers.GRUCell(reset_after=False)`` whose update-gate columns are
    negated. With ``relevance_gate=False`` the Γ_r columns are absent
    (``2·units`` columns: Γ_u, candidate).

    Args:
        units: Positive integer, dimensionality of the output space.
        relevance_gate: Whether the cell has the relevance gate Γ_r (default
            ``True``); ``False`` is the simplified GRU of seed 001.
        activation: Activation of the candidate (default ``"tanh"``).
        recurrent_activation: Activation of the gates (default ``"sigmoid"``).
        use_bias: Whether the cell has a bias vector (default ``True``).
        kernel_initializer, recurrent_initializer, bias_initializer: Initializers
            (defaults ``"glorot_uniform"``, ``"orthogonal"``, ``"zeros"``).
        kernel_regularizer, recurrent_regularizer, bias_regularizer: Regularizers.
        kernel_constraint, recurrent_constraint, bias_constraint: Constraints.
        dropout: Fraction of the inputs to drop (default 0).
        recurrent_dropout: Fraction of the recurrent state to drop (default 0).
        seed: Seed of the dropout masks.

    Call arguments:
        inputs: ``(batch, features)``.
        states: ``[h]``, ``(batch, units)``.
        training: Whether dropout is active.

    Example:

    >>> rnn = keras.layers.RNN(RelevanceGRUCell(8))
    >>> tuple(rnn(np.zeros((2, 5, 3), "float32")).shape)
    (2, 8)

    Reference:
        Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder
        for Statistical Machine Translation", EMNLP 2014.
    """

    def __init__(
        self,
        units,
        relevance_gate=True,
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
        seed=None,
        **kwargs,
    ):
        owner = describe(self, kwargs.get("name"))
        check_units(owner, units)
        if not isinstance(relevance_gate, bool):
            raise ValueError(
                f"{owner}: argument `relevance_gate` must be True or False. "
                f"Received: relevance_gate={relevance_gate!r}"
            )
        check_rate(owner, "dropout", dropout)
        check_rate(owner, "recurrent_dropout", recurrent_dropout)
        super().__init__(**kwargs)
        self.units = units
        self.relevance_gate = relevance_gate
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = use_bias

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

        self.state_size = units
        self.output_size = units
        self.input_dim = None

    @property
    def gate_count(self):
        """3 with the relevance gate (Γ_u, Γ_r, candidate), 2 without."""
        return 3 if self.relevance_gate else 2

    def build(self, input_shape):
        self.input_dim = int(input_shape[-1])
        columns = self.gate_count * self.units
        self.kernel = self.add_weight(
            shape=(self.input_dim, columns),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, columns),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            self.bias = self.add_weight(
                shape=(columns,),
                name="bias",
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def call(self, inputs, states, training=False):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        if training and self.dropout > 0:
            inputs = inputs * self.get_dropout_mask(inputs)
        h_read = h_prev
        if training and self.recurrent_dropout > 0:
            h_read = h_prev * self.get_recurrent_dropout_mask(h_prev)
        x_projection = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            x_projection = x_projection + self.bias
        h = relevance_gru_step(
            x_projection,
            h_prev,
            self.recurrent_kernel,
            self.relevance_gate,
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
            h_read=h_read,
        )
        return h, [h]

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype)]

    def get_config(self):
        config = {
            "units": self.units,
            "relevance_gate": self.relevance_gate,
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
            "seed": self.seed,
        }
        return {**super().get_config(), **config}


@register
class RelevanceGRU(RecurrentLayer):
    """GRU layer with relevance gate (Cho et al. 2014), in the seeds' convention.

    ``h_t = Γ_u ⊙ ĥ_t + (1 - Γ_u) ⊙ h_{t-1}`` (see :func:`relevance_gru_step`;
    the seed's ``Γ_r ⊙ ĥ`` in that line is a typo). It equals
    ``keras.layers.GRU(reset_after=False)`` whose update-gate columns are negated,
    supports what that layer supports (masking, ``go_backwards``,
    ``return_state``, ``stateful``, ``initial_state``, seeded dropout) and never
    dispatches to cuDNN.

    Args:
        units: Positive integer, dimensionality of the output space.
        relevance_gate: ``True`` (default) or ``False`` (the simplified GRU).
        return_sequences, return_state, go_backwards, stateful, unroll,
        zero_output_for_mask: As in :class:`~deepkit.layers.PeepholeLSTM`.
        **kwargs: Every argument of :class:`RelevanceGRUCell` and of
            ``keras.layers.Layer``.

    Call arguments:
        sequences: ``(batch, timesteps, features)`` floating tensor.
        initial_state: ``[h]`` with ``h`` of shape ``(batch, units)``.
        mask: ``(batch, timesteps)`` booleans; ``False`` steps are skipped.
        training: Whether dropout is active.

    Example:

    >>> x = np.random.rand(4, 10, 3).astype("float32")
    >>> tuple(RelevanceGRU(8, return_sequences=True)(x).shape)
    (4, 10, 8)

    Reference:
        Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder
        for Statistical Machine Translation", EMNLP 2014.
    """

    def __init__(
        self,
        units,
        relevance_gate=True,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        check_units(describe(self, kwargs.get("name")), units)
        cell_kwargs = cell_arguments(RelevanceGRUCell, kwargs)
        cell = RelevanceGRUCell(
            units,
            relevance_gate=relevance_gate,
            name=f"{kwargs.get('name', 'relevance_gru')}_cell",
            dtype=kwargs.get("dtype"),
            **cell_kwargs,
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            zero_output_for_mask=zero_output_for_mask,
            **kwargs,
        )

    def _fast_inner_loop(self, sequences, initial_state, mask, training):
        return fused_recurrence.run_relevance_gru(self, sequences, initial_state, mask, training)

    @property
    def units(self):
        return self.cell.units

    @property
    def relevance_gate(self):
        return self.cell.relevance_gate
