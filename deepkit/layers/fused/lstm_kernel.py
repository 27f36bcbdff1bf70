"""The peephole LSTM over a whole sequence as one op with its own gradient.

:func:`lstm_sequence` is the kernel: a forward :func:`~.scan.scan` that stores
what the derivative needs, and a ``tf.custom_gradient`` whose backward scan runs
only the sequential part of the chain rule on the chain, the weight gradients
beside it. :func:`run_peephole_lstm` is ``PeepholeLSTM``'s fused ``inner_loop``.
The equations and the reasons for this shape are in ``docs/fused_path.md``.
"""

from typing import NamedTuple

import tensorflow as tf

from deepkit.layers.fused import sequence_io, tf_private
from deepkit.layers.fused.gate_products import (
    add_recurrent_gradient,
    bias_or_zeros,
    gate_weights,
    per_gate_zeros,
    recurrent_read,
    states_from_previous,
    zeros_if_none,
)
from deepkit.layers.fused.scan import (
    BackwardSlices,
    ForwardSlices,
    Stored,
    WeightGradients,
    Windows,
    add_window_products,
    new_windows,
    scan,
    steps_of,
    write_windows,
)


class LSTMGates(NamedTuple):
    """The gate values of one step (or their pre-activations' gradients)."""

    i: tf.Tensor
    f: tf.Tensor
    g: tf.Tensor
    o: tf.Tensor


class LSTMSaved(NamedTuple):
    """What the forward step stores for the backward pass, per step."""

    h_prev: tf.Tensor
    """``h_{t-1}``; ``None`` when the backward pass recomputes it (:attr:`Stored.GATES`)."""
    i: tf.Tensor
    f: tf.Tensor
    g: tf.Tensor
    o: tf.Tensor
    c_prev: tf.Tensor
    """``c_{t-1}``; the backward step after it reads it as its ``c_t``."""


class DiagonalPeephole(NamedTuple):
    """``v_i, v_f, v_o``, each ``(units,)`` (or their gradients, per batch row)."""

    v_i: tf.Tensor
    v_f: tf.Tensor
    v_o: tf.Tensor


class FullPeephole(NamedTuple):
    """``V_if`` ``(units, 2·units)`` and ``V_o`` ``(units, units)``."""

    v_if: tf.Tensor
    v_o: tf.Tensor


class BackwardCarry(NamedTuple):
    dh: tf.Tensor
    dc: tf.Tensor
    weights: WeightGradients
    """``recurrent`` is one total per gate, or one stacked total when windowed."""
    d_peephole: object
    """:class:`DiagonalPeephole` of per-row totals, the ``V`` total, or an empty tensor."""
    c: tf.Tensor
    """``c_t``, carried from the step after."""
    windows: Windows = None
    """Under XLA: the window buffers of ``dz``, ``x_t`` and ``h_{t-1} ⊙ rdm``."""
    dz_after: LSTMGates = None
    """When ``h_{t-1}`` is recomputed: ``dz_{t+1}``, which ``h_t`` multiplies in ``dU``."""


def split_peephole(peephole, kind):
    """:class:`DiagonalPeephole`, :class:`FullPeephole` or ``None``, split once."""
    if kind == "diagonal":
        return DiagonalPeephole(*tf.split(peephole, 3, axis=-1))
    if kind == "full":
        return FullPeephole(*tf.split(peephole, [2 * peephole.shape[0], -1], axis=-1))
    return None


