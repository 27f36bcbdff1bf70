"""A sequence tagger whose output layer is a linear-chain CRF, trained through ``fit``.

A Keras loss sees ``(y_true, y_pred)`` and an element-wise mask; the CRF's loss,
``-log p(y | x)``, is one number per sentence that needs the potentials, the mask
and the transition weights together. :class:`CRFTagger` owns all three in its
``train_step``, so ``fit(x, tags)`` minimises it and ``predict(x)`` decodes.
"""

import keras
import tensorflow as tf
from keras import ops

from deepkit.layers.crf import CRF
from deepkit.models.tracked_model import TrackedModel, batch_mean, deserialize_sub_models, serialize_sub_models
from deepkit.registry import register
from deepkit.validation import check_int


def keras_mask(tensor):
    """The mask Keras attached to ``tensor`` (``Embedding(mask_zero=True)`` and the layers
    after it set it on their outputs), or ``None``."""
    return getattr(tensor, "_keras_mask", None)


@register
class CRFTagger(TrackedModel):
    """``encoder`` scores every tag of every step; a :class:`~deepkit.layers.CRF` ties them.

    ``fit(x, tags)`` minimises the CRF's negative log-likelihood (the forward
    algorithm), averaged over the sentences of a batch (sample weights weight
    sentences), and logs ``loss`` and ``accuracy`` (the share of real, unmasked
    tokens whose Viterbi tag is right); ``evaluate`` logs the same.
    ``predict(x)`` returns the Viterbi tags, int32 (batch, time), 0 at padding.
    The encoder's output mask (from ``Embedding(mask_zero=True)``) marks the padding.
    ``compile`` takes an optimizer, not ``loss`` or ``metrics``. ``export(path)``
    writes ``serve``: the encoder's input to the tags.

    Args:
        encoder: Keras model ``x -> potentials`` (batch, time, num_tags), built from a
            ``keras.Input``.
        num_tags: Size of the tag set.
        transitions_initializer: Initializer of the CRF's transition weights (default ``"zeros"``).

    Raises:
        ValueError: When the encoder's output does not have ``num_tags`` scores per step.

    Example:

    >>> words = keras.Input((None,), dtype="int32")
    >>> embedded = keras.layers.Embedding(10, 4, mask_zero=True)(words)
    >>> encoder = keras.Model(words, keras.layers.Dense(3)(embedded))
    >>> tagger = CRFTagger(encoder, num_tags=3)
    >>> tagger.compile(optimizer="adam")
    >>> x, y = np.array([[1, 2, 0], [3, 4, 5]]), np.array([[0, 1, 0], [2, 2, 1]])
    >>> sorted(tagger.fit(x, y, epochs=1, verbose=0).history)
    ['accuracy', 'loss']
    >>> tagger.predict(x, verbose=0).shape
    (2, 3)

    Reference:
        Lample, Ballesteros, Subramanian, Kawakami & Dyer, "Neural Architectures for
        Named Entity Recognition", NAACL 2016 (a bidirectional LSTM under a CRF).
    """

    def __init__(self, encoder, num_tags, transitions_initializer="zeros", **kwargs):
        num_tags = check_int("CRFTagger", "num_tags", num_tags)
        outputs = getattr(encoder, "outputs", None)
        if outputs:
            shape = tuple(outputs[0].shape)
            if len(outputs) != 1 or len(shape) != 3 or shape[-1] != num_tags:
                raise ValueError(
                    f"CRFTagger: `encoder` must return one tensor of potentials (batch, time, num_tags={num_tags}). "
                    f"Received: {len(outputs)} output(s), the first of shape {shape}"
                )
        super().__init__(tracked=("loss", "accuracy"), **kwargs)
        self.encoder = encoder
        self.num_tags = num_tags
        self.crf = CRF(num_tags, transitions_initializer=transitions_initializer, name="crf")
        self.crf.build((None, None, num_tags))
        self.mark_built(encoder)

    def potentials(self, inputs, training=False):
        """``(potentials, mask)``: the encoder's tag scores and the padding mask (or ``None``)."""
        potentials = self.encoder(inputs, training=training)
        return potentials, keras_mask(potentials)

    def call(self, inputs, training=False):
        potentials, mask = self.potentials(inputs, training=training)
        return self.crf(potentials, mask=mask)

    def compute_losses(self, x, tags, sample_weight=None, training=False):
        potentials, mask = self.potentials(x, training=training)
        loss = batch_mean(self.crf.negative_log_likelihood(potentials, tags, mask), sample_weight)
        if self.losses:  # the encoder's and the CRF's regularizers
            loss = loss + ops.cast(ops.sum(self.losses), loss.dtype)
        return loss, potentials, mask

    def _record(self, loss, potentials, mask, tags):
        decoded = ops.stop_gradient(self.crf(potentials, mask=mask))
        real = ops.ones(ops.shape(decoded), "float32") if mask is None else ops.cast(mask, "float32")
        correct = ops.cast(ops.equal(decoded, ops.cast(tags, "int32")), "float32")
        self.trackers["loss"].update_state(loss)
        self.trackers["accuracy"].update_state(correct, sample_weight=real)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    def train_step(self, data):
        x, tags, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            loss, potentials, mask = self.compute_losses(x, tags, sample_weight, training=True)
            scaled = self.scaled_loss(loss, self.optimizer)
        self.update(tape, scaled, self.optimizer, self.trainable_variables)
        return self._record(loss, potentials, mask, tags)

    def test_step(self, data):
        x, tags, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        loss, potentials, mask = self.compute_losses(x, tags, sample_weight)
        return self._record(loss, potentials, mask, tags)

    def serving_endpoints(self):
        spec = self.encoder.inputs[0]
        signature = [tf.TensorSpec((None,) + tuple(spec.shape[1:]), spec.dtype)]
        return {"serve": (lambda x: self(x, training=False), signature)}

    def get_config(self):
        return {
            **super().get_config(),
            **serialize_sub_models(encoder=self.encoder),
            "num_tags": self.num_tags,
            "transitions_initializer": keras.initializers.serialize(self.crf.transitions_initializer),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_sub_models(dict(config), "encoder"))
