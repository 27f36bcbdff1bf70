"""Peephole LSTM: the LSTM whose gates also look at the cell state (Gers et al. 2002).

The maths of one step is :func:`peephole_lstm_step`; :class:`PeepholeLSTMCell`
owns the peephole weights (the rest it shares with every deepkit cell through
:class:`~deepkit.layers.recurrent_cell.RecurrentCell`); :class:`PeepholeLSTM`
runs the cell over a sequence.
"""

from keras import constraints, initializers, ops, regularizers

from deepkit.layers import fused
from deepkit.layers.recurrent_cell import RecurrentCell
from deepkit.layers.recurrent_layer import RecurrentLayer, cell_property
from deepkit.registry import register
from deepkit.validation import check_choice, describe

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
    recurrent_norm=None,
    cell_norm=None,
):
    """One step of the peephole LSTM.

    Equations (Gers, Schraudolph & Schmidhuber 2002, in the notation of the
    lecture notes on LSTMs; gate order i, f, c, o as in Keras)::

        i_t = σ(W_i x_t + U_i h_{t-1} + V_i c_{t-1} + b_i)
        f_t = σ(W_f x_t + U_f h_{t-1} + V_f c_{t-1} + b_f)
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g(W_c x_t + U_c h_{t-1} + b_c)
        o_t = σ(W_o x_t + U_o h_{t-1} + V_o c_t + b_o)     # peeks at the *new* c_t
        h_t = o_t ⊙ g(c_t)

    With layer normalization (Ba, Kiros & Hinton 2016) each ``W_k x_t`` and each
    ``U_k h_{t-1}`` is replaced by its own ``LN_k(·)`` (per gate k, over its
    ``units`` columns; the caller normalizes ``x_t W`` into ``x_projection``), the
    peephole terms ``V_k c`` are added unnormalized and read the carried, raw cell
    state, and the output reads the normalized cell: ``h_t = o_t ⊙ g(LN(c_t))``.
    The state carried to the next step is the raw ``c_t``.

    Args:
        x_projection: ``x_t W + b`` (or ``LN(x_t W) + b``), shape ``(batch, 4·units)``.
        h_prev, c_prev: previous hidden and cell state, ``(batch, units)``.
        recurrent_kernel: ``U``, shape ``(units, 4·units)``.
        peephole: ``V``: ``(3·units,)`` for ``"diagonal"``, ``(units, 3·units)``
            for ``"full"`` (applied as ``c @ V``), ignored for ``None``.
        peephole_kind: ``"diagonal"``, ``"full"`` or ``None``.
        activation, recurrent_activation: ``g`` and ``σ``.
        recurrent_norm: ``None``, or the
            :class:`~deepkit.layers.recurrent_cell.BlockLayerNorm` of ``h_{t-1} U``.
        cell_norm: ``None``, or the ``BlockLayerNorm`` of ``c_t`` before ``g``.

    Returns:
        ``(h_t, c_t)``.
    """
    recurrent = ops.matmul(h_prev, recurrent_kernel)
    if recurrent_norm is not None:
        recurrent = recurrent_norm(recurrent)
    z_i, z_f, z_c, z_o = ops.split(x_projection + recurrent, 4, axis=-1)
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
    h = o * activation(c if cell_norm is None else cell_norm(c))
    return h, c


