"""Fast path of deepkit's recurrent layers: the whole sequence as one differentiable op.

``keras.layers.RNN`` runs the cell once per time step inside a ``tf.while_loop``
and lets TensorFlow differentiate that loop. On a CPU that is slow for three
reasons: the input projection ``x_t W`` is a small matmul per step; the
backward loop also forms the weight gradients per step (``h_{t-1}ᵀ dz_t`` is a
(units × batch)·(batch × 4·units) product T times over); and autodiff of a
while loop keeps many per-step intermediates on stacks.

Here, instead:

1. ``X W + b`` for all steps is one GEMM before the loop (and its gradients
   ``dX = dZ Wᵀ``, ``dW = Xᵀ dZ``, ``db = Σ dZ`` are ordinary autodiff of that
   GEMM, i.e. one GEMM each);
2. the recurrence is a raw ``tf.while_loop`` with a static trip count
   (``maximum_iterations=T``) that stores only the gate activations, so it
   compiles under XLA (``jit_compile=True``) as well as running in graph mode;
3. its gradient is a ``tf.custom_gradient`` over the whole sequence: a second
   while loop runs only the sequential part (``dh_{t-1} = dz_t Uᵀ`` and the gate
   derivatives, whose step-independent factors are computed for all steps at
   once beforehand), and the recurrent and peephole weight gradients are single
   GEMMs / reductions over all steps afterwards.

When no gradient tape is recording (``predict``, serving), the loop stores
nothing but what the outputs need.

The forward equations mirror :func:`~deepkit.layers.peephole_lstm_step` and
:func:`~deepkit.layers.relevance_gru_step` (the tests in
``tests/layers/test_fast_path.py`` pin both paths to each other, values and
gradients); the backward equations are written out in
:func:`lstm_sequence` and :func:`gru_sequence`.

The fast path covers the layers' defaults and most options: masks (right or
left padded), ``go_backwards``, initial and ``stateful`` states,
``return_sequences``, dropout and recurrent dropout (the cell's per-sequence
masks), every peephole kind, ``relevance_gate`` on and off, any float dtype
policy. It needs the TensorFlow backend, ``activation="tanh"``,
``recurrent_activation="sigmoid"`` and ``unroll=False``; otherwise the layer
takes Keras' general loop. To force the general path (to compare, or to rule
the fast path out while debugging)::

    with deepkit.layers.fused_recurrence.general_path():
        model.fit(...)          # traced while inside the block

or set ``deepkit.layers.fused_recurrence.FAST_PATH_ENABLED = False``. The
choice is made when a layer's call is traced. ``layer.execution_path()`` says
which path its last call took, and why not the fast one.

This module uses TensorFlow directly (``tf.while_loop``, ``tf.custom_gradient``):
it is the TensorFlow backend's implementation, as ``keras.layers.LSTM``'s cuDNN
path is. Every op in it has CPU, GPU and XLA kernels.
"""

import contextlib

import keras
import tensorflow as tf

try:  # Whether a GradientTape is recording; private, so its absence is tolerated.
    from tensorflow.python.eager.record import could_possibly_record as _tape_active
except ImportError:  # pragma: no cover - depends on the TensorFlow version

    def _tape_active():
        return True


FAST_PATH_ENABLED = True
"""Module switch: ``False`` sends every deepkit recurrent layer to the general path."""


@contextlib.contextmanager
def general_path():
    """Within this block, deepkit's recurrent layers trace Keras' general loop."""
    global FAST_PATH_ENABLED
    previous = FAST_PATH_ENABLED
    FAST_PATH_ENABLED = False
    try:
        yield
    finally:
        FAST_PATH_ENABLED = previous


def fast_path_blocker(layer):
    """Why ``layer`` cannot take the fast path, or ``None`` when it can."""
    cell = layer.cell
    if not FAST_PATH_ENABLED:
        return "fast path switched off"
    if keras.backend.backend() != "tensorflow":
        return f"backend {keras.backend.backend()}"
    if layer.unroll:
        return "unroll=True"
    if cell.activation is not keras.activations.tanh:
        return "activation is not tanh"
    if cell.recurrent_activation is not keras.activations.sigmoid:
        return "recurrent_activation is not sigmoid"
    return None


