"""Linear-chain conditional random field (Lafferty et al. 2001) for sequence tagging.

The maths lives in three pure functions of the potentials and the weights:
:func:`crf_sequence_score` (the score of one tag sequence), :func:`crf_log_partition`
(the forward algorithm) and :func:`crf_viterbi` (the best sequence). :class:`CRF`
owns the weights, decodes with Viterbi when called, and gives the negative
log-likelihood that training minimises.

Masked steps (padding) are skipped, wherever they are: a padded sentence scores,
normalises and decodes exactly like the same sentence without its padding.
"""

import keras
import tensorflow as tf
from keras import ops

from deepkit.registry import register
from deepkit.validation import check_int


def _time_major(tensor):
    return ops.moveaxis(tensor, 1, 0)


def _scan(step, init, xs, reverse=False):
    """Every step's carry, stacked on a leading time axis: ``tf.scan``. (Keras'
    ``ops.scan`` on TensorFlow requires the per-step outputs to be shaped like the
    carry, which Viterbi's back-pointers are not.)"""
    return tf.scan(step, xs, initializer=init, reverse=reverse)


def _step_mask(potentials, mask):
    """``mask`` as float32 (batch, time), all ones when ``None``."""
    if mask is None:
        return ops.ones(ops.shape(potentials)[:2], dtype="float32")
    return ops.cast(mask, "float32")


def crf_sequence_score(potentials, tags, mask, transitions, start_transitions, end_transitions):
    """Unnormalised log-score of the tag sequences ``tags``.

    Equation (``t`` runs over the real, unmasked steps, ``t_1`` the first, ``t_n`` the last)::

        s(x, y) = start[y_{t_1}] + Σ_t P[t, y_t] + Σ_{t>t_1} A[y_{t-1}, y_t] + end[y_{t_n}]

    where ``y_{t-1}`` is the tag of the previous *real* step.

    Args:
        potentials: Unary scores ``P``, float (batch, time, num_tags).
        tags: Integer (batch, time), each in ``[0, num_tags)``; masked steps are ignored.
        mask: Boolean or 0/1 (batch, time), or ``None`` (every step real).
        transitions: ``A``, (num_tags, num_tags); ``A[i, j]`` scores tag ``i`` followed by ``j``.
        start_transitions, end_transitions: (num_tags,), scores of the first and last tag.

    Returns:
        (batch,) float; 0 for a sentence without a real step.
    """
    num_tags = ops.shape(transitions)[0]
    steps = _step_mask(potentials, mask)
    one_hot = ops.one_hot(ops.cast(tags, "int32"), num_tags, dtype=potentials.dtype)
    unary = ops.sum(potentials * one_hot, axis=-1)  # (batch, time)

    def step(carry, inputs):
        score, previous, seen = carry
        y_t, unary_t, real = inputs
        pair = ops.sum(ops.matmul(previous, transitions) * y_t, axis=-1)
        first = ops.sum(start_transitions * y_t, axis=-1)
        added = unary_t + seen * pair + (1.0 - seen) * first
        score = score + real * added
        previous = real[:, None] * y_t + (1.0 - real[:, None]) * previous
        seen = ops.maximum(seen, real)
        return score, previous, seen

    batch = ops.shape(potentials)[0]
    zeros = ops.zeros((batch,), dtype=potentials.dtype)
    init = (zeros, ops.zeros((batch, num_tags), dtype=potentials.dtype), zeros)
    xs = (_time_major(one_hot), _time_major(unary), _time_major(ops.cast(steps, potentials.dtype)))
    score, last, seen = (stacked[-1] for stacked in _scan(step, init, xs))
    return score + seen * ops.sum(end_transitions * last, axis=-1)


def crf_log_partition(potentials, mask, transitions, start_transitions, end_transitions):
    """``log Z(x)``, the log-sum of ``exp(s(x, y))`` over every tag sequence, by the forward algorithm.

    Equations (``α`` over the real steps; a masked step leaves it unchanged)::

        α_{t_1}[j] = start[j] + P[t_1, j]
        α_t[j]     = logsumexp_i(α_{t-1}[i] + A[i, j]) + P[t, j]
        log Z      = logsumexp_j(α_{t_n}[j] + end[j])

    Args:
        potentials: (batch, time, num_tags).
        mask: Boolean or 0/1 (batch, time), or ``None``.
        transitions, start_transitions, end_transitions: As :func:`crf_sequence_score`.

    Returns:
        (batch,) float; 0 for a sentence without a real step.
    """
    steps = _step_mask(potentials, mask)

    def step(carry, inputs):
        alpha, seen = carry
        potentials_t, real = inputs
        moved = ops.logsumexp(alpha[:, :, None] + transitions[None], axis=1) + potentials_t
        first = start_transitions[None] + potentials_t
        new = seen[:, None] * moved + (1.0 - seen[:, None]) * first
        alpha = real[:, None] * new + (1.0 - real[:, None]) * alpha
        return alpha, ops.maximum(seen, real)

    batch, num_tags = ops.shape(potentials)[0], ops.shape(transitions)[0]
    init = (ops.zeros((batch, num_tags), dtype=potentials.dtype), ops.zeros((batch,), dtype=potentials.dtype))
    xs = (_time_major(potentials), _time_major(ops.cast(steps, potentials.dtype)))
    alpha, seen = (stacked[-1] for stacked in _scan(step, init, xs))
    return seen * ops.logsumexp(alpha + end_transitions[None], axis=-1)


