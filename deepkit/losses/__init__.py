"""deepkit's losses and penalties (per-sample values of shape ``(batch,)`` unless noted)."""

from deepkit.losses.adversarial import discriminator_loss, generator_loss, style_ambiguity_loss
from deepkit.losses.contractive import contractive_penalty
from deepkit.losses.kl import gaussian_kl, sparsity_kl
from deepkit.losses.sparse import l1_code_penalty

__all__ = [
    "contractive_penalty",
    "discriminator_loss",
    "gaussian_kl",
    "generator_loss",
    "l1_code_penalty",
    "sparsity_kl",
    "style_ambiguity_loss",
]