@register
class PeepholeLSTMCell(RecurrentCell):
    """Cell of the peephole LSTM, for use inside ``keras.layers.RNN``.

    The first three weights are laid out exactly as ``keras.layers.LSTMCell``'s
    (gate order i, f, c, o), so a Keras LSTM's weights load unchanged; the
    peephole weights follow in gate order i, f, o. With zero peephole weights the
    cell computes the same as ``keras.layers.LSTMCell``.

    With ``layer_norm=True`` (Ba, Kiros & Hinton 2016, section 3.1 "Layer
    normalized recurrent neural networks") the cell normalizes three terms, each
    with its own gain (initialized to ones) and bias (zeros): the input
    pre-activation ``x_t W`` and the recurrent pre-activation ``h_{t-1} U``, each
    per gate block (the ``units`` columns of gate i, f, c, o are normalized over
    themselves, not over all ``4·units``), and the cell state before the output
    activation, ``h_t = o_t ⊙ tanh(LN(c_t))``. The bias ``b`` is added after the
    normalization. The peepholes read the raw cell state ``c_{t-1}`` / ``c_t``
    (the state the cell carries), and their terms are not normalized, as in TF
    Addons' ``LayerNormLSTMCell``, which also carries the raw state through the
    gates (it has no peepholes). The six normalization weights follow all the
    others: ``input_norm_gamma/beta (4·units,)``, ``recurrent_norm_gamma/beta
    (4·units,)``, ``cell_norm_gamma/beta (units,)``.

    Args:
        units: Positive integer, dimensionality of the output space.
        peephole: ``"diagonal"`` (default; one weight per unit and gate, shape
            ``(3·units,)``, as in Gers et al. 2002), ``"full"`` (a full matrix per
            gate, shape ``(units, 3·units)``, the lecture notes' ``M_u[c, h, x]``)
            or ``None`` (plain LSTM, no peephole weights).
        unit_forget_bias: If ``True`` (default) the forget-gate bias starts at 1
            (Jozefowicz et al. 2015), as in ``keras.layers.LSTMCell``.
        peephole_initializer, peephole_regularizer, peephole_constraint: Of the
            peephole weights (defaults ``"glorot_uniform"``, ``None``, ``None``).
        **kwargs: The arguments every deepkit cell takes (see
            :class:`~deepkit.layers.recurrent_cell.RecurrentCell`): ``activation``
            (of the candidate and the output, default ``"tanh"``),
            ``recurrent_activation``, ``use_bias``, the kernel / recurrent / bias
            initializers, regularizers and constraints, ``dropout``,
            ``recurrent_dropout``, ``layer_norm``, ``layer_norm_epsilon``,
            ``implementation``, ``seed``, and those of ``keras.layers.Layer``.

    Call arguments:
        inputs: ``(batch, features)``.
        states: ``[h, c]``, each ``(batch, units)``.
        training: Whether dropout is active.

    Example:

    >>> cell = PeepholeLSTMCell(8)
    >>> rnn = keras.layers.RNN(cell)
    >>> tuple(rnn(np.zeros((2, 5, 3), "float32")).shape)
    (2, 8)

    References:
        Gers, Schraudolph & Schmidhuber, "Learning Precise Timing with LSTM
        Recurrent Networks", JMLR 3, 2002.
        Ba, Kiros & Hinton, "Layer Normalization", arXiv:1607.06450, 2016.
    """

    state_count = 2
    gate_count = 4
    supports_layer_norm = True

    def __init__(
        self,
        units,
        peephole="diagonal",
        unit_forget_bias=True,
        peephole_initializer="glorot_uniform",
        peephole_regularizer=None,
        peephole_constraint=None,
        **kwargs,
    ):
        check_choice(describe(self, kwargs.get("name")), "peephole", peephole, PEEPHOLE_KINDS)
        super().__init__(units, **kwargs)
        self.peephole = peephole
        self.unit_forget_bias = unit_forget_bias
        self.peephole_initializer = initializers.get(peephole_initializer)
        self.peephole_regularizer = regularizers.get(peephole_regularizer)
        self.peephole_constraint = constraints.get(peephole_constraint)

    def bias_initial_value(self, shape, dtype=None):
        if not self.unit_forget_bias:
            return super().bias_initial_value(shape, dtype=dtype)
        units = self.units
        return ops.concatenate(
            [
                self.bias_initializer((units,), dtype=dtype),
                initializers.get("ones")((units,), dtype=dtype),
                self.bias_initializer((2 * units,), dtype=dtype),
            ]
        )

    def build_cell_weights(self):
        self.peephole_kernel = None
        if self.peephole is not None:
            units = self.units
            shape = (3 * units,) if self.peephole == "diagonal" else (units, 3 * units)
            self.peephole_kernel = self.add_cell_weight("peephole_kernel", shape, "peephole")

    def layer_norm_sizes(self):
        return super().layer_norm_sizes() + [("cell", self.units)]

    def call(self, inputs, states, training=False):
        h_prev, c_prev = states[0], states[1]
        h, c = peephole_lstm_step(
            self.input_projection(self.dropped_inputs(inputs, training)),
            self.dropped_state(h_prev, training),
            c_prev,
            self.recurrent_kernel,
            self.peephole_kernel,
            self.peephole,
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
            recurrent_norm=self.norm("recurrent"),
            cell_norm=self.norm("cell"),
        )
        return h, [h, c]

    def get_config(self):
        config = {
            "peephole": self.peephole,
            "unit_forget_bias": self.unit_forget_bias,
            "peephole_initializer": initializers.serialize(self.peephole_initializer),
            "peephole_regularizer": regularizers.serialize(self.peephole_regularizer),
            "peephole_constraint": constraints.serialize(self.peephole_constraint),
        }
        return {**super().get_config(), **config}


