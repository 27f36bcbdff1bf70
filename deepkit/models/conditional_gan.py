"""Class-conditional GAN (Mirza & Osindero 2014): generator and discriminator both read the class label."""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from deepkit.models.gan import GAN, checked_class_labels, reject_sample_weight
from deepkit.registry import register
from deepkit.validation import check_int


@register
class ConditionalGAN(GAN):
    """A :class:`GAN` whose generator draws a sample of a given class and whose
    discriminator judges (sample, class) pairs.

    The generator maps ``[z (batch, latent_dim) float, labels (batch,) int32]`` to a
    sample, the discriminator ``[samples, labels (batch,) int32]`` to one real/fake
    logit ``(batch, 1)`` (with a projection discriminator, Miyato & Koyama 2018, the
    logit is ``ψ(φ(x)) + embed(y)·φ(x)``; any network with these inputs and output
    will do). Training data is ``(samples, labels)``, integer class indices in
    ``[0, num_classes)`` of shape ``(batch,)``. Each ``train_step`` runs
    ``discriminator_steps`` discriminator updates on the real batch with its labels
    against fakes drawn for the *same* labels (so the discriminator cannot tell
    fakes by their class frequencies), then one generator update on fakes of labels
    drawn uniformly. The losses are :class:`GAN`'s (logistic or hinge) on these
    logits; the generator's moving average (``generator_ema``) works as in
    :class:`GAN`.

    Endpoints of ``export(path)``:

    - ``serve`` (``serving_default``): ``z`` float32 ``(batch, latent_dim)`` and
      ``labels`` int32 ``(batch,)`` → samples float32, the generator's output shape;
    - ``generate``: ``num_samples`` int32 scalar, ``seed`` int32 scalar → samples;
      sample ``i`` is of class ``i mod num_classes`` (balanced labels);
    - ``generate_labels``: ``labels`` int32 ``(batch,)``, ``seed`` int32 scalar →
      one sample per label.

    Args:
        generator: Keras model ``[z, labels] -> sample``.
        discriminator: Keras model ``[sample, labels] -> logits (batch, 1)``.
        latent_dim: Size of ``z``; must equal the generator's first input's size.
        num_classes: Number of classes ``K >= 2``.
        **kwargs: :class:`GAN`'s (``adversarial_loss``, ``generator_ema``,
            ``discriminator_steps``, ``label_smoothing``, ``generator_loss``, ``seed``).

    Call arguments:
        inputs: ``[z, labels]``, as the generator takes them.

    Returns:
        ``call`` and ``predict``: samples of the sampling generator (the moving
        average, with ``generator_ema``).

    Raises:
        ValueError: A generator or discriminator without two inputs; labels that are
            not integers of shape ``(batch,)`` (``fit``, ``generate``); labels out of
            ``[0, num_classes)`` (``fit`` on arrays, before training; on a
            ``tf.data`` dataset, a check in its input pipeline stops ``fit`` with an
            ``InvalidArgumentError`` naming the range, XLA or not; batches of Python
            generators get that check in the train step, which XLA drops). The
            exported ``serve`` and ``generate_labels`` endpoints fail with an
            ``InvalidArgumentError`` naming the range on a label outside it.

    Example:

    >>> z, y = keras.Input((2,)), keras.Input((), dtype="int32")
    >>> h = keras.layers.Concatenate()([z, keras.layers.Embedding(3, 2)(y)])
    >>> generator = keras.Model([z, y], keras.layers.Dense(4)(h))
    >>> x, y = keras.Input((4,)), keras.Input((), dtype="int32")
    >>> h = keras.layers.Concatenate()([x, keras.layers.Embedding(3, 2)(y)])
    >>> discriminator = keras.Model([x, y], keras.layers.Dense(1)(h))
    >>> gan = ConditionalGAN(generator, discriminator, latent_dim=2, num_classes=3, seed=0)
    >>> gan.compile(d_optimizer="adam", g_optimizer="adam")
    >>> sorted(gan.fit(np.random.rand(6, 4), np.arange(6) % 3, epochs=1, verbose=0).history)
    ['d_loss', 'g_loss']
    >>> tuple(gan.generate(6, seed=1).shape)
    (6, 4)

    Reference:
        Mirza & Osindero, "Conditional Generative Adversarial Nets", 2014.
        Miyato & Koyama, "cGANs with Projection Discriminator", ICLR 2018.
    """

    losses_follow_adversarial_loss = True  # its losses go through GAN's adversarial_d_loss / adversarial_g_loss

    def __init__(self, generator, discriminator, latent_dim, num_classes, **kwargs):
        self.num_classes = check_int("ConditionalGAN", "num_classes", num_classes, minimum=2)
        for role, network in (("generator", generator), ("discriminator", discriminator)):
            inputs = getattr(network, "inputs", None)
            if inputs is not None and len(inputs) != 2:
                raise ValueError(
                    f"ConditionalGAN: the {role} must take two inputs, [{'z' if role == 'generator' else 'samples'}, "
                    f"labels]. Received: a {role} with {len(inputs)} input(s)"
                )
        super().__init__(generator, discriminator, latent_dim, **kwargs)

    # === Labels ===

    def _label_error(self, received):
        return ValueError(
            f"ConditionalGAN: labels must be integer class indices in [0, {self.num_classes}) of shape (batch,). "
            f"Received: {received}"
        )

    def check_label_spec(self, dtype, shape):
        """ValueError unless labels of ``dtype`` and ``shape`` are integer indices of shape ``(batch,)``."""
        dtype, shape = tf.as_dtype(dtype), tuple(shape)
        if not dtype.is_integer or len(shape) != 1:
            one_hot = " (one-hot? pass their argmax)" if len(shape) == 2 and shape[1] == self.num_classes else ""
            raise self._label_error(f"{dtype.name} labels of shape {shape}{one_hot}")

    def check_labels(self, labels):
        """ValueError unless the array ``labels`` holds class indices in ``[0, num_classes)``."""
        labels = np.asarray(labels)
        self.check_label_spec(labels.dtype, labels.shape)
        outside = labels[(labels < 0) | (labels >= self.num_classes)]
        if outside.size:
            raise self._label_error(f"{outside.size} label(s) outside it, the first {int(outside[0])}")

    def labels_in_range(self, labels):
        """``labels`` as int32, after a run-time check of their range (in the input
        pipeline: XLA drops such checks inside a compiled step)."""
        message = f"ConditionalGAN: labels must be class indices in [0, {self.num_classes}); a batch holds one outside"
        return checked_class_labels(tf.cast(labels, tf.int32), self.num_classes, message)

    def fit(self, x=None, y=None, *args, **kwargs):
        """``keras.Model.fit`` on ``(samples, labels)``, the labels checked first (see the class docstring)."""
        if isinstance(x, tf.data.Dataset):
            spec = x.element_spec
            if not isinstance(spec, tuple) or len(spec) < 2:
                raise ValueError(f"ConditionalGAN: training data must be (samples, labels). Received: a dataset of {spec}")
            if len(spec) > 2:
                reject_sample_weight("ConditionalGAN", spec[2])
            self.check_label_spec(spec[1].dtype, spec[1].shape)
            x = x.map(lambda samples, labels: (samples, self.labels_in_range(labels)))
        elif y is not None:
            self.check_labels(y)
        elif isinstance(x, (np.ndarray, tf.Tensor)):  # generators and PyDatasets are checked batch by batch
            raise ValueError("ConditionalGAN: training data must be (samples, labels). Received: samples only")
        return super().fit(x, y, *args, **kwargs)

    def split_batch(self, data):
        samples, labels = super().split_batch(data)
        if labels is None:
            raise ValueError("ConditionalGAN: training data must be (samples, labels). Received: samples only")
        self.check_label_spec(labels.dtype, labels.shape)  # once, when the step is traced
        return samples, self.labels_in_range(labels)  # without XLA, also checks generators' batches

    def sample_labels(self, batch_size):
        """``(batch_size,)`` int32 labels drawn uniformly from ``[0, num_classes)``."""
        return keras.random.randint((batch_size,), 0, self.num_classes, seed=self.seed_generator, dtype="int32")

    # === Training ===

    def discriminator_losses(self, real, labels, training):
        """``{"d_loss": ...}``: the real batch and fakes of the same labels."""
        fake = self.generator([self.sample_latent(ops.shape(real)[0]), labels], training=training)
        return {"d_loss": self.adversarial_d_loss(self.real_fake_logits([real, labels], training),
                                                   self.real_fake_logits([fake, labels], training))}

    def generator_losses(self, batch_size, training):
        """``{"g_loss": ...}`` on fakes of uniformly drawn labels."""
        labels = self.sample_labels(batch_size)
        fake = self.generator([self.sample_latent(batch_size), labels], training=training)
        return {"g_loss": self.adversarial_g_loss(self.real_fake_logits([fake, labels], training))}

    # === Serving ===

    def balanced_labels(self, num_samples):
        """``(num_samples,)`` int32 labels ``0, 1, ..., K-1, 0, 1, ...``."""
        return tf.range(num_samples, dtype=tf.int32) % self.num_classes

    def generate(self, num_samples, seed=0, labels=None):
        """``num_samples`` samples from ``z ~ N(0, I)`` (stateless, seeded), sample ``i``
        of class ``labels[i]`` (default: ``i mod num_classes``)."""
        if labels is None:
            labels = self.balanced_labels(num_samples)
        elif not isinstance(labels, tf.Tensor) or tf.executing_eagerly():
            self.check_labels(labels)
            if len(np.asarray(labels)) != int(num_samples):
                raise ValueError(f"ConditionalGAN.generate: expected {int(num_samples)} labels, one per sample. "
                                 f"Received: {len(np.asarray(labels))}")
        z = tf.random.stateless_normal(
            tf.stack([num_samples, self.latent_dim]), seed=tf.stack([tf.cast(seed, tf.int32), 0])
        )
        return self.sampler([tf.cast(z, self.compute_dtype), tf.cast(labels, tf.int32)], training=False)

    def generate_labels(self, labels, seed=0):
        """One sample per label of the int32 ``(batch,)`` ``labels``, seeded."""
        return self.generate(tf.shape(labels)[0], seed, labels)

    def serving_endpoints(self):
        # Named specs: the SignatureDefs' input names, which clients feed by name.
        labels, seed = tf.TensorSpec((None,), tf.int32, name="labels"), tf.TensorSpec((), tf.int32, name="seed")
        return {
            # The range check runs in the served graph: an embedding lookup out of range
            # fails on the CPU but reads zeros on a GPU, a silently wrong sample.
            "serve": (lambda z, labels: self.sampler([z, self.labels_in_range(labels)], training=False),
                      [tf.TensorSpec((None, self.latent_dim), tf.float32, name="z"), labels]),
            "generate": (lambda num_samples, seed: self.generate(num_samples, seed),
                         [tf.TensorSpec((), tf.int32, name="num_samples"), seed]),
            "generate_labels": (lambda labels, seed: self.generate_labels(self.labels_in_range(labels), seed),
                                [labels, seed]),
        }

    # === Config ===

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes}
