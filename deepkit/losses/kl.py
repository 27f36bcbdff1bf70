"""Kullback-Leibler terms: the VAE's Gaussian KL and the sparse autoencoder's Bernoulli KL."""

from keras import ops

from deepkit.registry import register


@register
def gaussian_kl(z_mean, z_log_var):
    """``KL(N(z_mean, exp(z_log_var)) ‖ N(0, I))`` per sample, summed over the latent axis.

    ``KL = -0.5 Σ (1 + z_log_var - z_mean² - exp(z_log_var))`` (Kingma & Welling 2014).

    Args:
        z_mean, z_log_var: Tensors of shape ``(batch, latent_dim)``.

    Returns:
        Tensor of shape ``(batch,)``.

    Example:

    >>> abs(float(gaussian_kl(np.zeros((1, 2)), np.zeros((1, 2)))[0]))  # N(0, I) is the prior
    0.0
    """
    z_mean = ops.convert_to_tensor(z_mean)
    z_log_var = ops.convert_to_tensor(z_log_var)
    if tuple(z_mean.shape) != tuple(z_log_var.shape):
        raise ValueError(
            "gaussian_kl: `z_mean` and `z_log_var` must have the same shape. "
            f"Received: {tuple(z_mean.shape)} and {tuple(z_log_var.shape)}"
        )
    terms = 1.0 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var)
    return -0.5 * ops.sum(terms, axis=-1)


@register
def sparsity_kl(code, target=0.05, epsilon=1e-7):
    """Sparse-autoencoder KL penalty ``Σ_j KL(ρ ‖ ρ̂_j)`` with ``ρ̂_j`` the batch-mean activation.

    ``KL(ρ‖ρ̂) = ρ log(ρ/ρ̂) + (1-ρ) log((1-ρ)/(1-ρ̂))``; the code must be in (0, 1)
    (sigmoid units). Returns a scalar (it is a property of the batch, not of a sample).

    Args:
        code: ``(batch, units)`` activations in (0, 1).
        target: The desired mean activation ρ, in (0, 1).

    Example:

    >>> round(float(sparsity_kl(np.full((4, 3), 0.05), target=0.05)), 6)
    0.0
    """
    if not 0.0 < target < 1.0:
        raise ValueError(f"sparsity_kl: argument `target` must be in (0, 1). Received: target={target!r}")
    rho_hat = ops.clip(ops.mean(ops.convert_to_tensor(code), axis=0), epsilon, 1.0 - epsilon)
    kl = target * ops.log(target / rho_hat) + (1.0 - target) * ops.log((1.0 - target) / (1.0 - rho_hat))
    return ops.sum(kl)
