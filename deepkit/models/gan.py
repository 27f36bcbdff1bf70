"""Generative adversarial network (Goodfellow et al. 2014) with its own train_step, trained
with the logistic loss or the hinge loss."""

import keras
import tensorflow as tf
from keras import ops

from deepkit.losses.adversarial import GENERATOR_LOSSES, discriminator_loss, generator_loss
from deepkit.models.tracked_model import (
    TrackedModel,
    describe_structure,
    deserialize_sub_models,
    serialize_sub_models,
)
from deepkit.random_state import SavesSeedState
from deepkit.registry import register
from deepkit.validation import check_choice, check_int, check_rate


ADVERSARIAL_LOSSES = ("logistic", "hinge")  # GAN(adversarial_loss=...)


def hinge_discriminator_loss(real_logits, fake_logits):
    """The hinge loss of the discriminator, per sample: ``max(0, 1 - D(x)) + max(0, 1 + D(G(z)))``.

    ``D`` is the raw logit (no sigmoid): real samples are pushed above +1, fakes below
    -1, and samples beyond their margin give no gradient.

    Args:
        real_logits, fake_logits: ``(batch, 1)`` discriminator logits.

    Returns:
        ``(batch,)`` losses.

    Example:

    >>> np.asarray(hinge_discriminator_loss(np.array([[2.0], [0.5]]), np.array([[-3.0], [0.0]]))).tolist()  # 0 + 0, 0.5 + 1
    [0.0, 1.5]

    Reference:
        Lim & Ye, "Geometric GAN", 2017; Miyato, Kataoka, Koyama & Yoshida, "Spectral
        Normalization for Generative Adversarial Networks", ICLR 2018.
    """
    loss = ops.relu(1.0 - real_logits) + ops.relu(1.0 + fake_logits)
    return ops.reshape(loss, (ops.shape(real_logits)[0], -1))[:, 0]


def hinge_generator_loss(fake_logits):
    """The generator's loss of the hinge game, per sample: ``-D(G(z))``, the logit itself.

    Example:

    >>> np.asarray(hinge_generator_loss(np.array([[2.0], [-0.5]]))).tolist()
    [-2.0, 0.5]
    """
    return -ops.reshape(fake_logits, (ops.shape(fake_logits)[0], -1))[:, 0]


def reject_sample_weight(owner, sample_weight):
    if sample_weight is not None:
        raise ValueError(
            f"{owner}: sample weights are not supported (every real sample counts once in the "
            f"discriminator's loss). Received: sample_weight of shape {tuple(sample_weight.shape)}"
        )


