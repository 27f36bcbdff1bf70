"""The scan engine of the fused path: a raw ``tf.while_loop`` over time steps.

:func:`scan` runs a step function over time-major sequences with a static trip
count, so that the loop compiles under XLA forward and inside a gradient; it is
what both kernels (:mod:`.lstm_kernel`, :mod:`.gru_kernel`) run forward and
backward. Sequences, carry and emitted values are any nest of tensors
(``NamedTuple``s, tuples) in which ``None`` stands for an absent value. The
window helpers at the end serve the LSTM's backward loop under XLA, which forms
its weight gradients once per window of steps.
"""

import enum
from typing import NamedTuple

import tensorflow as tf

from deepkit.layers.fused import tf_private

STEPS_PER_ITERATION = 4
"""Time steps one iteration of the loops runs, outside XLA.

Each iteration of a ``tf.while_loop`` costs TensorFlow's executor a fixed amount
of bookkeeping per loop variable, which a few steps per iteration share. XLA
compiles the loop and has no such cost, and there a longer body is slower, so
under XLA each iteration runs one step. The value does not change the numbers
computed."""

WEIGHT_GRADIENT_WINDOW = 16
"""Under XLA, the LSTM's backward loop forms its weight gradients every this many
steps, as one product over the window's steps (see :func:`scan`)."""


class Stored(enum.Enum):
    """What a kernel's forward loop stores for later, one value per step."""

    FINAL_STATES = "nothing: only the final states leave the loop (no tape, h_T only)"
    STATES = "every h_t (no tape, the whole sequence returned)"
    GRADIENT = "what the backward loop reads"
    GATES = "what the backward loop reads less h_{t-1}, which it then recomputes (LSTM only)"


class ForwardSlices(NamedTuple):
    """What a kernel's forward step reads: ``x_t`` and the mask's step (``None`` without one)."""

    x: tf.Tensor
    mask: tf.Tensor


class BackwardSlices(NamedTuple):
    """What a kernel's backward step reads."""

    d_state: tf.Tensor
    """The gradient of ``h_t`` as an output; ``None`` when only ``h_T`` was returned."""
    x: tf.Tensor
    saved: tuple
    """The kernel's ``NamedTuple`` of what its forward step stored."""
    mask: tf.Tensor
    """The mask's step; ``None`` without a mask."""


def steps_of(sequence):
    """The length of a time-major ``sequence``: an ``int`` when known while tracing."""
    return sequence.shape[0] if sequence.shape[0] is not None else tf.shape(sequence)[0]


def _leaves(structure):
    """The values of a nest, ``None`` (absent values) left out."""
    return [leaf for leaf in tf.nest.flatten(structure) if leaf is not None]


def _pack(structure, leaves):
    """``structure`` with its non-``None`` values replaced by ``leaves``, in order."""
    leaves = iter(leaves)
    flat = [None if leaf is None else next(leaves) for leaf in tf.nest.flatten(structure)]
    return tf.nest.pack_sequence_as(structure, flat)


def _read(sequence, t):
    return sequence.read(t) if isinstance(sequence, tf.TensorArray) else sequence[t]