def lstm_step(x_t, h_prev, c_prev, *, weights, ones, peephole, kind, rdm, with_gates=False):
    """One step; the maths of :func:`~deepkit.layers.peephole_lstm_step`.

    Args:
        x_t, h_prev, c_prev: the step's input and the carried states.
        weights: :func:`~.gate_products.gate_weights` for gates i, f, c, o.
        ones: a ``(batch, 1)`` column of ones (the bias's input).
        peephole: :func:`split_peephole`'s result.
        kind: ``"diagonal"``, ``"full"`` or ``None``.
        rdm: the recurrent-dropout mask or ``None``.
        with_gates: also return the gate values.

    Returns:
        ``(h_t, c_t, gates)``: ``gates`` an :class:`LSTMGates` with
        ``with_gates``, else ``None``.
    """
    x_h = tf.concat([x_t, recurrent_read(h_prev, rdm), ones], axis=-1)
    z_i, z_f, z_c, z_o = (tf.matmul(x_h, gate) for gate in weights)
    if kind == "diagonal":
        z_i = z_i + c_prev * peephole.v_i
        z_f = z_f + c_prev * peephole.v_f
    elif kind == "full":
        p_i, p_f = tf.split(tf.matmul(c_prev, peephole.v_if), 2, axis=-1)
        z_i = z_i + p_i
        z_f = z_f + p_f
    i = tf.sigmoid(z_i)
    f = tf.sigmoid(z_f)
    g = tf.tanh(z_c)
    c = f * c_prev + i * g
    if kind == "diagonal":
        z_o = z_o + c * peephole.v_o
    elif kind == "full":
        z_o = z_o + tf.matmul(c, peephole.v_o)
    o = tf.sigmoid(z_o)
    tanh_c = tf.tanh(c)
    h = o * tanh_c
    return h, c, (LSTMGates(i, f, g, o) if with_gates else None)


def _emit_like(h0, stored):
    if stored is Stored.STATES:
        return (h0,)
    if stored is Stored.GRADIENT:
        return LSTMSaved(*(h0,) * 6)
    if stored is Stored.GATES:
        return LSTMSaved(None, *(h0,) * 5)
    return ()


def lstm_forward(x, *, kernel, bias, h0, c0, recurrent_kernel, peephole, kind, mask, rdm, stored):
    """Runs the recurrence over ``x`` ``(T, batch, features)``.

    Returns:
        ``(h_T, c_T, arrays)``: ``arrays`` holds, as TensorArrays, what
        ``stored`` (a :class:`~.scan.Stored`) asks for: nothing, ``(H,)`` or an
        :class:`LSTMSaved`.
    """
    peephole = split_peephole(peephole, kind)
    weights = gate_weights(kernel, recurrent_kernel, bias, 4)
    ones = tf.ones_like(h0[:, :1])
    with_gates = stored in (Stored.GRADIENT, Stored.GATES)

    def step(t, slices, carry):
        h_prev, c_prev = carry
        h, c, gates = lstm_step(
            slices.x, h_prev, c_prev, weights=weights, ones=ones, peephole=peephole, kind=kind, rdm=rdm,
            with_gates=with_gates,
        )
        if mask is not None:
            keep = slices.mask > 0
            h = tf.where(keep, h, h_prev)
            c = tf.where(keep, c, c_prev)
        if stored is Stored.STATES:
            return (h, c), (h,)
        if with_gates:
            stored_h = h_prev if stored is Stored.GRADIENT else None
            return (h, c), LSTMSaved(stored_h, *gates, c_prev)
        return (h, c), ()

    (h, c), arrays = scan(
        step, steps=steps_of(x), sequences=ForwardSlices(x, mask), carry=(h0, c0), emit_like=_emit_like(h0, stored)
    )
    return h, c, arrays


