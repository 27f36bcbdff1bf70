"""Creative adversarial network (Elgammal et al. 2017): a GAN whose generator also seeks style ambiguity."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from deepkit.losses.adversarial import discriminator_loss, generator_loss, style_ambiguity_loss
from deepkit.models.gan import GAN, checked_class_labels, reject_sample_weight
from deepkit.models.tracked_model import describe_structure
from deepkit.registry import register
from deepkit.validation import check_int, check_non_negative


@register
class CAN(GAN):
    """CAN: the discriminator also classifies the style of real samples; the generator
    is pushed to fool the real/fake head while making the style head unsure.

    The discriminator returns ``[real_fake_logits (batch, 1), style_logits (batch, K)]``.
    Data is ``(samples, style_labels)`` with integer labels in ``[0, K)``, of shape
    ``(batch,)`` or ``(batch, 1)``. ``fit`` refuses others, naming the range: float or
    one-hot labels with a ``ValueError`` before training; a label outside the range
    with a ``ValueError`` before training for arrays, with an ``InvalidArgumentError``
    at the batch that holds it for ``tf.data`` datasets and other inputs.

    - discriminator: ``d_loss = -[log D_r(x) + log(1 - D_r(G(z)))] + style_loss``,
      ``style_loss`` the cross-entropy of the style head on real samples;
    - generator: ``g_loss = -log D_r(G(z)) + w · ambiguity_loss`` with
      ``ambiguity_loss = -Σ_k [(1/K) log D_c(c_k|G(z)) + (1-1/K) log(1 - D_c(c_k|G(z)))]``.

    Logs ``d_loss``, ``g_loss``, ``style_loss``, ``ambiguity_loss``.

    Args:
        generator, discriminator, latent_dim, discriminator_steps, label_smoothing,
        generator_loss, seed: As in :class:`GAN`.
        num_styles: ``K >= 2``, the number of style classes.
        ambiguity_weight: ``w`` (default 1.0).

    Example:

    >>> generator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    >>> x = keras.Input((3,))
    >>> discriminator = keras.Model(x, [keras.layers.Dense(1)(x), keras.layers.Dense(4)(x)])
    >>> can = CAN(generator, discriminator, latent_dim=2, num_styles=4, seed=0)
    >>> can.compile(d_optimizer="adam", g_optimizer="adam")
    >>> history = can.fit(np.random.rand(8, 3), np.arange(8) % 4, epochs=1, verbose=0).history
    >>> sorted(history)
    ['ambiguity_loss', 'd_loss', 'g_loss', 'style_loss']

    Reference:
        Elgammal, Liu, Elhoseiny & Mazzone, "CAN: Creative Adversarial Networks,
        Generating 'Art' by Learning About Styles and Deviating from Style Norms", ICCC 2017.
    """

    tracked_losses = ("d_loss", "g_loss", "style_loss", "ambiguity_loss")

    def __init__(self, generator, discriminator, latent_dim, num_styles, ambiguity_weight=1.0, **kwargs):
        num_styles = check_int("CAN", "num_styles", num_styles, minimum=2)
        check_non_negative("CAN", "ambiguity_weight", ambiguity_weight)
        self.num_styles = num_styles
        super().__init__(generator, discriminator, latent_dim, **kwargs)
        self.ambiguity_weight = float(ambiguity_weight)

    def _check_discriminator(self, outputs):
        if outputs is None:
            return
        ok = isinstance(outputs, (list, tuple)) and len(outputs) == 2
        ok = ok and tuple(outputs[0].shape[1:]) == (1,) and tuple(outputs[1].shape[1:]) == (self.num_styles,)
        if not ok:
            raise ValueError(
                "CAN: the discriminator must return [real_fake_logits (batch, 1), style_logits "
                f"(batch, {self.num_styles})]. Received: {describe_structure(outputs)}"
            )

    # === Style labels ===

    def _refuse_labels(self, received):
        raise ValueError(
            f"CAN: style labels must be integer class indices in [0, {self.num_styles}), of shape (batch,) or "
            f"(batch, 1) (not one-hot). Received: {received}"
        )

    def check_style_label_spec(self, dtype, shape):
        """ValueError unless labels of ``dtype`` and ``shape`` (batch first) can be style indices."""
        dtype = tf.as_dtype(dtype)
        shape = tuple(shape)
        if not dtype.is_integer:
            self._refuse_labels(f"{dtype.name} labels of shape {shape}")
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] not in (1, None)):
            one_hot = " (one-hot? pass their argmax)" if len(shape) == 2 and shape[1] == self.num_styles else ""
            self._refuse_labels(f"labels of shape {shape}{one_hot}")

    def check_style_labels(self, labels):
        """ValueError unless the array ``labels`` holds style indices in ``[0, K)``."""
        labels = np.asarray(labels)
        self.check_style_label_spec(labels.dtype, labels.shape)
        if labels.size and (labels.min() < 0 or labels.max() >= self.num_styles):
            bad = labels[(labels < 0) | (labels >= self.num_styles)].reshape(-1)
            self._refuse_labels(f"{bad.size} label(s) out of range, the first {int(bad[0])} (labels span "
                                f"[{int(labels.min())}, {int(labels.max())}])")

    def _checked_dataset(self, dataset):
        """``dataset`` with its labels' spec checked now and their range in the input pipeline,
        where the check runs whether or not the train step is compiled with XLA."""
        spec = dataset.element_spec
        if not isinstance(spec, tuple) or len(spec) < 2:
            raise ValueError(
                f"CAN: training data must be (samples, style_labels). Received: a dataset of {spec}"
            )
        if len(spec) > 2:
            reject_sample_weight("CAN", spec[2])
        self.check_style_label_spec(spec[1].dtype, spec[1].shape)
        return dataset.map(lambda x, labels, *rest: (x, self.range_checked(labels), *rest))

    def fit(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.fit``, with the style labels checked first (see the class docstring)."""
        if isinstance(x, tf.data.Dataset):
            x = self._checked_dataset(x)
        elif y is not None and not isinstance(y, (dict, keras.utils.PyDataset)):
            self.check_style_labels(y)
        return super().fit(x, y, *args, **kwargs)

    def split_batch(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        reject_sample_weight("CAN", sample_weight)
        if y is None:
            raise ValueError("CAN: training data must be (samples, style_labels). Received: samples only")
        self.check_style_label_spec(y.dtype, y.shape)  # once, when the step is traced
        return x, self.range_checked(y)

    def range_checked(self, labels):
        """``labels`` after a run-time check of their range (a no-op under XLA, which
        drops such checks; ``fit`` checks arrays and datasets before they get here)."""
        message = f"CAN: style labels must be integer class indices in [0, {self.num_styles}). Received a label outside it"
        return checked_class_labels(labels, self.num_styles, message)

    def discriminator_losses(self, real, labels, training):
        fake = self.generator(self.sample_latent(ops.shape(real)[0]), training=training)
        real_logits, style_logits = self.discriminator(real, training=training)
        fake_logits, _ = self.discriminator(fake, training=training)
        adversarial = ops.mean(ops.cast(discriminator_loss(real_logits, fake_logits, self.label_smoothing), "float32"))
        style = ops.mean(
            keras.losses.sparse_categorical_crossentropy(
                ops.reshape(labels, (-1,)), ops.cast(style_logits, "float32"), from_logits=True
            )
        )
        return {"d_loss": adversarial + style, "style_loss": style}

    def generator_losses(self, batch_size, training):
        fake = self.generator(self.sample_latent(batch_size), training=training)
        fake_logits, style_logits = self.discriminator(fake, training=training)
        adversarial = ops.mean(ops.cast(generator_loss(fake_logits, self.generator_loss), "float32"))
        ambiguity = ops.mean(style_ambiguity_loss(ops.cast(style_logits, "float32")))
        return {"g_loss": adversarial + self.ambiguity_weight * ambiguity, "ambiguity_loss": ambiguity}

    def get_config(self):
        return {**super().get_config(), "num_styles": self.num_styles, "ambiguity_weight": self.ambiguity_weight}
