"""Pipelines: windows give exactly the expected pairs, batched is seeded, text helpers round-trip."""

import numpy as np
import pytest
import tensorflow as tf

import deepkit.data as data


def pairs(ds):
    return [(x.tolist(), y.tolist()) for x, y in ds.as_numpy_iterator()]


def test_windows_many_to_one_predicts_the_next_value():
    ds = data.windows(np.arange(6), window=3)
    assert ds.element_spec[0].shape == (3, 1) and ds.element_spec[1].shape == (1,)
    assert ds.element_spec[0].dtype == tf.float32 and len(ds) == 3
    assert pairs(ds) == [
        ([[0], [1], [2]], [3]),
        ([[1], [2], [3]], [4]),
        ([[2], [3], [4]], [5]),
    ]


def test_windows_horizon_and_stride():
    assert pairs(data.windows(np.arange(7), window=2, horizon=3, stride=2)) == [
        ([[0], [1]], [2, 3, 4]),
        ([[2], [3]], [4, 5, 6]),
    ]
    assert len(data.windows(np.arange(100), window=10, stride=7)) == len(list(data.windows(np.arange(100), 10, stride=7)))


def test_windows_many_to_many_targets_are_the_window_shifted_by_one():
    ds = data.windows(np.arange(5), window=3, many_to_many=True)
    assert ds.element_spec[1].shape == (3, 1)
    assert pairs(ds) == [
        ([[0], [1], [2]], [[1], [2], [3]]),
        ([[1], [2], [3]], [[2], [3], [4]]),
    ]


def test_windows_from_a_loaded_time_series_match_the_arrays():
    values = data.load_arrays("sunspots", "train")["value"]
    ds = data.windows(data.load("sunspots", "train"), window=10)
    assert len(ds) == len(values) - 10
    x, y = next(ds.skip(5).as_numpy_iterator())
    np.testing.assert_array_equal(x[:, 0], values[5:15])
    np.testing.assert_array_equal(y, values[15:16])
    scalars = tf.data.Dataset.from_tensor_slices(np.arange(5.0))
    assert pairs(data.windows(scalars, window=4)) == [([[0], [1], [2], [3]], [4])]


@pytest.mark.parametrize("kwargs, message", [
    ({"series": np.arange(6), "window": 6}, r"at least window \+ horizon = 7 steps"),
    ({"series": np.arange(3), "window": 3, "many_to_many": True}, r"at least window \+ 1 = 4 steps"),
    ({"series": np.zeros((4, 2)), "window": 2}, r"must be 1-D .* Received shape \(4, 2\)"),
    ({"series": np.arange(6), "window": 0}, r"`window` must be a positive integer. Received: window=0"),
    ({"series": np.arange(6), "window": 2, "horizon": 1.5}, "`horizon` must be a positive integer"),
])
def test_windows_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.windows(**kwargs)


def epochs(ds, count):
    """The batches of `count` consecutive epochs over the same dataset object."""
    return [[b.tolist() for b in ds.as_numpy_iterator()] for _ in range(count)]


def test_batched_is_deterministic_with_a_seed_and_reshuffles_each_epoch():
    source = tf.data.Dataset.range(50)
    first = epochs(data.batched(source, 8, shuffle_seed=3), 2)
    second = epochs(data.batched(source, 8, shuffle_seed=3), 2)
    assert first == second  # same seed: same orders, epoch after epoch
    assert first[0] != first[1]  # a new order each epoch
    assert sorted(sum(first[0], [])) == list(range(50))  # every example once
    assert [len(b) for b in first[0]] == [8] * 6 + [2]
    assert epochs(data.batched(source, 8, shuffle_seed=4), 1)[0] != first[0]


def test_batched_without_a_seed_keeps_the_order_and_can_drop_the_remainder():
    ds = data.batched(tf.data.Dataset.range(10), 4, drop_remainder=True, cache=False)
    assert epochs(ds, 1)[0] == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert ds.element_spec.shape == (4,)


def test_batched_caches_the_mapped_examples():
    calls = []

    def count(x):
        calls.append(1)
        return x

    mapped = tf.data.Dataset.range(6).map(lambda x: tf.py_function(count, [x], tf.int64))
    ds = data.batched(mapped, 3, shuffle_seed=0)
    epochs(ds, 3)
    assert len(calls) == 6  # computed in the first epoch only


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, r"`batch_size` must be a positive integer. Received: batch_size=0"),
    ({"batch_size": 4, "shuffle_buffer": 0}, "`shuffle_buffer` must be a positive integer"),
])
def test_batched_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.batched(tf.data.Dataset.range(3), **kwargs)
    with pytest.raises(TypeError, match="must be a tf.data.Dataset. Received: list"):
        data.batched([1, 2], 2)