# === Helpers shared by both cells ===


def _time_major_projection(layer, sequences, training):
    """``X W + b`` for all steps, time-major ``(T, batch, columns)``, in the compute dtype.

    Applies the cell's input-dropout mask (one per sequence, as the cell does)
    and reverses time for ``go_backwards``.
    """
    cell = layer.cell
    dtype = sequences.dtype
    x = sequences
    if training and cell.dropout > 0:
        x = x * tf.cast(cell.get_dropout_mask(sequences[:, 0, :]), dtype)[:, None, :]
    x = tf.transpose(x, [1, 0, 2])
    if layer.go_backwards:
        x = tf.reverse(x, [0])
    kernel = tf.cast(cell.kernel, dtype)
    steps, batch = tf.shape(x)[0], tf.shape(x)[1]
    xw = tf.matmul(tf.reshape(x, [-1, x.shape[-1]]), kernel)
    if cell.use_bias:
        xw = xw + tf.cast(cell.bias, dtype)
    return tf.reshape(xw, [steps, batch, kernel.shape[-1]])


def _time_major_mask(layer, mask, dtype):
    """The mask as ``(T, batch, 1)`` 0/1 values of ``dtype`` in processing order."""
    if mask is None:
        return None
    if isinstance(mask, (list, tuple)):
        mask = mask[0]
    mask = tf.transpose(tf.cast(mask, dtype), [1, 0])[:, :, None]
    return tf.reverse(mask, [0]) if layer.go_backwards else mask


def _recurrent_dropout_mask(layer, h0, training):
    cell = layer.cell
    if training and cell.recurrent_dropout > 0:
        return tf.cast(cell.get_recurrent_dropout_mask(h0), h0.dtype)
    return None


def _outputs(layer, states, mask, last_state):
    """Keras' ``(last_output, outputs, ...)`` from the per-step states ``(T, batch, U)``.

    At a masked step Keras outputs the previous output (zeros before the first
    real step) or, with ``zero_output_for_mask``, zeros. The state carried over
    masked steps equals the previous output from the first real step on, so the
    output is the state times "a real step has been seen" (or times the mask).
    ``states`` may be ``None`` when only the last output is wanted.
    """
    if mask is None:
        last = last_state
        outputs = states
    else:
        keep = mask if layer.zero_output_for_mask else tf.minimum(tf.cumsum(mask, axis=0), 1)
        last = last_state * keep[-1]
        outputs = None if states is None else states * keep
    if layer.return_sequences:
        return last, tf.transpose(outputs, [1, 0, 2])
    return last, last[:, None, :]


def _while(steps, body, loop_vars, backwards=False):
    """``tf.while_loop`` over ``steps`` iterations with a static trip count for XLA."""
    if backwards:
        start = steps - 1

        def cond(t, *_):
            return t >= 0

    else:
        start = 0

        def cond(t, *_):
            return t < steps

    return tf.while_loop(
        cond,
        body,
        (tf.constant(0) + start,) + tuple(loop_vars),
        maximum_iterations=steps,
    )[1:]


def _array(steps, like):
    return tf.TensorArray(like.dtype, size=steps, element_shape=like.shape)


def _zeros_if_none(gradient, like):
    return tf.zeros_like(like) if gradient is None else gradient


def _shift(sequence, first):
    """``[first, sequence[0], ..., sequence[T-2]]``: the previous step's values."""
    return tf.concat([first[None], sequence[:-1]], axis=0)


def _gemm_over_steps(a, b):
    """``Σ_t a_tᵀ b_t`` as one GEMM: ``a`` ``(T, B, m)``, ``b`` ``(T, B, n)`` -> ``(m, n)``."""
    return tf.matmul(tf.reshape(a, [-1, a.shape[-1]]), tf.reshape(b, [-1, b.shape[-1]]), transpose_a=True)


def _where(keep_t, new, old):
    """``new`` where the step is real, ``old`` (carried over) where it is masked."""
    return tf.where(keep_t, new, old)


# === Peephole LSTM ===


