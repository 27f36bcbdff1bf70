"""GRU with a relevance gate (Cho et al. 2014), in the notation of the lecture notes (Ng's Γ_u, Γ_r).

The maths of one step is :func:`relevance_gru_step`; :class:`RelevanceGRUCell`
adds the relevance gate's choice to what every deepkit cell shares
(:class:`~deepkit.layers.recurrent_cell.RecurrentCell`); :class:`RelevanceGRU`
runs the cell over a sequence.
"""

from keras import ops

from deepkit.layers import fused
from deepkit.layers.recurrent_cell import RecurrentCell
from deepkit.layers.recurrent_layer import RecurrentLayer, cell_property
from deepkit.registry import register
from deepkit.validation import check_bool, describe


def relevance_gru_step(
    x_projection,
    h_prev,
    recurrent_kernel,
    relevance_gate,
    activation=ops.tanh,
    recurrent_activation=ops.sigmoid,
    h_read=None,
    recurrent_norm=None,
):
    """One step of the GRU with relevance gate.

    Equations (Cho et al. 2014, in the notation of the lecture notes on GRUs;
    gate order Γ_u, Γ_r, candidate)::

        Γ_u = σ(M_u [h_{t-1}, x_t] + b_u)             update gate
        Γ_r = σ(M_r [h_{t-1}, x_t] + b_r)             relevance gate
        ĥ_t = g(M [Γ_r ⊙ h_{t-1}, x_t] + b_h)
        h_t = Γ_u ⊙ ĥ_t + (1 - Γ_u) ⊙ h_{t-1}

    The lecture notes print the last line as ``Γ_r ⊙ ĥ + (1 - Γ_u) ⊙ h``; that is
    a typo (the update gate would then not gate the candidate), and the line above
    is what Cho et al. define. Without the relevance gate,
    ``ĥ_t = g(M [h_{t-1}, x_t] + b_h)``.

    With layer normalization (Ba, Kiros & Hinton 2016) the input part ``x_t W_k``
    and the recurrent part of each block are normalized separately, per block
    over its ``units`` columns (the caller normalizes ``x_t W`` into
    ``x_projection``): ``LN(h_{t-1} U_u)``, ``LN(h_{t-1} U_r)`` and, for the
    candidate, ``LN((Γ_r ⊙ h_{t-1}) U_c)``: the relevance gate multiplies the
    state first, and the product is normalized.

    Args:
        x_projection: ``x_t W + b`` (or ``LN(x_t W) + b``): ``(batch, 3·units)``
            with the relevance gate, ``(batch, 2·units)`` without (Γ_u, candidate).
        h_prev: ``(batch, units)``.
        recurrent_kernel: ``(units, 3·units)`` or ``(units, 2·units)``.
        relevance_gate: Whether Γ_r is present.
        activation, recurrent_activation: ``g`` and ``σ``.
        h_read: What the gates and the candidate read of ``h_{t-1}``, when it
            differs from the carried state (recurrent dropout); default ``h_prev``.
        recurrent_norm: ``None``, or the
            :class:`~deepkit.layers.recurrent_cell.BlockLayerNorm` of the
            recurrent pre-activations, gate blocks then the candidate block.

    Returns:
        ``h_t``.
    """
    h_read = h_prev if h_read is None else h_read
    units = ops.shape(h_prev)[-1]
    gate_columns = recurrent_kernel.shape[1] - units
    gates_kernel, candidate_kernel = ops.split(recurrent_kernel, [gate_columns], axis=-1)
    x_gates, x_candidate = ops.split(x_projection, [x_projection.shape[-1] - units], axis=-1)
    gates_norm = candidate_norm = lambda z: z  # noqa: E731
    if recurrent_norm is not None:
        gates_norm, candidate_norm = recurrent_norm.split(gate_columns)
    gates = recurrent_activation(x_gates + gates_norm(ops.matmul(h_read, gates_kernel)))
    if relevance_gate:
        update, relevance = ops.split(gates, 2, axis=-1)
        recurrent_input = relevance * h_read
    else:
        update = gates
        recurrent_input = h_read
    candidate = activation(x_candidate + candidate_norm(ops.matmul(recurrent_input, candidate_kernel)))
    return update * candidate + (1.0 - update) * h_prev


