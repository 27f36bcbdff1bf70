"""Generated digits judged by a digit classifier trained on real ones.

A GAN's losses say little about its samples: they oscillate while the digits improve.
A small convolutional classifier trained on the real digits gives three numbers a
reader can act on: the share of samples it labels confidently (readable digits), the
share of the rarest label (a dropped mode shows as a share near zero) and the Fréchet
distance between real and generated digits in its penultimate feature space (the FID
of Heusel et al. 2017, with a digit classifier in place of Inception).
"""

import os

import keras
import numpy as np

from deepkit import data, saving

FEATURES_LAYER = "features"  # the penultimate layer: the space of the Fréchet distance


def _probabilities(probabilities, function):
    probabilities = np.asarray(probabilities, "float64")
    if probabilities.ndim != 2 or probabilities.shape[1] < 2 or len(probabilities) == 0:
        raise ValueError(
            f"{function}: expected class probabilities of shape (samples, classes) with at least one sample "
            f"and two classes. Received: shape {probabilities.shape}"
        )
    return probabilities


def confident_fraction(probabilities, threshold=0.9):
    """Share of samples whose most probable class has probability at least ``threshold``.

    Args:
        probabilities: ``(samples, classes)`` class probabilities (rows summing to 1).
        threshold: The confidence a sample needs, in (0, 1] (default 0.9).

    Returns:
        A float in [0, 1].

    Example:

    >>> confident_fraction([[0.95, 0.05], [0.6, 0.4]])
    0.5
    """
    probabilities = _probabilities(probabilities, "confident_fraction")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"confident_fraction: expected a threshold in (0, 1]. Received: threshold={threshold!r}")
    return float(np.mean(probabilities.max(axis=1) >= threshold))


def class_coverage_min(probabilities):
    """Share of the samples given the rarest label (the arg-max class).

    ``1 / classes`` when every class is equally common; 0 when a class is never
    produced, the mark of a dropped mode.

    Args:
        probabilities: ``(samples, classes)`` class probabilities.

    Returns:
        A float in [0, 1 / classes].

    Example:

    >>> class_coverage_min([[0.9, 0.1, 0.0], [0.2, 0.8, 0.0], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])
    0.25
    """
    probabilities = _probabilities(probabilities, "class_coverage_min")
    counts = np.bincount(probabilities.argmax(axis=1), minlength=probabilities.shape[1])
    return float(counts.min() / len(probabilities))


def posterior_entropy(probabilities):
    """Entropy, in nats, of each sample's class posterior: ``-Σ_k p_k ln p_k``, shape ``(samples,)``.

    ``ln(classes)`` for a uniform posterior (a classifier that cannot tell), 0 for a
    one-hot one.

    Example:

    >>> np.round(posterior_entropy([[0.5, 0.5], [1.0, 0.0]]), 4).tolist()  # ln 2, 0
    [0.6931, 0.0]
    """
    probabilities = _probabilities(probabilities, "posterior_entropy")
    logs = np.log(np.where(probabilities > 0, probabilities, 1.0))  # 0 ln 0 = 0
    return 0.0 - np.sum(probabilities * logs, axis=1)  # 0.0 - 0.0 is +0, never -0


def mean_entropy(probabilities):
    """:func:`posterior_entropy` averaged over the samples, in nats.

    Example:

    >>> round(mean_entropy([[0.5, 0.5], [1.0, 0.0]]), 4)  # (ln 2 + 0) / 2
    0.3466
    """
    return float(np.mean(posterior_entropy(probabilities)))


def _features(features, name):
    features = np.asarray(features, "float64")
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(
            f"frechet_distance: expected `{name}` of shape (samples, features) with at least 2 samples. "
            f"Received: shape {features.shape}"
        )
    if not np.isfinite(features).all():
        raise ValueError(f"frechet_distance: `{name}` holds non-finite values")
    return features