@register
class PeepholeLSTM(RecurrentLayer):
    """Peephole LSTM layer (Gers et al. 2002): ``keras.layers.LSTM`` whose gates see the cell.

    A drop-in for ``keras.layers.LSTM``: with ``peephole=None`` it takes every
    argument that layer takes and exposes the same read-only properties
    (``units``, ``dropout``, ``kernel_initializer``, ``unit_forget_bias``, ...).
    It supports masking, ``go_backwards``, ``return_state``, ``stateful``,
    ``initial_state``, seeded dropout and recurrent dropout, and never dispatches
    to cuDNN, so the peepholes are never dropped and an exported SavedModel serves
    on a CPU.

    With ``layer_norm=True`` (see :class:`PeepholeLSTMCell` for what is
    normalized) the layer always runs Keras' general per-step loop: the fused
    kernel's hand-written backward pass covers the plain cell equations only, so
    ``execution_path()`` reports ``"general (layer_norm=True)"`` and
    ``use_fused=True`` with ``layer_norm=True`` raises.

    Args:
        units: Positive integer, dimensionality of the output space.
        peephole: ``"diagonal"`` (default), ``"full"`` or ``None``; see
            :class:`PeepholeLSTMCell`.
        use_cudnn: ``"auto"`` (default) or ``False``; both run deepkit's own
            loop. ``True`` raises: Keras' cuDNN kernel implements the plain LSTM
            only (no peepholes, no layer normalization) and a SavedModel holding
            it cannot be served on a CPU.
        **kwargs: Every argument of :class:`PeepholeLSTMCell` (activations,
            initializers, regularizers, constraints, ``dropout``,
            ``recurrent_dropout``, ``seed``, ``unit_forget_bias``, ``layer_norm``,
            ``layer_norm_epsilon``, ``implementation``), of ``keras.layers.RNN``
            (``return_sequences``, ``return_state``, ``go_backwards``,
            ``stateful``, ``unroll``, ``zero_output_for_mask``), of
            :class:`~deepkit.layers.recurrent_layer.RecurrentLayer`
            (``use_fused``) and of ``keras.layers.Layer`` (``activity_regularizer``,
            ``name``, ``dtype``, ...).

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

    References:
        Gers, Schraudolph & Schmidhuber, "Learning Precise Timing with LSTM
        Recurrent Networks", JMLR 3, 2002.
        Ba, Kiros & Hinton, "Layer Normalization", arXiv:1607.06450, 2016.
    """

    cudnn_lacks = "peepholes"

    def __init__(self, units, peephole="diagonal", use_cudnn="auto", **kwargs):
        check_choice(describe(self, kwargs.get("name")), "peephole", peephole, PEEPHOLE_KINDS)
        cell = self._make_cell(PeepholeLSTMCell, "peephole_lstm", units, use_cudnn, kwargs, peephole=peephole)
        super().__init__(cell, **kwargs)

    def _fused_inner_loop(self, sequences, initial_state, mask, training):
        return fused.run_peephole_lstm(self, sequences, initial_state=initial_state, mask=mask, training=training)

    peephole = cell_property("peephole")
    unit_forget_bias = cell_property("unit_forget_bias")
