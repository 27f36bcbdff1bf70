"""The music recipe's parts: models of one size, the NLL it reports, and the generate endpoint."""

import dataclasses

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepkit import tbptt
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


def test_with_several_seeds_the_verdict_compares_the_means_with_their_spread():
    seeds = (0, 1, 2)
    per_seed = {"tanh": (9.20, 9.25, 9.30), "lstm": (9.00, 9.05, 9.10), "peephole_lstm": (9.02, 9.08, 9.11),
                "gru": (9.19, 9.28, 9.22)}
    metrics = {f"nll_{cell}_seed{seed}": value for cell, values in per_seed.items()
               for seed, value in zip(seeds, values)}
    metrics.update({f"validation_{key}": value for key, value in metrics.items()})
    summary = music.seed_summary(metrics, seeds)
    assert summary["nll_gru"] == pytest.approx(9.23)
    assert summary["nll_gru_std"] == pytest.approx(np.std(per_seed["gru"], ddof=1))
    verdict = music.ordering_verdict({**metrics, **summary}, seeds)
    assert "every gated unit below the tanh RNN" in verdict  # the means: 9.23 < 9.25
    assert "For gru the difference from tanh is within the seed-to-seed spread" in verdict
    assert "lstm 3/3, peephole_lstm 3/3, gru 2/3" in verdict
    apart = music.ordering_verdict({**metrics, **summary, "nll_gru": 9.0}, seeds)
    assert "Every difference from tanh exceeds the seed-to-seed spread" in apart
    assert "One seed has no spread" in music.ordering_verdict({**metrics, **summary}, (0,))


def test_config_refuses_what_cannot_be_trained():
    with pytest.raises(ValueError, match="parameters must be >= 200"):
        music.Config(parameters=50)
    with pytest.raises(ValueError, match="validation_percent"):
        dataclasses.replace(music.Config(), validation_percent=100)
    with pytest.raises(ValueError, match=r"keys must be one of \('c', 'as_written'\), received 'C major'"):
        music.Config(keys="C major")
    with pytest.raises(ValueError, match="learning_rates must be 4 positive step sizes.*received \\(0.01, 0.02\\)"):
        music.Config(learning_rates=(0.01, 0.02))
    with pytest.raises(ValueError, match="clipnorm and tbptt_steps must be >= 0"):
        music.Config(clipnorm=-1.0)
    with pytest.raises(ValueError, match=r"decay must be one of \('cosine', 'none'\), received 'linear'"):
        music.Config(decay="linear")
    with pytest.raises(ValueError, match=r"window must be 0 \(whole chorales\) or >= 2 steps, received 1"):
        music.Config(window=1)
    with pytest.raises(ValueError, match="seeds must be >= 1, received 0"):
        music.Config(seeds=0)


def keras_adam(steps, learning_rate, clipnorm):
    """NumPy Adam as Keras writes it (epsilon outside the bias correction), each step's
    gradients first rescaled together to global norm ``clipnorm`` when above it (0: never)."""
    weights = [np.zeros_like(g) for g in steps[0]]
    m, v = [np.zeros_like(g) for g in steps[0]], [np.zeros_like(g) for g in steps[0]]
    for t, gradients in enumerate(steps, 1):
        norm = np.sqrt(sum((g**2).sum() for g in gradients))
        if clipnorm and norm > clipnorm:
            gradients = [g * clipnorm / norm for g in gradients]
        alpha = learning_rate * np.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        for i, g in enumerate(gradients):
            m[i] = 0.9 * m[i] + 0.1 * g
            v[i] = 0.999 * v[i] + 0.001 * g**2
            weights[i] = weights[i] - alpha * m[i] / (np.sqrt(v[i]) + 1e-7)
    return weights


@pytest.mark.parametrize("clipnorm", [0.0, 1.0, 3.0])
def test_clipnorm_rescales_all_gradients_together_to_that_global_norm(clipnorm):
    """Two weights whose gradients have norms 3 and 4 (global 5), then 1 and 1: clipping
    each weight's gradient on its own (Keras' ``clipnorm``) or not at all would move them
    elsewhere after the second step."""
    steps = [[np.array([3.0, 0.0]), np.array([0.0, 4.0])], [np.array([1.0, 0.0]), np.array([0.0, 1.0])]]
    optimizer = music.optimizer_for(music.Config(clipnorm=clipnorm, learning_rates=(0.1, 0.1, 0.1, 0.2)), "gru")
    assert float(optimizer.learning_rate) == pytest.approx(0.2)  # gru's, the last of CELLS
    variables = [keras.Variable(np.zeros(2, "float32")) for _ in range(2)]
    for gradients in steps:
        optimizer.apply_gradients(zip([tf.constant(g, tf.float32) for g in gradients], variables))
    for variable, expected in zip(variables, keras_adam(steps, 0.2, clipnorm)):
        np.testing.assert_allclose(variable.numpy(), expected, rtol=1e-5)
    if clipnorm == 1.0:
        elsewhere = keras_adam([[g / np.linalg.norm(g) for g in step] for step in steps], 0.2, 0.0)  # per weight
        assert not np.allclose(np.concatenate(elsewhere), np.concatenate([v.numpy() for v in variables]), rtol=1e-3)


