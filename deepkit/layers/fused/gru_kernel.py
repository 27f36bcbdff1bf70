"""The GRU with relevance gate over a whole sequence as one op with its own gradient.

:func:`gru_sequence` is the kernel: a forward :func:`~.scan.scan` that stores
the factors of the step's derivative that do not depend on the incoming
gradient (off the recurrence's chain, since ``h_t`` does not need them), and a
``tf.custom_gradient`` whose backward scan runs the sequential part on the
chain, the weight gradients beside it. :func:`run_relevance_gru` is
``RelevanceGRU``'s fused ``inner_loop``. Equations: ``docs/fused_path.md``.
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
)
from deepkit.layers.fused.scan import BackwardSlices, ForwardSlices, Stored, scan, steps_of


class GRUFactors(NamedTuple):
    """What the backward step multiplies ``dh`` (or ``dq``) by, per step."""

    update: tf.Tensor
    """``(ĥ - h_{t-1}) ⊙ Γ_u(1 - Γ_u)``."""
    candidate: tf.Tensor
    """``Γ_u ⊙ (1 - ĥ²)``."""
    keep: tf.Tensor
    """``1 - Γ_u``."""
    relevance: tf.Tensor = None
    """``h̃ ⊙ Γ_r(1 - Γ_r)``; ``None`` without the relevance gate."""
    relevance_gate: tf.Tensor = None
    """``Γ_r``; ``None`` without the relevance gate."""


class GRUSaved(NamedTuple):
    """What the forward step stores for the backward pass, per step."""

    h_prev: tf.Tensor
    factors: GRUFactors


class GRUWeights(NamedTuple):
    """The step's weights, stacked where a product can take them together.

    Without Γ_r: ``update = [W_u; U_u; b_u]``, ``second = [W_c; U_c; b_c]``. With
    Γ_r, the candidate reads ``Γ_r ⊙ h``, which cannot join ``x_t`` before Γ_r is
    known: ``second = [W_r; U_r; b_r]`` and ``candidate = (W_c, U_c, b_c)``.
    """

    update: tf.Tensor
    second: tf.Tensor
    candidate: tuple = None


class BackwardCarry(NamedTuple):
    dh: tf.Tensor
    d_recurrent: tuple
    """One ``dU`` total per product: ``(dU_u, dU_r, dU_c)`` or ``(dU_u, dU_c)``."""
    d_kernel: tf.Tensor
    d_bias: tf.Tensor
    """Per batch row, summed after the loop."""


def gru_weights(kernel, recurrent_kernel, bias, relevance_gate):
    """:class:`GRUWeights` from ``W``, ``U`` and ``b`` (gate order Γ_u, (Γ_r,), candidate)."""
    if not relevance_gate:
        return GRUWeights(*gate_weights(kernel, recurrent_kernel, bias, 2))
    units = recurrent_kernel.shape[0]
    gates = gate_weights(kernel[:, : 2 * units], recurrent_kernel[:, : 2 * units], bias[: 2 * units], 2)
    return GRUWeights(*gates, (kernel[:, 2 * units :], recurrent_kernel[:, 2 * units :], bias[2 * units :]))


def gru_step(x_t, h_prev, *, weights, ones, relevance_gate, rdm, with_factors=False):
    """One step; the maths of :func:`~deepkit.layers.relevance_gru_step`.

    Args:
        x_t, h_prev: the step's input and the carried state.
        weights: :func:`gru_weights`.
        ones: a ``(batch, 1)`` column of ones (the biases' input).
        relevance_gate: whether Γ_r is present.
        rdm: the recurrent-dropout mask or ``None``.
        with_factors: also return what the backward step needs.

    Returns:
        ``(h_t, factors)``: ``factors`` a :class:`GRUFactors` with
        ``with_factors``, else ``None``.
    """
    h_read = recurrent_read(h_prev, rdm)
    x_h = tf.concat([x_t, h_read, ones], axis=-1)
    update = tf.sigmoid(tf.matmul(x_h, weights.update))
    if relevance_gate:
        relevance = tf.sigmoid(tf.matmul(x_h, weights.second))
        candidate_kernel, candidate_recurrent, candidate_bias = weights.candidate
        recurrent_input = relevance * h_read
        candidate = tf.tanh(
            tf.matmul(x_t, candidate_kernel) + candidate_bias + tf.matmul(recurrent_input, candidate_recurrent)
        )
    else:
        candidate = tf.tanh(tf.matmul(x_h, weights.second))
    h = update * candidate + (1.0 - update) * h_prev
    if not with_factors:
        return h, None
    factors = GRUFactors(
        update=(candidate - h_prev) * update * (1 - update),
        candidate=update * (1 - candidate * candidate),
        keep=1 - update,
    )
    if relevance_gate:
        factors = factors._replace(relevance=h_read * relevance * (1 - relevance), relevance_gate=relevance)
    return h, factors


def _gru_kernels(recurrent_kernel, relevance_gate):
    """``((U_u, U_r), U_c)`` with the relevance gate, ``((U_u, U_c), None)`` without:
    one product per gate."""
    if not relevance_gate:
        return tuple(tf.split(recurrent_kernel, 2, axis=-1)), None
    update, relevance, candidate = tf.split(recurrent_kernel, 3, axis=-1)
    return (update, relevance), candidate


def _emit_like(h0, stored, relevance_gate):
    if stored is Stored.STATES:
        return (h0,)
    if stored is Stored.GRADIENT:
        extra = (h0, h0) if relevance_gate else (None, None)
        return GRUSaved(h0, GRUFactors(h0, h0, h0, *extra))
    return ()


def gru_forward(x, *, kernel, bias, h0, recurrent_kernel, relevance_gate, mask, rdm, stored):
    """Runs the recurrence over ``x`` ``(T, batch, features)``.

    Returns:
        ``(h_T, arrays)``: ``arrays`` holds, as TensorArrays, what ``stored``
        (a :class:`~.scan.Stored`: not ``GATES``) asks for: nothing, ``(H,)`` or
        a :class:`GRUSaved`.
    """
    weights = gru_weights(kernel, recurrent_kernel, bias, relevance_gate)
    ones = tf.ones_like(h0[:, :1])

    def step(t, slices, carry):
        (h_prev,) = carry
        h, factors = gru_step(
            slices.x, h_prev, weights=weights, ones=ones, relevance_gate=relevance_gate, rdm=rdm,
            with_factors=stored is Stored.GRADIENT,
        )
        if mask is not None:
            h = tf.where(slices.mask > 0, h, h_prev)
        if stored is Stored.STATES:
            return (h,), (h,)
        if stored is Stored.GRADIENT:
            return (h,), GRUSaved(h_prev, factors)
        return (h,), ()

    (h,), arrays = scan(
        step, steps=steps_of(x), sequences=ForwardSlices(x, mask), carry=(h0,),
        emit_like=_emit_like(h0, stored, relevance_gate),
    )
    return h, arrays


def gru_sequence(x, *, kernel, bias, h0, recurrent_kernel, relevance_gate, mask=None, rdm=None, sequences=True):
    """The GRU with relevance gate over a whole sequence, with its whole-sequence gradient.

    The forward step stores ``h_{t-1}`` and the :class:`GRUFactors`; without a
    recording tape it stores nothing. Equations: ``docs/fused_path.md``.

    Args:
        x: the inputs, time-major ``(T, batch, features)``.
        kernel: ``W`` ``(features, k·units)`` (k = 3 with the relevance gate, 2
            without; gate order Γ_u, (Γ_r,) candidate).
        bias: ``b`` ``(k·units,)`` or ``None``.
        h0: initial state ``(batch, units)``.
        recurrent_kernel: ``U`` ``(units, k·units)``.
        relevance_gate: whether Γ_r is present.
        mask, rdm, sequences: as in :func:`~.lstm_kernel.lstm_sequence`.

    Returns:
        ``H``, the state after every step, ``(T, batch, units)``, or only ``h_T``.
    """
    bias_arg = bias_or_zeros(bias, kernel, x.dtype)
    common = dict(relevance_gate=relevance_gate, mask=mask, rdm=rdm)

    if not tf_private.tape_active():
        stored = Stored.STATES if sequences else Stored.FINAL_STATES
        h, arrays = gru_forward(
            x, kernel=kernel, bias=bias_arg, h0=h0, recurrent_kernel=recurrent_kernel, stored=stored, **common
        )
        return arrays[0].stack() if sequences else h

    with_dx = tf_private.needs_gradient(x)

    # tf.custom_gradient passes the differentiated tensors positionally.
    @tf.custom_gradient
    def sequence(x, kernel, bias, h0, recurrent_kernel):
        h, saved = gru_forward(
            x, kernel=kernel, bias=bias, h0=h0, recurrent_kernel=recurrent_kernel, stored=Stored.GRADIENT, **common
        )
        out = states_from_previous(saved.h_prev, h) if sequences else h

        def grad(d_out):
            d_states, d_h_last = (d_out, tf.zeros_like(h)) if sequences else (None, d_out)
            return gru_backward(
                d_states=d_states, d_h_last=d_h_last, x=x, kernel=kernel, h0=h0, saved=saved,
                recurrent_kernel=recurrent_kernel, with_dx=with_dx, **common,
            )

        return out, grad

    return sequence(x, kernel, bias_arg, h0, recurrent_kernel)


def gru_backward(*, d_states, d_h_last, x, kernel, h0, saved, recurrent_kernel, relevance_gate, mask, rdm, with_dx):
    """The backward loop of :func:`gru_sequence`.

    Args:
        d_states: the gradient of every ``h_t``, or ``None`` when only ``h_T``
            was returned.
        d_h_last: the gradient of ``h_T``.
        x, kernel, h0, recurrent_kernel, relevance_gate, mask, rdm: as in
            :func:`gru_sequence`.
        saved: the forward's :class:`GRUSaved` TensorArrays.
        with_dx: whether to form the gradient of ``x``.

    Returns:
        The gradients of ``x`` (``None`` without ``with_dx``), ``W``, ``b``,
        ``h0`` and ``U``.
    """
    gates_kernel, candidate_kernel = _gru_kernels(recurrent_kernel, relevance_gate)
    gates_t = tuple(tf.transpose(kernel_part) for kernel_part in gates_kernel)
    candidate_t = None if candidate_kernel is None else tf.transpose(candidate_kernel)
    kernel_t = tf.transpose(kernel)

    def step(t, slices, carry):
        h_prev, factors = slices.saved
        dh = carry.dh
        # --- the sequential part ---
        if d_states is not None:
            dh = slices.d_state + dh
        if mask is not None:
            dh_keep = dh * (1 - slices.mask)
            dh = dh * slices.mask
        dz_u = dh * factors.update
        dz_c = dh * factors.candidate
        if relevance_gate:
            dq = tf.matmul(dz_c, candidate_t)
            dz_r = dq * factors.relevance
            dz = (dz_u, dz_r, dz_c)
            dh_read = tf.add_n(
                [dq * factors.relevance_gate, tf.matmul(dz_u, gates_t[0]), tf.matmul(dz_r, gates_t[1])]
            )
        else:
            dz = (dz_u, dz_c)
            dh_read = tf.add_n([tf.matmul(dz_u, gates_t[0]), tf.matmul(dz_c, gates_t[1])])
        if rdm is not None:
            dh_read = dh_read * rdm
        dh_prev = dh * factors.keep + dh_read
        if mask is not None:
            dh_prev = dh_prev + dh_keep
        # --- beside it: the weight and input gradients of this step ---
        h_read = recurrent_read(h_prev, rdm)
        reads = (h_read, h_read, factors.relevance_gate * h_read) if relevance_gate else (h_read, h_read)
        d_recurrent = add_recurrent_gradient(carry.d_recurrent, reads, dz)
        dz = tf.concat(dz, axis=-1)
        carry = BackwardCarry(
            dh=dh_prev,
            d_recurrent=d_recurrent,
            d_kernel=carry.d_kernel + tf.matmul(slices.x, dz, transpose_a=True),
            d_bias=carry.d_bias + dz,
        )
        return carry, ((tf.matmul(dz, kernel_t),) if with_dx else ())

    gate_count = recurrent_kernel.shape[-1] // h0.shape[-1]
    carry = BackwardCarry(
        dh=d_h_last,
        d_recurrent=per_gate_zeros(recurrent_kernel, gate_count),
        d_kernel=tf.zeros_like(kernel),
        d_bias=tf.zeros_like(tf.concat([h0] * gate_count, axis=-1)),
    )
    carry, d_x = scan(
        step, steps=steps_of(x), sequences=BackwardSlices(d_states, x, saved, mask), carry=carry,
        emit_like=(x[0],) if with_dx else (), reverse=True,
    )
    d_x = d_x[0].stack() if with_dx else None
    return d_x, carry.d_kernel, tf.reduce_sum(carry.d_bias, axis=0), carry.dh, tf.concat(carry.d_recurrent, axis=-1)


def run_relevance_gru(layer, sequences, *, initial_state, mask, training):
    """``inner_loop`` of :class:`~deepkit.layers.RelevanceGRU` on the fused path."""
    cell = layer.cell
    dtype = sequences.dtype
    h0 = tf.cast(initial_state[0], dtype)
    x = sequence_io.time_major_inputs(layer, sequences, training)
    mask = sequence_io.time_major_mask(layer, mask, dtype)
    out = gru_sequence(
        x,
        kernel=tf.cast(cell.kernel, dtype),
        bias=tf.cast(cell.bias, dtype) if cell.use_bias else None,
        h0=h0,
        recurrent_kernel=tf.cast(cell.recurrent_kernel, dtype),
        relevance_gate=cell.relevance_gate,
        mask=mask,
        rdm=sequence_io.recurrent_dropout_mask(layer, h0, training),
        sequences=layer.return_sequences,
    )
    last, outputs, h = sequence_io.layer_outputs(layer, out, mask=mask)
    return last, outputs, [h]
