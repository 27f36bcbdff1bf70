"""deepkit.data: offline datasets load with their documented spec and splits; pipelines; errors."""

import time

import numpy as np
import pytest
import tensorflow as tf

import deepkit.data as data
from deepkit.data import tfds_source

SPECS = {
    "digits": ({"image": ((8, 8, 1), tf.uint8), "label": ((), tf.int64)}, 1797),
    "mnist_5k": ({"image": ((28, 28, 1), tf.uint8), "label": ((), tf.int64)}, 5000),
    "polarity": ({"text": ((), tf.string), "label": ((), tf.int64)}, 200),
    "lee_background": ({"text": ((), tf.string)}, 300),
    "head500": ({"text": ((), tf.string)}, 250),
    "sunspots": ({"value": ((), tf.float32)}, 309),
    "co2": ({"value": ((), tf.float32)}, 2284),
}


def test_every_offline_dataset_is_listed_with_its_info():
    assert {i.name for i in data.list_datasets()} == set(SPECS)
    assert all(i.offline and i.source and i.description for i in data.list_datasets())


@pytest.mark.parametrize("name", sorted(SPECS))
def test_offline_dataset_spec_and_deterministic_disjoint_splits(name):
    spec, total = SPECS[name]
    train, test = data.load(name, "train"), data.load(name, "test")
    assert {k: (tuple(v.shape), v.dtype) for k, v in train.element_spec.items()} == spec
    assert len(train) + len(test) == total == len(data.load(name, "all"))
    assert len(train) == round(0.8 * total)
    first = data.load_arrays(name, "train")
    again = data.load_arrays(name, "train")
    key = next(iter(spec))
    np.testing.assert_array_equal(first[key], again[key])


def test_time_series_split_is_chronological():
    all_values = data.load_arrays("sunspots", "all")["value"]
    train, test = data.load_arrays("sunspots", "train")["value"], data.load_arrays("sunspots", "test")["value"]
    np.testing.assert_array_equal(np.concatenate([train, test]), all_values)
    assert not np.isnan(data.load_arrays("co2", "all")["value"]).any()  # gaps interpolated


def test_iid_splits_do_not_overlap():
    train = {t.tobytes() for t in data.load_arrays("digits", "train")["image"]}
    test = [t.tobytes() for t in data.load_arrays("digits", "test")["image"]]
    assert sum(t in train for t in test) <= 5  # load_digits has a handful of exact duplicate images


def test_labels_are_balanced_after_the_shuffle():
    labels = data.load_arrays("mnist_5k", "test")["label"]
    assert set(np.unique(labels)) == set(range(10)) and np.bincount(labels).min() > 70


def test_unknown_name_and_split():
    with pytest.raises(ValueError, match=r"unknown dataset 'mnist'. Available: \['co2', 'digits'"):
        data.load("mnist")
    with pytest.raises(ValueError, match=r"`split` must be one of \['train', 'test', 'all'\]. Received: split='validation'"):
        data.load("digits", "validation")


def test_tfds_fails_fast_offline_and_names_the_alternative(monkeypatch, tmp_path):
    monkeypatch.setattr(tfds_source, "network_available", lambda timeout=2.0: False)
    start = time.perf_counter()
    with pytest.raises(ConnectionError, match=r"'tfds:mnist' is not prepared.*offline dataset 'mnist_5k'"):
        data.load("tfds:mnist", data_dir=str(tmp_path))
    assert time.perf_counter() - start < 5


def test_missing_package_message(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_gensim(name, *args, **kwargs):
        if name.startswith("gensim"):
            raise ImportError("No module named 'gensim'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_gensim)
    monkeypatch.delitem(__import__("sys").modules, "gensim.test.utils", raising=False)
    with pytest.raises(ImportError, match=r"needs the package 'gensim'.*pip install 'deepkit\[data\]'"):
        data.load("polarity")


def test_user_files(tmp_path):
    (tmp_path / "t.csv").write_text("x,y,label\n1,2,0\n3,4,1\n5,6,1\n")
    csv = next(iter(data.load(f"csv:{tmp_path / 't.csv'}", "all", label_column="label")))
    assert set(csv) == {"x", "y", "label"} and csv["label"].dtype == tf.int64
    (tmp_path / "t.txt").write_text("first line\n\nsecond line\n")
    assert [e["text"].numpy() for e in data.load(f"text:{tmp_path / 't.txt'}", "all")] == [b"first line", b"second line"]
    np.savez(tmp_path / "a.npz", x=np.zeros((10, 3)), label=np.arange(10))
    assert len(data.load(f"npz:{tmp_path / 'a.npz'}", "train")) == 8
    with pytest.raises(FileNotFoundError, match="no such file"):
        data.load(f"csv:{tmp_path / 'missing.csv'}")


def test_windows_many_to_one_and_many_to_many():
    series = np.arange(6, dtype="float32")
    pairs = list(data.windows(series, window=3, horizon=2).as_numpy_iterator())
    assert [(x[:, 0].tolist(), y.tolist()) for x, y in pairs] == [([0, 1, 2], [3, 4]), ([1, 2, 3], [4, 5])]
    pairs = list(data.windows(series, window=3, many_to_many=True).as_numpy_iterator())
    assert [(x[:, 0].tolist(), y[:, 0].tolist()) for x, y in pairs] == [
        ([0, 1, 2], [1, 2, 3]), ([1, 2, 3], [2, 3, 4]), ([2, 3, 4], [3, 4, 5])
    ]
    from_dataset = data.windows(data.load("sunspots", "train"), window=10)
    assert len(from_dataset) == 247 - 10
    with pytest.raises(ValueError, match="at least 7 steps"):
        data.windows(series, window=6)


def test_batched_is_deterministic_with_a_seed():
    ds = tf.data.Dataset.range(100)
    first = [b.numpy().tolist() for b in data.batched(ds, 10, shuffle_seed=3)]
    second = [b.numpy().tolist() for b in data.batched(ds, 10, shuffle_seed=3)]
    assert first == second and first != [list(range(i, i + 10)) for i in range(0, 100, 10)]
    assert [b.numpy().tolist() for b in data.batched(ds, 50)][0] == list(range(50))


def test_text_vectorizer_and_char_sequences():
    words = data.text_vectorizer(["the cat sat", "the dog"], output_sequence_length=4)
    ids = words(tf.constant(["the cat"])).numpy()[0]
    assert ids[2:].tolist() == [0, 0] and ids[0] == words.get_vocabulary().index("the")
    chars = data.text_vectorizer(["abcab"], split="character", standardize=None)
    vocabulary = chars.get_vocabulary()
    assert "a" in vocabulary and len(vocabulary) == 5  # '', [UNK], a, b, c
    pairs = list(data.char_sequences(np.arange(10), seq_length=4).as_numpy_iterator())
    assert pairs[0][0].tolist() == [0, 1, 2, 3] and pairs[0][1].tolist() == [1, 2, 3, 4] and len(pairs) == 2


def test_images_to_float():
    image = next(iter(data.images_to_float(data.load("digits"))))
    assert image.dtype == tf.float32 and 0.0 <= float(tf.reduce_min(image)) <= float(tf.reduce_max(image)) <= 1.0