def test_cosine_decay_takes_each_cells_step_size_to_zero_at_the_last_update():
    config = music.Config()
    optimizer = music.optimizer_for(config, "tanh", total_steps=100)
    for step, fraction in ((0, 1.0), (50, 0.5), (100, 0.0), (130, 0.0)):
        optimizer.iterations.assign(step)
        assert float(optimizer.learning_rate) == pytest.approx(config.learning_rates[0] * fraction, abs=1e-7), step
    constant = music.optimizer_for(dataclasses.replace(config, decay="none"), "tanh", total_steps=100)
    constant.iterations.assign(100)
    assert float(constant.learning_rate) == pytest.approx(config.learning_rates[0])


def test_window_0_trains_on_each_whole_chorale_once_an_epoch_from_its_row_of_zeros():
    rng = np.random.default_rng(6)
    rolls = [(rng.uniform(size=(n, 88)) < 0.1).astype("float32") for n in (5, 9, 3, 7, 8)]
    train, steps_per_epoch = music.training_data(dataclasses.replace(music.smoke(), window=0, batch_size=2), rolls, 0)
    batches = list(train.as_numpy_iterator())
    assert steps_per_epoch == len(batches)
    found = [(x[: int(w.sum())], y[: int(w.sum())]) for inputs, targets, weights in batches
             for x, y, w in zip(inputs, targets, weights)]
    assert sorted(len(x) for x, _ in found) == [3, 5, 7, 8, 9]
    for inputs, targets in music.next_step_examples(rolls):  # each starts at its row of zeros
        assert any(len(x) == len(inputs) and (x == inputs).all() and (y == targets).all() for x, y in found)


def test_tbptt_layout_gives_each_piece_one_row_read_chunk_after_chunk():
    """Read row by row, batch after batch from each group's start, the chunks join up
    into every piece's next-step examples, each piece once; padding has weight 0."""
    rng = np.random.default_rng(4)
    rolls = [(rng.uniform(size=(n, 88)) < 0.1).astype("float32") for n in (5, 9, 3, 7, 8)]
    layout = music.chunked_pieces(rolls, batch_size=2, steps=3, seed=0)
    batches = list(layout.dataset.as_numpy_iterator())
    found = []
    for begin, end in zip(layout.starts, layout.starts[1:] + (len(batches),)):
        for row in range(2):
            inputs = np.concatenate([batches[b][0][row] for b in range(begin, end)])
            targets = np.concatenate([batches[b][1][row] for b in range(begin, end)])
            weights = np.concatenate([batches[b][2][row] for b in range(begin, end)])
            real = int(weights.sum())
            assert (weights[:real] == 1).all() and (weights[real:] == 0).all()
            if real:
                found.append((inputs[:real], targets[:real]))
    expected = music.next_step_examples(rolls)
    assert len(found) == len(rolls)
    for inputs, targets in expected:
        assert any(len(x) == len(inputs) and (x == inputs).all() and (y == targets).all() for x, y in found)


def test_the_stateful_copy_reading_the_tbptt_layout_scores_what_the_model_scores_on_whole_pieces():
    """The state carried across chunks is the whole piece's: the per-step NLL summed over
    the layout's batches (states zeroed at each group's start) is nll_per_step's."""
    keras.utils.set_random_seed(0)
    model = music.build_model(music.Config(), "peephole_lstm", 6)
    rng = np.random.default_rng(5)
    rolls = [(rng.uniform(size=(n, 88)) < 0.1).astype("float32") for n in (5, 11, 4)]
    layout = music.chunked_pieces(rolls, batch_size=2, steps=3, seed=1)
    trainer = tbptt.stateful_copy(model, 2)
    per_step = music.StepNLL(reduction=None)
    total = 0.0
    for index, (inputs, targets, weights) in enumerate(layout.dataset.as_numpy_iterator()):
        if index in layout.starts:
            tbptt.reset_states(trainer)
        total += float(np.sum(per_step(targets, trainer(inputs)) * weights))
    assert total / sum(map(len, rolls)) == pytest.approx(music.nll_per_step(model, rolls), rel=1e-5)


@pytest.fixture(scope="module")
def two_seed_tbptt_run(tmp_path_factory):
    """One run of the smoke config with two seeds, trained with TBPTT: ``(metrics, workdir)``,
    which the two tests below read."""
    root = tmp_path_factory.mktemp("music")
    config = dataclasses.replace(music.smoke(), seeds=2, tbptt_steps=8, export_dir=str(root / "saved"))
    return music.train_and_evaluate(config, str(root / "run")), root / "run"


def test_several_seeds_train_each_cell_once_per_seed_and_report_their_mean(two_seed_tbptt_run):
    metrics, workdir = two_seed_tbptt_run
    for cell in music.CELLS:
        per_seed = [metrics[f"nll_{cell}_seed{seed}"] for seed in (0, 1)]
        assert per_seed[0] != per_seed[1]  # other initial weights and data order
        assert metrics[f"nll_{cell}"] == pytest.approx(np.mean(per_seed))
        assert metrics[f"nll_{cell}_std"] == pytest.approx(np.std(per_seed, ddof=1))
        assert (workdir / f"{cell}_seed1" / "history.json").exists()


def test_tbptt_training_runs_the_recipe_and_serves_the_stateless_model(two_seed_tbptt_run):
    metrics, workdir = two_seed_tbptt_run
    assert all(np.isfinite(metrics[f"nll_{cell}"]) for cell in music.CELLS)
    served = keras.saving.load_model(str(workdir / "model.keras"))
    assert not any(getattr(layer, "stateful", False) for layer in served.layers)
    assert int(served.optimizer.iterations) > 0  # the trainer's optimizer state came along