def check_reset_after(owner, reset_after):
    """ValueError unless ``reset_after`` is ``False``, the one GRU form deepkit implements."""
    if reset_after is not False:
        raise ValueError(
            f"{owner}: argument `reset_after` must be False: deepkit's GRU applies the relevance "
            "gate before the recurrent product, (Γ_r ⊙ h_{t-1}) U_c (Cho et al. 2014; Keras' "
            "reset_after=False); reset_after=True is the cuDNN form Γ_r ⊙ (h_{t-1} U_c), which "
            "deepkit does not implement. Received: reset_after="
            f"{reset_after!r}"
        )


@register
class RelevanceGRUCell(RecurrentCell):
    """Cell of the GRU with relevance gate, for use inside ``keras.layers.RNN``.

    Weights: ``kernel (input_dim, 3·units)``, ``recurrent_kernel (units, 3·units)``,
    ``bias (3·units,)`` in gate order Γ_u, Γ_r, candidate, with the lecture
    notes' convention ``h = Γ_u ⊙ ĥ + (1 - Γ_u) ⊙ h_prev``. Keras' GRU writes
    ``h = z ⊙ h_prev + (1 - z) ⊙ ĥ``, i.e. ``Γ_u = 1 - z``: this cell equals
    ``keras.layers.GRUCell(reset_after=False)`` whose update-gate columns are
    negated. With ``relevance_gate=False`` the Γ_r columns are absent
    (``2·units`` columns: Γ_u, candidate).

    With ``layer_norm=True`` (Ba, Kiros & Hinton 2016, section 3.1) the input
    pre-activation ``x_t W`` and the recurrent pre-activations are normalized
    separately, each gate block (Γ_u, Γ_r, candidate) over its own ``units``
    columns, with its own gain (ones) and bias (zeros); the bias ``b`` is added
    after. The relevance gate multiplies the state before the candidate's
    product, and the product is normalized: ``LN((Γ_r ⊙ h_{t-1}) U_c)``. The
    four normalization weights follow the others: ``input_norm_gamma/beta`` and
    ``recurrent_norm_gamma/beta``, each ``(3·units,)`` (``2·units`` without Γ_r).

    Args:
        units: Positive integer, dimensionality of the output space.
        relevance_gate: Whether the cell has the relevance gate Γ_r (default
            ``True``); ``False`` is the simplified GRU of the lecture notes.
        reset_after: Only ``False`` (default), the form deepkit implements (the
            relevance gate multiplies ``h_{t-1}`` before the product with ``U_c``,
            as in Cho et al. 2014). Accepted for ``keras.layers.GRUCell``
            compatibility; ``True`` (Keras' default, the cuDNN form
            ``Γ_r ⊙ (h_{t-1} U_c)``) raises, as the weights would mean something else.
        **kwargs: The arguments every deepkit cell takes (see
            :class:`~deepkit.layers.recurrent_cell.RecurrentCell`): activations,
            ``use_bias``, initializers, regularizers, constraints, ``dropout``,
            ``recurrent_dropout``, ``layer_norm``, ``layer_norm_epsilon``,
            ``implementation``, ``seed``, and those of ``keras.layers.Layer``.

    Call arguments:
        inputs: ``(batch, features)``.
        states: ``[h]``, ``(batch, units)``.
        training: Whether dropout is active.

    Example:

    >>> rnn = keras.layers.RNN(RelevanceGRUCell(8))
    >>> tuple(rnn(np.zeros((2, 5, 3), "float32")).shape)
    (2, 8)

    References:
        Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder
        for Statistical Machine Translation", EMNLP 2014.
        Ba, Kiros & Hinton, "Layer Normalization", arXiv:1607.06450, 2016.
    """

    supports_layer_norm = True

    def __init__(self, units, relevance_gate=True, reset_after=False, **kwargs):
        owner = describe(self, kwargs.get("name"))
        check_bool(owner, "relevance_gate", relevance_gate)
        check_reset_after(owner, reset_after)
        super().__init__(units, **kwargs)
        self.relevance_gate = relevance_gate
        self.reset_after = reset_after

    @property
    def gate_count(self):
        """3 with the relevance gate (Γ_u, Γ_r, candidate), 2 without."""
        return 3 if self.relevance_gate else 2

    def call(self, inputs, states, training=False):
        h_prev = states[0] if isinstance(states, (list, tuple)) else states
        h = relevance_gru_step(
            self.input_projection(self.dropped_inputs(inputs, training)),
            h_prev,
            self.recurrent_kernel,
            self.relevance_gate,
            activation=self.activation,
            recurrent_activation=self.recurrent_activation,
            h_read=self.dropped_state(h_prev, training),
            recurrent_norm=self.norm("recurrent"),
        )
        return h, [h]

    def get_config(self):
        return {**super().get_config(), "relevance_gate": self.relevance_gate, "reset_after": self.reset_after}


