"""The sample-quality measures: the Fréchet distance against SciPy's matrix square root
and closed forms, the classifier-based shares against hand counts, and the judge's checks."""

import numpy as np
import pytest
import scipy.linalg

from deepkit.evaluation import (
    DigitJudge,
    class_coverage_min,
    confident_fraction,
    frechet_distance,
    mean_entropy,
    train_digit_judge,
)


def frechet_with_scipy_sqrtm(a, b):
    """The FID formula as usually written, with scipy's matrix square root of the product."""
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(cov_a @ cov_b).real
    return np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a + cov_b - 2.0 * root)


def test_frechet_distance_equals_the_formula_with_scipy_sqrtm():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    b = 0.5 + rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))
    np.testing.assert_allclose(frechet_distance(a, b), frechet_with_scipy_sqrtm(a, b), rtol=1e-8)
    np.testing.assert_allclose(frechet_distance(b, a), frechet_distance(a, b), rtol=1e-10)


def test_frechet_distance_of_one_dimensional_gaussians_is_mean_and_spread_squared():
    # For N(m1, s1²) and N(m2, s2²): (m1 - m2)² + (s1 - s2)².
    a, b = np.array([[-1.0], [1.0]]), np.array([[1.0], [5.0]])  # means 0 and 3, sample sds √2 and 2√2
    assert frechet_distance(a, b) == pytest.approx(9.0 + (np.sqrt(2) - 2 * np.sqrt(2)) ** 2)


def test_frechet_distance_is_zero_for_one_set_and_stays_real_for_rank_deficient_covariances():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(50, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    flat = np.concatenate([a[:, :2], np.zeros((50, 8))], axis=1)  # 10 features, rank 2 (dead ReLUs)
    other = np.concatenate([rng.normal(size=(60, 2)), np.zeros((60, 8))], axis=1)
    distance = frechet_distance(flat, other)
    assert np.isfinite(distance) and distance >= 0.0
    np.testing.assert_allclose(distance, frechet_distance(flat[:, :2], other[:, :2]), rtol=1e-7, atol=1e-9)


def test_shares_and_entropy_equal_hand_counts():
    probabilities = np.array([[0.95, 0.05, 0.0], [0.2, 0.7, 0.1], [0.1, 0.0, 0.9], [0.5, 0.25, 0.25]])
    assert confident_fraction(probabilities) == 0.5  # rows 1 and 3 reach 0.9
    assert confident_fraction(probabilities, threshold=0.7) == 0.75
    assert class_coverage_min(probabilities) == 0.25  # labels 0, 1, 2, 0
    assert class_coverage_min(probabilities[:2]) == 0.0  # class 2 never labelled: a dropped mode
    expected = -np.sum(probabilities * np.log(np.where(probabilities > 0, probabilities, 1)), axis=1).mean()
    assert mean_entropy(probabilities) == pytest.approx(expected)
    assert mean_entropy(np.full((3, 10), 0.1)) == pytest.approx(np.log(10))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: confident_fraction(np.ones(4)), r"confident_fraction: expected class probabilities of shape \(samples, classes\).*Received: shape \(4,\)"),
        (lambda: confident_fraction(np.ones((2, 2)) / 2, threshold=1.5), r"threshold in \(0, 1\]. Received: threshold=1.5"),
        (lambda: class_coverage_min(np.zeros((0, 3))), r"Received: shape \(0, 3\)"),
        (lambda: frechet_distance(np.ones((5, 3)), np.ones((5, 4))), r"same number of features. Received: 3 and 4"),
        (lambda: frechet_distance(np.ones((1, 3)), np.ones((5, 3))), r"`features_a` of shape \(samples, features\) with at least 2 samples. Received: shape \(1, 3\)"),
        (lambda: frechet_distance(np.full((3, 2), np.nan), np.ones((5, 2))), r"`features_a` holds non-finite values"),
    ],
)
def test_bad_input_names_what_was_expected_and_received(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def tiny_digits(n=120, seed=0):
    """Bright bars at one of four rows of an 8x8 image: four classes a CNN tells apart at once."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 4, n)
    images = 0.1 * rng.uniform(size=(n, 8, 8, 1))
    images[np.arange(n), 2 * labels] = 1.0
    return images.astype("float32"), labels


def test_judge_learns_separable_classes_and_is_cached_at_its_path(tmp_path):
    images, labels = tiny_digits()
    path = str(tmp_path / "judge.keras")
    judge = train_digit_judge(images, labels, path=path, epochs=15, batch_size=16)
    test_images, test_labels = tiny_digits(40, seed=1)
    assert judge.accuracy(test_images, test_labels) >= 0.95
    cached = train_digit_judge(None, None, path=path)  # loads; needs no data
    np.testing.assert_allclose(cached.features_and_probabilities(test_images)[1],
                               judge.features_and_probabilities(test_images)[1], rtol=1e-5, atol=1e-6)
    measured = judge.measure(test_images[:20], test_images[20:])
    assert measured["confident_fraction"] > 0.5 and measured["class_coverage_min"] > 0.0
    # Real digits against themselves: the distance is 0; against noise, far larger.
    assert judge.measure(test_images, test_images)["frechet_distance"] == pytest.approx(0.0, abs=1e-6)
    noise = np.random.default_rng(2).uniform(size=test_images.shape).astype("float32")
    assert judge.measure(noise, test_images)["frechet_distance"] > 1.0


def test_judge_refuses_images_of_another_shape_dtype_or_range(tmp_path):
    images, labels = tiny_digits(32)
    judge = train_digit_judge(images, labels, epochs=1)
    assert isinstance(judge, DigitJudge)
    with pytest.raises(ValueError, match=r"reads images of shape \(8, 8, 1\); `samples` has shape \(28, 28, 1\)"):
        judge.measure(np.zeros((4, 28, 28, 1), "float32"), images)
    with pytest.raises(ValueError, match=r"expected `samples` as float images.*Received: uint8 array of shape \(4, 8, 8, 1\)"):
        judge.measure(np.zeros((4, 8, 8, 1), "uint8"), images)
    with pytest.raises(ValueError, match=r"`samples` with values in \[0, 1\]. Received: values in \[0, 255\]"):
        judge.measure(np.linspace(0.0, 255.0, 256, dtype="float32").reshape(4, 8, 8), images)
    with pytest.raises(ValueError, match=r"one non-negative integer label per image, shape \(32,\). Received: float64"):
        train_digit_judge(images, labels * 1.0)


def test_docstring_examples_of_the_module_run():
    import doctest

    from deepkit.evaluation import sample_quality

    failures, tried = doctest.testmod(sample_quality, extraglobs={"np": np}, optionflags=doctest.ELLIPSIS)
    assert tried >= 7 and failures == 0
