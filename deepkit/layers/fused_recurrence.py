"""Fast path of deepkit's recurrent layers: the whole sequence as one differentiable op.

``keras.layers.RNN`` runs the cell once per time step inside a ``tf.while_loop``
and lets TensorFlow differentiate that loop: autodiff keeps every per-step
intermediate on stacks and replays the cell's ops one by one backwards. Here:

1. the recurrence is a raw ``tf.while_loop`` (:func:`_scan`) with a static trip
   count (``maximum_iterations=T``), so that it compiles under XLA
   (``jit_compile=True``) forward and backward, and runs in graph mode;
2. its gradient is a ``tf.custom_gradient`` over the whole sequence
   (:func:`lstm_sequence`, :func:`gru_sequence`): the forward step stores what
   its derivative needs (the LSTM its gate values, the GRU the factors of its
   derivative that do not depend on the incoming gradient), and a second while loop
   runs the sequential part of the backward pass (gate derivatives and
   ``dh_{t-1} = dz_t Uᵀ``), with the weight gradients accumulated beside that
   chain rather than on it;
3. every product with a recurrent kernel is taken gate by gate: ``h U_i``,
   ``h U_f``, ... are independent small GEMMs that TensorFlow runs concurrently
   on the CPU's cores, where one ``(batch, units) x (units, 4·units)`` GEMM left
   one core mostly idle (1.6x faster training steps and predict on this
   project's 2-core CPU);
4. the gradient of the inputs is only formed when a tape watches them (not for
   a model's first layer), and only ``h_T`` leaves the op when the layer does
   not return sequences;
5. without a recording tape (``predict``, serving) the loop stores nothing;
6. each step projects its own ``x_t W + b``: hoisting ``X W + b`` for all steps
   into one GEMM before the loop measured slower, training and predicting, and
   its ``(T, batch, 4·units)`` result cost as much memory as four saved
   activations;
7. what is left under XLA is the machine's: the products run near this CPU's
   matmul limit, and XLA's CPU runtime runs a step's elementwise fusions one
   after another on one thread; at 128 units no other layout of the products,
   split of the batch or of the units, or ``XLA_FLAGS`` option measured faster.

``benchmarks/fused_recurrence_measurements.md`` records the figures behind
items 3, 6 and 7 and the variants that lost.

The forward equations mirror :func:`~deepkit.layers.peephole_lstm_step` and
:func:`~deepkit.layers.relevance_gru_step` (``tests/layers/test_fast_path.py``
pins the two paths to each other, values and gradients, and the gradients to
finite differences); the backward equations are written out in the docstrings
of :func:`lstm_sequence` and :func:`gru_sequence`.

The fast path covers the layers' defaults and most options: masks (right or
left padded), ``go_backwards``, initial and ``stateful`` states,
``return_sequences``, ``zero_output_for_mask``, dropout and recurrent dropout
(the cell's per-sequence masks), every peephole kind, ``relevance_gate`` on and
off, any float dtype policy. It needs the TensorFlow backend,
``activation="tanh"``, ``recurrent_activation="sigmoid"`` and ``unroll=False``;
otherwise the layer takes Keras' general loop. To force the general path (to
compare, or to rule the fast path out while debugging)::

    with deepkit.layers.fused_recurrence.general_path():
        model.fit(...)          # traced while inside the block

or set ``deepkit.layers.fused_recurrence.FAST_PATH_ENABLED = False``. The
choice is made when a layer's call is traced. ``layer.execution_path()`` says
which path its last traced call took, and why not the fast one.

This module uses TensorFlow directly (``tf.while_loop``, ``tf.custom_gradient``):
it is the TensorFlow backend's implementation, as ``keras.layers.LSTM``'s cuDNN
path is. Every op in it has CPU, GPU and XLA kernels; none is cuDNN's.
"""

import contextlib

import keras
import tensorflow as tf

try:  # Whether a GradientTape is recording (at all / through a tensor); private,
    # so their absence is tolerated: then everything is assumed to need a gradient.
    from tensorflow.python.eager.record import could_possibly_record as _tape_active
    from tensorflow.python.eager.record import should_record_backprop as _should_record
except ImportError:  # pragma: no cover - depends on the TensorFlow version

    def _tape_active():
        return True

    def _should_record(tensors):
        return True


try:  # Whether the graph being traced will be compiled by XLA; private, likewise.
    from tensorflow.python.ops.control_flow_util import GraphOrParentsInXlaContext as _graph_in_xla
except ImportError:  # pragma: no cover - depends on the TensorFlow version

    def _graph_in_xla(graph):
        return False


try:  # An in-place dynamic_update_slice for carried buffers under XLA; private, likewise.
    from tensorflow.compiler.tf2xla.python.xla import dynamic_update_slice as _xla_dynamic_update_slice
except ImportError:  # pragma: no cover - depends on the TensorFlow version
    _xla_dynamic_update_slice = None


def _compiled_by_xla():
    """Whether the ops being traced run under XLA (``jit_compile=True``)."""
    return bool(_graph_in_xla(tf.compat.v1.get_default_graph()))


def _needs_gradient(tensor):
    """Whether a recording tape watches ``tensor`` (the first layer's inputs are not)."""
    return bool(_should_record([tensor]))


FAST_PATH_ENABLED = True
"""Module switch: ``False`` sends every deepkit recurrent layer to the general path."""

WEIGHT_GRADIENT_WINDOW = 16
"""Under XLA, the LSTM's backward loop forms its weight gradients every this many
steps, as one product over the window's steps (see :func:`_scan`, :func:`lstm_sequence`)."""


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


def _time_major_inputs(layer, sequences, training):
    """The inputs time-major ``(T, batch, features)``, in processing order.

    Applies the cell's input-dropout mask (one per sequence, as the cell does)
    and reverses time for ``go_backwards``.
    """
    cell = layer.cell
    x = sequences
    if training and cell.dropout > 0:
        x = x * tf.cast(cell.get_dropout_mask(sequences[:, 0, :]), x.dtype)[:, None, :]
    x = tf.transpose(x, [1, 0, 2])
    return tf.reverse(x, [0]) if layer.go_backwards else x


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


def _steps(sequence):
    return sequence.shape[0] if sequence.shape[0] is not None else tf.shape(sequence)[0]


