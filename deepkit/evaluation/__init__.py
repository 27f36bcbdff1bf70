"""Measurements of what a model produces, beside the losses it trains on.

- :mod:`deepkit.evaluation.sample_quality` — generated digits judged by a digit
  classifier: the share it labels confidently, the share of the rarest class, the
  Fréchet distance in its feature space, and the entropy of its posterior.
"""

from deepkit.evaluation.sample_quality import (
    DigitJudge,
    class_coverage_min,
    confident_fraction,
    frechet_distance,
    judge_for_dataset,
    mean_entropy,
    posterior_entropy,
    train_digit_judge,
)

__all__ = [
    "DigitJudge",
    "class_coverage_min",
    "confident_fraction",
    "frechet_distance",
    "judge_for_dataset",
    "mean_entropy",
    "posterior_entropy",
    "train_digit_judge",
]
