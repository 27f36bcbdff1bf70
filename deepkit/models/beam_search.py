"""Greedy and beam search over any decoder step, as loops of ``keras.ops`` that trace into
one graph (a SavedModel endpoint, an XLA cluster).

A decoder is given as ``step(tokens, state) -> (log_probs, state, weights)``: the log
probabilities of the next token for each of ``N`` running sequences, the new state (any
nest of tensors whose first axis is ``N``) and a per-sequence auxiliary output (the
attention weights over the source). Both searches run ``max_length`` steps, and a
sequence that has emitted ``end_id`` continues only with ``pad_id`` at no cost, so it
keeps its score and its place among the beams.
"""

from typing import NamedTuple

import keras
from keras import ops

NEG = -1e9  # the log probability of a banned token: finite, so sums of them never make NaN


class Hypotheses(NamedTuple):
    """What a search returns, best first along ``beams`` (beam search only).

    Attributes:
        ids: (batch, [beams,] max_length) int32 token ids; ``pad_id`` after ``end_id``.
        scores: (batch, [beams]) log probability divided by :func:`length_normaliser`.
        log_probs: (batch, [beams]) the sequence's log probability (end token included).
        lengths: (batch, [beams]) tokens generated, the end token included.
        weights: (batch, [beams,] max_length, weight_dim) the step's auxiliary output; zero
            after the end token.
    """

    ids: object
    scores: object
    log_probs: object
    lengths: object
    weights: object


def length_normaliser(lengths, alpha):
    """GNMT's length penalty (Wu et al. 2016, eq. 14): ``((5 + |Y|) / 6) ** alpha``.

    ``alpha = 0`` ranks hypotheses by their log probability; larger ``alpha`` favours
    longer ones.
    """
    return ops.power((5.0 + ops.cast(lengths, "float32")) / 6.0, alpha)


def _banned(log_probs, banned_ids):
    if not banned_ids:
        return log_probs
    vocabulary = ops.shape(log_probs)[-1]
    banned = ops.any(ops.stack([ops.arange(vocabulary) == i for i in banned_ids]), axis=0)
    return ops.where(banned, NEG, log_probs)


def write_step(buffer, position, value, axis=1):
    """``buffer`` with ``value`` written at ``position`` along ``axis`` (``value`` lacks that
    axis), by a one-hot select: XLA-friendly, and differentiable with respect to ``value``."""
    steps = ops.shape(buffer)[axis]
    at = ops.arange(steps) == position
    at = ops.reshape(at, (1,) * axis + (steps,) + (1,) * (len(buffer.shape) - axis - 1))
    return ops.where(at, ops.expand_dims(value, axis), buffer)


def greedy_search(step, state, batch_size, max_length, start_id, end_id, pad_id, weight_dim, banned_ids=()):
    """Greedy decoding: at each step the most probable token.

    Args:
        step: ``step(tokens (batch,), state) -> (log_probs (batch, vocabulary), state,
            weights (batch, weight_dim))``.
        state: The decoder's initial state, a nest of (batch, ...) tensors.
        batch_size: Number of sequences (may be a symbolic scalar).
        max_length: Steps to run (an int).
        start_id, end_id, pad_id: Token ids of the first input, of the end, of padding.
        weight_dim: Size of ``weights``' last axis.
        banned_ids: Ids never generated (padding, the start token).

    Returns:
        :class:`Hypotheses` without the beam axis.
    """
    banned_ids = tuple(banned_ids) + (pad_id,)

    def body(t, carry):
        tokens, state, ids, weights, log_prob, lengths, finished = carry
        log_probs, state, step_weights = step(tokens, state)
        log_probs = _banned(ops.cast(log_probs, "float32"), banned_ids)
        token = ops.cast(ops.argmax(log_probs, axis=-1), "int32")
        best = ops.take_along_axis(log_probs, token[:, None], axis=-1)[:, 0]
        token = ops.where(finished, pad_id, token)
        log_prob = log_prob + ops.where(finished, 0.0, best)
        lengths = lengths + ops.cast(ops.logical_not(finished), "int32")
        step_weights = ops.where(finished[:, None], 0.0, ops.cast(step_weights, "float32"))
        ids, weights = write_step(ids, t, token), write_step(weights, t, step_weights)
        return token, state, ids, weights, log_prob, lengths, ops.logical_or(finished, token == end_id)

    carry = (
        ops.full((batch_size,), start_id, "int32"),
        state,
        ops.full((batch_size, max_length), pad_id, "int32"),
        ops.zeros((batch_size, max_length, weight_dim), "float32"),
        ops.zeros((batch_size,), "float32"),
        ops.zeros((batch_size,), "int32"),
        ops.zeros((batch_size,), "bool"),
    )
    _, _, ids, weights, log_prob, lengths, _ = ops.fori_loop(0, max_length, body, carry)
    return Hypotheses(ids, log_prob, log_prob, lengths, weights)