def lstm_sequence(x, *, kernel, bias, h0, c0, recurrent_kernel, peephole, kind, mask=None, rdm=None, sequences=True):
    """The peephole LSTM over a whole sequence, with its gradient over the whole sequence.

    The forward step stores ``h_{t-1}``, ``c_{t-1}`` and the gates ``i, f, g, o``;
    without a mask, returning only ``h_T``, outside XLA, it stores the last five
    and the backward pass recomputes ``h_{t-1} = o_{t-1} ⊙ tanh(c_{t-1})``;
    without a recording tape it stores nothing. Under XLA the backward pass forms
    ``dU``, ``dW`` and ``db`` once per window of steps (:func:`~.scan.scan`'s
    ``flush``). Equations: ``docs/fused_path.md``.

    Args:
        x: the inputs, time-major ``(T, batch, features)``.
        kernel: ``W`` ``(features, 4·units)``.
        bias: ``b`` ``(4·units,)`` or ``None``.
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
    """
    bias_arg = bias_or_zeros(bias, kernel, x.dtype)
    peephole_arg = tf.zeros([0], x.dtype) if peephole is None else peephole
    common = dict(kind=kind, mask=mask, rdm=rdm)

    if not tf_private.tape_active():
        stored = Stored.STATES if sequences else Stored.FINAL_STATES
        h, c, arrays = lstm_forward(
            x, kernel=kernel, bias=bias_arg, h0=h0, c0=c0, recurrent_kernel=recurrent_kernel, peephole=peephole,
            stored=stored, **common,
        )
        return (arrays[0].stack() if sequences else h), c

    with_dx = tf_private.needs_gradient(x)  # else the backward loop skips dz Wᵀ
    # Recomputing h_{t-1} saves memory, unless the states are stored anyway as the
    # output; under XLA it saves none and carrying dz_{t+1} slows the step.
    recompute_h = not (sequences or mask is not None or tf_private.compiled_by_xla())
    stored = Stored.GATES if recompute_h else Stored.GRADIENT

    # tf.custom_gradient passes the differentiated tensors positionally.
    @tf.custom_gradient
    def sequence(x, kernel, bias, h0, c0, recurrent_kernel, peephole):
        peephole = None if kind is None else peephole
        h, c, saved = lstm_forward(
            x, kernel=kernel, bias=bias, h0=h0, c0=c0, recurrent_kernel=recurrent_kernel, peephole=peephole,
            stored=stored, **common,
        )
        out = states_from_previous(saved.h_prev, h) if sequences else h

        def grad(d_out, d_c_last):
            d_out = zeros_if_none(d_out, out)
            d_c_last = zeros_if_none(d_c_last, c)
            d_states, d_h_last = (d_out, tf.zeros_like(h)) if sequences else (None, d_out)
            return lstm_backward(
                d_states=d_states, d_h_last=d_h_last, d_c_last=d_c_last, x=x, kernel=kernel, h0=h0, c_last=c,
                saved=saved, recurrent_kernel=recurrent_kernel, peephole=peephole, with_dx=with_dx,
                recompute_h=recompute_h, **common,
            )

        return (out, c), grad

    return sequence(x, kernel, bias_arg, h0, c0, recurrent_kernel, peephole_arg)


