"""contractive_penalty: closed form = batch Jacobian = finite differences, and its gradient reaches W."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepkit.losses import contractive_penalty
from deepkit.losses.contractive import _single_sigmoid_dense


def sigmoid_encoder(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="sigmoid")])


def finite_difference_penalty(encoder, x, eps=1e-4):
    x = x.astype("float64")
    rows = []
    for n in range(len(x)):
        jac = []
        for i in range(x.shape[1]):
            plus, minus = x[n : n + 1].copy(), x[n : n + 1].copy()
            plus[0, i] += eps
            minus[0, i] -= eps
            diff = np.asarray(encoder(plus.astype("float32")), "float64") - np.asarray(encoder(minus.astype("float32")), "float64")
            jac.append(diff[0] / (2 * eps))
        rows.append(np.sum(np.square(jac)))
    return np.array(rows)


def test_closed_form_equals_batch_jacobian_and_finite_differences():
    encoder = sigmoid_encoder()
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    closed = np.asarray(contractive_penalty(encoder, x))
    # Wrapping the same layer in a Lambda hides the closed form and forces the Jacobian path.
    wrapped = keras.Sequential([keras.Input((5,)), encoder.layers[0], keras.layers.Lambda(lambda h: h)])
    jacobian = np.asarray(contractive_penalty(wrapped, x))
    assert closed.shape == (4,)
    np.testing.assert_allclose(closed, jacobian, rtol=1e-5)
    np.testing.assert_allclose(closed, finite_difference_penalty(encoder, x), rtol=2e-3)


def test_closed_form_formula():
    encoder = sigmoid_encoder()
    x = np.random.default_rng(1).normal(size=(2, 5)).astype("float32")
    kernel, bias = [w.astype("float64") for w in encoder.get_weights()]
    h = 1 / (1 + np.exp(-(x @ kernel + bias)))
    expected = np.sum((h * (1 - h)) ** 2 * np.sum(kernel**2, axis=0), axis=1)
    np.testing.assert_allclose(contractive_penalty(encoder, x), expected, rtol=1e-5)


def test_deep_and_convolutional_encoders_use_the_jacobian():
    keras.utils.set_random_seed(2)
    conv = keras.Sequential(
        [keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3, activation="tanh"), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    x = np.random.default_rng(2).normal(size=(2, 6, 6, 1)).astype("float32")
    penalty = np.asarray(contractive_penalty(conv, x))
    assert penalty.shape == (2,)
    with tf.GradientTape() as tape:
        xt = tf.constant(x)
        tape.watch(xt)
        h = conv(xt)
    jac = tape.jacobian(h, xt).numpy()  # (2, 3, 2, 6, 6, 1)
    expected = [np.sum(jac[n, :, n] ** 2) for n in range(2)]
    np.testing.assert_allclose(penalty, expected, rtol=1e-5)


def test_gradient_reaches_the_live_weights_in_both_paths():
    x = np.random.default_rng(3).normal(size=(4, 5)).astype("float32")
    for deep in (False, True):
        encoder = sigmoid_encoder()
        if deep:
            encoder = keras.Sequential([keras.Input((5,)), keras.layers.Dense(5, activation="tanh"), encoder.layers[0]])
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(contractive_penalty(encoder, x))
        grads = tape.gradient(loss, encoder.trainable_weights)
        assert all(g is not None and np.any(np.asarray(g) != 0) for g in grads)


def test_integer_input_is_rejected():
    with pytest.raises(TypeError, match=r"contractive_penalty: argument `x` must be a floating-point tensor"):
        contractive_penalty(sigmoid_encoder(), np.ones((2, 5), "int32"))


def test_only_a_single_sigmoid_dense_encoder_takes_the_closed_form():
    dense = keras.layers.Dense(3, activation="sigmoid")
    inputs = keras.Input((5,))
    functional = keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid")(inputs))
    for encoder in (dense, sigmoid_encoder(), functional):
        assert isinstance(_single_sigmoid_dense(encoder), keras.layers.Dense)
    relu = keras.Sequential([keras.Input((5,)), keras.layers.Dense(3, activation="relu")])
    deep = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4), keras.layers.Dense(3, activation="sigmoid")])
    for encoder in (relu, deep, keras.layers.Activation("sigmoid")):
        assert _single_sigmoid_dense(encoder) is None


def test_per_unit_jacobian_equals_batch_jacobian_and_reaches_the_weights():
    keras.utils.set_random_seed(4)
    conv = keras.Sequential(
        [keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3, activation="tanh"), keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    x = tf.constant(np.random.default_rng(4).normal(size=(3, 6, 6, 1)).astype("float32"))
    with tf.GradientTape(persistent=True) as tape:
        batch = contractive_penalty(conv, x)
        per_unit = contractive_penalty(conv, x, jacobian="per_unit")
    np.testing.assert_allclose(per_unit, batch, rtol=1e-5)
    per_unit_grads = tape.gradient(per_unit, conv.trainable_weights)
    batch_grads = tape.gradient(batch, conv.trainable_weights)
    # The last bias does not change the Jacobian of a linear output: no gradient in either.
    assert [g is None for g in per_unit_grads] == [g is None for g in batch_grads] == [False, False, False, True]
    for a, b in zip(per_unit_grads[:3], batch_grads[:3]):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    jitted = tf.function(lambda v: contractive_penalty(conv, v, jacobian="per_unit"), jit_compile=True)
    np.testing.assert_allclose(jitted(x), batch, rtol=1e-5)
    with pytest.raises(ValueError, match=r"`jacobian` must be one of \['batch', 'per_unit'\]. Received: jacobian='forward'"):
        contractive_penalty(conv, x, jacobian="forward")
