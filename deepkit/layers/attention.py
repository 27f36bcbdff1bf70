"""Attention over a padded source sequence: additive (Bahdanau et al. 2015) and
multiplicative (Luong et al. 2015) scores, the masked softmax, and one layer for each.

A decoder reads the same source at every output step, so both layers split the work:
:meth:`keys` projects the source once, :meth:`attend` scores one query against those
keys. ``layer(query, values, mask)`` does both, for use as an ordinary layer.
"""

import keras
from keras import ops

from deepkit.registry import register
from deepkit.validation import check_choice, check_int


def masked_softmax(scores, mask=None):
    """Softmax over the last axis of ``scores`` (batch, source_steps), with the steps where
    ``mask`` is False given zero weight.

    A row whose mask is all False would divide by zero; its weights come out as zeros.
    """
    if mask is None:
        return ops.softmax(scores, axis=-1)
    mask = ops.cast(mask, "bool")
    # Computed in float32: float16 overflows on exp of large scores before the shift.
    scores = ops.cast(scores, "float32")
    scores = ops.where(mask, scores, ops.full_like(scores, -1e9))
    weights = ops.softmax(scores, axis=-1) * ops.cast(mask, "float32")
    return weights / ops.maximum(ops.sum(weights, axis=-1, keepdims=True), 1e-9)


def additive_scores(query_projection, keys, v):
    """Bahdanau et al. (2015), eq. 6: ``e_j = vᵀ tanh(W_q q + W_k h_j)``.

    Args:
        query_projection: ``W_q q``, shape (batch, units).
        keys: ``W_k h_j`` for every source step, shape (batch, source_steps, units).
        v: shape (units,).

    Returns:
        Scores ``e``, shape (batch, source_steps).
    """
    return ops.sum(ops.tanh(keys + query_projection[:, None, :]) * v, axis=-1)


def multiplicative_scores(query, keys):
    """Luong et al. (2015), eq. 8: ``e_j = qᵀ k_j`` with ``k_j = W h_j`` ("general") or
    ``k_j = h_j`` ("dot").

    Args:
        query: shape (batch, dim).
        keys: shape (batch, source_steps, dim).

    Returns:
        Scores ``e``, shape (batch, source_steps).
    """
    return ops.sum(keys * query[:, None, :], axis=-1)


