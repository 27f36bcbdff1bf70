"""Sampling draws z_mean + exp(0.5·z_log_var)·ε; Corruption corrupts in training only."""

import numpy as np
import pytest
import tensorflow as tf

from deepkit.layers import Corruption, Sampling


def test_samples_have_the_requested_mean_and_variance():
    n = 20000
    mean = np.tile(np.array([[1.0, -2.0]], "float32"), (n, 1))
    log_var = np.tile(np.log(np.array([[0.25, 4.0]], "float32")), (n, 1))
    z = np.asarray(Sampling(seed=0)([mean, log_var]))
    np.testing.assert_allclose(z.mean(axis=0), [1.0, -2.0], atol=0.05)
    np.testing.assert_allclose(z.var(axis=0), [0.25, 4.0], rtol=0.05)


def test_seeded_sampling_is_reproducible_and_equal_under_tf_function():
    inputs = [np.zeros((3, 2), "float32"), np.zeros((3, 2), "float32")]
    a, b = Sampling(seed=5), Sampling(seed=5)
    np.testing.assert_allclose(a(inputs), b(inputs))
    c, d = Sampling(seed=5), Sampling(seed=5)
    np.testing.assert_allclose(tf.function(c)(inputs), d(inputs))


def test_sampling_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match=r"must have the same shape. Received: \(2, 3\) and \(2, 4\)"):
        Sampling()([np.zeros((2, 3), "float32"), np.zeros((2, 4), "float32")])


def test_corruption_is_the_identity_at_inference():
    x = np.random.default_rng(0).normal(size=(4, 10)).astype("float32")
    for kind in ("gaussian", "masking"):
        np.testing.assert_array_equal(Corruption(kind, 0.3, seed=0)(x), x)


def test_gaussian_corruption_adds_noise_of_the_requested_std():
    x = np.zeros((1, 50000), "float32")
    noisy = np.asarray(Corruption("gaussian", 0.3, seed=1)(x, training=True))
    assert noisy.std() == pytest.approx(0.3, rel=0.03)


def test_masking_corruption_zeroes_the_requested_fraction_without_rescaling():
    x = np.full((1, 50000), 2.0, "float32")
    masked = np.asarray(Corruption("masking", 0.25, seed=1)(x, training=True))
    assert np.mean(masked == 0) == pytest.approx(0.25, abs=0.01)
    assert set(np.unique(masked)) == {0.0, 2.0}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "salt"}, r"`kind` must be one of \['gaussian', 'masking'\]. Received: kind='salt'"),
        ({"kind": "masking", "amount": 1.0}, r"`amount` must be a float in \[0, 1\). Received: amount=1.0"),
        ({"kind": "gaussian", "amount": -1}, r"`amount` must be a float >= 0. Received: amount=-1"),
    ],
)
def test_corruption_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Corruption(**kwargs)