def frechet_distance(features_a, features_b):
    """Fréchet distance between Gaussians fitted to two sets of feature vectors.

    ``||μ_a - μ_b||² + Tr(Σ_a + Σ_b - 2 (Σ_a Σ_b)^{1/2})``, the FID's formula
    (Heusel et al. 2017). ``Tr((Σ_a Σ_b)^{1/2})`` is computed as the sum of the square
    roots of the eigenvalues of the symmetric ``Σ_a^{1/2} Σ_b Σ_a^{1/2}`` (the same
    eigenvalues), which stays real where ``scipy.linalg.sqrtm`` of the product picks
    up imaginary round-off.

    Args:
        features_a, features_b: ``(samples, features)`` arrays with the same number
            of features (the covariances use ``samples - 1``).

    Returns:
        A float >= 0; 0 for identical sets.

    Raises:
        ValueError: if a set is not 2-D, has fewer than two samples or non-finite
            values, or the feature sizes differ.

    Example:

    >>> a = np.random.default_rng(0).normal(size=(500, 3))
    >>> frechet_distance(a, a) < 1e-9
    True
    >>> round(frechet_distance(a, a + 2.0), 3)  # a shift by 2 in each of 3 dimensions: 3 * 2²
    12.0

    Reference:
        Heusel, Ramsauer, Unterthiner, Nessler & Hochreiter, "GANs Trained by a Two
        Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017.
    """
    a, b = _features(features_a, "features_a"), _features(features_b, "features_b")
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"frechet_distance: both sets need the same number of features. Received: {a.shape[1]} and {b.shape[1]}"
        )
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False, ddof=1), np.cov(b, rowvar=False, ddof=1)
    cov_a, cov_b = np.atleast_2d(cov_a), np.atleast_2d(cov_b)
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    product = root_a @ cov_b @ root_a
    trace_root = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((product + product.T) / 2.0), 0.0, None)))
    distance = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * trace_root
    return float(max(distance, 0.0))


