"""The music recipe's parts: models of one size, the NLL it reports, and the generate endpoint."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepkit.recipe import load_recipe
from deepkit.testing import serve_without_deepkit

pytest.importorskip("music21")
music = load_recipe("music")


@pytest.mark.parametrize("parameters", [1500, 20_000])
def test_every_cell_gets_about_the_parameters_asked_for(parameters):
    counts = {cell: music.parameter_count(cell, music.units_for(cell, parameters)) for cell in music.CELLS}
    assert all(abs(count - parameters) / parameters < 0.05 for count in counts.values()), counts
    model = music.build_model(music.Config(), "gru", music.units_for("gru", parameters))
    assert model.count_params() == counts["gru"]


def test_step_nll_sums_the_keys_bernoulli_nll_and_averages_over_real_steps_only():
    rng = np.random.default_rng(0)
    probabilities = rng.uniform(0.05, 0.95, size=(2, 5, 88)).astype("float32")
    targets = (rng.uniform(size=(2, 5, 88)) < 0.3).astype("float32")
    weights = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], "float32")  # the first piece is padded after 3 steps
    per_step = -(targets * np.log(probabilities) + (1 - targets) * np.log(1 - probabilities)).sum(-1)
    expected = (per_step * weights).sum() / weights.sum()
    assert float(music.StepNLL()(targets, probabilities, sample_weight=weights)) == pytest.approx(expected, rel=1e-5)


def test_nll_per_step_is_the_mean_over_every_step_of_every_piece():
    """Pieces of different lengths in other batches: the mean over all their steps,
    each piece predicted from a row of zeros on."""
    keras.utils.set_random_seed(0)
    model = music.build_model(music.Config(), "tanh", 6)
    rng = np.random.default_rng(1)
    rolls = [(rng.uniform(size=(n, 88)) < 0.05).astype("float32") for n in (3, 7, 4)]
    total = 0.0
    for roll in rolls:
        inputs = np.concatenate([np.zeros((1, 88), "float32"), roll[:-1]])[None]
        p = np.asarray(model(inputs))[0].astype("float64")
        total += -(roll * np.log(p) + (1 - roll) * np.log(1 - p)).sum()
    assert music.nll_per_step(model, rolls) == pytest.approx(total / 14, rel=1e-5)


def test_marginal_baseline_is_the_nll_of_the_training_key_frequencies():
    train = [np.array([[1] + [0] * 87, [0] * 88], "float32")]  # key 0 on half the time, the rest never
    test = [np.array([[1] + [0] * 87], "float32")]
    assert music.marginal_nll(train, test) == pytest.approx(np.log(2) - 87 * np.log(1 - 1e-6), rel=1e-6)


@pytest.fixture(scope="module")
def small_model():
    keras.utils.set_random_seed(0)
    model = music.build_model(music.Config(), "peephole_lstm", 5)
    head = model.get_layer("next_step_probabilities")
    kernel, bias = head.get_weights()
    head.set_weights([kernel * 8, bias + 1.5])  # probabilities away from 0 and 1: rows of many keys
    return model


def test_generate_samples_each_step_from_the_probabilities_of_everything_before(small_model):
    """The carried state is that of reading the primer and the sampled steps again: each
    sampled row is (uniform draw < the model's probability given the whole piece so far)."""
    primer = (np.random.default_rng(2).uniform(size=(3, 88)) < 0.1).astype("float32")
    rows = music.generator_function(small_model)(primer, tf.constant(6), tf.constant(7))["roll"].numpy()
    assert rows.shape == (6, 88) and set(np.unique(rows)) <= {0.0, 1.0} and 0 < rows.mean() < 1
    piece = np.concatenate([np.zeros((1, 88), "float32"), primer, rows])
    probabilities = np.asarray(small_model(piece[None]))[0]
    for index in range(6):
        uniform = tf.random.stateless_uniform((1, 88), seed=tf.constant([7, index])).numpy()[0]
        expected = (uniform < probabilities[len(primer) + index]).astype("float32")
        assert (expected != rows[index]).sum() <= 1, index  # a draw within float error of p may flip


def test_generated_pieces_depend_on_the_seed_only(small_model):
    generate = music.generator_function(small_model)
    primer = np.zeros((0, 88), "float32")  # an empty primer: generation starts from the row of zeros
    first, again, other = (generate(primer, tf.constant(5), tf.constant(s))["roll"].numpy() for s in (1, 1, 2))
    np.testing.assert_array_equal(first, again)
    assert (first != other).any()


def test_the_savedmodel_generates_without_deepkit_what_the_recipe_generates(small_model, tmp_path):
    path = str(tmp_path / "music")
    music.serving_bundle(small_model).export(path)
    primer = (np.random.default_rng(3).uniform(size=(2, 88)) < 0.1).astype("float32")
    (served,) = serve_without_deepkit(path, [primer, np.int32(4), np.int32(9)], "generate")
    expected = music.generator_function(small_model)(primer, tf.constant(4), tf.constant(9))["roll"].numpy()
    np.testing.assert_array_equal(served, expected)
    (probabilities,) = serve_without_deepkit(path, [primer[None]], "serve")
    np.testing.assert_allclose(probabilities, small_model.predict(primer[None], verbose=0), rtol=1e-5, atol=1e-6)


def test_the_ordering_verdict_follows_the_numbers():
    below = {"nll_tanh": 9.2, "nll_lstm": 8.7, "nll_peephole_lstm": 8.8, "nll_gru": 8.5}
    assert "every gated unit below the tanh RNN" in music.ordering_verdict(below)
    verdict = music.ordering_verdict({**below, "nll_lstm": 9.3})
    assert "lstm not below the tanh RNN" in verdict and "every" not in verdict


def test_config_refuses_what_cannot_be_trained():
    with pytest.raises(ValueError, match="parameters must be >= 200"):
        music.Config(parameters=50)
    with pytest.raises(ValueError, match="validation_percent"):
        dataclasses.replace(music.Config(), validation_percent=100)