def lstm_backward(
    *, d_states, d_h_last, d_c_last, x, kernel, h0, c_last, saved, recurrent_kernel, peephole, kind, mask, rdm,
    with_dx, recompute_h,
):
    """The backward loop of :func:`lstm_sequence`.

    Args:
        d_states: the gradient of every ``h_t``, or ``None`` when only ``h_T``
            was returned.
        d_h_last, d_c_last: the gradients of ``h_T`` and ``c_T``.
        x, kernel, h0, recurrent_kernel, peephole, kind, mask, rdm: as in
            :func:`lstm_sequence`.
        c_last: ``c_T``.
        saved: the forward's :class:`LSTMSaved` TensorArrays (``h_prev``
            ``None`` with ``recompute_h``).
        with_dx: whether to form the gradient of ``x``.
        recompute_h: whether ``h_{t-1}`` was not stored: then the step that has
            ``o_t`` and ``c_t`` at hand forms ``h_t = o_t ⊙ tanh(c_t)`` and adds
            the ``h_tᵀ dz_{t+1}`` of the step after it to ``dU``; ``h_0ᵀ dz_1``
            is added after the loop.

    Returns:
        The gradients of ``x`` (``None`` without ``with_dx``), ``W``, ``b``,
        ``h0``, ``c0``, ``U`` and ``V``.
    """
    units = h0.shape[-1]
    # XLA's dynamic_update_slice has no gradient: when a tape records this backward
    # pass (a gradient of the gradient, e.g. a gradient penalty), the per-step
    # products are taken instead.
    windowed = (
        tf_private.xla_dynamic_update_slice is not None
        and tf_private.compiled_by_xla()
        and not recompute_h
        and not tf_private.tape_active()
    )
    recurrent_t = tuple(tf.transpose(part) for part in tf.split(recurrent_kernel, 4, axis=-1))
    kernel_t = tf.transpose(kernel)
    split = split_peephole(peephole, kind)
    split_t = FullPeephole(*(tf.transpose(part) for part in split)) if kind == "full" else None

    def step(t, slices, carry):
        dh, dc, c = carry.dh, carry.dc, carry.c
        dz_if = None
        saved_t = slices.saved
        i, f, g, o, c_prev = saved_t.i, saved_t.f, saved_t.g, saved_t.o, saved_t.c_prev
        # --- the factors: from the saved gates, independent of the incoming gradient ---
        tanh_c = tf.tanh(c)
        out_factor, cell_factor = tanh_c * o * (1 - o), o * (1 - tanh_c * tanh_c)
        ifg_i, ifg_f, ifg_c = g * i * (1 - i), c_prev * f * (1 - f), i * (1 - g * g)
        # --- the sequential part ---
        if d_states is not None:
            dh = slices.d_state + dh
        if mask is not None:
            m = slices.mask
            dh_keep, dc_keep = dh * (1 - m), dc * (1 - m)
            dh, dc = dh * m, dc * m
        dz_o = dh * out_factor
        dc = dc + dh * cell_factor
        if kind == "diagonal":
            dc = dc + dz_o * split.v_o
        elif kind == "full":
            dc = dc + tf.matmul(dz_o, split_t.v_o)
        dz_i, dz_f, dz_c = dc * ifg_i, dc * ifg_f, dc * ifg_c
        dz = tf.concat([dz_i, dz_f, dz_c, dz_o], axis=-1)
        dh_prev = tf.add_n([tf.matmul(d, u) for d, u in zip((dz_i, dz_f, dz_c, dz_o), recurrent_t)])
        if rdm is not None:
            dh_prev = dh_prev * rdm
        dc_prev = dc * f
        if kind == "diagonal":
            dc_prev = dc_prev + dz_i * split.v_i + dz_f * split.v_f
        elif kind == "full":
            dz_if = dz[:, : 2 * units]
            dc_prev = dc_prev + tf.matmul(dz_if, split_t.v_if)
        if mask is not None:
            dh_prev = dh_prev + dh_keep
            dc_prev = dc_prev + dc_keep
        # --- beside it: the weight and input gradients of this step ---
        dzs = LSTMGates(dz_i, dz_f, dz_c, dz_o)
        weights, windows = carry.weights, carry.windows
        if windowed:
            windows = write_windows(t, windows, Windows(dz, slices.x, recurrent_read(saved_t.h_prev, rdm)))
        else:
            if recompute_h:
                reads, recurrent_dzs = (recurrent_read(o * tanh_c, rdm),) * 4, carry.dz_after
            else:
                reads, recurrent_dzs = (recurrent_read(saved_t.h_prev, rdm),) * 4, dzs
            weights = WeightGradients(
                recurrent=add_recurrent_gradient(weights.recurrent, reads, recurrent_dzs),
                kernel=weights.kernel + tf.matmul(slices.x, dz, transpose_a=True),
                bias=weights.bias + dz,  # summed over the batch once, after the loop
            )
        d_peephole = _add_peephole_gradient(carry.d_peephole, kind=kind, dzs=dzs, dz_if=dz_if, c_prev=c_prev, c=c)
        carry = BackwardCarry(
            dh_prev, dc_prev, weights, d_peephole, c_prev, windows, dzs if recompute_h else None
        )
        return carry, ((tf.matmul(dz, kernel_t),) if with_dx else ())

    carry = _initial_backward_carry(
        d_h_last=d_h_last, d_c_last=d_c_last, x=x, kernel=kernel, h0=h0, c_last=c_last,
        recurrent_kernel=recurrent_kernel, peephole=peephole, kind=kind, windowed=windowed, recompute_h=recompute_h,
    )
    flush = None
    if windowed:

        def flush(carry):
            return carry._replace(weights=add_window_products(carry.weights, carry.windows))

    sequences = BackwardSlices(d_states, x, saved, mask)
    emit_like = (x[0],) if with_dx else ()
    carry, d_x = scan(
        step, steps=steps_of(x), sequences=sequences, carry=carry, emit_like=emit_like, reverse=True, flush=flush
    )
    d_recurrent = carry.weights.recurrent
    if not windowed:
        if recompute_h:
            d_recurrent = add_recurrent_gradient(d_recurrent, (recurrent_read(h0, rdm),) * 4, carry.dz_after)
        d_recurrent = tf.concat(d_recurrent, axis=-1)
    d_peephole = carry.d_peephole
    if kind == "diagonal":
        d_peephole = tf.reduce_sum(tf.concat(d_peephole, axis=-1), axis=0)
    d_x = d_x[0].stack() if with_dx else None
    d_bias = tf.reduce_sum(carry.weights.bias, axis=0)
    return d_x, carry.weights.kernel, d_bias, carry.dh, carry.dc, d_recurrent, d_peephole