def _lstm_step(xw_t, h_prev, c_prev, recurrent_kernel, peephole, kind, rdm):
    """One step; the maths of :func:`~deepkit.layers.peephole_lstm_step`.

    Returns ``(h_t, c_t, [i, f, g, o])``.
    """
    h_read = h_prev if rdm is None else h_prev * rdm
    z = xw_t + tf.matmul(h_read, recurrent_kernel)
    z_i, z_f, z_c, z_o = tf.split(z, 4, axis=-1)
    if kind == "diagonal":
        v_i, v_f, v_o = tf.split(peephole, 3, axis=-1)
        z_i = z_i + c_prev * v_i
        z_f = z_f + c_prev * v_f
    elif kind == "full":
        v_if, v_o = tf.split(peephole, [2 * peephole.shape[0], -1], axis=-1)
        p_i, p_f = tf.split(tf.matmul(c_prev, v_if), 2, axis=-1)
        z_i = z_i + p_i
        z_f = z_f + p_f
    i = tf.sigmoid(z_i)
    f = tf.sigmoid(z_f)
    g = tf.tanh(z_c)
    c = f * c_prev + i * g
    if kind == "diagonal":
        z_o = z_o + c * v_o
    elif kind == "full":
        z_o = z_o + tf.matmul(c, v_o)
    o = tf.sigmoid(z_o)
    h = o * tf.tanh(c)
    return h, c, (i, f, g, o)


def _lstm_forward(xw, h0, c0, recurrent_kernel, peephole, kind, mask, rdm, store):
    """Runs the recurrence. ``store``: ``None`` (final states only), ``"states"``
    (also every ``h_t``) or ``"gradient"`` (also ``c_t`` and the gates)."""
    steps = xw.shape[0] if xw.shape[0] is not None else tf.shape(xw)[0]
    keep = None if mask is None else mask > 0
    arrays = ()
    if store is not None:
        arrays = (_array(steps, h0),)
    if store == "gradient":
        arrays += (_array(steps, c0), _array(steps, tf.concat([c0] * 4, axis=-1)))

    def body(t, h_prev, c_prev, *arrays):
        h, c, gates = _lstm_step(xw[t], h_prev, c_prev, recurrent_kernel, peephole, kind, rdm)
        if mask is not None:
            h = _where(keep[t], h, h_prev)
            c = _where(keep[t], c, c_prev)
        if store is not None:
            arrays = (arrays[0].write(t, h),) + arrays[1:]
        if store == "gradient":
            arrays = (arrays[0], arrays[1].write(t, c), arrays[2].write(t, tf.concat(gates, axis=-1)))
        return (t + 1, h, c) + tuple(arrays)

    h, c, *arrays = _while(steps, body, (h0, c0) + arrays)
    return h, c, [array.stack() for array in arrays]