def crf_viterbi(potentials, mask, transitions, start_transitions, end_transitions):
    """The highest-scoring tag sequence of each sentence (Viterbi 1967).

    Equations (``δ`` over the real steps, ``ψ`` the back-pointers)::

        δ_{t_1}[j] = start[j] + P[t_1, j]
        δ_t[j]     = max_i(δ_{t-1}[i] + A[i, j]) + P[t, j],   ψ_t[j] = argmax_i(...)
        y_{t_n}    = argmax_j(δ_{t_n}[j] + end[j]),   y_{t-1} = ψ_t[y_t]

    Args:
        potentials: (batch, time, num_tags).
        mask: Boolean or 0/1 (batch, time), or ``None``.
        transitions, start_transitions, end_transitions: As :func:`crf_sequence_score`.

    Returns:
        ``(tags, scores)``: int32 (batch, time), 0 at masked steps, and the best
        sequences' scores ``s(x, y*)``, (batch,) float.
    """
    steps = _step_mask(potentials, mask)
    num_tags = ops.shape(transitions)[0]
    identity = ops.arange(num_tags, dtype="int32")

    def forward(carry, inputs):
        delta, seen, _ = carry
        potentials_t, real = inputs
        candidates = delta[:, :, None] + transitions[None]  # (batch, from, to)
        moved = ops.max(candidates, axis=1) + potentials_t
        first = start_transitions[None] + potentials_t
        new = seen[:, None] * moved + (1.0 - seen[:, None]) * first
        delta = real[:, None] * new + (1.0 - real[:, None]) * delta
        # A masked step, or the first real one, points every tag back to itself.
        moves = ops.logical_and(real > 0, seen > 0)[:, None]
        pointers = ops.where(moves, ops.cast(ops.argmax(candidates, axis=1), "int32"), identity[None])
        return delta, ops.maximum(seen, real), pointers

    batch = ops.shape(potentials)[0]
    init = (
        ops.zeros((batch, num_tags), dtype=potentials.dtype),
        ops.zeros((batch,), dtype=potentials.dtype),
        ops.zeros((batch, num_tags), dtype="int32"),
    )
    xs = (_time_major(potentials), _time_major(ops.cast(steps, potentials.dtype)))
    deltas, seens, pointers = _scan(forward, init, xs)  # pointers: (time, batch, num_tags)
    delta, seen = deltas[-1], seens[-1]
    final = delta + end_transitions[None]
    last = ops.cast(ops.argmax(final, axis=-1), "int32")
    scores = seen * ops.max(final, axis=-1)

    def backward(tag_next, pointers_next):
        # Step t + 1's pointers give, for each of its tags, the best tag at step t.
        return ops.squeeze(ops.take_along_axis(pointers_next, tag_next[:, None], axis=1), axis=1)

    # The last step's tag is `last`; each earlier one comes from the next step's pointers.
    earlier = _scan(backward, last, pointers[1:], reverse=True)
    tags = ops.concatenate([earlier, last[None]], axis=0)
    tags = _time_major(tags) * ops.cast(steps, "int32")
    return tags, scores