def build_digit_classifier(image_shape, num_classes=10, seed=0):
    """The judge's network: two blocks of a 3x3 convolution and 2x2 max pooling (16 and
    32 channels), dropout, a 128-unit ReLU layer named ``"features"`` (the penultimate
    layer), dropout, a softmax. Small, so that training it stays a fraction of a
    recipe's time on a CPU."""
    image = keras.Input(image_shape, name="image")
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu", name="conv1")(image)
    x = keras.layers.MaxPooling2D(2, padding="same", name="pool1")(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.MaxPooling2D(2, padding="same", name="pool2")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    x = keras.layers.Dropout(0.3, seed=seed, name="dropout1")(x)
    x = keras.layers.Dense(128, activation="relu", name=FEATURES_LAYER)(x)
    x = keras.layers.Dropout(0.3, seed=seed, name="dropout2")(x)
    probabilities = keras.layers.Dense(num_classes, activation="softmax", name="class")(x)
    model = keras.Model(image, probabilities, name="digit_judge")
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _images(images, name, shape=None):
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or not np.issubdtype(images.dtype, np.floating):
        raise ValueError(
            f"DigitJudge: expected `{name}` as float images (N, H, W) or (N, H, W, C) in [0, 1]. "
            f"Received: {images.dtype} array of shape {images.shape}"
        )
    if shape is not None and images.shape[1:] != tuple(shape):
        raise ValueError(
            f"DigitJudge: the classifier reads images of shape {tuple(shape)}; `{name}` has shape {images.shape[1:]}"
        )
    if len(images) and (images.min() < -1e-3 or images.max() > 1.0 + 1e-3):
        raise ValueError(
            f"DigitJudge: expected `{name}` with values in [0, 1]. "
            f"Received: values in [{images.min():.3g}, {images.max():.3g}]"
        )
    return images.astype("float32")


class DigitJudge:
    """A trained digit classifier and the measurements made with it.

    Args:
        classifier: A Keras model ``images -> class probabilities`` with a layer named
            ``"features"`` (its penultimate layer), as :func:`build_digit_classifier` makes.

    Example:

    >>> rng = np.random.default_rng(0)
    >>> images, labels = rng.uniform(size=(64, 8, 8, 1)).astype("float32"), np.arange(64) % 10
    >>> judge = train_digit_judge(images, labels, epochs=1)
    >>> sorted(judge.measure(images[:32], images[32:]))
    ['class_coverage_min', 'confident_fraction', 'frechet_distance']
    """

    def __init__(self, classifier):
        self.classifier = classifier
        self.image_shape = tuple(classifier.inputs[0].shape[1:])
        self.feature_model = keras.Model(
            classifier.inputs, [classifier.get_layer(FEATURES_LAYER).output, classifier.outputs[0]]
        )

    def features_and_probabilities(self, images, name="images"):
        """``(features (N, 128), probabilities (N, classes))`` of images in [0, 1]."""
        features, probabilities = self.feature_model.predict(_images(images, name, self.image_shape),
                                                             batch_size=256, verbose=0)
        return features, probabilities

    def accuracy(self, images, labels):
        """Share of ``images`` given their ``labels``."""
        _, probabilities = self.features_and_probabilities(images)
        return float(np.mean(probabilities.argmax(axis=1) == np.asarray(labels).reshape(-1)))

    def measure(self, samples, real_images, threshold=0.9):
        """``confident_fraction``, ``class_coverage_min`` of ``samples`` and the
        ``frechet_distance`` between the features of ``real_images`` and of ``samples``."""
        sample_features, probabilities = self.features_and_probabilities(samples, "samples")
        real_features, _ = self.features_and_probabilities(real_images, "real_images")
        return {
            "confident_fraction": confident_fraction(probabilities, threshold),
            "class_coverage_min": class_coverage_min(probabilities),
            "frechet_distance": frechet_distance(real_features, sample_features),
        }


def train_digit_judge(images, labels, path=None, epochs=10, batch_size=64, seed=0):
    """Trains the digit classifier that judges samples, or loads it from ``path``.

    Args:
        images: Float training images ``(N, H, W)`` or ``(N, H, W, C)`` in [0, 1].
        labels: Integer classes ``(N,)`` in ``[0, classes)``; ``classes`` is ``max + 1``.
        path: A ``.keras`` file: loaded when it exists, written (atomically) after
            training otherwise, so that a resumed run judges with the same classifier.
        epochs, batch_size: Of the classifier's training.
        seed: Seeds the weights, the shuffling, the shifts and dropout.

    Returns:
        A :class:`DigitJudge`.
    """
    if path is not None and os.path.exists(path):
        try:
            return DigitJudge(saving.load_model(path))
        except ValueError as error:
            raise ValueError(f"train_digit_judge: {error}; delete it and the judge is trained again") from None
    images = _images(images, "images")
    labels = np.asarray(labels)
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError(
            f"train_digit_judge: expected one non-negative integer label per image, shape ({len(images)},). "
            f"Received: {labels.dtype} array of shape {labels.shape}"
        )
    keras.utils.set_random_seed(seed)
    classifier = build_digit_classifier(images.shape[1:], num_classes=max(int(labels.max()) + 1, 2), seed=seed)
    classifier.fit(images, labels, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
    if path is not None:
        partial = os.path.join(os.path.dirname(path) or ".", ".partial." + os.path.basename(path))
        classifier.save(partial)
        os.replace(partial, path)
    return DigitJudge(classifier)


def judge_for_dataset(name, path=None, epochs=10, seed=0):
    """:func:`train_digit_judge` on the ``train`` split of the ``deepkit.data`` image
    dataset ``name`` (or loaded from ``path``), with its accuracy on the ``test`` split.

    Returns:
        ``(judge, test_images, test_accuracy)``; ``test_images`` as float32 in [0, 1],
        the real digits the samples are compared with.
    """
    train, test = data.split_arrays(name, "train"), data.split_arrays(name, "test")
    judge = train_digit_judge(train["image"].astype("float32") / 255.0, train["label"].astype("int64"),
                              path=path, epochs=epochs, seed=seed)
    test_images = test["image"].astype("float32") / 255.0
    return judge, test_images, judge.accuracy(test_images, test["label"])