@register
class RelevanceGRU(RecurrentLayer):
    """GRU layer with relevance gate (Cho et al. 2014), in the lecture notes' convention.

    ``h_t = Γ_u ⊙ ĥ_t + (1 - Γ_u) ⊙ h_{t-1}`` (see :func:`relevance_gru_step`;
    the notes' ``Γ_r ⊙ ĥ`` in that line is a typo). It equals
    ``keras.layers.GRU(reset_after=False)`` whose update-gate columns are negated,
    and is a drop-in for that layer: it takes every argument ``keras.layers.GRU``
    takes (``reset_after`` only as ``False``) and exposes the same read-only
    properties. It supports masking, ``go_backwards``, ``return_state``,
    ``stateful``, ``initial_state`` and seeded dropout, and never dispatches to
    cuDNN.

    Layer normalization (``layer_norm=True``; :class:`RelevanceGRUCell` says
    which terms) runs in Keras' general per-step loop, never in the fused
    kernel, whose hand-written backward pass has no normalization terms:
    ``execution_path()`` then says ``"general (layer_norm=True)"``, and asking
    for ``use_fused=True`` as well raises.

    Args:
        units: Positive integer, dimensionality of the output space.
        relevance_gate: ``True`` (default) or ``False`` (the simplified GRU).
        use_cudnn: ``"auto"`` (default) or ``False``; both run deepkit's own
            loop. ``True`` raises: Keras' cuDNN kernel implements the plain
            ``reset_after=True`` GRU only (no relevance-gate form of Cho et al.,
            no layer normalization) and a SavedModel holding it cannot be served
            on a CPU.
        **kwargs: Every argument of :class:`RelevanceGRUCell` (``reset_after``,
            ``layer_norm``, ...), of ``keras.layers.RNN`` (``return_sequences``,
            ``return_state``, ``go_backwards``, ``stateful``, ``unroll``,
            ``zero_output_for_mask``), of
            :class:`~deepkit.layers.recurrent_layer.RecurrentLayer`
            (``use_fused``) and of ``keras.layers.Layer``.

    Call arguments:
        sequences: ``(batch, timesteps, features)`` floating tensor.
        initial_state: ``[h]`` with ``h`` of shape ``(batch, units)``.
        mask: ``(batch, timesteps)`` booleans; ``False`` steps are skipped.
        training: Whether dropout is active.

    Example:

    >>> x = np.random.rand(4, 10, 3).astype("float32")
    >>> tuple(RelevanceGRU(8, return_sequences=True)(x).shape)
    (4, 10, 8)

    References:
        Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder
        for Statistical Machine Translation", EMNLP 2014.
        Ba, Kiros & Hinton, "Layer Normalization", arXiv:1607.06450, 2016.
    """

    cudnn_lacks = "the relevance-gate form of Cho et al."

    def __init__(self, units, relevance_gate=True, use_cudnn="auto", **kwargs):
        check_reset_after(describe(self, kwargs.get("name")), kwargs.get("reset_after", False))
        cell = self._make_cell(
            RelevanceGRUCell, "relevance_gru", units, use_cudnn, kwargs, relevance_gate=relevance_gate
        )
        super().__init__(cell, **kwargs)

    def _fused_inner_loop(self, sequences, initial_state, mask, training):
        return fused.run_relevance_gru(self, sequences, initial_state=initial_state, mask=mask, training=training)

    relevance_gate = cell_property("relevance_gate")
    reset_after = cell_property("reset_after")