class _Attention(keras.layers.Layer):
    """What both attention layers share: the call on (query, values, mask), and the context."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True  # the mask is the source's; the outputs have no time axis to carry it

    def compute_mask(self, *args, **kwargs):
        return None

    def call(self, query, values, mask=None):
        return self.attend(query, self.keys(values), values, mask)

    def attend(self, query, keys, values, mask=None):
        """Context and weights of one query against keys made by :meth:`keys`.

        Returns:
            ``(context, weights)``: the weighted sum of ``values`` (batch, value_dim) and
            the attention weights (batch, source_steps), zero on masked steps.
        """
        weights = masked_softmax(self.scores(query, keys), mask)
        context = ops.einsum("bs,bsd->bd", ops.cast(weights, values.dtype), values)
        return context, ops.cast(weights, self.compute_dtype)

    def compute_output_spec(self, query, values, mask=None):
        batch, steps, value_dim = values.shape
        return (
            keras.KerasTensor((batch, value_dim), dtype=self.compute_dtype),
            keras.KerasTensor((batch, steps), dtype=self.compute_dtype),
        )


@register
class BahdanauAttention(_Attention):
    """Additive attention (Bahdanau, Cho & Bengio 2015)::

        e_j = vᵀ tanh(W_q q + W_k h_j),   α = softmax(e) over the unmasked steps,
        context = Σ_j α_j h_j

    Weights: ``query_kernel`` (query_dim, units), ``key_kernel`` (value_dim, units),
    ``score_vector`` (units,).

    Args:
        units: Positive integer, size of the hidden layer of the score.
        kernel_initializer: Initializer of the two kernels (default ``"glorot_uniform"``).
        **kwargs: Arguments of ``keras.layers.Layer``.

    Call arguments:
        query: (batch, query_dim), the decoder's state.
        values: (batch, source_steps, value_dim), the encoder's outputs.
        mask: Optional (batch, source_steps) booleans, False on padding.

    Returns:
        ``(context, weights)``: (batch, value_dim) and (batch, source_steps).

    Example:

    >>> attention = BahdanauAttention(8)
    >>> context, weights = attention(np.ones((2, 5), "float32"), np.ones((2, 7, 3), "float32"))
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 3), (2, 7))

    Reference:
        Bahdanau, Cho & Bengio, "Neural Machine Translation by Jointly Learning to Align
        and Translate", ICLR 2015.
    """

    def __init__(self, units, kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.units = check_int(type(self).__name__, "units", units)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, query_shape, values_shape):
        self.query_kernel = self.add_weight(
            shape=(query_shape[-1], self.units), initializer=self.kernel_initializer, name="query_kernel"
        )
        self.key_kernel = self.add_weight(
            shape=(values_shape[-1], self.units), initializer=self.kernel_initializer, name="key_kernel"
        )
        self.score_vector = self.add_weight(shape=(self.units,), initializer=self.kernel_initializer,
                                            name="score_vector")

    def keys(self, values):
        """``W_k h_j`` of every source step: (batch, source_steps, units)."""
        return ops.matmul(values, self.key_kernel)

    def scores(self, query, keys):
        return additive_scores(ops.matmul(query, self.query_kernel), keys, self.score_vector)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }


@register
class LuongAttention(_Attention):
    """Multiplicative attention (Luong, Pham & Manning 2015)::

        e_j = qᵀ W h_j  ("general")   or   e_j = qᵀ h_j  ("dot"),
        α = softmax(e) over the unmasked steps,   context = Σ_j α_j h_j

    Weights: ``key_kernel`` (value_dim, query_dim) for ``"general"``; none for ``"dot"``,
    which needs ``value_dim == query_dim``.

    Args:
        score: ``"general"`` (default) or ``"dot"``.
        kernel_initializer: Initializer of ``W`` (default ``"glorot_uniform"``).
        **kwargs: Arguments of ``keras.layers.Layer``.

    Call arguments and Returns: as :class:`BahdanauAttention`'s.

    Raises:
        ValueError: ``score="dot"`` with a query and values of different sizes.

    Example:

    >>> attention = LuongAttention()
    >>> context, weights = attention(np.ones((2, 5), "float32"), np.ones((2, 7, 3), "float32"))
    >>> tuple(context.shape), tuple(weights.shape)
    ((2, 3), (2, 7))

    Reference:
        Luong, Pham & Manning, "Effective Approaches to Attention-based Neural Machine
        Translation", EMNLP 2015.
    """

    def __init__(self, score="general", kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self.score = check_choice(type(self).__name__, "score", score, ("general", "dot"))
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, query_shape, values_shape):
        if self.score == "dot":
            if query_shape[-1] != values_shape[-1]:
                raise ValueError(
                    f"LuongAttention(score='dot') needs a query as wide as the values; received a query of "
                    f"size {query_shape[-1]} and values of size {values_shape[-1]} (use score='general')"
                )
            return
        self.key_kernel = self.add_weight(
            shape=(values_shape[-1], query_shape[-1]), initializer=self.kernel_initializer, name="key_kernel"
        )

    def keys(self, values):
        """``W h_j`` ("general") or ``h_j`` ("dot") of every source step: (batch, source_steps, query_dim)."""
        return values if self.score == "dot" else ops.matmul(values, self.key_kernel)

    def scores(self, query, keys):
        return multiplicative_scores(query, keys)

    def get_config(self):
        return {
            **super().get_config(),
            "score": self.score,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
        }
