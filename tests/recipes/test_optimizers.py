"""One step after another of each Keras optimizer the `optimizers` recipe compares, against
the lecture notes' update equations written in NumPy, and where Keras' form differs, the
mapping that makes them the same update."""

import keras
import numpy as np
import pytest

from deepkit.recipes import optimizers

STEPS = 4


def gradients(seed=0):
    return np.random.default_rng(seed).normal(size=(STEPS, 3))


def keras_path(optimizer, grads, start):
    """The weights after each of the steps, the optimizer applying the given gradients."""
    weights = keras.Variable(start.astype("float64"))
    path = []
    for g in grads:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(g, "float64"), weights)])
        path.append(np.array(weights.numpy()))
    return np.stack(path)


START = np.array([0.5, -1.0, 2.0])


def notes_sgd(grads, rate):
    w, path = START.copy(), []
    for g in grads:
        w = w - rate * g
        path.append(w)
    return np.stack(path)


def notes_momentum(grads, rate, beta):
    """The notes: v_t = (1 - β) g_t + β v_{t-1}, v_0 = 0; θ_{t+1} = θ_t - λ v_t."""
    w, v, path = START.copy(), np.zeros(3), []
    for g in grads:
        v = (1 - beta) * g + beta * v
        w = w - rate * v
        path.append(w)
    return np.stack(path)


def notes_adagrad(grads, rate, epsilon):
    """The notes: v_t = v_{t-1} + g_t², v_0 = 0; θ_{t+1} = θ_t - α g_t / sqrt(v_t + ε)."""
    w, v, path = START.copy(), np.zeros(3), []
    for g in grads:
        v = v + g * g
        w = w - rate * g / np.sqrt(v + epsilon)
        path.append(w)
    return np.stack(path)


def notes_rmsprop(grads, rate, beta, epsilon, epsilon_inside=False):
    """The notes: v_t = β v_{t-1} + (1 - β) g_t²; θ_{t+1} = θ_t - α g_t / (sqrt(v_t) + ε)."""
    w, v, path = START.copy(), np.zeros(3), []
    for g in grads:
        v = beta * v + (1 - beta) * g * g
        denominator = np.sqrt(v + epsilon) if epsilon_inside else np.sqrt(v) + epsilon
        w = w - rate * g / denominator
        path.append(w)
    return np.stack(path)


def paper_adam(grads, rate, beta_1, beta_2, epsilon, epsilon_hat=False):
    """Kingma & Ba, Algorithm 1: bias-corrected moments m̂ = m / (1 - β1^t), v̂ = v / (1 - β2^t),
    θ -= α m̂ / (sqrt(v̂) + ε). With `epsilon_hat`, `epsilon` is the ε̂ of the paper's
    efficient form (end of its section 2), θ -= α_t m / (sqrt(v) + ε̂) with
    α_t = α sqrt(1 - β2^t) / (1 - β1^t): Algorithm 1 with ε = ε̂ / sqrt(1 - β2^t)."""
    w, m, v, path = START.copy(), np.zeros(3), np.zeros(3), []
    for t, g in enumerate(grads, start=1):
        m = beta_1 * m + (1 - beta_1) * g
        v = beta_2 * v + (1 - beta_2) * g * g
        m_hat, v_hat = m / (1 - beta_1**t), v / (1 - beta_2**t)
        eps = epsilon / np.sqrt(1 - beta_2**t) if epsilon_hat else epsilon
        w = w - rate * m_hat / (np.sqrt(v_hat) + eps)
        path.append(w)
    return np.stack(path)


def test_sgd_is_the_plain_gradient_step():
    grads = gradients()
    np.testing.assert_allclose(keras_path(keras.optimizers.SGD(0.1), grads, START), notes_sgd(grads, 0.1), rtol=1e-6)


