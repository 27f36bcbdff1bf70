"""Peephole LSTM: the LSTM whose gates also look at the cell state (Gers et al. 2002).

The maths of one step is :func:`peephole_lstm_step`; :class:`PeepholeLSTMCell`
owns the weights and dropout; :class:`PeepholeLSTM` runs the cell over a sequence.
"""

import keras
from keras import activations, constraints, initializers, ops, regularizers

from deepkit.layers import fused_recurrence
from deepkit.layers.recurrent_layer import (
    DropoutRNNCell,
    RecurrentLayer,
    cell_arguments,
    check_choice,
    check_rate,
    check_units,
    describe,
)
from deepkit.registry import register

PEEPHOLE_KINDS = ("diagonal", "full", None)


def peephole_lstm_step(
    x_projection,
    h_prev,
    c_prev,
    recurrent_kernel,
    peephole,
    peephole_kind,
    activation=ops.tanh,
    recurrent_activation=ops.sigmoid,
):
    """One step of the peephole LSTM.

    Equations (seed 000/001; gate order i, f, c, o as in Keras)::

        i_t = σ(W_i x_t + U_i h_{t-1} + V_i c_{t-1} + b_i)
        f_t = σ(W_f x_t + U_f h_{t-1} + V_f c_{t-1} + b_f)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g(W_c x_t + U_c h_{t-1} + b_c)
        o_t = σ(W_o x_t + U_o h_{t-1} + V_o c_t + b_o)     # peeks at the *new* c_t
        h_t = o_t ⊙ g(c_t)

    Args:
        x_projection: ``x_t W + b``, shape ``(batch, 4·units)``.
        h_prev, c_prev: previous hidden and cell state, ``(batch, units)``.
        recurrent_kernel: ``U``, shape ``(units, 4·units)``.
        peephole: ``V``: ``(3·units,)`` for ``"diagonal"``, ``(units, 3·units)``
            for ``"full"`` (applied as ``c @ V``), ignored for ``None``.
        peephole_kind: ``"diagonal"``, ``"full"`` or ``None``.
        activation, recurrent_activation: ``g`` and ``σ``.

    Returns:
        ``(h_t, c_t)``.
    """
    z = x_projection + ops.matmul(h_prev, recurrent_kernel)
    z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
    if peephole_kind == "diagonal":
        v_i, v_f, v_o = ops.split(peephole, 3, axis=-1)
        z_i = z_i + c_prev * v_i
        z_f = z_f + c_prev * v_f
    elif peephole_kind == "full":
        v_if, v_o = ops.split(peephole, [2 * ops.shape(peephole)[0]], axis=-1)
        p_i, p_f = ops.split(ops.matmul(c_prev, v_if), 2, axis=-1)
        z_i = z_i + p_i
        z_f = z_f + p_f
    i = recurrent_activation(z_i)
    f = recurrent_activation(z_f)
    c = f * c_prev + i * activation(z_c)
    if peephole_kind == "diagonal":
        z_o = z_o + c * v_o
    elif peephole_kind == "full":
        z_o = z_o + ops.matmul(c, v_o)
    o = recurrent_activation(z_o)
    h = o * activation(c)
    return h, c