def lstm_sequence(xw, h0, c0, recurrent_kernel, peephole, kind, mask=None, rdm=None):
    """The peephole LSTM over a whole sequence, with its gradient over the whole sequence.

    Args:
        xw: ``X W + b``, time-major ``(T, batch, 4·units)``.
        h0, c0: initial states ``(batch, units)``.
        recurrent_kernel: ``U`` ``(units, 4·units)``.
        peephole: ``V`` (see :func:`~deepkit.layers.peephole_lstm_step`) or ``None``.
        kind: ``"diagonal"``, ``"full"`` or ``None``.
        mask: ``(T, batch, 1)`` 0/1 values or ``None``; at a 0 step the states are
            carried over unchanged.
        rdm: recurrent-dropout mask ``(batch, units)`` applied to ``h_{t-1}`` where
            it enters ``U``, or ``None``.

    Returns:
        ``(H, c_T)``: the state ``h_t`` after every step, ``(T, batch, units)``,
        and the final cell state.

    Backward pass. With ``m_t`` the mask, ``dh``/``dc`` the gradients reaching the
    carried states after step ``t``, the new states get ``m_t dh``, ``m_t dc`` and the
    old ones ``(1 - m_t) dh``, ``(1 - m_t) dc``. Then, for one step::

        dz_o = dh ⊙ tanh(c_t) ⊙ o(1 - o)
        dc   = dc + dh ⊙ o ⊙ (1 - tanh²(c_t)) + dz_o ⊙ v_o        (diagonal; full: dz_o V_oᵀ)
        dz_i = dc ⊙ g ⊙ i(1 - i)
        dz_f = dc ⊙ c_{t-1} ⊙ f(1 - f)
        dz_c = dc ⊙ i ⊙ (1 - g²)
        dh_{t-1} = (dz U ᵀ) ⊙ rdm
        dc_{t-1} = dc ⊙ f + dz_i ⊙ v_i + dz_f ⊙ v_f               (full: [dz_i, dz_f] V_ifᵀ)

    The factors that do not depend on ``dh``/``dc`` (``tanh(c_t) o(1 - o)``,
    ``g i(1 - i)``, ...) are formed for all steps at once before the loop. After
    it, with ``dZ = [dz_i, dz_f, dz_c, dz_o]`` for all steps::

        dU = Σ_t (h_{t-1} ⊙ rdm)ᵀ dz_t                      one GEMM
        dv_i = Σ dz_i ⊙ c_{t-1},  dv_f = Σ dz_f ⊙ c_{t-1},  dv_o = Σ dz_o ⊙ c_t
        dV_if = Σ c_{t-1}ᵀ [dz_i, dz_f],  dV_o = Σ c_tᵀ dz_o     (full; one GEMM each)
        d(XW + b) = dZ                                     (dW, db, dX follow by autodiff)
    """
    if not _tape_active():
        # Nothing will differentiate this: store nothing for a backward pass.
        h, c, (states,) = _lstm_forward(xw, h0, c0, recurrent_kernel, peephole, kind, mask, rdm, "states")
        return states, c

    # custom_gradient wants tensors only; the peephole may be absent.
    peephole_arg = tf.zeros([0], xw.dtype) if peephole is None else peephole

    @tf.custom_gradient
    def sequence(xw, h0, c0, recurrent_kernel, peephole_arg):
        peephole = None if kind is None else peephole_arg
        h, c, (states, cells, gates) = _lstm_forward(
            xw, h0, c0, recurrent_kernel, peephole, kind, mask, rdm, "gradient"
        )

        def grad(d_states, d_c_last):
            d_states = _zeros_if_none(d_states, states)
            d_c_last = _zeros_if_none(d_c_last, c)
            return _lstm_backward(
                d_states, d_c_last, xw, h0, c0, states, cells, gates, recurrent_kernel, peephole, kind, mask, rdm
            )

        return (states, c), grad

    return sequence(xw, h0, c0, recurrent_kernel, peephole_arg)


