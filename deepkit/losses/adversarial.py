"""Adversarial losses from logits: GAN (Goodfellow et al. 2014) and CAN's style ambiguity
(Elgammal et al. 2017). All return per-sample values of shape ``(batch,)``."""

from keras import ops

from deepkit.registry import register
from deepkit.validation import check_choice, check_rate

GENERATOR_LOSSES = ("non_saturating", "minimax")


def _log_sigmoid(z):
    return -ops.softplus(-z)


@register
def discriminator_loss(real_logits, fake_logits, label_smoothing=0.0):
    """``-[log D(x) + log(1 - D(G(z)))]`` per sample, from logits.

    Args:
        real_logits, fake_logits: ``(batch, 1)`` discriminator logits.
        label_smoothing: One-sided label smoothing (Salimans et al. 2016): the real
            target becomes ``1 - label_smoothing``.

    Example:

    >>> round(float(discriminator_loss(np.zeros((1, 1)), np.zeros((1, 1)))[0]), 4)  # 2 log 2
    1.3863
    """
    check_rate("discriminator_loss", "label_smoothing", label_smoothing)
    real_target = 1.0 - label_smoothing
    real = real_target * _log_sigmoid(real_logits) + (1.0 - real_target) * _log_sigmoid(-real_logits)
    fake = _log_sigmoid(-fake_logits)
    return -ops.reshape(real + fake, (ops.shape(real_logits)[0], -1))[:, 0]


@register
def generator_loss(fake_logits, kind="non_saturating"):
    """The generator's loss from the discriminator's logits on generated samples.

    ``"non_saturating"`` (default): ``-log D(G(z))``, strong gradients early in
    training (Goodfellow et al. 2014, section 3). ``"minimax"``: ``log(1 - D(G(z)))``,
    the game's value as written.

    Example:

    >>> round(float(generator_loss(np.zeros((1, 1)))[0]), 4)
    0.6931
    """
    check_choice("generator_loss", "kind", kind, GENERATOR_LOSSES)
    value = -_log_sigmoid(fake_logits) if kind == "non_saturating" else _log_sigmoid(-fake_logits)
    return ops.reshape(value, (ops.shape(fake_logits)[0], -1))[:, 0]


@register
def style_ambiguity_loss(style_logits):
    """CAN's style-ambiguity loss, the paper's form, from the style head's logits.

    ``-Σ_k [(1/K) log D_c(c_k|G(z)) + (1 - 1/K) log(1 - D_c(c_k|G(z)))]`` with
    ``D_c`` the softmax posterior over the ``K`` styles. Minimal at the uniform
    posterior, where it equals ``log K + (K-1) log(K/(K-1))``. ``log(1 - p_k)`` is
    computed as ``logsumexp`` over the other classes, so it stays finite for
    confident posteriors.

    Args:
        style_logits: ``(batch, K)`` logits, ``K >= 2``.

    Example:

    >>> K = 4
    >>> uniform = float(style_ambiguity_loss(np.zeros((1, K)))[0])
    >>> bool(np.isclose(uniform, np.log(K) + (K - 1) * np.log(K / (K - 1))))
    True

    Reference:
        Elgammal et al., "CAN: Creative Adversarial Networks", ICCC 2017.
    """
    style_logits = ops.convert_to_tensor(style_logits)
    num_styles = style_logits.shape[-1]
    if num_styles is None or num_styles < 2:
        raise ValueError(
            f"style_ambiguity_loss: `style_logits` must have K >= 2 classes on the last axis. "
            f"Received: shape={tuple(style_logits.shape)}"
        )
    log_total = ops.logsumexp(style_logits, axis=-1, keepdims=True)
    log_p = style_logits - log_total
    # log(1 - p_k) = logsumexp_{j != k}(logits_j) - logsumexp_j(logits_j)
    eye = ops.eye(num_styles, dtype=style_logits.dtype)
    others = ops.expand_dims(style_logits, 1) - 1e9 * ops.expand_dims(eye, 0)
    log_not_p = ops.logsumexp(others, axis=-1) - log_total
    k = float(num_styles)
    return -ops.sum(log_p / k + (1.0 - 1.0 / k) * log_not_p, axis=-1)