def checked_class_labels(labels, num_classes, message):
    """``labels`` after a run-time check that each lies in ``[0, num_classes)``, which
    fails with an ``InvalidArgumentError`` carrying ``message``. In a ``tf.data``
    pipeline or a served graph the check always runs; XLA drops it inside a compiled step."""
    checks = [
        tf.debugging.assert_non_negative(labels, message=message),
        tf.debugging.assert_less(labels, tf.cast(num_classes, labels.dtype), message=message),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(labels)


@register
class GAN(SavesSeedState, TrackedModel):
    """A generator and a discriminator trained against each other, inside ``fit``.

    ``min_G max_D E_x[log D(x)] + E_z[log(1 - D(G(z)))]`` (``adversarial_loss="logistic"``),
    with the discriminator returning logits of shape ``(batch, 1)``; or the hinge game
    (``"hinge"``): the discriminator minimises ``E_x[max(0, 1 - D(x))] +
    E_z[max(0, 1 + D(G(z)))]`` and the generator ``-E_z[D(G(z))]``, ``D`` being the logit. Each ``train_step`` takes a batch of
    real samples (labels, if any, are ignored), runs ``discriminator_steps``
    discriminator updates on fresh ``z`` and the same real batch, then one
    generator update. Logs ``d_loss`` and ``g_loss``.

    ``compile(d_optimizer=..., g_optimizer=...)`` takes one optimizer per network.
    ``predict(z)`` generates; ``export(path)`` writes ``serve`` (``z -> G(z)``) and
    ``generate(num_samples, seed)``.

    With ``generator_ema``, the model also keeps ``ema_generator``, a copy of the
    generator whose weights follow an exponential moving average of the trained
    generator's (Karras et al. 2018; Yazıcı et al. 2019): after every generator update
    ``w_ema ← d·w_ema + (1 - d)·w`` for every weight, batch-normalisation statistics
    included, with ``d = min(generator_ema, (1 + t) / (10 + t))`` at generator update
    ``t`` (``tf.train.ExponentialMovingAverage``'s ramp, so that the average forgets
    the initial weights early in training). ``predict``, ``generate`` and the exported
    endpoints then sample from ``ema_generator``; training still runs on
    ``generator``, and both are saved in ``.keras`` files.

    Args:
        generator: Keras model ``z (batch, latent_dim) -> sample``.
        discriminator: Keras model ``sample -> logits (batch, 1)``.
        latent_dim: Size of ``z``; must equal the generator's input size.
        discriminator_steps: Discriminator updates per generator update (default 1).
        label_smoothing: One-sided label smoothing of the real targets (default 0;
            logistic loss only).
        generator_loss: ``"non_saturating"`` (default, ``-log D(G(z))``) or ``"minimax"``
            (logistic loss only).
        adversarial_loss: ``"logistic"`` (default, the game above) or ``"hinge"``
            (:func:`hinge_discriminator_loss`, :func:`hinge_generator_loss`). A subclass
            that computes its own losses (``CAN``) takes only ``"logistic"``.
        generator_ema: ``None`` (default: sample from the trained generator) or the
            decay ``d`` in [0, 1) of the moving average of its weights that samples
            (``0.999`` is common); needs a generator that ``keras.models.clone_model``
            can copy.
        seed: Seed of the latent sampler (its state is saved in ``.keras`` files,
            with both optimizers, so training resumes where it stopped).

    Example:

    >>> generator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    >>> discriminator = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> gan = GAN(generator, discriminator, latent_dim=2, seed=0)
    >>> gan.compile(d_optimizer=keras.optimizers.Adam(1e-3), g_optimizer=keras.optimizers.Adam(1e-3))
    >>> sorted(gan.fit(np.random.rand(8, 2), epochs=1, verbose=0).history)
    ['d_loss', 'g_loss']

    Reference:
        Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.
        Lim & Ye, "Geometric GAN", 2017 (the hinge loss).
        Karras, Aila, Laine & Lehtinen, "Progressive Growing of GANs for Improved
        Quality, Stability, and Variation", ICLR 2018 (the generator's moving average).
        Yazıcı, Foo, Winkler, Yap, Piliouras & Chandrasekhar, "The Unusual
        Effectiveness of Averaging in GAN Training", ICLR 2019.
    """

    tracked_losses = ("d_loss", "g_loss")
    # A subclass whose own discriminator_losses / generator_losses compute the game
    # through adversarial_d_loss / adversarial_g_loss sets this, and takes the hinge loss too.
    losses_follow_adversarial_loss = False

    def __init__(
        self,
        generator,
        discriminator,
        latent_dim,
        discriminator_steps=1,
        label_smoothing=0.0,
        generator_loss="non_saturating",
        generator_ema=None,
        seed=None,
        adversarial_loss="logistic",
        **kwargs,
    ):
        owner = type(self).__name__
        latent_dim = check_int(owner, "latent_dim", latent_dim)
        generator_inputs = getattr(generator, "inputs", None)
        if generator_inputs and generator_inputs[0].shape[-1] != latent_dim:
            raise ValueError(
                f"{owner}: `latent_dim` must equal the generator's input size. "
                f"Received: latent_dim={latent_dim}, generator input shape {tuple(generator_inputs[0].shape)}"
            )
        discriminator_steps = check_int(owner, "discriminator_steps", discriminator_steps)
        check_rate(owner, "label_smoothing", label_smoothing)
        check_choice(owner, "generator_loss", generator_loss, GENERATOR_LOSSES)
        self._check_adversarial_loss(adversarial_loss, label_smoothing, generator_loss)
        if generator_ema is not None:
            generator_ema = check_rate(owner, "generator_ema", generator_ema)
        self._check_discriminator(getattr(discriminator, "outputs", None))
        super().__init__(tracked=self.tracked_losses, **kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.latent_dim = latent_dim
        self.discriminator_steps = discriminator_steps
        self.label_smoothing = float(label_smoothing)
        self.generator_loss = generator_loss
        self.adversarial_loss = adversarial_loss
        self.generator_ema = generator_ema
        self.ema_generator = None if generator_ema is None else self._averaged_copy(generator)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.d_optimizer = None
        self.g_optimizer = None
        self.mark_built(generator, discriminator)

    def _check_adversarial_loss(self, adversarial_loss, label_smoothing, generator_loss):
        owner = type(self).__name__
        check_choice(owner, "adversarial_loss", adversarial_loss, ADVERSARIAL_LOSSES)
        if adversarial_loss == "logistic":
            return
        own_losses = [name for name in ("discriminator_losses", "generator_losses")
                      if getattr(type(self), name) is not getattr(GAN, name)]
        if own_losses and not self.losses_follow_adversarial_loss:
            raise ValueError(
                f"{owner}: computes its own adversarial losses ({', '.join(own_losses)}), with the logistic loss; "
                f"adversarial_loss must be 'logistic'. Received: adversarial_loss={adversarial_loss!r}"
            )
        if label_smoothing or generator_loss != "non_saturating":
            raise ValueError(
                f"{owner}: label_smoothing and generator_loss belong to the logistic loss; with "
                f"adversarial_loss='hinge' leave them at 0 and 'non_saturating'. Received: "
                f"label_smoothing={label_smoothing!r}, generator_loss={generator_loss!r}"
            )

    def _averaged_copy(self, generator):
        """A copy of ``generator`` with its own weights, starting from the generator's."""
        try:
            copy = keras.models.clone_model(generator)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"{type(self).__name__}: `generator_ema` needs a generator that keras.models.clone_model can "
                f"copy (Functional, Sequential, or a subclass whose get_config holds every constructor "
                f"argument). Received: {type(generator).__name__}, which it could not copy: "
                f"{str(error).splitlines()[0]}"
            ) from None
        if getattr(generator, "built", False):
            copy.set_weights(generator.get_weights())
        return copy

    @property
    def sampler(self):
        """The network that samples: ``ema_generator`` with ``generator_ema``, else ``generator``."""
        return self.generator if self.ema_generator is None else self.ema_generator

    def _check_discriminator(self, outputs):
        if outputs is None:
            return
        flat = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        if len(flat) != 1 or tuple(flat[0].shape[1:]) != (1,):
            raise ValueError(
                f"{type(self).__name__}: the discriminator must return logits of shape (batch, 1). "
                f"Received: {describe_structure(outputs)}"
            )

    # === Compile ===

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """Args: ``d_optimizer``, ``g_optimizer`` (both required), and ``keras.Model.compile``'s
        keyword arguments (``jit_compile``, ``steps_per_execution``, ...)."""
        missing = [name for name, value in (("d_optimizer", d_optimizer), ("g_optimizer", g_optimizer)) if value is None]
        if missing:
            raise ValueError(
                f"{type(self).__name__}.compile: both `d_optimizer` and `g_optimizer` are required. "
                f"Missing: {missing}"
            )
        if "optimizer" in kwargs or "loss" in kwargs:
            raise ValueError(
                f"{type(self).__name__}.compile: pass `d_optimizer` and `g_optimizer`, not "
                f"`optimizer`/`loss`. Received: {sorted(k for k in kwargs if k in ('optimizer', 'loss'))}"
            )
        super().compile(**kwargs)
        # No `optimizer` of Keras' own: fit would build the default RMSprop with slots
        # for every weight, and callbacks would tune an optimizer that trains nothing.
        self.optimizer = None
        self.d_optimizer = self.loss_scaled_optimizer(d_optimizer)
        self.g_optimizer = self.loss_scaled_optimizer(g_optimizer)
        if self.built:
            # Built here, inside the distribution scope, not lazily inside a replica
            # step; built optimizers also receive saved slot variables on load.
            self.d_optimizer.build(self.discriminator.trainable_variables)
            self.g_optimizer.build(self.generator.trainable_variables)

    def get_compile_config(self):
        if self.d_optimizer is None:
            return None
        config = super().get_compile_config() or {}
        config = {key: value for key, value in config.items() if key not in ("optimizer", "loss")}
        config["d_optimizer"] = keras.saving.serialize_keras_object(self.d_optimizer)
        config["g_optimizer"] = keras.saving.serialize_keras_object(self.g_optimizer)
        return config

    def compile_from_config(self, config):
        config = dict(config)
        d_optimizer = keras.saving.deserialize_keras_object(config.pop("d_optimizer"))
        g_optimizer = keras.saving.deserialize_keras_object(config.pop("g_optimizer"))
        keep = ("jit_compile", "steps_per_execution", "run_eagerly")
        self.compile(d_optimizer=d_optimizer, g_optimizer=g_optimizer, **{k: config[k] for k in keep if k in config})

    # === Training ===

    def call(self, inputs, training=False):
        return self.sampler(inputs, training=training)

    def sample_latent(self, batch_size):
        return keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator, dtype=self.compute_dtype)

    def real_fake_logits(self, samples, training):
        logits = self.discriminator(samples, training=training)
        self._check_discriminator(logits)
        return logits

    def discriminator_losses(self, real, labels, training):
        """``{"d_loss": ...}`` on one real batch and a fresh fake batch."""
        fake = self.generator(self.sample_latent(ops.shape(real)[0]), training=training)
        return {"d_loss": self.adversarial_d_loss(self.real_fake_logits(real, training),
                                                   self.real_fake_logits(fake, training))}

    def adversarial_d_loss(self, real_logits, fake_logits):
        """The discriminator's mean loss of ``adversarial_loss``'s game, on ``(batch, 1)`` logits."""
        if self.adversarial_loss == "hinge":
            loss = hinge_discriminator_loss(real_logits, fake_logits)
        else:
            loss = discriminator_loss(real_logits, fake_logits, self.label_smoothing)
        return ops.mean(ops.cast(loss, "float32"))

    def adversarial_g_loss(self, fake_logits):
        """The generator's mean loss of ``adversarial_loss``'s game, on ``(batch, 1)`` logits."""
        if self.adversarial_loss == "hinge":
            loss = hinge_generator_loss(fake_logits)
        else:
            loss = generator_loss(fake_logits, self.generator_loss)
        return ops.mean(ops.cast(loss, "float32"))

    def generator_losses(self, batch_size, training):
        """``{"g_loss": ...}`` on a fresh fake batch."""
        fake = self.generator(self.sample_latent(batch_size), training=training)
        return {"g_loss": self.adversarial_g_loss(self.real_fake_logits(fake, training))}

    def split_batch(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        reject_sample_weight(type(self).__name__, sample_weight)
        return x, y

    def train_step(self, data):
        real, labels = self.split_batch(data)
        for _ in range(self.discriminator_steps):
            with tf.GradientTape() as tape:
                d_values = self.discriminator_losses(real, labels, training=True)
                scaled = self.scaled_loss(d_values["d_loss"], self.d_optimizer)
            self.update(tape, scaled, self.d_optimizer, self.discriminator.trainable_variables)
        with tf.GradientTape() as tape:
            g_values = self.generator_losses(ops.shape(real)[0], training=True)
            scaled = self.scaled_loss(g_values["g_loss"], self.g_optimizer)
        self.update(tape, scaled, self.g_optimizer, self.generator.trainable_variables)
        if self.ema_generator is not None:
            self.update_generator_average()
        return self.record({**d_values, **g_values})

    def update_generator_average(self):
        """One step of ``ema_generator``'s moving average (see the class docstring)."""
        updates = ops.cast(self.g_optimizer.iterations, "float32")  # already counts this update
        decay = ops.minimum(self.generator_ema, (1.0 + updates) / (10.0 + updates))
        for average, weight in zip(self.ema_generator.weights, self.generator.weights):
            average.assign(decay * average + (1.0 - decay) * ops.cast(weight, average.dtype))

    def test_step(self, data):
        real, labels = self.split_batch(data)
        values = self.discriminator_losses(real, labels, training=False)
        values.update(self.generator_losses(ops.shape(real)[0], training=False))
        return self.record(values)

    # === Serving ===

    def generate(self, num_samples, seed=0):
        """Generates ``num_samples`` samples from ``z ~ N(0, I)`` (stateless, seeded)."""
        z = tf.random.stateless_normal(
            tf.stack([num_samples, self.latent_dim]), seed=tf.stack([tf.cast(seed, tf.int32), 0])
        )
        return self.sampler(tf.cast(z, self.compute_dtype), training=False)

    def serving_endpoints(self):
        scalar = tf.TensorSpec((), tf.int32)
        return {
            "serve": (lambda z: self.sampler(z, training=False), [tf.TensorSpec((None, self.latent_dim), tf.float32)]),
            "generate": (self.generate, [scalar, scalar]),
        }

    # === Config ===

    def get_config(self):
        return {
            **super().get_config(),
            **serialize_sub_models(generator=self.generator, discriminator=self.discriminator),
            "latent_dim": self.latent_dim,
            "discriminator_steps": self.discriminator_steps,
            "label_smoothing": self.label_smoothing,
            "generator_loss": self.generator_loss,
            "adversarial_loss": self.adversarial_loss,
            "generator_ema": self.generator_ema,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**deserialize_sub_models(dict(config), "generator", "discriminator"))