def _lstm_backward(d_states, d_c_last, xw, h0, c0, states, cells, gates, recurrent_kernel, peephole, kind, mask, rdm):
    steps = xw.shape[0] if xw.shape[0] is not None else tf.shape(xw)[0]
    units = h0.shape[-1]
    i, f, g, o = tf.split(gates, 4, axis=-1)
    cells_prev = _shift(cells, c0)
    tanh_c = tf.tanh(cells)
    # Step-independent factors for all steps at once (see the docstring).
    out_factor = tanh_c * o * (1 - o)  # dz_o = dh ⊙ out_factor
    cell_factor = o * (1 - tanh_c * tanh_c)  # dc += dh ⊙ cell_factor
    gate_factor = tf.concat([g * i * (1 - i), cells_prev * f * (1 - f), i * (1 - g * g)], axis=-1)
    recurrent_t = tf.transpose(recurrent_kernel)
    if kind == "diagonal":
        v_i, v_f, v_o = tf.split(peephole, 3, axis=-1)
    elif kind == "full":
        v_if, v_o = tf.split(peephole, [2 * units, -1], axis=-1)
        v_if_t, v_o_t = tf.transpose(v_if), tf.transpose(v_o)

    def body(t, dh_next, dc_next, dz_array):
        dh = d_states[t] + dh_next
        dc = dc_next
        if mask is not None:
            dh_keep, dc_keep = dh * (1 - mask[t]), dc * (1 - mask[t])
            dh, dc = dh * mask[t], dc * mask[t]
        dz_o = dh * out_factor[t]
        dc = dc + dh * cell_factor[t]
        if kind == "diagonal":
            dc = dc + dz_o * v_o
        elif kind == "full":
            dc = dc + tf.matmul(dz_o, v_o_t)
        dz_ifc = tf.concat([dc, dc, dc], axis=-1) * gate_factor[t]
        dz = tf.concat([dz_ifc, dz_o], axis=-1)
        dh_prev = tf.matmul(dz, recurrent_t)
        if rdm is not None:
            dh_prev = dh_prev * rdm
        dc_prev = dc * f[t]
        if kind == "diagonal":
            dz_i, dz_f = tf.split(dz_ifc[:, : 2 * units], 2, axis=-1)
            dc_prev = dc_prev + dz_i * v_i + dz_f * v_f
        elif kind == "full":
            dc_prev = dc_prev + tf.matmul(dz_ifc[:, : 2 * units], v_if_t)
        if mask is not None:
            dh_prev = dh_prev + dh_keep
            dc_prev = dc_prev + dc_keep
        return t - 1, dh_prev, dc_prev, dz_array.write(t, dz)

    dz_array = _array(steps, xw[0])
    dh0, dc0, dz_array = _while(steps, body, (tf.zeros_like(h0), d_c_last, dz_array), backwards=True)
    d_xw = dz_array.stack()

    states_prev = _shift(states, h0)
    h_read = states_prev if rdm is None else states_prev * rdm
    d_recurrent = _gemm_over_steps(h_read, d_xw)
    if kind is None:
        d_peephole = tf.zeros([0], xw.dtype)
    elif kind == "diagonal":
        dz_i, dz_f, _, dz_o = tf.split(d_xw, 4, axis=-1)
        d_peephole = tf.concat(
            [
                tf.reduce_sum(dz_i * cells_prev, axis=[0, 1]),
                tf.reduce_sum(dz_f * cells_prev, axis=[0, 1]),
                tf.reduce_sum(dz_o * cells, axis=[0, 1]),
            ],
            axis=-1,
        )
    else:
        d_peephole = tf.concat(
            [
                _gemm_over_steps(cells_prev, d_xw[:, :, : 2 * units]),
                _gemm_over_steps(cells, d_xw[:, :, 3 * units :]),
            ],
            axis=-1,
        )
    return d_xw, dh0, dc0, d_recurrent, d_peephole


def run_peephole_lstm(layer, sequences, initial_state, mask, training):
    """``inner_loop`` of :class:`~deepkit.layers.PeepholeLSTM` on the fast path."""
    cell = layer.cell
    dtype = sequences.dtype
    h0, c0 = (tf.cast(state, dtype) for state in initial_state)
    xw = _time_major_projection(layer, sequences, training)
    recurrent_kernel = tf.cast(cell.recurrent_kernel, dtype)
    peephole = None if cell.peephole is None else tf.cast(cell.peephole_kernel, dtype)
    mask = _time_major_mask(layer, mask, dtype)
    rdm = _recurrent_dropout_mask(layer, h0, training)
    if _tape_active() or layer.return_sequences:
        states, c = lstm_sequence(xw, h0, c0, recurrent_kernel, peephole, cell.peephole, mask, rdm)
        h = states[-1]
    else:
        h, c, _ = _lstm_forward(xw, h0, c0, recurrent_kernel, peephole, cell.peephole, mask, rdm, None)
        states = None
    last, outputs = _outputs(layer, states, mask, h)
    return last, outputs, [h, c]


# === GRU with relevance gate ===


def _gru_step(xw_gates_t, xw_candidate_t, h_prev, gates_kernel, candidate_kernel, relevance_gate, rdm):
    """One step; the maths of :func:`~deepkit.layers.relevance_gru_step`.

    Without the relevance gate, ``gates_kernel`` is the whole recurrent kernel
    (Γ_u and candidate columns: one matmul) and ``candidate_kernel`` is unused.
    Returns ``(h_t, [Γ_u, (Γ_r,) ĥ_t])``.
    """
    h_read = h_prev if rdm is None else h_prev * rdm
    if relevance_gate:
        gates = tf.sigmoid(xw_gates_t + tf.matmul(h_read, gates_kernel))
        update, relevance = tf.split(gates, 2, axis=-1)
        candidate = tf.tanh(xw_candidate_t + tf.matmul(relevance * h_read, candidate_kernel))
        saved = (update, relevance, candidate)
    else:
        z_u, z_c = tf.split(tf.matmul(h_read, gates_kernel), 2, axis=-1)
        update = tf.sigmoid(xw_gates_t + z_u)
        candidate = tf.tanh(xw_candidate_t + z_c)
        saved = (update, candidate)
    h = update * candidate + (1.0 - update) * h_prev
    return h, saved


