"""Autoencoders: undercomplete, sparse, contractive (Rifai et al. 2011) and denoising (Vincent et al. 2008)."""

import keras
import tensorflow as tf
from keras import ops

from deepkit.layers.corruption import Corruption
from deepkit.losses.contractive import contractive_penalty
from deepkit.losses.kl import sparsity_kl
from deepkit.losses.sparse import l1_code_penalty
from deepkit.models.tracked_model import (
    TrackedModel,
    batch_mean,
    deserialize_sub_models,
    known_input_shape,
    serialize_sub_models,
)
from deepkit.registry import register
from deepkit.validation import check_choice, check_non_negative

KINDS = ("undercomplete", "sparse", "contractive", "denoising")
RECONSTRUCTIONS = ("mse", "binary_crossentropy")
SPARSITIES = ("l1", "kl")


def reconstruction_error(x, reconstruction, kind):
    """Per-sample mean over features of the squared error or the binary cross-entropy."""
    x = ops.reshape(ops.cast(x, reconstruction.dtype), (ops.shape(x)[0], -1))
    reconstruction = ops.reshape(reconstruction, (ops.shape(reconstruction)[0], -1))
    if kind == "mse":
        return ops.mean(ops.square(x - reconstruction), axis=-1)
    return ops.mean(keras.losses.binary_crossentropy(x[..., None], reconstruction[..., None]), axis=-1)