STEPS_PER_ITERATION = 4
"""Time steps one iteration of the loops runs, outside XLA.

Each iteration of a ``tf.while_loop`` costs TensorFlow's executor a fixed
amount of bookkeeping per loop variable; running a few steps per iteration
shares it (LSTM, T=100: training step 62 -> 55 ms, predict 25 -> 23 ms). XLA
compiles the loop and has no such cost, and there a longer body measured slower
(predict 20 -> 39 ms), so under XLA each iteration runs one step. The value does
not change the numbers computed."""


def _scan(step, steps, sequences, carry, emit_like=(), reverse=False, flush=None):
    """Runs ``carry, emitted = step(t, slices_t, carry)`` over ``steps`` time steps.

    A raw ``tf.while_loop`` with a static trip count (``maximum_iterations``), so
    that it compiles under XLA, forward and in a gradient. ``sequences`` is a
    tuple of time-major tensors or ``tf.TensorArray``s whose step ``t`` ``step``
    receives. Each iteration runs :data:`STEPS_PER_ITERATION` steps when the
    length is known while tracing (the steps left over run after the loop).
    The slices of an iteration's first step are read at the end of the previous
    one and carried, so that under XLA the elementwise work of a step reads dense
    buffers (a dynamic slice fused into it made the step 1.6x slower).
    ``emitted`` (shaped like ``emit_like``) is written to TensorArrays: writing
    one stores a reference, and a later loop reads it without a copy.

    With ``flush`` (the LSTM's backward loop under XLA; ``reverse`` only) the steps run
    in windows of :data:`WEIGHT_GRADIENT_WINDOW`, a window closing after each step
    ``t`` with ``t mod W = 0`` (the first window run may be partial), and
    ``carry = flush(carry)`` runs after each window: a loop over windows around
    a loop over a window's steps. There the steps read their own slices.
    Why this shape, measured on the LSTM's training step at T=400 under XLA
    (medians of 11; default / ``TF_CPU_ALLOCATOR_USE_BFC=true`` allocator):
    a ``tf.cond`` at the window's last step inside a single loop made XLA copy
    the carried weight-gradient totals twice on every step (224 x 512 floats),
    and carried slices were copied on every step too; nested loops 201.8 / 176.7
    ms against 224.5 / 212.4 ms with the ``tf.cond``, and with each step reading
    its own slices 194.5 / 164.6 ms.

    Returns ``(carry, TensorArrays of the emitted values)``.
    """
    if flush is not None and not reverse:
        raise ValueError(
            "_scan: `flush` closes windows at steps t with t mod W = 0, so it needs reverse=True; "
            f"received reverse={reverse!r}"
        )
    delta = -1 if reverse else 1
    first = tf.constant(0) + (steps - 1 if reverse else 0)

    def read(sequence, t):
        return sequence.read(t) if isinstance(sequence, tf.TensorArray) else sequence[t]

    def run(t, slices, carry, arrays):
        carry, emitted = step(t, slices, carry)
        return carry, tuple(array.write(t, value) for array, value in zip(arrays, emitted))

    arrays = tuple(
        tf.TensorArray(like.dtype, size=steps, element_shape=like.shape, clear_after_read=False) for like in emit_like
    )
    if flush is not None:

        def step_reading_its_slices(t, carry, arrays):
            carry, arrays = run(t, tuple(read(sequence, t) for sequence in sequences), carry, arrays)
            return t + delta, carry, arrays

        return _scan_windows(step_reading_its_slices, steps, first, carry, arrays, flush)

    known_length = isinstance(steps, int)
    several = known_length and steps >= STEPS_PER_ITERATION and not _compiled_by_xla()
    per_iteration = STEPS_PER_ITERATION if several else 1
    iterations = steps // per_iteration
    left_over = steps - iterations * per_iteration if known_length else 0

    def body(t, slices, carry, arrays):
        for offset in range(per_iteration):
            if offset:
                slices = tuple(read(sequence, t + offset * delta) for sequence in sequences)
            carry, arrays = run(t + offset * delta, slices, carry, arrays)
        following = tf.clip_by_value(t + per_iteration * delta, 0, steps - 1)
        return t + per_iteration * delta, tuple(read(sequence, following) for sequence in sequences), carry, arrays

    def cond(t, *_):
        return t >= steps - iterations * per_iteration if reverse else t < iterations * per_iteration

    slices = tuple(read(sequence, first) for sequence in sequences)
    # One iteration at a time: letting the next ones start early (the default, 10)
    # measured no faster and held their temporaries (+4 MB at T=100, U=128).
    t, slices, carry, arrays = tf.while_loop(
        cond, body, (first, slices, carry, arrays), maximum_iterations=iterations, parallel_iterations=1
    )
    for offset in range(left_over):
        if offset:
            slices = tuple(read(sequence, t + offset * delta) for sequence in sequences)
        carry, arrays = run(t + offset * delta, slices, carry, arrays)
    return carry, arrays


def _scan_windows(body, steps, first, carry, arrays, flush):
    """``_scan``'s loop with ``flush``: windows of :data:`WEIGHT_GRADIENT_WINDOW`
    steps, each run by ``t, carry, arrays = body(t, carry, arrays)``, from step
    ``first`` down, ``flush`` after each.

    The first window holds the steps from T-1 down to the multiple of W below, so
    it is the only one that may be partial, and it is filled first: its unwritten
    slots of the carried buffers still hold their initial zeros, which add nothing
    (a partial window run last would find the previous window's values there).
    """
    window = WEIGHT_GRADIENT_WINDOW
    windows = (steps + window - 1) // window
    first_window = steps - (windows - 1) * window

    def run_window(index, t, carry, arrays):
        count = tf.where(tf.equal(index, 0), first_window, window)
        _, t, carry, arrays = tf.while_loop(
            lambda i, *_: i < count,
            lambda i, *state: (i + 1, *body(*state)),
            (tf.constant(0), t, carry, arrays),
            maximum_iterations=window,
            parallel_iterations=1,
        )
        return index + 1, t, flush(carry), arrays

    _, _, carry, arrays = tf.while_loop(
        lambda index, *_: index < windows,
        run_window,
        (tf.constant(0), first, carry, arrays),
        maximum_iterations=windows,
        parallel_iterations=1,
    )
    return carry, arrays


