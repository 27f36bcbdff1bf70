"""Creative adversarial network (Elgammal et al. 2017): a GAN whose generator also seeks style ambiguity."""

import keras
from keras import ops

from deepkit.losses.adversarial import discriminator_loss, generator_loss, style_ambiguity_loss
from deepkit.models.gan import GAN, reject_sample_weight
from deepkit.models.tracked_model import describe_structure
from deepkit.registry import register
from deepkit.validation import check_int, check_non_negative


@register
class CAN(GAN):
    """CAN: the discriminator also classifies the style of real samples; the generator
    is pushed to fool the real/fake head while making the style head unsure.

    The discriminator returns ``[real_fake_logits (batch, 1), style_logits (batch, K)]``.
    Data is ``(samples, style_labels)`` with integer labels in ``[0, K)``.

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

    def split_batch(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        reject_sample_weight("CAN", sample_weight)
        if y is None:
            raise ValueError("CAN: training data must be (samples, style_labels). Received: samples only")
        return x, y

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