def _add_peephole_gradient(total, *, kind, dzs, dz_if, c_prev, c):
    """``dv_i += dz_i ⊙ c_{t-1}``, ``dv_f += dz_f ⊙ c_{t-1}``, ``dv_o += dz_o ⊙ c_t``
    (per batch row; diagonal) or ``dV_if += c_{t-1}ᵀ [dz_i, dz_f]``, ``dV_o += c_tᵀ dz_o`` (full)."""
    if kind == "diagonal":
        return DiagonalPeephole(total.v_i + dzs.i * c_prev, total.v_f + dzs.f * c_prev, total.v_o + dzs.o * c)
    if kind == "full":
        return total + tf.concat(
            [tf.matmul(c_prev, dz_if, transpose_a=True), tf.matmul(c, dzs.o, transpose_a=True)], axis=-1
        )
    return total


def _initial_backward_carry(
    *, d_h_last, d_c_last, x, kernel, h0, c_last, recurrent_kernel, peephole, kind, windowed, recompute_h
):
    """The :class:`BackwardCarry` entering the backward loop at step ``T``."""
    if kind == "diagonal":
        d_peephole = DiagonalPeephole(*(tf.zeros_like(h0),) * 3)
    else:
        d_peephole = tf.zeros([0], x.dtype) if peephole is None else tf.zeros_like(peephole)
    weights = WeightGradients(
        recurrent=tf.zeros_like(recurrent_kernel) if windowed else per_gate_zeros(recurrent_kernel, 4),
        kernel=tf.zeros_like(kernel),
        bias=tf.zeros_like(tf.concat([h0] * 4, axis=-1)),
    )
    windows = new_windows(Windows(weights.bias, x[0], h0)) if windowed else None
    dz_after = LSTMGates(*(tf.zeros_like(h0) for _ in range(4))) if recompute_h else None  # dz_{T+1}: none
    return BackwardCarry(d_h_last, d_c_last, weights, d_peephole, c_last, windows, dz_after)


def run_peephole_lstm(layer, sequences, *, initial_state, mask, training):
    """``inner_loop`` of :class:`~deepkit.layers.PeepholeLSTM` on the fused path."""
    cell = layer.cell
    dtype = sequences.dtype
    h0, c0 = (tf.cast(state, dtype) for state in initial_state)
    x = sequence_io.time_major_inputs(layer, sequences, training)
    mask = sequence_io.time_major_mask(layer, mask, dtype)
    out, c = lstm_sequence(
        x,
        kernel=tf.cast(cell.kernel, dtype),
        bias=tf.cast(cell.bias, dtype) if cell.use_bias else None,
        h0=h0,
        c0=c0,
        recurrent_kernel=tf.cast(cell.recurrent_kernel, dtype),
        peephole=None if cell.peephole is None else tf.cast(cell.peephole_kernel, dtype),
        kind=cell.peephole,
        mask=mask,
        rdm=sequence_io.recurrent_dropout_mask(layer, h0, training),
        sequences=layer.return_sequences,
    )
    last, outputs, h = sequence_io.layer_outputs(layer, out, mask=mask)
    return last, outputs, [h, c]