def test_keras_momentum_is_the_notes_exponential_average_with_the_rate_times_one_minus_beta():
    grads, beta, notes_rate = gradients(1), 0.9, 0.5
    notes = notes_momentum(grads, notes_rate, beta)
    # Keras: u_t = β u_{t-1} - η g_t, w_t = w_{t-1} + u_t; with η = λ (1 - β), u_t = -λ v_t.
    same = keras_path(keras.optimizers.SGD(notes_rate * (1 - beta), momentum=beta), grads, START)
    np.testing.assert_allclose(same, notes, rtol=1e-6)
    # The same rate in both forms is not the same update: Keras' steps are 1 / (1 - β) times larger.
    keras_form = keras_path(keras.optimizers.SGD(notes_rate, momentum=beta), grads, START)
    assert not np.allclose(keras_form, notes, rtol=1e-3)
    np.testing.assert_allclose(keras_form - START, (notes - START) / (1 - beta), rtol=1e-6)


def test_adagrad_is_the_notes_update_when_the_accumulator_starts_at_zero():
    grads = gradients(2)
    optimizer = keras.optimizers.Adagrad(0.1, initial_accumulator_value=0.0, epsilon=1e-7)
    np.testing.assert_allclose(keras_path(optimizer, grads, START), notes_adagrad(grads, 0.1, 1e-7), rtol=1e-6)
    # Keras' default starts the sum of squares at 0.1, not the notes' 0: a smaller first step.
    default = keras_path(keras.optimizers.Adagrad(0.1, epsilon=1e-7), grads, START)
    assert np.all(np.abs(default[0] - START) < np.abs(notes_adagrad(grads, 0.1, 1e-7)[0] - START))


def test_rmsprop_puts_epsilon_inside_the_square_root():
    grads, rho = gradients(3), 0.9
    optimizer = keras.optimizers.RMSprop(0.01, rho=rho, epsilon=1e-3)
    keras_steps = keras_path(optimizer, grads, START)
    np.testing.assert_allclose(keras_steps, notes_rmsprop(grads, 0.01, rho, 1e-3, epsilon_inside=True), rtol=1e-6)
    assert not np.allclose(keras_steps, notes_rmsprop(grads, 0.01, rho, 1e-3), rtol=1e-5)
    # At Keras' default ε = 1e-7 the two placements agree to many digits.
    small = keras_path(keras.optimizers.RMSprop(0.01, rho=rho), grads, START)
    np.testing.assert_allclose(small, notes_rmsprop(grads, 0.01, rho, 1e-7), rtol=1e-6)


def test_adam_is_the_papers_bias_corrected_update_with_epsilon_hat():
    grads = gradients(4)
    optimizer = keras.optimizers.Adam(0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-3)
    keras_steps = keras_path(optimizer, grads, START)
    np.testing.assert_allclose(keras_steps, paper_adam(grads, 0.01, 0.9, 0.999, 1e-3, epsilon_hat=True), rtol=1e-6)
    assert not np.allclose(keras_steps, paper_adam(grads, 0.01, 0.9, 0.999, 1e-3), rtol=1e-5)
    # The first step of bias-corrected Adam moves every weight by about the rate, whatever g's scale.
    np.testing.assert_allclose(np.abs(keras_path(keras.optimizers.Adam(0.01), grads[:1] * 1e3, START)[0] - START),
                               0.01, rtol=1e-5)


@pytest.mark.parametrize("name", optimizers.OPTIMIZERS)
def test_every_compared_optimizer_descends_the_rosenbrock_valley(name):
    path = optimizers.rosenbrock_path(optimizers.make_optimizer(name, optimizers.ROSENBROCK_RATE[name]), 100)
    assert path.shape == (101, 2)
    assert optimizers.rosenbrock(*path[-1]) < optimizers.rosenbrock(*optimizers.ROSENBROCK_START) / 10


def test_epochs_to_target_is_the_first_epoch_at_or_below_it():
    assert optimizers.epochs_to([0.9, 0.5, 0.4, 0.45], 0.5) == 2
    assert optimizers.epochs_to([0.9, 0.8], 0.5) is None
    assert optimizers.best_rate({"0.1": 0.3, "0.3": None, "0.03": 0.2}) == 0.03
    with pytest.raises(RuntimeError, match="diverged"):
        optimizers.best_rate({"0.1": None})


def test_config_refuses_what_cannot_be_swept():
    with pytest.raises(ValueError, match="sweep_factors"):
        optimizers.Config(sweep_factors=(0.0, 1.0))
    with pytest.raises(ValueError, match="momentum"):
        optimizers.Config(momentum=1.0)
