"""The VAE's reparameterisation trick as a layer."""

import keras
from keras import ops

from deepkit.random_state import SavesSeedState
from deepkit.registry import register


@register
class Sampling(SavesSeedState, keras.layers.Layer):
    """Draws ``z = z_mean + exp(0.5 · z_log_var) · ε`` with ``ε ~ N(0, I)``.

    The randomness comes from a ``keras.random.SeedGenerator`` the layer owns, so a
    seeded layer draws the same sequence of samples in eager, ``tf.function`` and XLA
    runs, and a ``.keras`` file saves the generator's state, so a reloaded model goes
    on with the same stream. It samples at inference too: it *is* the VAE's sampler
    (a VAE that wants the mean at inference reads ``z_mean`` directly).

    Args:
        seed: Optional integer seed of the layer's ``SeedGenerator``.

    Call arguments:
        inputs: ``[z_mean, z_log_var]``, two tensors of the same shape.

    Example:

    >>> z = Sampling(seed=0)([np.zeros((2, 3), "float32"), np.zeros((2, 3), "float32")])
    >>> tuple(z.shape)
    (2, 3)

    Reference:
        Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
    """

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _check(self, shapes):
        # One tensor's shape is a tuple of ints (build) or the tensor itself (call).
        pair = isinstance(shapes, (list, tuple)) and len(shapes) == 2
        if not pair or not all(isinstance(shape, (list, tuple)) for shape in shapes):
            received = (f"{len(shapes)} tensor(s)" if pair is False and isinstance(shapes, (list, tuple))
                        and all(isinstance(shape, (list, tuple)) for shape in shapes)
                        else f"one tensor of shape {tuple(getattr(shapes, 'shape', shapes))}")
            raise ValueError(
                f"Sampling '{self.name}': inputs must be a list of two tensors [z_mean, z_log_var]. "
                f"Received: {received}"
            )
        if tuple(shapes[0]) != tuple(shapes[1]):
            raise ValueError(
                f"Sampling '{self.name}': `z_mean` and `z_log_var` must have the same shape. "
                f"Received: {tuple(shapes[0])} and {tuple(shapes[1])}"
            )

    def build(self, input_shape):
        self._check(input_shape)

    def call(self, inputs):
        self._check([tuple(t.shape) for t in inputs] if isinstance(inputs, (list, tuple)) else inputs)
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), dtype=z_mean.dtype, seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def compute_output_shape(self, input_shape):
        return input_shape[0]

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}
