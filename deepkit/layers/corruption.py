"""Input corruption for denoising autoencoders (Vincent et al. 2008)."""

import keras
from keras import ops

from deepkit.random_state import SavesSeedState
from deepkit.registry import register
from deepkit.validation import check_choice, check_non_negative, check_rate, describe

KINDS = ("gaussian", "masking")


@register
class Corruption(SavesSeedState, keras.layers.Layer):
    """Corrupts its input during training only; the identity at inference.

    ``"gaussian"``: ``x̃ = x + N(0, amount²)``. ``"masking"``: each element is set to
    0 with probability ``amount`` (no rescaling: the network must fill the gaps,
    which is the point of a denoising autoencoder, unlike dropout).

    Args:
        kind: ``"gaussian"`` (default) or ``"masking"``.
        amount: Standard deviation of the noise (gaussian, >= 0) or the fraction of
            elements set to zero (masking, in [0, 1)). Default 0.1.
        seed: Optional integer seed of the layer's ``SeedGenerator`` (its state is
            saved in ``.keras`` files, so resumed training draws the same noise).

    Call arguments:
        inputs: Any floating tensor.
        training: Whether to corrupt.

    Example:

    >>> layer = Corruption("masking", amount=0.5, seed=0)
    >>> x = np.ones((1, 1000), "float32")
    >>> bool(np.all(layer(x) == x)), 0.4 < float(np.mean(layer(x, training=True) == 0)) < 0.6
    (True, True)

    Reference:
        Vincent et al., "Extracting and Composing Robust Features with Denoising
        Autoencoders", ICML 2008.
    """

    def __init__(self, kind="gaussian", amount=0.1, seed=None, **kwargs):
        owner = describe(self, kwargs.get("name"))
        check_choice(owner, "kind", kind, KINDS)
        if kind == "masking":
            check_rate(owner, "amount", amount)  # the fraction of the inputs zeroed
        else:
            check_non_negative(owner, "amount", amount)  # the noise's standard deviation
        super().__init__(**kwargs)
        self.kind = kind
        self.amount = float(amount)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training or self.amount == 0.0:
            return inputs
        if self.kind == "gaussian":
            noise = keras.random.normal(ops.shape(inputs), stddev=self.amount, dtype=inputs.dtype, seed=self.seed_generator)
            return inputs + noise
        keep = keras.random.uniform(ops.shape(inputs), dtype=inputs.dtype, seed=self.seed_generator) >= self.amount
        return ops.where(keep, inputs, ops.zeros_like(inputs))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "amount": self.amount, "seed": self.seed}