@register
class Autoencoder(TrackedModel):
    """An encoder–decoder pair trained to reconstruct its input.

    ``kind`` chooses the regulariser:

    - ``"undercomplete"``: ``L(x, g(f(x)))`` (the bottleneck does the work);
    - ``"sparse"``: ``+ λ Σ_i |h_i|`` (``sparsity="l1"``) or ``+ λ Σ_j KL(ρ‖ρ̂_j)``
      (``sparsity="kl"``, sigmoid codes);
    - ``"contractive"``: ``+ λ ‖∂f(x)/∂x‖_F²`` (:func:`~deepkit.losses.contractive_penalty`,
      closed form for a single sigmoid Dense encoder, batch Jacobian otherwise);
    - ``"denoising"``: ``L(x, g(f(x̃)))`` with ``x̃`` a :class:`~deepkit.layers.Corruption`
      of ``x`` (training only).

    ``fit(x)`` needs no targets; it logs ``loss``, ``reconstruction_loss`` and, for
    sparse and contractive autoencoders, ``penalty``; ``sample_weight`` weights each
    sample's terms (Keras' ``sum_over_batch_size``; Keras drops weights given without
    targets, so pass ``fit(x, x, sample_weight=w)``: ``y`` is ignored). ``compile`` takes an optimizer,
    not ``loss`` or ``metrics``. ``predict(x)`` reconstructs.
    ``export(path)`` writes endpoints ``serve`` (= ``reconstruct``), ``encode`` and
    ``reconstruct``.

    Args:
        encoder: Keras model (or layer) ``x -> h``.
        decoder: Keras model (or layer) ``h -> x̂``.
        kind: One of ``"undercomplete"``, ``"sparse"``, ``"contractive"``, ``"denoising"``.
        penalty_weight: ``λ`` of the sparse or contractive term (default 1e-3).
        sparsity: ``"l1"`` (default) or ``"kl"``.
        sparsity_target: ``ρ`` of the KL sparsity (default 0.05).
        corruption: ``"gaussian"`` (default) or ``"masking"`` (denoising only).
        corruption_amount: Noise standard deviation or masked fraction (default 0.2).
        reconstruction: ``"mse"`` (default) or ``"binary_crossentropy"`` (inputs in [0, 1]).
        seed: Seed of the corruption.

    Example:

    >>> encoder = keras.Sequential([keras.Input((8,)), keras.layers.Dense(3, activation="sigmoid")])
    >>> decoder = keras.Sequential([keras.Input((3,)), keras.layers.Dense(8)])
    >>> model = Autoencoder(encoder, decoder, kind="contractive")
    >>> model.compile(optimizer="adam")
    >>> sorted(model.fit(np.random.rand(16, 8), epochs=1, verbose=0).history)
    ['loss', 'penalty', 'reconstruction_loss']

    Reference:
        Goodfellow, Bengio & Courville, "Deep Learning", chapter 14 (2016).
    """

    def __init__(
        self,
        encoder,
        decoder,
        kind="undercomplete",
        penalty_weight=1e-3,
        sparsity="l1",
        sparsity_target=0.05,
        corruption="gaussian",
        corruption_amount=0.2,
        reconstruction="mse",
        seed=None,
        **kwargs,
    ):
        check_choice("Autoencoder", "kind", kind, KINDS)
        check_choice("Autoencoder", "sparsity", sparsity, SPARSITIES)
        check_choice("Autoencoder", "reconstruction", reconstruction, RECONSTRUCTIONS)
        check_non_negative("Autoencoder", "penalty_weight", penalty_weight)
        tracked = ("loss", "reconstruction_loss") + (("penalty",) if kind in ("sparse", "contractive") else ())
        super().__init__(tracked=tracked, **kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.kind = kind
        self.penalty_weight = float(penalty_weight)
        self.sparsity = sparsity
        self.sparsity_target = sparsity_target
        self.corruption_kind = corruption
        self.corruption_amount = corruption_amount
        self.reconstruction = reconstruction
        self.seed = seed
        self.corruption = Corruption(corruption, corruption_amount, seed=seed) if kind == "denoising" else None
        self.mark_built(encoder, decoder)

    def call(self, inputs, training=False):
        return self.decoder(self.encoder(inputs, training=training), training=training)

    def encode(self, inputs):
        return self.encoder(inputs, training=False)

    def compute_losses(self, x, training, sample_weight=None):
        source = self.corruption(x, training=training) if self.corruption is not None else x
        code = self.encoder(source, training=training)
        reconstruction = self.decoder(code, training=training)
        per_sample = reconstruction_error(x, reconstruction, self.reconstruction)
        values = {"reconstruction_loss": batch_mean(per_sample, sample_weight)}
        total = per_sample
        if self.kind == "sparse":
            penalty = l1_code_penalty(code) if self.sparsity == "l1" else sparsity_kl(code, self.sparsity_target)
        elif self.kind == "contractive":
            # Under XLA one backward pass per code unit is far faster than batch_jacobian.
            jacobian = "per_unit" if self.compiled and self.jit_compile else "batch"
            penalty = contractive_penalty(self.encoder, ops.cast(x, code.dtype), jacobian=jacobian)
        else:
            penalty = None
        if penalty is not None:
            penalty = ops.cast(penalty, per_sample.dtype)
            total = total + self.penalty_weight * penalty
            values["penalty"] = batch_mean(penalty, sample_weight) if len(penalty.shape) else penalty
        values["loss"] = batch_mean(total, sample_weight)
        return values

    def train_step(self, data):
        x, _, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        with tf.GradientTape() as tape:
            values = self.compute_losses(x, training=True, sample_weight=sample_weight)
            scaled = self.scaled_loss(values["loss"], self.optimizer)
        self.update(tape, scaled, self.optimizer, self.trainable_variables)
        return self.record(values)

    def test_step(self, data):
        x, _, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        return self.record(self.compute_losses(x, training=False, sample_weight=sample_weight))

    def serving_endpoints(self):
        spec = tf.TensorSpec((None,) + known_input_shape(self.encoder, "Autoencoder", "encoder"), tf.float32)
        reconstruct = lambda x: self(x, training=False)  # noqa: E731
        return {
            "serve": (reconstruct, [spec]),
            "encode": (lambda x: self.encode(x), [spec]),
            "reconstruct": (reconstruct, [spec]),
        }

    def get_config(self):
        return {
            **super().get_config(),
            **serialize_sub_models(encoder=self.encoder, decoder=self.decoder),
            "kind": self.kind,
            "penalty_weight": self.penalty_weight,
            "sparsity": self.sparsity,
            "sparsity_target": self.sparsity_target,
            "corruption": self.corruption_kind,
            "corruption_amount": self.corruption_amount,
            "reconstruction": self.reconstruction,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_sub_models(dict(config), "encoder", "decoder"))