def _gru_kernels(recurrent_kernel, relevance_gate):
    if not relevance_gate:
        return recurrent_kernel, recurrent_kernel[:, :0]
    units = recurrent_kernel.shape[0]
    return recurrent_kernel[:, : 2 * units], recurrent_kernel[:, 2 * units :]


def _gru_forward(xw, h0, recurrent_kernel, relevance_gate, mask, rdm, store):
    """Runs the recurrence; ``store`` as in :func:`_lstm_forward`."""
    steps = xw.shape[0] if xw.shape[0] is not None else tf.shape(xw)[0]
    units = h0.shape[-1]
    xw_gates, xw_candidate = xw[:, :, :-units], xw[:, :, -units:]
    gates_kernel, candidate_kernel = _gru_kernels(recurrent_kernel, relevance_gate)
    keep = None if mask is None else mask > 0
    arrays = ()
    if store is not None:
        arrays = (_array(steps, h0),)
    if store == "gradient":
        arrays += (_array(steps, xw[0]),)

    def body(t, h_prev, *arrays):
        h, saved = _gru_step(
            xw_gates[t], xw_candidate[t], h_prev, gates_kernel, candidate_kernel, relevance_gate, rdm
        )
        if mask is not None:
            h = _where(keep[t], h, h_prev)
        if store is not None:
            arrays = (arrays[0].write(t, h),) + arrays[1:]
        if store == "gradient":
            arrays = (arrays[0], arrays[1].write(t, tf.concat(saved, axis=-1)))
        return (t + 1, h) + tuple(arrays)

    h, *arrays = _while(steps, body, (h0,) + arrays)
    return h, [array.stack() for array in arrays]


def gru_sequence(xw, h0, recurrent_kernel, relevance_gate, mask=None, rdm=None):
    """The GRU with relevance gate over a whole sequence, with its whole-sequence gradient.

    Args:
        xw: ``X W + b``, time-major ``(T, batch, k·units)`` (k = 3 with the
            relevance gate, 2 without; gate order Γ_u, (Γ_r,) candidate).
        h0: initial state ``(batch, units)``.
        recurrent_kernel: ``(units, k·units)``.
        relevance_gate: whether Γ_r is present.
        mask, rdm: as in :func:`lstm_sequence`.

    Returns:
        ``H``, the state after every step, ``(T, batch, units)``.

    Backward pass, for one step, with ``dh`` the gradient reaching ``h_t``
    (masked as in :func:`lstm_sequence`) and ``h̃ = h_{t-1} ⊙ rdm``::

        dz_u = dh ⊙ (ĥ - h_{t-1}) ⊙ Γ_u(1 - Γ_u)
        dz_c = dh ⊙ Γ_u ⊙ (1 - ĥ²)
        dq   = dz_c U_cᵀ                              (q = Γ_r ⊙ h̃)
        dz_r = dq ⊙ h̃ ⊙ Γ_r(1 - Γ_r)
        dh̃   = dq ⊙ Γ_r + [dz_u, dz_r] U_gᵀ
        dh_{t-1} = dh ⊙ (1 - Γ_u) + dh̃ ⊙ rdm

    Without Γ_r: ``dh̃ = [dz_u, dz_c] Uᵀ``. After the loop::

        dU_g = Σ_t h̃ᵀ [dz_u, dz_r],  dU_c = Σ_t qᵀ dz_c      (one GEMM each)
        d(XW + b) = [dz_u, dz_r, dz_c]
    """
    if not _tape_active():
        _, (states,) = _gru_forward(xw, h0, recurrent_kernel, relevance_gate, mask, rdm, "states")
        return states

    @tf.custom_gradient
    def sequence(xw, h0, recurrent_kernel):
        _, (states, saved) = _gru_forward(xw, h0, recurrent_kernel, relevance_gate, mask, rdm, "gradient")

        def grad(d_states):
            return _gru_backward(d_states, xw, h0, states, saved, recurrent_kernel, relevance_gate, mask, rdm)

        return states, grad

    return sequence(xw, h0, recurrent_kernel)


