"""KL, sparsity and adversarial losses equal their formulas; CAN's ambiguity is minimal at the uniform posterior."""

import numpy as np
import pytest

from deepkit.losses import (
    discriminator_loss,
    gaussian_kl,
    generator_loss,
    l1_code_penalty,
    sparsity_kl,
    style_ambiguity_loss,
)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_gaussian_kl_formula_and_zero_at_the_prior():
    rng = np.random.default_rng(0)
    mean, log_var = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    expected = -0.5 * np.sum(1 + log_var - mean**2 - np.exp(log_var), axis=1)
    np.testing.assert_allclose(gaussian_kl(mean, log_var), expected, rtol=1e-6)
    np.testing.assert_allclose(gaussian_kl(np.zeros((2, 3)), np.zeros((2, 3))), [0.0, 0.0], atol=1e-7)
    with pytest.raises(ValueError, match="same shape"):
        gaussian_kl(np.zeros((2, 3)), np.zeros((2, 4)))


def test_sparsity_kl_is_zero_at_the_target_and_positive_elsewhere():
    assert float(sparsity_kl(np.full((4, 3), 0.1), target=0.1)) == pytest.approx(0.0, abs=1e-6)
    rho, rho_hat = 0.05, 0.3
    expected = 3 * (rho * np.log(rho / rho_hat) + (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
    assert float(sparsity_kl(np.full((4, 3), rho_hat), target=rho)) == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match=r"`target` must be in \(0, 1\)"):
        sparsity_kl(np.ones((1, 1)), target=1.5)


def test_l1_code_penalty_sums_absolute_values_per_sample():
    np.testing.assert_allclose(l1_code_penalty(np.array([[1.0, -2.0], [0.0, 0.5]])), [3.0, 0.5])


def test_discriminator_and_generator_losses_equal_their_formulas():
    rng = np.random.default_rng(1)
    real, fake = rng.normal(size=(5, 1)), rng.normal(size=(5, 1))
    expected = -(np.log(sigmoid(real)) + np.log(1 - sigmoid(fake)))[:, 0]
    np.testing.assert_allclose(discriminator_loss(real, fake), expected, rtol=1e-6)
    smoothed = -(0.9 * np.log(sigmoid(real)) + 0.1 * np.log(1 - sigmoid(real)) + np.log(1 - sigmoid(fake)))[:, 0]
    np.testing.assert_allclose(discriminator_loss(real, fake, label_smoothing=0.1), smoothed, rtol=1e-6)
    np.testing.assert_allclose(generator_loss(fake), -np.log(sigmoid(fake))[:, 0], rtol=1e-6)
    np.testing.assert_allclose(generator_loss(fake, "minimax"), np.log(1 - sigmoid(fake))[:, 0], rtol=1e-6)
    with pytest.raises(ValueError, match=r"`kind` must be one of \['non_saturating', 'minimax'\]"):
        generator_loss(fake, "wasserstein")


def test_losses_are_stable_for_large_logits():
    big = np.array([[80.0], [-80.0]])
    assert np.all(np.isfinite(discriminator_loss(big, -big)))
    assert np.all(np.isfinite(generator_loss(big)))


@pytest.mark.parametrize("num_styles", [2, 3, 7])
def test_style_ambiguity_is_minimal_at_the_uniform_posterior(num_styles):
    k = num_styles
    uniform_value = np.log(k) + (k - 1) * np.log(k / (k - 1))
    np.testing.assert_allclose(style_ambiguity_loss(np.zeros((1, k))), [uniform_value], rtol=1e-6)
    others = style_ambiguity_loss(np.random.default_rng(k).normal(scale=2.0, size=(200, k)))
    assert np.all(np.asarray(others) > uniform_value)


def test_style_ambiguity_matches_the_paper_formula_and_grows_for_a_confident_posterior():
    logits = np.array([[2.0, 0.5, -1.0]])
    p = np.exp(logits) / np.exp(logits).sum()
    expected = -np.sum(np.log(p) / 3 + (2 / 3) * np.log(1 - p))
    np.testing.assert_allclose(style_ambiguity_loss(logits), [expected], rtol=1e-6)
    one_hot = float(style_ambiguity_loss(np.array([[30.0, 0.0, 0.0]]))[0])
    assert np.isfinite(one_hot) and one_hot > 19.0  # ≈ (2/3)·30: log(1 - p_1) ≈ -30


def test_style_ambiguity_needs_two_styles():
    with pytest.raises(ValueError, match=r"K >= 2 classes.*Received: shape=\(1, 1\)"):
        style_ambiguity_loss(np.zeros((1, 1)))