@register
class CRF(keras.layers.Layer):
    """Linear-chain conditional random field over per-step tag scores.

    Weights: ``transitions`` (num_tags, num_tags), where ``transitions[i, j]`` scores
    tag ``i`` followed by tag ``j``, then ``start_transitions`` and
    ``end_transitions`` (num_tags,), the scores of a sentence's first and last tag.

    Called on the unary potentials (the scores a ``Dense(num_tags)`` gives each
    token), it returns the Viterbi tag sequence. :meth:`negative_log_likelihood`
    is the training loss, ``log Z(x) - s(x, y)``. A Keras mask (from
    ``Embedding(mask_zero=True)``) reaches the call by itself; masked steps are
    skipped, wherever they are, and decode to tag 0. The layer computes in float32
    (its default ``dtype``), since the forward algorithm sums scores over the whole
    sentence and float16 would lose them.

    A Keras loss sees only ``(y_true, y_pred)`` with an element-wise mask, while the
    likelihood of a sentence needs the potentials, the mask and the transitions
    together: :class:`deepkit.models.CRFTagger` trains a model that ends in this
    layer through ``fit``.

    Args:
        num_tags: Positive integer, the size of the tag set.
        transitions_initializer: Initializer of the three transition weights
            (default ``"zeros"``: the first steps train like a softmax tagger).
        transitions_regularizer: Optional regularizer of the three weights.
        **kwargs: Arguments of ``keras.layers.Layer``.

    Call arguments:
        potentials: Float tensor (batch, time, num_tags).
        mask: Optional boolean (batch, time); ``False`` marks padding.

    Returns:
        int32 (batch, time): the highest-scoring tag of each step, 0 where masked.

    Raises:
        ValueError: When the potentials' last dimension is not ``num_tags``, or (in
            eager execution and ``tf.function`` graphs; not under XLA, which cannot
            raise) when a tag lies outside ``[0, num_tags)``.

    Example:

    >>> crf = CRF(3)
    >>> potentials = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    >>> tuple(crf(potentials).shape)
    (2, 4)
    >>> tags = np.array([[0, 1, 2, 1], [2, 2, 0, 0]])
    >>> tuple(crf.negative_log_likelihood(potentials, tags).shape)
    (2,)

    Reference:
        Lafferty, McCallum & Pereira, "Conditional Random Fields: Probabilistic
        Models for Segmenting and Labeling Sequence Data", ICML 2001.
    """

    def __init__(self, num_tags, transitions_initializer="zeros", transitions_regularizer=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.num_tags = check_int(f"CRF '{self.name}'", "num_tags", num_tags)
        self.transitions_initializer = keras.initializers.get(transitions_initializer)
        self.transitions_regularizer = keras.regularizers.get(transitions_regularizer)
        self.supports_masking = True

    def _check_potentials(self, shape):
        shape = tuple(shape)
        if len(shape) != 3:
            raise ValueError(
                f"CRF '{self.name}': expected potentials of shape (batch, time, num_tags={self.num_tags}). "
                f"Received: shape {shape}"
            )
        if shape[-1] is not None and shape[-1] != self.num_tags:
            raise ValueError(
                f"CRF '{self.name}': expected potentials with num_tags={self.num_tags} scores per step "
                f"(its last dimension). Received: shape {shape}, {shape[-1]} scores per step"
            )

    def build(self, input_shape):
        self._check_potentials(input_shape)
        options = dict(initializer=self.transitions_initializer, regularizer=self.transitions_regularizer)
        self.transitions = self.add_weight(name="transitions", shape=(self.num_tags, self.num_tags), **options)
        self.start_transitions = self.add_weight(name="start_transitions", shape=(self.num_tags,), **options)
        self.end_transitions = self.add_weight(name="end_transitions", shape=(self.num_tags,), **options)

    def _weights(self):
        return (
            ops.cast(self.transitions, "float32"),
            ops.cast(self.start_transitions, "float32"),
            ops.cast(self.end_transitions, "float32"),
        )

    def _prepare(self, potentials):
        potentials = ops.convert_to_tensor(potentials)
        self._check_potentials(potentials.shape)
        if not self.built:
            self.build(potentials.shape)
        return ops.cast(potentials, "float32")

    def _checked_tags(self, tags):
        tags = ops.cast(ops.convert_to_tensor(tags), "int32")
        if tf.executing_eagerly():
            values = ops.convert_to_numpy(tags)
            if values.size and (values.min() < 0 or values.max() >= self.num_tags):
                bad = sorted({int(v) for v in values.ravel() if v < 0 or v >= self.num_tags})
                raise ValueError(
                    f"CRF '{self.name}': expected tags in [0, {self.num_tags}) (num_tags={self.num_tags}). "
                    f"Received tags {bad[:10]}"
                )
            return tags
        check = tf.debugging.assert_less(
            tags, self.num_tags,
            message=f"CRF '{self.name}': expected tags in [0, {self.num_tags}) (num_tags={self.num_tags})",
        )
        with tf.control_dependencies([check, tf.debugging.assert_non_negative(tags)]):
            return tf.identity(tags)

    def call(self, potentials, mask=None):
        tags, _ = crf_viterbi(self._prepare(potentials), mask, *self._weights())
        return tags

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)[:2]

    def compute_output_spec(self, potentials, mask=None):
        return keras.KerasTensor(tuple(potentials.shape)[:2], dtype="int32")

    def compute_mask(self, inputs, mask=None):
        return mask

    def decode(self, potentials, mask=None):
        """``(tags, scores)``: the Viterbi sequences, int32 (batch, time), and their scores, (batch,)."""
        return crf_viterbi(self._prepare(potentials), mask, *self._weights())

    def sequence_score(self, potentials, tags, mask=None):
        """``s(x, y)`` of the given tags, (batch,); see :func:`crf_sequence_score`."""
        return crf_sequence_score(self._prepare(potentials), self._checked_tags(tags), mask, *self._weights())

    def log_partition(self, potentials, mask=None):
        """``log Z(x)``, (batch,); see :func:`crf_log_partition`."""
        return crf_log_partition(self._prepare(potentials), mask, *self._weights())

    def negative_log_likelihood(self, potentials, tags, mask=None):
        """``-log p(y | x) = log Z(x) - s(x, y)`` per sentence, (batch,): the training loss.

        Args:
            potentials: Float (batch, time, num_tags).
            tags: Integer (batch, time), the true tags; masked steps are ignored.
            mask: Optional boolean (batch, time).
        """
        return self.log_partition(potentials, mask) - self.sequence_score(potentials, tags, mask)

    def get_config(self):
        return {
            **super().get_config(),
            "num_tags": self.num_tags,
            "transitions_initializer": keras.initializers.serialize(self.transitions_initializer),
            "transitions_regularizer": keras.regularizers.serialize(self.transitions_regularizer),
        }