def _per_gate_zeros(kernel, count):
    """Zero accumulators for the ``count`` gate blocks of ``kernel``'s columns."""
    rows, columns = kernel.shape
    return tuple(tf.zeros([rows, columns // count], kernel.dtype) for _ in range(count))


def _recurrent_read(h, rdm):
    """The state as the recurrent kernel reads it: ``h ⊙ rdm`` (recurrent dropout) or ``h``."""
    return h if rdm is None else h * rdm


def _add_recurrent_gradient(totals, reads, dzs):
    """``dU_g += read_gᵀ dz_g`` for each gate block ``g``, ``read_g`` being what ``U_g`` multiplied."""
    return tuple(total + tf.matmul(read, dz, transpose_a=True) for total, read, dz in zip(totals, reads, dzs))


def _new_windows(likes):
    """Zero buffers of :data:`WEIGHT_GRADIENT_WINDOW` steps, one per step value shaped like ``likes``
    (whose batch size may only be known when the graph runs)."""
    return tuple(tf.zeros(tf.concat([[WEIGHT_GRADIENT_WINDOW], tf.shape(like)], 0), like.dtype) for like in likes)


def _write_windows(t, windows, values):
    """Writes step ``t``'s ``values`` into slot ``t mod W`` of the carried ``windows``,
    in place (XLA's ``dynamic_update_slice``)."""
    slot = t % WEIGHT_GRADIENT_WINDOW
    return tuple(
        _xla_dynamic_update_slice(window, value[None], tf.stack([slot, 0, 0])) for window, value in zip(windows, values)
    )


def _add_window_products(totals, windows):
    """``totals = (dU, dW, db)`` plus one window's ``readᵀ dz``, ``x_tᵀ dz`` and ``Σ dz``.

    ``windows`` is ``(dz, x, read)``, each ``(W, batch, ·)``, ``read`` being what
    the recurrent kernel multiplied. The products are ``W · batch`` rows deep;
    ``db`` stays per batch row (summed after the loop).
    """
    dz, x, read = (tf.reshape(window, [-1, window.shape[-1]]) for window in windows)
    products = (
        tf.matmul(read, dz, transpose_a=True),
        tf.matmul(x, dz, transpose_a=True),
        tf.reduce_sum(windows[0], axis=0),
    )
    return tuple(total + product for total, product in zip(totals, products))


def _zeros_if_none(gradient, like):
    return tf.zeros_like(like) if gradient is None else gradient


def _where(keep_t, new, old):
    """``new`` where the step is real, ``old`` (carried over) where it is masked."""
    return tf.where(keep_t, new, old)


# === Peephole LSTM ===


def _gate_weights(kernel, recurrent_kernel, bias, count):
    """Per gate ``[W_g; U_g; b_g]``, so that a step forms ``W_g x_t + U_g h + b_g``
    as one product, ``[x_t, h, 1] [W_g; U_g; b_g]``.

    One product per gate: the gates' small GEMMs are independent, and TensorFlow
    runs them concurrently on the CPU's cores where one ``(batch, ·) x (·,
    count·units)`` GEMM left a core mostly idle. For the LSTM, stacking ``W_g``
    and ``b_g`` under ``U_g`` saves the separate ``x_t W`` product and the
    additions (measured faster here, most under XLA: predict at T=400 76 -> 55
    ms); the GRU stacks what it can (:func:`_gru_weights`).
    """
    return tuple(tf.split(tf.concat([kernel, recurrent_kernel, bias[None]], axis=0), count, axis=-1))


def _lstm_step(x_t, h_prev, c_prev, gate_weights, ones, peephole, kind, rdm, gates=False):
    """One step; the maths of :func:`~deepkit.layers.peephole_lstm_step`.

    ``gate_weights`` is :func:`_gate_weights` for gates i, f, c, o, ``ones`` a
    ``(batch, 1)`` column of ones (the bias's input). Returns
    ``(h_t, c_t, gate values)``; with ``gates``, the values ``[i, f, g, o]``
    from which the backward step forms its factors (see :func:`lstm_sequence`),
    else ``None``.

    Under XLA the step compiles to the read of the next ``x_t``, the
    concatenation, the four products and two elementwise fusions (``c_t``; ``o``
    and ``h_t``). Forming the next step's ``[x_{t+1}, h_t, 1]`` at the end of
    this one, so that the concatenation could join ``h_t``'s fusion, measured the
    same (predict at T=400: 55.5 vs 56.3 ms).
    """
    x_h = tf.concat([x_t, _recurrent_read(h_prev, rdm), ones], axis=-1)
    z_i, z_f, z_c, z_o = (tf.matmul(x_h, weights) for weights in gate_weights)
    if kind == "diagonal":
        v_i, v_f, v_o = peephole
        z_i = z_i + c_prev * v_i
        z_f = z_f + c_prev * v_f
    elif kind == "full":
        v_if, v_o = peephole
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
    tanh_c = tf.tanh(c)
    h = o * tanh_c
    if not gates:
        return h, c, None
    return h, c, [i, f, g, o]


def _split_peephole(peephole, kind):
    """``(v_i, v_f, v_o)`` for ``"diagonal"``, ``(V_if, V_o)`` for ``"full"``, split once."""
    if kind == "diagonal":
        return tuple(tf.split(peephole, 3, axis=-1))
    if kind == "full":
        return tuple(tf.split(peephole, [2 * peephole.shape[0], -1], axis=-1))
    return None


def _lstm_forward(x, kernel, bias, h0, c0, recurrent_kernel, peephole, kind, mask, rdm, store):
    """Runs the recurrence over ``x`` ``(T, batch, features)``.

    ``store``: ``None`` (final states only), ``"states"`` (also every ``h_t``),
    ``"gradient"`` (what the backward pass reads: ``h_{t-1}``, the gates
    ``i, f, g, o`` and ``c_{t-1}``) or ``"gates"`` (the same without ``h_{t-1}``,
    which the backward pass then recomputes), each as a TensorArray. Returns
    ``(h_T, c_T, TensorArrays)``.
    """
    peephole = _split_peephole(peephole, kind)
    gate_weights = _gate_weights(kernel, recurrent_kernel, bias, 4)
    ones = tf.ones_like(h0[:, :1])
    with_gates = store in ("gradient", "gates")
    emit_count = {None: 0, "states": 1, "gradient": 6, "gates": 5}[store]

    def step(t, slices, carry):
        h_prev, c_prev = carry
        h, c, gates = _lstm_step(slices[0], h_prev, c_prev, gate_weights, ones, peephole, kind, rdm, with_gates)
        if mask is not None:
            keep = slices[1] > 0
            h = _where(keep, h, h_prev)
            c = _where(keep, c, c_prev)
        if store == "states":
            return (h, c), (h,)
        if with_gates:
            # The backward step reads c_t as the c_{t-1} of the step after it, and
            # h_{t-1} unless it recomputes it (store="gates").
            stored_h = (h_prev,) if store == "gradient" else ()
            return (h, c), (*stored_h, *gates, c_prev)
        return (h, c), ()

    sequences = (x,) if mask is None else (x, mask)
    (h, c), arrays = _scan(step, _steps(x), sequences, (h0, c0), (h0,) * emit_count)
    return h, c, arrays


def _states_from_previous(previous, last):
    """``[h_1, ..., h_T]`` from the stacked ``[h_0, ..., h_{T-1}]`` and ``h_T``."""
    return tf.concat([previous.stack()[1:], last[None]], axis=0)


def lstm_sequence(x, kernel, bias, h0, c0, recurrent_kernel, peephole, kind, mask=None, rdm=None, sequences=True):
    """The peephole LSTM over a whole sequence, with its gradient over the whole sequence.

    Args:
        x: the inputs, time-major ``(T, batch, features)``.
        kernel, bias: ``W`` ``(features, 4·units)`` and ``b`` ``(4·units,)`` or ``None``.
        h0, c0: initial states ``(batch, units)``.
        recurrent_kernel: ``U`` ``(units, 4·units)``.
        peephole: ``V`` (see :func:`~deepkit.layers.peephole_lstm_step`) or ``None``.
        kind: ``"diagonal"``, ``"full"`` or ``None``.
        mask: ``(T, batch, 1)`` 0/1 values or ``None``; at a 0 step the states are
            carried over unchanged.
        rdm: recurrent-dropout mask ``(batch, units)`` applied to ``h_{t-1}`` where
            it enters ``U``, or ``None``.
        sequences: whether to return every ``h_t`` or only ``h_T``.

    Returns:
        ``(H, c_T)``: the state ``h_t`` after every step, ``(T, batch, units)``
        (or only ``h_T`` without ``sequences``), and the final cell state.

    Forward: per step ``z = x_t W + b + h_{t-1} U`` and the gate elementwise
    work; the step stores ``h_{t-1}``, ``c_{t-1}`` and the gates ``i, f, g, o``
    (six arrays of ``(T, batch, units)``: less than ``keras.layers.LSTM`` keeps).
    Without a mask, when only ``h_T`` is returned and outside XLA, it stores five:
    the backward pass recomputes ``h_{t-1} = o_{t-1} ⊙ tanh(c_{t-1})``.
    The backward step forms from them the factors that do not depend on the
    incoming gradient, off the sequential chain.

    Backward pass. With ``m_t`` the mask, ``dh``/``dc`` the gradients reaching the
    carried states after step ``t``, the new states get ``m_t dh``, ``m_t dc`` and the
    old ones ``(1 - m_t) dh``, ``(1 - m_t) dc``. Then, for one step::

        dz_o = dh ⊙ tanh(c_t) ⊙ o(1 - o)
        dc   = dc + dh ⊙ o ⊙ (1 - tanh²(c_t)) + dz_o ⊙ v_o        (diagonal; full: dz_o V_oᵀ)
        dz_i = dc ⊙ g ⊙ i(1 - i)
        dz_f = dc ⊙ c_{t-1} ⊙ f(1 - f)
        dz_c = dc ⊙ i ⊙ (1 - g²)
        dh_{t-1} = (dz Uᵀ) ⊙ rdm                                   (dz = [dz_i, dz_f, dz_c, dz_o])
        dc_{t-1} = dc ⊙ f + dz_i ⊙ v_i + dz_f ⊙ v_f               (full: [dz_i, dz_f] V_ifᵀ)

    Only those lines are sequential. The rest of the step's gradient does not
    feed the next step, so it runs beside the sequential chain (TensorFlow
    executes independent ops concurrently) instead of after it::

        dU += (h_{t-1} ⊙ rdm)ᵀ dz       dW += x_tᵀ dz       db += dz   (summed over the batch after the loop)
        dx_t = dz Wᵀ
        dv_i += dz_i ⊙ c_{t-1},  dv_f += dz_f ⊙ c_{t-1},  dv_o += dz_o ⊙ c_t     (summed likewise)
        dV_if += c_{t-1}ᵀ [dz_i, dz_f],  dV_o += c_tᵀ dz_o                       (full)

    (On this project's 2-core CPU that measured faster than forming them after
    the loop as single GEMMs over all steps, which are tall, thin and can only
    start once the loop has finished (LSTM training step: 60 vs 78 ms at T=100
    without XLA, 257 vs 306 ms at T=400 under XLA). The accumulators
    also need no ``(T, batch, 4·units)`` buffer of ``dz``.)

    Under XLA nothing runs beside the chain (item 7 of the module docstring;
    ``benchmarks/fused_recurrence_measurements.md``):
    the per-step products are small GEMMs taken one after another. There the
    backward step writes its ``dz``, ``x_t`` and ``h_{t-1} ⊙ rdm`` into carried
    buffers of :data:`WEIGHT_GRADIENT_WINDOW` steps (in place, with XLA's
    ``dynamic_update_slice``), and ``dU``, ``dW`` and ``db`` are added once per
    window, as products ``window · batch`` deep, between the windows of
    :func:`_scan`'s nested loops. LSTM training step under XLA, per-window vs
    per-step (medians of 9, interleaved): T=400 168.4 vs 206.2 ms, T=100 36.1
    vs 45.4 ms; with ``TF_CPU_ALLOCATOR_USE_BFC=true`` 142.1 vs 179.4 and 36.4
    vs 44.6 ms. The first form of the window closed it with a ``tf.cond``
    inside the single loop, which made XLA copy the carried totals on every step
    (:func:`_scan`); it measured T=400 202.5 vs 214.8 ms, T=100 45.3 vs 47.8 ms,
    with ``TF_CPU_ALLOCATOR_USE_BFC=true`` 169.0 vs 189.2 and 44.6 vs 46.9 ms.
    With the nested loops, windows of 8, 32 and 64 steps measured no better
    (T=400, default / BFC allocator: 171.1 / 138.8, 165.5 / 142.1, 172.9 / 147.7
    ms against 168.3 / 138.7 ms at 16). In the ``tf.cond`` form they measured
    (T=400, default / BFC allocator: 213 / 175, 205 / 172, 192 / 189 ms, against
    196 / 192, 214 / 181, 190 / 180 per step in the same runs). Filling the
    windows with ``tensor_scatter_nd_update`` copied them every step (198 vs 182
    ms). Forming the products once after the loop from a ``(T, batch, 4·units)``
    buffer of ``dz`` won only with the BFC allocator (161 vs 178 ms); the
    default one maps that buffer afresh on every call (239 vs 230 ms, 33,900 vs
    20,400 page faults a step).
    """
    bias_arg = tf.zeros([kernel.shape[-1]], x.dtype) if bias is None else bias
    peephole_arg = tf.zeros([0], x.dtype) if peephole is None else peephole

    if not _tape_active():
        # Nothing will differentiate this: store nothing for a backward pass.
        store = "states" if sequences else None
        h, c, arrays = _lstm_forward(x, kernel, bias_arg, h0, c0, recurrent_kernel, peephole, kind, mask, rdm, store)
        return (arrays[0].stack() if sequences else h), c

    with_dx = _needs_gradient(x)  # else the backward loop skips dz Wᵀ

    # Without a mask, h_{t-1} = o_{t-1} ⊙ tanh(c_{t-1}) is recomputed in the backward
    # pass rather than stored (LSTM, 512 units, T=100: step peak 108 -> 98 MB),
    # unless the states are stored anyway as the output. Not under XLA: there the
    # step's memory is one buffer of XLA's that was no smaller, and carrying dz_{t+1}
    # into the next step made the training step slower (T=100: 51 -> 60 ms).
    recompute_h = not (sequences or mask is not None or _compiled_by_xla())
    store = "gates" if recompute_h else "gradient"

    @tf.custom_gradient
    def sequence(x, kernel, bias, h0, c0, recurrent_kernel, peephole):
        peephole = None if kind is None else peephole
        h, c, saved = _lstm_forward(x, kernel, bias, h0, c0, recurrent_kernel, peephole, kind, mask, rdm, store)
        out = _states_from_previous(saved[0], h) if sequences else h

        def grad(d_out, d_c_last):
            d_out = _zeros_if_none(d_out, out)
            d_c_last = _zeros_if_none(d_c_last, c)
            d_states, d_h_last = (d_out, tf.zeros_like(h)) if sequences else (None, d_out)
            return _lstm_backward(
                d_states, d_h_last, d_c_last, x, kernel, h0, c, saved, recurrent_kernel, peephole, kind, mask, rdm,
                with_dx, recompute_h,
            )

        return (out, c), grad

    return sequence(x, kernel, bias_arg, h0, c0, recurrent_kernel, peephole_arg)


def _lstm_backward(
    d_states, d_h_last, d_c_last, x, kernel, h0, c_last, saved, recurrent_kernel, peephole, kind, mask, rdm, with_dx,
    recompute_h,
):
    """The backward loop of :func:`lstm_sequence`. ``d_states`` (the gradient of
    every ``h_t``) is ``None`` when only ``h_T`` was returned (gradient ``d_h_last``);
    without ``with_dx`` the gradient of ``x`` is not formed (``None``).

    ``saved`` holds ``h_{t-1}, i, f, g, o, c_{t-1}`` or, with ``recompute_h``
    (``_lstm_forward``'s ``store="gates"``), only the last five: then the step that
    has ``o_t`` and ``c_t`` at hand forms ``h_t = o_t ⊙ tanh(c_t)`` (the product the
    forward step took) and adds the ``h_tᵀ dz_{t+1}`` of the step after it to ``dU``;
    ``h_0ᵀ dz_1`` is added after the loop. Under XLA (where ``recompute_h`` is
    off) ``dU``, ``dW`` and ``db`` are formed per window of steps instead
    (:func:`_scan`'s ``flush``, :func:`_add_window_products`)."""
    units = h0.shape[-1]
    # XLA's dynamic_update_slice has no gradient: when a tape records this backward
    # pass (a gradient of the gradient, e.g. a gradient penalty), the per-step
    # products are taken instead.
    windowed = (
        _xla_dynamic_update_slice is not None and _compiled_by_xla() and not recompute_h and not _tape_active()
    )
    recurrent_t = tuple(tf.transpose(part) for part in tf.split(recurrent_kernel, 4, axis=-1))
    kernel_t = tf.transpose(kernel)
    if kind == "diagonal":
        v_i, v_f, v_o = _split_peephole(peephole, kind)
    elif kind == "full":
        v_if, v_o = _split_peephole(peephole, kind)
        v_if_t, v_o_t = tf.transpose(v_if), tf.transpose(v_o)

    def step(t, slices, carry):
        if d_states is not None:
            d_state, *slices = slices
        if recompute_h:
            x_t, i, f, g, o, c_prev = slices[:6]
            dh, dc, d_recurrent, d_kernel, d_bias, d_peephole, c, dz_after = carry
        elif windowed:
            x_t, h_prev, i, f, g, o, c_prev = slices[:7]
            dh, dc, d_recurrent, d_kernel, d_bias, d_peephole, c, windows = carry
        else:
            x_t, h_prev, i, f, g, o, c_prev = slices[:7]
            dh, dc, d_recurrent, d_kernel, d_bias, d_peephole, c = carry  # c: c_t, carried from the step after
        # --- the factors: from the saved gates, independent of the incoming gradient ---
        tanh_c = tf.tanh(c)
        out_factor, cell_factor = tanh_c * o * (1 - o), o * (1 - tanh_c * tanh_c)
        ifg_i, ifg_f, ifg_c = g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g)
        # --- the sequential part ---
        if d_states is not None:
            dh = d_state + dh
        if mask is not None:
            m = slices[-1]
            dh_keep, dc_keep = dh * (1 - m), dc * (1 - m)
            dh, dc = dh * m, dc * m
        dz_o = dh * out_factor
        dc = dc + dh * cell_factor
        if kind == "diagonal":
            dc = dc + dz_o * v_o
        elif kind == "full":
            dc = dc + tf.matmul(dz_o, v_o_t)
        dz_i, dz_f, dz_c = dc * ifg_i, dc * ifg_f, dc * ifg_c
        dz = tf.concat([dz_i, dz_f, dz_c, dz_o], axis=-1)
        dh_prev = tf.add_n([tf.matmul(d, u) for d, u in zip((dz_i, dz_f, dz_c, dz_o), recurrent_t)])
        if rdm is not None:
            dh_prev = dh_prev * rdm
        dc_prev = dc * f
        if kind == "diagonal":
            dc_prev = dc_prev + dz_i * v_i + dz_f * v_f
        elif kind == "full":
            dz_if = dz[:, : 2 * units]
            dc_prev = dc_prev + tf.matmul(dz_if, v_if_t)
        if mask is not None:
            dh_prev = dh_prev + dh_keep
            dc_prev = dc_prev + dc_keep
        # --- beside it: the weight and input gradients of this step ---
        dzs = (dz_i, dz_f, dz_c, dz_o)
        if windowed:
            windows = _write_windows(t, windows, (dz, x_t, _recurrent_read(h_prev, rdm)))
        elif recompute_h:
            d_recurrent = _add_recurrent_gradient(d_recurrent, (_recurrent_read(o * tanh_c, rdm),) * 4, dz_after)
        else:
            d_recurrent = _add_recurrent_gradient(d_recurrent, (_recurrent_read(h_prev, rdm),) * 4, dzs)
        if not windowed:
            d_kernel = d_kernel + tf.matmul(x_t, dz, transpose_a=True)
            d_bias = d_bias + dz  # summed over the batch once, after the loop
        if kind == "diagonal":
            d_v_i, d_v_f, d_v_o = d_peephole  # summed over the batch after the loop
            d_peephole = (d_v_i + dz_i * c_prev, d_v_f + dz_f * c_prev, d_v_o + dz_o * c)
        elif kind == "full":
            d_peephole = d_peephole + tf.concat(
                [tf.matmul(c_prev, dz_if, transpose_a=True), tf.matmul(c, dz_o, transpose_a=True)], axis=-1
            )
        carry = (dh_prev, dc_prev, d_recurrent, d_kernel, d_bias, d_peephole, c_prev)
        if windowed:
            carry += (windows,)
        return carry + ((dzs,) if recompute_h else ()), ((tf.matmul(dz, kernel_t),) if with_dx else ())

    sequences = (() if d_states is None else (d_states,)) + (x, *saved) + (() if mask is None else (mask,))
    if kind == "diagonal":
        d_peephole = (tf.zeros_like(h0),) * 3
    else:
        d_peephole = tf.zeros([0], x.dtype) if peephole is None else tf.zeros_like(peephole)
    carry = (
        d_h_last,
        d_c_last,
        tf.zeros_like(recurrent_kernel) if windowed else _per_gate_zeros(recurrent_kernel, 4),
        tf.zeros_like(kernel),
        tf.zeros_like(tf.concat([h0] * 4, axis=-1)),
        d_peephole,
        c_last,
    )
    if recompute_h:
        carry += (tuple(tf.zeros_like(h0) for _ in range(4)),)  # dz_{T+1}: none
    flush = None
    if windowed:
        carry += (_new_windows((carry[4], x[0], h0)),)  # dz, x_t and h_{t-1} ⊙ rdm of a window's steps

        def flush(carry):
            totals = _add_window_products(carry[2:5], carry[-1])
            return carry[:2] + totals + carry[5:]

    carry, d_x = _scan(step, _steps(x), sequences, carry, (x[0],) if with_dx else (), reverse=True, flush=flush)
    dh0, dc0, d_recurrent, d_kernel, d_bias, d_peephole = carry[:6]
    if not windowed:
        if recompute_h:
            d_recurrent = _add_recurrent_gradient(d_recurrent, (_recurrent_read(h0, rdm),) * 4, carry[-1])
        d_recurrent = tf.concat(d_recurrent, axis=-1)
    if kind == "diagonal":
        d_peephole = tf.reduce_sum(tf.concat(d_peephole, axis=-1), axis=0)
    d_x = d_x[0].stack() if with_dx else None
    return d_x, d_kernel, tf.reduce_sum(d_bias, axis=0), dh0, dc0, d_recurrent, d_peephole


def run_peephole_lstm(layer, sequences, initial_state, mask, training):
    """``inner_loop`` of :class:`~deepkit.layers.PeepholeLSTM` on the fast path."""
    cell = layer.cell
    dtype = sequences.dtype
    h0, c0 = (tf.cast(state, dtype) for state in initial_state)
    x = _time_major_inputs(layer, sequences, training)
    kernel = tf.cast(cell.kernel, dtype)
    bias = tf.cast(cell.bias, dtype) if cell.use_bias else None
    recurrent_kernel = tf.cast(cell.recurrent_kernel, dtype)
    peephole = None if cell.peephole is None else tf.cast(cell.peephole_kernel, dtype)
    mask = _time_major_mask(layer, mask, dtype)
    rdm = _recurrent_dropout_mask(layer, h0, training)
    out, c = lstm_sequence(
        x, kernel, bias, h0, c0, recurrent_kernel, peephole, cell.peephole, mask, rdm, layer.return_sequences
    )
    states, h = (out, out[-1]) if layer.return_sequences else (None, out)
    last, outputs = _outputs(layer, states, mask, h)
    return last, outputs, [h, c]


# === GRU with relevance gate ===


def _gru_step(x_t, h_prev, weights, ones, relevance_gate, rdm, factors=False):
    """One step; the maths of :func:`~deepkit.layers.relevance_gru_step`.

    ``weights`` is :func:`_gru_weights`; ``ones`` a ``(batch, 1)`` column of
    ones (the biases' input). Returns ``(h_t, factors)``; with ``factors``, what
    the backward step needs (see :func:`gru_sequence`): ``[(ĥ - h_{t-1})
    Γ_u(1-Γ_u), Γ_u(1-ĥ²), 1-Γ_u, h̃ Γ_r(1-Γ_r), Γ_r]`` (without Γ_r: the first three).
    """
    h_read = _recurrent_read(h_prev, rdm)
    x_h = tf.concat([x_t, h_read, ones], axis=-1)
    update = tf.sigmoid(tf.matmul(x_h, weights[0]))
    if relevance_gate:
        relevance = tf.sigmoid(tf.matmul(x_h, weights[1]))
        candidate_kernel, candidate_recurrent, candidate_bias = weights[2]
        recurrent_input = relevance * h_read
        candidate = tf.tanh(
            tf.matmul(x_t, candidate_kernel) + candidate_bias + tf.matmul(recurrent_input, candidate_recurrent)
        )
    else:
        candidate = tf.tanh(tf.matmul(x_h, weights[1]))
    h = update * candidate + (1.0 - update) * h_prev
    if not factors:
        return h, None
    pieces = [(candidate - h_prev) * update * (1 - update), update * (1 - candidate * candidate), 1 - update]
    if relevance_gate:
        pieces += [h_read * relevance * (1 - relevance), relevance]
    return h, pieces


def _gru_weights(kernel, recurrent_kernel, bias, relevance_gate):
    """The step's weights, as :func:`_gate_weights` stacks them where it can.

    Without Γ_r: ``([W_u; U_u; b_u], [W_c; U_c; b_c])``. With Γ_r, the candidate
    reads ``Γ_r ⊙ h``, which cannot join ``x_t`` before Γ_r is known, so its
    weights stay apart: ``([W_u; U_u; b_u], [W_r; U_r; b_r], (W_c, U_c, b_c))``
    (stacking the gates' weights measured 1.3x faster training under XLA at
    T=400 and a few per cent faster without). Stacking the candidate's too, as
    ``[x_t, Γ_r ⊙ h, 1] [W_c; U_c; b_c]`` once Γ_r is known, measured slower
    (under XLA at T=400: predict 56 vs 50 ms, training 200 vs 187 ms). Splitting
    ``(Γ_r ⊙ h) U_c``, the one product of the step's second stage, into two
    column halves for the two cores measured within noise (under XLA at T=400:
    predict 49.8 vs 53.1 ms, training 206 vs 190 ms; at T=100 predict 12.3 vs
    12.7 ms).
    """
    if not relevance_gate:
        return _gate_weights(kernel, recurrent_kernel, bias, 2)
    units = recurrent_kernel.shape[0]
    gates = _gate_weights(kernel[:, : 2 * units], recurrent_kernel[:, : 2 * units], bias[: 2 * units], 2)
    return gates + ((kernel[:, 2 * units :], recurrent_kernel[:, 2 * units :], bias[2 * units :]),)


def _gru_kernels(recurrent_kernel, relevance_gate):
    """``((U_u, U_r), U_c)`` with the relevance gate, ``((U_u, U_c), None)`` without:
    one product per gate (see :func:`lstm_sequence`)."""
    if not relevance_gate:
        return tuple(tf.split(recurrent_kernel, 2, axis=-1)), None
    update, relevance, candidate = tf.split(recurrent_kernel, 3, axis=-1)
    return (update, relevance), candidate


def _gru_forward(x, kernel, bias, h0, recurrent_kernel, relevance_gate, mask, rdm, store):
    """Runs the recurrence; ``x`` and ``store`` as in
    :func:`_lstm_forward`, the backward pass reading ``h_{t-1}`` and the factors
    of :func:`_gru_step`. Returns ``(h_T, TensorArrays)``."""
    weights = _gru_weights(kernel, recurrent_kernel, bias, relevance_gate)
    ones = tf.ones_like(h0[:, :1])
    emit_count = {None: 0, "states": 1, "gradient": 6 if relevance_gate else 4}[store]

    def step(t, slices, carry):
        (h_prev,) = carry
        h, factors = _gru_step(slices[0], h_prev, weights, ones, relevance_gate, rdm, store == "gradient")
        if mask is not None:
            h = _where(slices[1] > 0, h, h_prev)
        if store == "states":
            return (h,), (h,)
        if store == "gradient":
            return (h,), (h_prev, *factors)
        return (h,), ()

    sequences = (x,) if mask is None else (x, mask)
    (h,), arrays = _scan(step, _steps(x), sequences, (h0,), (h0,) * emit_count)
    return h, arrays


def gru_sequence(x, kernel, bias, h0, recurrent_kernel, relevance_gate, mask=None, rdm=None, sequences=True):
    """The GRU with relevance gate over a whole sequence, with its whole-sequence gradient.

    Args:
        x: the inputs, time-major ``(T, batch, features)``.
        kernel, bias: ``W`` ``(features, k·units)`` and ``b`` or ``None`` (k = 3
            with the relevance gate, 2 without; gate order Γ_u, (Γ_r,) candidate).
        h0: initial state ``(batch, units)``.
        recurrent_kernel: ``(units, k·units)``.
        relevance_gate: whether Γ_r is present.
        mask, rdm, sequences: as in :func:`lstm_sequence`.

    Returns:
        ``H``, the state after every step, ``(T, batch, units)``, or only ``h_T``.

    Backward pass, for one step, with ``dh`` the gradient reaching ``h_t``
    (masked as in :func:`lstm_sequence`) and ``h̃ = h_{t-1} ⊙ rdm``. Sequential::

        dz_u = dh ⊙ (ĥ - h_{t-1}) ⊙ Γ_u(1 - Γ_u)
        dz_c = dh ⊙ Γ_u ⊙ (1 - ĥ²)
        dq   = dz_c U_cᵀ                              (q = Γ_r ⊙ h̃)
        dz_r = dq ⊙ h̃ ⊙ Γ_r(1 - Γ_r)
        dh̃   = dq ⊙ Γ_r + [dz_u, dz_r] U_gᵀ
        dh_{t-1} = dh ⊙ (1 - Γ_u) + dh̃ ⊙ rdm

    Without Γ_r: ``dh̃ = [dz_u, dz_c] Uᵀ``. Beside the chain, as in
    :func:`lstm_sequence`::

        dU_g += h̃ᵀ [dz_u, dz_r]     dU_c += qᵀ dz_c     dW += x_tᵀ dz     db += dz
        dx_t = dz Wᵀ                                    (dz = [dz_u, dz_r, dz_c])

    Under XLA the GRU keeps these per-step products. Forming them once per window
    of steps, as :func:`lstm_sequence` does, from windows of ``dz``, ``x_t``,
    ``h̃`` and ``q``, measured slower with a ``tf.cond`` closing each window
    (training step at T=400: 173.6 vs 125.6 ms with the default allocator,
    146.9 vs 130.3 ms with BFC), and no faster with :func:`_scan`'s nested
    loops (medians of 15: T=400 140.3 vs 115.3 ms with the default allocator,
    where the windowed step took 21,263 minor page faults against 1,354; 120.0
    vs 118.7 ms with BFC; T=100, default allocator, 32.8 vs 31.4 ms). Nor did
    two stacked products per step, ``[x_t, h̃, 1]ᵀ [dz_u, dz_r]`` and
    ``[x_t, q, 1]ᵀ dz_c``, in place of the four (``dU_g``, ``dU_c``, ``dW``) and the
    bias sum (medians of 15, T=100 / 400: 40.1 / 138.2 vs 38.1 / 141.4 ms with
    BFC, 37.4 / 149.5 vs 36.6 / 142.7 ms with the default allocator). The forward
    stores the factors rather than the gates ``Γ_u, ĥ, Γ_r``, from which the
    backward step could form them with four arrays instead of six: that measured
    slower (T=100 / 400: 32.6 / 153.5 vs 31.4 / 146.0 ms with the default
    allocator, 32.8 / 134.6 vs 31.4 / 123.6 ms with BFC); in the forward that
    work is off the recurrence's chain (``h_t`` does not need it), in the
    backward it would be on it. Storing the six arrays as one ``(T, 6, batch,
    units)`` array, written and read once per step, measured much slower (T=100
    / 400: 38.8 / 145.0 vs 30.2 / 113.9 ms with BFC).
    """
    bias_arg = tf.zeros([kernel.shape[-1]], x.dtype) if bias is None else bias

    if not _tape_active():
        store = "states" if sequences else None
        h, arrays = _gru_forward(x, kernel, bias_arg, h0, recurrent_kernel, relevance_gate, mask, rdm, store)
        return arrays[0].stack() if sequences else h

    with_dx = _needs_gradient(x)

    @tf.custom_gradient
    def sequence(x, kernel, bias, h0, recurrent_kernel):
        h, saved = _gru_forward(
            x, kernel, bias, h0, recurrent_kernel, relevance_gate, mask, rdm, "gradient"
        )
        out = _states_from_previous(saved[0], h) if sequences else h

        def grad(d_out):
            d_states, d_h_last = (d_out, tf.zeros_like(h)) if sequences else (None, d_out)
            return _gru_backward(
                d_states, d_h_last, x, kernel, h0, saved, recurrent_kernel, relevance_gate, mask, rdm, with_dx
            )

        return out, grad

    return sequence(x, kernel, bias_arg, h0, recurrent_kernel)


def _gru_backward(d_states, d_h_last, x, kernel, h0, saved, recurrent_kernel, relevance_gate, mask, rdm, with_dx):
    """The backward loop of :func:`gru_sequence`; ``d_states`` as in :func:`_lstm_backward`."""
    gates_kernel, candidate_kernel = _gru_kernels(recurrent_kernel, relevance_gate)
    gates_t = tuple(tf.transpose(kernel_part) for kernel_part in gates_kernel)
    candidate_t = None if candidate_kernel is None else tf.transpose(candidate_kernel)
    kernel_t = tf.transpose(kernel)

    def step(t, slices, carry):
        if d_states is not None:
            d_state, *slices = slices
        x_t, h_prev, update_factor, candidate_factor, keep_factor = slices[:5]
        dh, d_recurrent, d_kernel, d_bias = carry
        # --- the sequential part ---
        if d_states is not None:
            dh = d_state + dh
        if mask is not None:
            dh_keep = dh * (1 - slices[-1])
            dh = dh * slices[-1]
        dz_u = dh * update_factor
        dz_c = dh * candidate_factor
        if relevance_gate:
            relevance_factor, relevance = slices[5:7]
            dq = tf.matmul(dz_c, candidate_t)
            dz_r = dq * relevance_factor
            dz = (dz_u, dz_r, dz_c)
            dh_read = tf.add_n([dq * relevance, tf.matmul(dz_u, gates_t[0]), tf.matmul(dz_r, gates_t[1])])
        else:
            dz = (dz_u, dz_c)
            dh_read = tf.add_n([tf.matmul(dz_u, gates_t[0]), tf.matmul(dz_c, gates_t[1])])
        if rdm is not None:
            dh_read = dh_read * rdm
        dh_prev = dh * keep_factor + dh_read
        if mask is not None:
            dh_prev = dh_prev + dh_keep
        # --- beside it: the weight and input gradients of this step ---
        h_read = _recurrent_read(h_prev, rdm)
        reads = (h_read, h_read, relevance * h_read) if relevance_gate else (h_read, h_read)
        d_recurrent = _add_recurrent_gradient(d_recurrent, reads, dz)
        dz = tf.concat(dz, axis=-1)
        d_kernel = d_kernel + tf.matmul(x_t, dz, transpose_a=True)
        d_bias = d_bias + dz  # summed over the batch once, after the loop
        return (dh_prev, d_recurrent, d_kernel, d_bias), ((tf.matmul(dz, kernel_t),) if with_dx else ())

    gate_count = recurrent_kernel.shape[-1] // h0.shape[-1]
    sequences = (() if d_states is None else (d_states,)) + (x, *saved) + (() if mask is None else (mask,))
    d_bias = tf.zeros_like(tf.concat([h0] * gate_count, axis=-1))
    d_recurrent = _per_gate_zeros(recurrent_kernel, gate_count)
    carry = (d_h_last, d_recurrent, tf.zeros_like(kernel), d_bias)
    carry, d_x = _scan(step, _steps(x), sequences, carry, (x[0],) if with_dx else (), reverse=True)
    dh0, d_recurrent, d_kernel, d_bias = carry
    d_x = d_x[0].stack() if with_dx else None
    return d_x, d_kernel, tf.reduce_sum(d_bias, axis=0), dh0, tf.concat(d_recurrent, axis=-1)


def run_relevance_gru(layer, sequences, initial_state, mask, training):
    """``inner_loop`` of :class:`~deepkit.layers.RelevanceGRU` on the fast path."""
    cell = layer.cell
    dtype = sequences.dtype
    h0 = tf.cast(initial_state[0], dtype)
    x = _time_major_inputs(layer, sequences, training)
    kernel = tf.cast(cell.kernel, dtype)
    bias = tf.cast(cell.bias, dtype) if cell.use_bias else None
    recurrent_kernel = tf.cast(cell.recurrent_kernel, dtype)
    mask = _time_major_mask(layer, mask, dtype)
    rdm = _recurrent_dropout_mask(layer, h0, training)
    out = gru_sequence(x, kernel, bias, h0, recurrent_kernel, cell.relevance_gate, mask, rdm, layer.return_sequences)
    states, h = (out, out[-1]) if layer.return_sequences else (None, out)
    last, outputs = _outputs(layer, states, mask, h)
    return last, outputs, [h]