def beam_search(
    step, state, batch_size, beam_width, max_length, start_id, end_id, pad_id, weight_dim,
    length_penalty=0.0, banned_ids=(),
):
    """Beam search: keeps the ``beam_width`` most probable prefixes at every step.

    Each step extends every running beam by every token, keeps the ``beam_width`` best of
    the ``beam_width · vocabulary`` candidates by log probability, and reorders the
    decoder state to follow them. Finished beams compete unchanged. At the end the
    beams are ranked by ``log_prob / length_normaliser(length, length_penalty)``. With
    a width of at least ``vocabulary ** (max_length - 1)`` nothing is ever pruned, and
    the search returns the most probable sequence exactly.

    Args:
        step: ``step(tokens (batch·beam_width,), state) -> (log_probs (batch·beam_width,
            vocabulary), state, weights (batch·beam_width, weight_dim))``.
        state: The initial state, a nest of (batch·beam_width, ...) tensors: each batch
            row repeated ``beam_width`` times in a row (``ops.repeat(x, beam_width, 0)``).
        batch_size: Number of source sequences (may be a symbolic scalar).
        beam_width: Beams kept per source (an int >= 1).
        max_length, start_id, end_id, pad_id, weight_dim, banned_ids: As in
            :func:`greedy_search`.
        length_penalty: ``alpha`` of :func:`length_normaliser` (default 0).

    Returns:
        :class:`Hypotheses`, beams best first.
    """
    banned_ids = tuple(banned_ids) + (pad_id,)
    width = beam_width

    def unflatten(x):
        return ops.reshape(x, (-1, width) + tuple(ops.shape(x)[1:]))

    def flatten(x):
        return ops.reshape(x, (-1,) + tuple(ops.shape(x)[2:]))

    def follow(x, beams):
        """Rows of ``x`` (batch, width, ...) reordered to the chosen ``beams`` (batch, width)."""
        index = ops.reshape(beams, tuple(ops.shape(beams)) + (1,) * (len(x.shape) - 2))
        return ops.take_along_axis(x, index, axis=1)

    def body(t, carry):
        tokens, state, ids, weights, log_probs, lengths, finished = carry
        step_log_probs, state, step_weights = step(tokens, state)
        step_log_probs = _banned(unflatten(ops.cast(step_log_probs, "float32")), banned_ids)
        vocabulary = ops.shape(step_log_probs)[-1]
        # A finished beam continues only with padding, at no cost: it keeps its score.
        only_pad = ops.where(ops.arange(vocabulary) == pad_id, 0.0, NEG)
        step_log_probs = ops.where(finished[..., None], only_pad, step_log_probs)
        candidates = ops.reshape(log_probs[..., None] + step_log_probs, (-1, width * vocabulary))
        log_probs, chosen = ops.top_k(candidates, k=width)
        beams, token = chosen // vocabulary, ops.cast(chosen % vocabulary, "int32")

        was_finished = follow(finished, beams)
        lengths = follow(lengths, beams) + ops.cast(ops.logical_not(was_finished), "int32")
        step_weights = follow(unflatten(ops.cast(step_weights, "float32")), beams)
        step_weights = ops.where(was_finished[..., None], 0.0, step_weights)
        ids = write_step(follow(ids, beams), t, token, axis=2)
        weights = write_step(follow(weights, beams), t, step_weights, axis=2)
        state = keras.tree.map_structure(lambda s: flatten(follow(unflatten(s), beams)), state)
        finished = ops.logical_or(was_finished, token == end_id)
        return flatten(token), state, ids, weights, log_probs, lengths, finished

    # Only the first beam of each source is live at the start: the others would repeat it.
    first = ops.where(ops.arange(width) == 0, 0.0, NEG)
    carry = (
        ops.full((batch_size * width,), start_id, "int32"),
        state,
        ops.full((batch_size, width, max_length), pad_id, "int32"),
        ops.zeros((batch_size, width, max_length, weight_dim), "float32"),
        ops.zeros((batch_size, width), "float32") + first,
        ops.zeros((batch_size, width), "int32"),
        ops.zeros((batch_size, width), "bool"),
    )
    _, _, ids, weights, log_probs, lengths, _ = ops.fori_loop(0, max_length, body, carry)
    scores = log_probs / length_normaliser(lengths, length_penalty)
    scores, order = ops.top_k(scores, k=width)
    return Hypotheses(
        follow(ids, order), scores, follow(log_probs, order), follow(lengths, order), follow(weights, order)
    )