@register
class PeepholeLSTMCell(keras.layers.Layer, DropoutRNNCell):
    """Cell of the peephole LSTM, for use inside ``keras.layers.RNN``.

    The first three weights are laid out exactly as ``keras.layers.LSTMCell``'s
    (gate order i, f, c, o), so a Keras LSTM's weights load unchanged; the
    peephole weights follow in gate order i, f, o. With zero peephole weights the
    cell computes the same as ``keras.layers.LSTMCell``.

    Args:
        units: Positive integer, dimensionality of the output space.
        peephole: ``"diagonal"`` (default; one weight per unit and gate, shape
            ``(3·units,)``, as in Gers et al. 2002), ``"full"`` (a full matrix per
            gate, shape ``(units, 3·units)``, as the seed's ``M_u[c, h, x]``) or
            ``None`` (plain LSTM, no peephole weights).
        activation: Activation of the candidate and the output (default ``"tanh"``).
        recurrent_activation: Activation of the gates (default ``"sigmoid"``).
        use_bias: Whether the cell has a bias vector (default ``True``).
        kernel_initializer, recurrent_initializer, bias_initializer,
        peephole_initializer: Initializers (defaults ``"glorot_uniform"``,
            ``"orthogonal"``, ``"zeros"``, ``"glorot_uniform"``).
        unit_forget_bias: If ``True`` (default) the forget-gate bias starts at 1.
        kernel_regularizer, recurrent_regularizer, bias_regularizer,
        peephole_regularizer: Regularizers (default ``None``).
        kernel_constraint, recurrent_constraint, bias_constraint,
        peephole_constraint: Constraints (default ``None``).
        dropout: Fraction of the inputs to drop (default 0).
        recurrent_dropout: Fraction of the recurrent state to drop (default 0).
        seed: Seed of the dropout masks.

    Call arguments:
        inputs: ``(batch, features)``.
        states: ``[h, c]``, each ``(batch, units)``.
        training: Whether dropout is active.

    Example:

    >>> cell = PeepholeLSTMCell(8)
    >>> rnn = keras.layers.RNN(cell)
    >>> tuple(rnn(np.zeros((2, 5, 3), "float32")).shape)
    (2, 8)

    Reference:
        Gers, Schraudolph & Schmidhuber, "Learning Precise Timing with LSTM
        Recurrent Networks", JMLR 3, 2002.
    """

    def __init__(
        self,
        units,
        peephole="diagonal",
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        peephole_initializer="glorot_uniform",
        unit_forget_bias=True,
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        peephole_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        peephole_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        owner = describe(self, kwargs.get("name"))
        check_units(owner, units)
        check_choice(owner, "peephole", peephole, PEEPHOLE_KINDS)
        check_rate(owner, "dropout", dropout)
        check_rate(owner, "recurrent_dropout", recurrent_dropout)
        super().__init__(**kwargs)
        self.units = units
        self.peephole = peephole
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = use_bias
        self.unit_forget_bias = unit_forget_bias

        # === Initializers, regularizers, constraints ===
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.peephole_initializer = initializers.get(peephole_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.peephole_regularizer = regularizers.get(peephole_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.peephole_constraint = constraints.get(peephole_constraint)

        # === Dropout ===
        self.dropout = float(dropout)
        self.recurrent_dropout = float(recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)

        self.state_size = [units, units]
        self.output_size = units
        self.input_dim = None

    def build(self, input_shape):
        self.input_dim = int(input_shape[-1])
        units = self.units
        self.kernel = self.add_weight(
            shape=(self.input_dim, 4 * units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(units, 4 * units),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )
        self.bias = None
        if self.use_bias:
            if self.unit_forget_bias:

                def bias_initializer(_, *args, **kwargs):
                    return ops.concatenate(
                        [
                            self.bias_initializer((units,), *args, **kwargs),
                            initializers.get("ones")((units,), *args, **kwargs),
                            self.bias_initializer((2 * units,), *args, **kwargs),
                        ]
                    )

            else:
                bias_initializer = self.bias_initializer
            self.bias = self.add_weight(
                shape=(4 * units,),
                name="bias",
                initializer=bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )
        self.peephole_kernel = None
        if self.peephole is not None:
            shape = (3 * units,) if self.peephole == "diagonal" else (units, 3 * units)
            self.peephole_kernel = self.add_weight(
                shape=shape,
                name="peephole_kernel",
                initializer=self.peephole_initializer,
                regularizer=self.peephole_regularizer,
                constraint=self.peephole_constraint,
            )

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states[0], states[1]
        if training and self.dropout > 0:
            inputs = inputs * self.get_dropout_mask(inputs)
        if training and self.recurrent_dropout > 0:
            h_prev_dropped = h_prev * self.get_recurrent_dropout_mask(h_prev)
        else:
            h_prev_dropped = h_prev
        x_projection = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            x_projection = x_projection + self.bias
        h, c = peephole_lstm_step(
            x_projection,
            h_prev_dropped,
            c_prev,
            self.recurrent_kernel,
            self.peephole_kernel,
            self.peephole,
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
        )
        return h, [h, c]

    def get_initial_state(self, batch_size=None):
        return [ops.zeros((batch_size, self.units), dtype=self.compute_dtype) for _ in range(2)]

    def get_config(self):
        config = {
            "units": self.units,
            "peephole": self.peephole,
            "activation": activations.serialize(self.activation),
            "recurrent_activation": activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "unit_forget_bias": self.unit_forget_bias,
            "kernel_initializer": initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": initializers.serialize(self.recurrent_initializer),
            "bias_initializer": initializers.serialize(self.bias_initializer),
            "peephole_initializer": initializers.serialize(self.peephole_initializer),
            "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": regularizers.serialize(self.bias_regularizer),
            "peephole_regularizer": regularizers.serialize(self.peephole_regularizer),
            "kernel_constraint": constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": constraints.serialize(self.recurrent_constraint),
            "bias_constraint": constraints.serialize(self.bias_constraint),
            "peephole_constraint": constraints.serialize(self.peephole_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        return {**super().get_config(), **config}


@register
class PeepholeLSTM(RecurrentLayer):
    """Peephole LSTM layer (Gers et al. 2002): ``keras.layers.LSTM`` whose gates see the cell.

    Supports everything ``keras.layers.LSTM`` supports (masking, ``go_backwards``,
    ``return_state``, ``stateful``, ``initial_state``, seeded dropout and
    recurrent dropout) and never dispatches to cuDNN, so the peepholes are never
    dropped and an exported SavedModel serves on a CPU.

    Args:
        units: Positive integer, dimensionality of the output space.
        peephole: ``"diagonal"`` (default), ``"full"`` or ``None``; see
            :class:`PeepholeLSTMCell`.
        return_sequences: Return the whole output sequence (default ``False``:
            the last output).
        return_state: Also return the final states ``h`` and ``c``.
        go_backwards: Read the sequence end to start and return it reversed.
        stateful: Carry the final state of batch ``i`` into batch ``i`` of the
            next call; ``reset_states()`` zeros it.
        unroll: Unroll the loop (only for short, fixed sequences).
        zero_output_for_mask: Output zeros (instead of the previous output) at
            masked steps.
        **kwargs: Every argument of :class:`PeepholeLSTMCell` (activations,
            initializers, regularizers, constraints, ``dropout``,
            ``recurrent_dropout``, ``seed``, ``unit_forget_bias``) and of
            ``keras.layers.Layer``.

    Call arguments:
        sequences: ``(batch, timesteps, features)`` floating tensor.
        initial_state: ``[h, c]``, each ``(batch, units)``.
        mask: ``(batch, timesteps)`` booleans; ``False`` steps are skipped (the
            state is carried over them).
        training: Whether dropout is active.

    Example:

    >>> x = np.random.rand(4, 10, 3).astype("float32")
    >>> y, h, c = PeepholeLSTM(8, return_sequences=True, return_state=True)(x)
    >>> tuple(y.shape), tuple(h.shape), tuple(c.shape)
    ((4, 10, 8), (4, 8), (4, 8))

    Reference:
        Gers, Schraudolph & Schmidhuber, "Learning Precise Timing with LSTM
        Recurrent Networks", JMLR 3, 2002.
    """

    def __init__(
        self,
        units,
        peephole="diagonal",
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        owner = describe(self, kwargs.get("name"))
        check_units(owner, units)
        check_choice(owner, "peephole", peephole, PEEPHOLE_KINDS)
        cell_kwargs = cell_arguments(PeepholeLSTMCell, kwargs)
        cell = PeepholeLSTMCell(
            units,
            peephole=peephole,
            name=f"{kwargs.get('name', 'peephole_lstm')}_cell",
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
        return fused_recurrence.run_peephole_lstm(self, sequences, initial_state, mask, training)

    @property
    def units(self):
        return self.cell.units

    @property
    def peephole(self):
        return self.cell.peephole
