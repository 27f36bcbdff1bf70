"""L1 sparsity penalty on an autoencoder's code: ``λ Σ_i |h_i|``."""

from keras import ops

from deepkit.registry import register


@register
def l1_code_penalty(code):
    """``Σ_i |h_i|`` per sample.

    Args:
        code: ``(batch, ...)`` activations.

    Returns:
        Tensor of shape ``(batch,)``.

    Example:

    >>> np.asarray(l1_code_penalty(np.array([[1.0, -2.0], [0.0, 0.5]]))).tolist()
    [3.0, 0.5]
    """
    code = ops.convert_to_tensor(code)
    return ops.sum(ops.reshape(ops.abs(code), (ops.shape(code)[0], -1)), axis=-1)
