"""Bidirectional RNN (Schuster & Paliwal 1997) for deepkit's and Keras' recurrent layers."""

import keras

from deepkit.layers.recurrent_layer import RecurrentLayer, zero_padding
from deepkit.registry import register
from deepkit.validation import check_choice, describe

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


@register
class BRNN(keras.layers.Bidirectional):
    """Bidirectional wrapper: a forward layer reads start to end, a backward one end to start.

    Their outputs are merged per time step. Works with any recurrent layer that
    follows ``keras.layers.RNN``'s contract (deepkit's
    :class:`~deepkit.layers.PeepholeLSTM` and :class:`~deepkit.layers.RelevanceGRU`,
    Keras' ``LSTM``, ``GRU``, ``SimpleRNN``, ``RNN(cell)``).

    With right-padded sequences and a mask (``keras.layers.Masking``, an
    ``Embedding(mask_zero=True)`` or an explicit ``mask``), the backward layer
    starts at each sequence's last real step: it reads the reversed sequence and
    carries its initial state unchanged over the leading padding. Its outputs
    are flipped back so that step ``t`` of both directions lines up; with
    ``return_sequences=True`` padded steps output zeros.

    Args:
        layer: The forward recurrent layer (a ``keras.layers.RNN`` subclass).
        merge_mode: ``"concat"`` (default), ``"sum"``, ``"mul"``, ``"ave"`` or
            ``None`` (return ``[forward, backward]``).
        backward_layer: Optional backward layer. Default: a copy of ``layer``
            built from its config with ``go_backwards`` flipped. When given, it
            must have ``go_backwards=True`` and the same ``return_sequences``
            and ``return_state`` as ``layer``.
        weights: Optional initial weights (forward then backward).

    Call arguments:
        sequences: ``(batch, timesteps, features)``.
        initial_state: States of the forward layer followed by those of the
            backward layer (``[h_f, c_f, h_b, c_b]`` for LSTMs).
        mask: ``(batch, timesteps)`` booleans.
        training: Whether dropout is active.

    Returns:
        The merged output; with ``return_state``, followed by the forward
        layer's final states, then the backward layer's.

    Example:

    >>> x = np.random.rand(2, 7, 3).astype("float32")
    >>> tuple(BRNN(RelevanceGRU(4, return_sequences=True))(x).shape)
    (2, 7, 8)

    Reference:
        Schuster & Paliwal, "Bidirectional Recurrent Neural Networks",
        IEEE Transactions on Signal Processing 45(11), 1997.
    """

    def __init__(self, layer, merge_mode="concat", weights=None, backward_layer=None, **kwargs):
        owner = describe(self, kwargs.get("name"))
        check_choice(owner, "merge_mode", merge_mode, MERGE_MODES)
        for argument, value in (("layer", layer), ("backward_layer", backward_layer)):
            if value is None and argument == "backward_layer":
                continue
            if not isinstance(value, keras.layers.Layer) or not hasattr(value, "go_backwards"):
                raise ValueError(
                    f"{owner}: argument `{argument}` must be a recurrent layer "
                    "(a keras.layers.RNN such as PeepholeLSTM, RelevanceGRU or "
                    f"keras.layers.LSTM). Received: {argument}={value!r}"
                )
        if backward_layer is not None:
            for attribute in ("return_sequences", "return_state"):
                if getattr(layer, attribute) != getattr(backward_layer, attribute):
                    raise ValueError(
                        f"{owner}: `backward_layer.{attribute}` must equal "
                        f"`layer.{attribute}`={getattr(layer, attribute)}. "
                        f"Received: {getattr(backward_layer, attribute)}"
                    )
            if backward_layer.go_backwards == layer.go_backwards:
                raise ValueError(
                    f"{owner}: `backward_layer.go_backwards` must be the opposite of "
                    f"`layer.go_backwards`={layer.go_backwards}. "
                    f"Received: {backward_layer.go_backwards}"
                )
        super().__init__(
            layer, merge_mode=merge_mode, weights=weights, backward_layer=backward_layer, **kwargs
        )

    def call(self, sequences, initial_state=None, mask=None, training=None):
        if initial_state is not None:
            states = initial_state if isinstance(initial_state, (list, tuple)) else [initial_state]
            expected = len(self.forward_layer.state_size) + len(self.backward_layer.state_size)
            if len(states) != expected:
                raise ValueError(
                    f"{describe(self)}: argument `initial_state` must hold {expected} tensors "
                    "(the forward layer's states, then the backward layer's). "
                    f"Received: {len(states)} tensor(s)"
                )
        if mask is not None and not isinstance(mask, (list, tuple)) and not isinstance(self.forward_layer, RecurrentLayer):
            # Keras' own recurrent layers inside get the padding too: zero it by a select
            # (NaN there would otherwise reach every weight gradient). deepkit's layers
            # zero it themselves.
            sequences = zero_padding(sequences, mask)
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training)