def test_word_vectorizer_round_trips_through_its_vocabulary():
    texts = ["The cat sat.", "the dog sat on the mat"]
    vectorizer = data.text_vectorizer(texts, output_sequence_length=8)
    vocabulary = vectorizer.get_vocabulary()
    assert vocabulary[:3] == ["", "[UNK]", "the"]
    ids = vectorizer(tf.constant(["the cat sat on a mat"])).numpy()[0]
    assert [vocabulary[i] for i in ids] == ["the", "cat", "sat", "on", "[UNK]", "mat", "", ""]


def test_vectorizer_adapts_to_a_loaded_text_dataset():
    vectorizer = data.text_vectorizer(data.load("polarity"), max_tokens=500, output_sequence_length=20)
    assert len(vectorizer.get_vocabulary()) == 500
    assert vectorizer(tf.constant(["a film"])).shape == (1, 20)


def test_character_vectorizer_and_char_sequences_round_trip_a_text():
    text = "Hello, world! Hello again."
    vectorizer = data.text_vectorizer([text], split="character", standardize=None)
    vocabulary = vectorizer.get_vocabulary()
    ids = vectorizer(tf.constant([text])).numpy()[0]
    assert "".join(vocabulary[i] for i in ids) == text
    sequences = list(data.char_sequences(ids, seq_length=5).as_numpy_iterator())
    assert len(sequences) == (len(text) - 1) // 5
    for start, (x, y) in zip(range(0, len(text), 5), sequences):
        assert "".join(vocabulary[i] for i in x) == text[start : start + 5]
        assert "".join(vocabulary[i] for i in y) == text[start + 1 : start + 6]


def test_char_sequences_exact_pairs_stride_and_errors():
    ds = data.char_sequences(np.arange(6), seq_length=3, stride=1)
    assert ds.element_spec[0].shape == (3,) and ds.element_spec[0].dtype == tf.int64 and len(ds) == 3
    assert pairs(ds) == [([0, 1, 2], [1, 2, 3]), ([1, 2, 3], [2, 3, 4]), ([2, 3, 4], [3, 4, 5])]
    with pytest.raises(ValueError, match=r"at least seq_length \+ 1 = 7 ids. Received 6"):
        data.char_sequences(np.arange(6), seq_length=6)
    with pytest.raises(ValueError, match="1-D sequence of integer ids"):
        data.char_sequences(np.zeros(10), seq_length=3)


@pytest.mark.parametrize("kwargs, message", [
    ({"texts": "one string"}, r"not one string; wrap it: \[text\]"),
    ({"texts": ["a"], "split": "word"}, r"`split` must be 'whitespace' or 'character'. Received: split='word'"),
    ({"texts": ["a"], "standardize": "upper"}, "`standardize` must be one of"),
    ({"texts": []}, "non-empty list of strings"),
])
def test_text_vectorizer_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.text_vectorizer(**kwargs)


def test_images_to_float_scales_to_unit_interval():
    raw = data.load_arrays("digits", "train")
    images = np.stack(list(data.images_to_float(data.load("digits")).as_numpy_iterator()))
    assert images.dtype == np.float32 and images.min() == 0.0 and images.max() == 1.0
    np.testing.assert_allclose(images, raw["image"] / 255.0, rtol=1e-6)
    image, label = next(iter(data.images_to_float(data.load("digits"), with_label=True)))
    assert label.dtype == tf.int64 and int(label) == raw["label"][0]
    with pytest.raises(ValueError, match=r"must be dicts with \{\"image\"\}. Received: \['value'\]"):
        data.images_to_float(data.load("sunspots"))


def test_a_loaded_dataset_trains_a_keras_model_through_the_pipelines():
    import keras

    train = data.batched(data.images_to_float(data.load("digits"), with_label=True), 64, shuffle_seed=0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    history = model.fit(train, epochs=3, verbose=0, shuffle=False)
    assert history.history["loss"][-1] < history.history["loss"][0]
    series = data.batched(data.windows(data.load("sunspots"), window=8), 32, shuffle_seed=0)
    forecaster = keras.Sequential([keras.Input((8, 1)), keras.layers.GRU(4), keras.layers.Dense(1)])
    forecaster.compile("adam", "mse")
    assert np.isfinite(forecaster.fit(series, epochs=1, verbose=0, shuffle=False).history["loss"][0])