def scan(step, *, steps, sequences, carry, emit_like=(), reverse=False, flush=None):
    """Runs ``carry, emitted = step(t, slices_t, carry)`` over ``steps`` time steps.

    A raw ``tf.while_loop`` with a static trip count (``maximum_iterations``), so
    that it compiles under XLA, forward and in a gradient. Each iteration runs
    :data:`STEPS_PER_ITERATION` steps when the length is known while tracing
    (the steps left over run after the loop). The slices of an iteration's first
    step are read at the end of the previous one and carried, so that under XLA
    the elementwise work of a step reads dense buffers. Emitted values are
    written to TensorArrays: writing one stores a reference, and a later loop
    reads it without a copy.

    With ``flush`` (``reverse`` only) the steps run in windows of
    :data:`WEIGHT_GRADIENT_WINDOW`, a window closing after each step ``t`` with
    ``t mod W = 0`` (the first window run may be partial), and ``carry =
    flush(carry)`` runs after each window: a loop over windows around a loop over
    a window's steps (a ``tf.cond`` closing the window inside a single loop made
    XLA copy the carried totals on every step). There the steps read their own
    slices.

    Args:
        step: ``(t, slices, carry) -> (carry, emitted)``; ``slices`` has the
            structure of ``sequences``, ``emitted`` that of ``emit_like``.
        steps: the number of steps, an ``int`` or a scalar tensor.
        sequences: a nest of time-major tensors or ``tf.TensorArray``s (``None``
            where absent) whose step ``t`` the step receives.
        carry: the nest of tensors carried from step to step.
        emit_like: a nest of tensors shaped like the per-step emitted values
            (``None`` where nothing is emitted).
        reverse: run from step ``steps - 1`` down to 0.
        flush: ``carry -> carry``, run after each window of steps.

    Returns:
        ``(carry, arrays)``: the final carry and, in the structure of
        ``emit_like``, a ``tf.TensorArray`` of each emitted value.

    Raises:
        ValueError: ``flush`` without ``reverse``.
    """
    if flush is not None and not reverse:
        raise ValueError(
            "scan: `flush` closes windows at steps t with t mod W = 0, so it needs reverse=True; "
            f"received reverse={reverse!r}"
        )
    delta = -1 if reverse else 1
    first = tf.constant(0) + (steps - 1 if reverse else 0)
    flat_sequences = _leaves(sequences)

    def read_all(t):
        return [_read(sequence, t) for sequence in flat_sequences]

    def run(t, slices, carry, arrays):
        carry, emitted = step(t, _pack(sequences, slices), _pack(carry_like, carry))
        written = [array.write(t, value) for array, value in zip(arrays, _leaves(emitted))]
        return _leaves(carry), written

    carry_like = carry
    arrays = [
        tf.TensorArray(like.dtype, size=steps, element_shape=like.shape, clear_after_read=False)
        for like in _leaves(emit_like)
    ]
    carry = _leaves(carry)
    if flush is not None:

        def step_reading_its_slices(t, carry, arrays):
            carry, arrays = run(t, read_all(t), carry, arrays)
            return t + delta, carry, arrays

        def flush_flat(carry):
            return _leaves(flush(_pack(carry_like, carry)))

        carry, arrays = _scan_windows(
            step_reading_its_slices, steps=steps, first=first, carry=carry, arrays=arrays, flush=flush_flat
        )
        return _pack(carry_like, carry), _pack(emit_like, arrays)

    known_length = isinstance(steps, int)
    several = known_length and steps >= STEPS_PER_ITERATION and not tf_private.compiled_by_xla()
    per_iteration = STEPS_PER_ITERATION if several else 1
    iterations = steps // per_iteration
    left_over = steps - iterations * per_iteration if known_length else 0

    def body(t, slices, carry, arrays):
        for offset in range(per_iteration):
            if offset:
                slices = read_all(t + offset * delta)
            carry, arrays = run(t + offset * delta, slices, carry, arrays)
        following = tf.clip_by_value(t + per_iteration * delta, 0, steps - 1)
        return t + per_iteration * delta, read_all(following), carry, arrays

    def cond(t, *_):
        return t >= steps - iterations * per_iteration if reverse else t < iterations * per_iteration

    # One iteration at a time: letting the next ones start early (the default, 10)
    # is no faster and holds their temporaries.
    t, slices, carry, arrays = tf.while_loop(
        cond, body, (first, read_all(first), carry, arrays), maximum_iterations=iterations, parallel_iterations=1
    )
    for offset in range(left_over):
        if offset:
            slices = read_all(t + offset * delta)
        carry, arrays = run(t + offset * delta, slices, carry, arrays)
    return _pack(carry_like, carry), _pack(emit_like, arrays)


def _scan_windows(body, *, steps, first, carry, arrays, flush):
    """:func:`scan`'s loop with ``flush``: windows of :data:`WEIGHT_GRADIENT_WINDOW`
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


# === Window buffers (the LSTM's backward loop under XLA) ===


class Windows(NamedTuple):
    """Buffers of :data:`WEIGHT_GRADIENT_WINDOW` steps, each ``(W, batch, ·)``."""

    dz: tf.Tensor
    """The gate pre-activations' gradients ``dz``."""
    x: tf.Tensor
    """The inputs ``x_t``."""
    read: tf.Tensor
    """What the recurrent kernel multiplied: ``h_{t-1} ⊙ rdm``."""


class WeightGradients(NamedTuple):
    """The totals ``dU``, ``dW`` and ``db`` (``db`` per batch row, summed after the loop)."""

    recurrent: tf.Tensor
    kernel: tf.Tensor
    bias: tf.Tensor


def new_windows(like):
    """Zero :class:`Windows` shaped like the step values ``like`` (a :class:`Windows`
    of ``(batch, ·)`` tensors whose batch size may only be known when the graph runs)."""
    return Windows(
        *(tf.zeros(tf.concat([[WEIGHT_GRADIENT_WINDOW], tf.shape(value)], 0), value.dtype) for value in like)
    )


def write_windows(t, windows, values):
    """Writes step ``t``'s ``values`` (a :class:`Windows` of ``(batch, ·)`` tensors)
    into slot ``t mod W`` of the carried ``windows``, in place (XLA's
    ``dynamic_update_slice``)."""
    slot = t % WEIGHT_GRADIENT_WINDOW
    return Windows(
        *(
            tf_private.xla_dynamic_update_slice(window, value[None], tf.stack([slot, 0, 0]))
            for window, value in zip(windows, values)
        )
    )


def add_window_products(totals, windows):
    """``totals`` (:class:`WeightGradients`) plus one window's ``readᵀ dz``,
    ``x_tᵀ dz`` and ``Σ dz``: products ``W · batch`` rows deep."""
    dz, x, read = (tf.reshape(window, [-1, window.shape[-1]]) for window in windows)
    return WeightGradients(
        recurrent=totals.recurrent + tf.matmul(read, dz, transpose_a=True),
        kernel=totals.kernel + tf.matmul(x, dz, transpose_a=True),
        bias=totals.bias + tf.reduce_sum(windows.dz, axis=0),
    )