def _gru_backward(d_states, xw, h0, states, saved, recurrent_kernel, relevance_gate, mask, rdm):
    steps = xw.shape[0] if xw.shape[0] is not None else tf.shape(xw)[0]
    units = h0.shape[-1]
    states_prev = _shift(states, h0)
    h_read = states_prev if rdm is None else states_prev * rdm
    gates_kernel, candidate_kernel = _gru_kernels(recurrent_kernel, relevance_gate)
    if relevance_gate:
        update, relevance, candidate = tf.split(saved, 3, axis=-1)
        relevance_factor = h_read * relevance * (1 - relevance)  # dz_r = dq ⊙ relevance_factor
        candidate_t = tf.transpose(candidate_kernel)
    else:
        update, candidate = tf.split(saved, 2, axis=-1)
    update_factor = (candidate - states_prev) * update * (1 - update)  # dz_u = dh ⊙ update_factor
    candidate_factor = update * (1 - candidate * candidate)  # dz_c = dh ⊙ candidate_factor
    gates_t = tf.transpose(gates_kernel)

    def body(t, dh_next, dz_array):
        dh = d_states[t] + dh_next
        if mask is not None:
            dh_keep = dh * (1 - mask[t])
            dh = dh * mask[t]
        dz_u = dh * update_factor[t]
        dz_c = dh * candidate_factor[t]
        if relevance_gate:
            dq = tf.matmul(dz_c, candidate_t)
            dz_r = dq * relevance_factor[t]
            dh_read = dq * relevance[t] + tf.matmul(tf.concat([dz_u, dz_r], axis=-1), gates_t)
            dz = tf.concat([dz_u, dz_r, dz_c], axis=-1)
        else:
            dz = tf.concat([dz_u, dz_c], axis=-1)
            dh_read = tf.matmul(dz, gates_t)
        if rdm is not None:
            dh_read = dh_read * rdm
        dh_prev = dh * (1 - update[t]) + dh_read
        if mask is not None:
            dh_prev = dh_prev + dh_keep
        return t - 1, dh_prev, dz_array.write(t, dz)

    dz_array = _array(steps, xw[0])
    dh0, dz_array = _while(steps, body, (tf.zeros_like(h0), dz_array), backwards=True)
    d_xw = dz_array.stack()
    if relevance_gate:
        d_recurrent = tf.concat(
            [
                _gemm_over_steps(h_read, d_xw[:, :, : 2 * units]),
                _gemm_over_steps(relevance * h_read, d_xw[:, :, 2 * units :]),
            ],
            axis=-1,
        )
    else:
        d_recurrent = _gemm_over_steps(h_read, d_xw)
    return d_xw, dh0, d_recurrent


def run_relevance_gru(layer, sequences, initial_state, mask, training):
    """``inner_loop`` of :class:`~deepkit.layers.RelevanceGRU` on the fast path."""
    cell = layer.cell
    dtype = sequences.dtype
    h0 = tf.cast(initial_state[0], dtype)
    xw = _time_major_projection(layer, sequences, training)
    recurrent_kernel = tf.cast(cell.recurrent_kernel, dtype)
    mask = _time_major_mask(layer, mask, dtype)
    rdm = _recurrent_dropout_mask(layer, h0, training)
    if _tape_active() or layer.return_sequences:
        states = gru_sequence(xw, h0, recurrent_kernel, cell.relevance_gate, mask, rdm)
        h = states[-1]
    else:
        h, _ = _gru_forward(xw, h0, recurrent_kernel, cell.relevance_gate, mask, rdm, None)
        states = None
    last, outputs = _outputs(layer, states, mask, h)
    return last, outputs, [h]
