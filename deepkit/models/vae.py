"""Variational autoencoder (Kingma & Welling 2014) that plugs into fit, evaluate, predict and serving."""

import keras
import tensorflow as tf
from keras import ops

from deepkit.layers.sampling import Sampling
from deepkit.losses.kl import gaussian_kl
from deepkit.models.tracked_model import (
    TrackedModel,
    batch_mean,
    describe_structure,
    deserialize_sub_models,
    known_input_shape,
    serialize_sub_models,
)
from deepkit.registry import register
from deepkit.validation import check_choice, check_non_negative

RECONSTRUCTIONS = ("binary_crossentropy", "mse")


@register
class VAE(TrackedModel):
    """Variational autoencoder: ``loss = reconstruction + β · KL`` (β-VAE for β ≠ 1).

    ``z_mean, z_log_var = encoder(x)``; ``z = z_mean + exp(0.5 · z_log_var) · ε``
    (:class:`~deepkit.layers.Sampling`); ``x̂ = decoder(z)``;
    ``KL = -0.5 Σ (1 + z_log_var - z_mean² - exp(z_log_var))``. The reconstruction
    term is summed over the features of a sample (the ELBO's log-likelihood), both
    terms averaged over the batch.

    ``fit(x)`` needs no targets and logs ``loss``, ``reconstruction_loss`` and
    ``kl_loss`` (``evaluate`` and ``validation_data`` too). Sample weights weight each
    sample's terms (Keras' ``sum_over_batch_size`` reduction); Keras drops weights
    given without targets, so pass ``fit(x, x, sample_weight=w)`` or ``(x, y, w)``
    batches (``y`` is ignored).
    ``compile`` takes an optimizer, not ``loss`` or ``metrics``. ``predict(x)``
    reconstructs from ``z_mean`` (deterministic). ``export(path)`` writes the
    endpoints ``serve`` (reconstruct), ``encode`` (``z_mean``, ``z_log_var``),
    ``decode`` (``z -> x̂``) and ``generate(num_samples, seed)`` (decodes
    ``z ~ N(0, I)`` drawn with a stateless seeded generator).

    Args:
        encoder: Keras model ``x -> [z_mean, z_log_var]``.
        decoder: Keras model ``z -> x̂`` (sigmoid outputs for ``"binary_crossentropy"``).
        beta: Weight of the KL term (default 1.0).
        reconstruction: ``"binary_crossentropy"`` (default; inputs in [0, 1]) or ``"mse"``.
        seed: Seed of the sampler.

    Example:

    >>> x_in = keras.Input((4,))
    >>> encoder = keras.Model(x_in, [keras.layers.Dense(2)(x_in), keras.layers.Dense(2)(x_in)])
    >>> decoder = keras.Sequential([keras.Input((2,)), keras.layers.Dense(4, activation="sigmoid")])
    >>> vae = VAE(encoder, decoder, seed=0)
    >>> vae.compile(optimizer="adam")
    >>> sorted(vae.fit(np.random.rand(8, 4), epochs=1, verbose=0).history)
    ['kl_loss', 'loss', 'reconstruction_loss']

    Reference:
        Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
    """

    def __init__(self, encoder, decoder, beta=1.0, reconstruction="binary_crossentropy", seed=None, **kwargs):
        check_choice("VAE", "reconstruction", reconstruction, RECONSTRUCTIONS)
        check_non_negative("VAE", "beta", beta)
        outputs = getattr(encoder, "outputs", None)
        if outputs is not None:
            self._check_encoder_outputs(outputs)
        super().__init__(tracked=("loss", "reconstruction_loss", "kl_loss"), **kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.beta = float(beta)
        self.reconstruction = reconstruction
        self.seed = seed
        self.sampler = Sampling(seed=seed, name="sampler")
        self.mark_built(encoder, decoder)

    @staticmethod
    def _check_encoder_outputs(outputs):
        ok = isinstance(outputs, (list, tuple)) and len(outputs) == 2
        ok = ok and tuple(outputs[0].shape) == tuple(outputs[1].shape)
        if not ok:
            raise ValueError(
                "VAE: `encoder` must return [z_mean, z_log_var], two tensors of the same shape "
                f"(batch, latent_dim). Received: {describe_structure(outputs)}"
            )

    @property
    def latent_dim(self):
        return known_input_shape(self.decoder, "VAE", "decoder")[-1]

    def encode(self, inputs, training=False):
        outputs = self.encoder(inputs, training=training)
        self._check_encoder_outputs(outputs)
        return outputs

    def call(self, inputs, training=False):
        z_mean, z_log_var = self.encode(inputs, training=training)
        z = self.sampler([z_mean, z_log_var]) if training else z_mean
        return self.decoder(z, training=training)

    def compute_losses(self, x, sample_weight=None):
        z_mean, z_log_var = self.encode(x, training=True)
        z = self.sampler([z_mean, z_log_var])
        reconstruction = self.decoder(z, training=True)
        batch = ops.shape(reconstruction)[0]
        x = ops.reshape(ops.cast(x, reconstruction.dtype), (batch, -1))
        flat = ops.reshape(reconstruction, (batch, -1))
        if self.reconstruction == "mse":
            errors = ops.square(x - flat)
        else:
            errors = keras.losses.binary_crossentropy(x[..., None], flat[..., None])
        reconstruction_loss = batch_mean(ops.sum(errors, axis=-1), sample_weight)
        kl_loss = batch_mean(ops.cast(gaussian_kl(z_mean, z_log_var), reconstruction_loss.dtype), sample_weight)
        return {
            "loss": reconstruction_loss + self.beta * kl_loss,
            "reconstruction_loss": reconstruction_loss,
            "kl_loss": kl_loss,
        }

    def train_step(self, data):
        x, _, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            values = self.compute_losses(x, sample_weight)
            scaled = self.scaled_loss(values["loss"], self.optimizer)
        self.update(tape, scaled, self.optimizer, self.trainable_variables)
        return self.record(values)

    def test_step(self, data):
        x, _, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        return self.record(self.compute_losses(x, sample_weight))

    def generate(self, num_samples, seed=0):
        """Decodes ``num_samples`` latent vectors ``z ~ N(0, I)`` (stateless, seeded)."""
        z = tf.random.stateless_normal(
            tf.stack([num_samples, self.latent_dim]), seed=tf.stack([tf.cast(seed, tf.int32), 0])
        )
        return self.decoder(tf.cast(z, self.compute_dtype), training=False)

    def serving_endpoints(self):
        x_spec = tf.TensorSpec((None,) + known_input_shape(self.encoder, "VAE", "encoder"), tf.float32)
        z_spec = tf.TensorSpec((None, self.latent_dim), tf.float32)
        scalar = tf.TensorSpec((), tf.int32)

        def encode(x):
            z_mean, z_log_var = self.encode(x)
            return {"z_mean": z_mean, "z_log_var": z_log_var}

        return {
            "serve": (lambda x: self(x, training=False), [x_spec]),
            "encode": (encode, [x_spec]),
            "decode": (lambda z: self.decoder(z, training=False), [z_spec]),
            "generate": (self.generate, [scalar, scalar]),
        }

    def get_config(self):
        return {
            **super().get_config(),
            **serialize_sub_models(encoder=self.encoder, decoder=self.decoder),
            "beta": self.beta,
            "reconstruction": self.reconstruction,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_sub_models(dict(config), "encoder", "decoder"))
