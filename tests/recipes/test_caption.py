"""The caption recipe: the TFDS reader's shapes and errors (offline, on a dataset shaped
like coco_captions), its word accuracy, its config checks, and (slow) the default run
captioning held-out digits."""

import dataclasses
import json

import numpy as np
import pytest
import tensorflow as tf

from deepkit.recipe import load_recipe

caption = load_recipe("caption")


def coco_like(captions, sizes, channels=3):
    """A tf.data.Dataset with coco_captions' layout: images of varying size, several captions each."""
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, size=size + (channels,)).astype("uint8") for size in sizes]

    def generate():
        for image, texts in zip(images, captions):
            yield {"image": image, "captions": {"text": np.array([t.encode() for t in texts], dtype=object)}}

    signature = {"image": tf.TensorSpec((None, None, channels), tf.uint8),
                 "captions": {"text": tf.TensorSpec((None,), tf.string)}}
    return tf.data.Dataset.from_generator(generate, output_signature=signature)


def test_the_tfds_reader_resizes_images_and_cleans_the_first_caption():
    dataset = coco_like([["A Man riding, a horse.", "ignored"], ["Two  dogs!", "x"], ["a cat", "y"]],
                        [(40, 60), (30, 30), (50, 20)])
    images, captions = caption.tfds_examples(dataset, 2, image_size=16)
    assert images.shape == (2, 16, 16, 3) and images.dtype == np.float32 and 0.0 <= images.min() <= images.max() <= 1
    assert captions == ["a man riding a horse", "two dogs"]
    gray, _ = caption.tfds_examples(coco_like([["a b"]], [(10, 10)], channels=1), 1, image_size=8)
    assert gray.shape == (1, 8, 8, 3)


def test_the_tfds_reader_refuses_a_set_without_captions():
    labelled = tf.data.Dataset.from_tensor_slices({"image": np.zeros((2, 4, 4, 3), "uint8"), "label": [0, 1]})
    with pytest.raises(ValueError, match=r"features 'image' and 'captions/text'.*Received features: \['image', 'label'\]"):
        caption.tfds_examples(labelled, 2, image_size=8)


def test_a_tfds_set_keeps_the_captions_within_the_vocabulary_and_length(monkeypatch):
    splits = {"train": coco_like([["a dog runs"], ["a dog"], ["a cat sits on a very long mat"], ["a cat"]],
                                 [(20, 20)] * 4),
              "test": coco_like([["a dog"], ["a zebra"]], [(20, 20)] * 2)}
    monkeypatch.setattr(caption.data, "load", lambda name, split: splits[split])
    config = caption.Config(data="tfds:coco_captions", train_examples=10, test_examples=10, image_size=8,
                            max_vocabulary=4, max_caption_length=3)
    result, vocabulary, max_length, info = caption.captioned_images(config)
    assert vocabulary == ["a", "dog", "cat", "runs"] and max_length == 3 and info.offline is False  # by frequency
    assert result["train"][1] == ["a dog runs", "a dog", "a cat"] and result["test"][1] == ["a dog"]
    assert result["train"][0].shape == (3, 8, 8, 3)


def test_coco_captions_offline_fails_at_once_naming_the_missing_download(monkeypatch):
    monkeypatch.setenv("DEEPKIT_OFFLINE", "1")
    config = caption.Config(data="tfds:coco_captions", train_examples=2, test_examples=2)
    with pytest.raises(ConnectionError, match="'tfds:coco_captions' is not prepared"):
        caption.captioned_images(config)


def test_word_accuracy_counts_words_at_their_position_over_the_longer_caption():
    assert caption.word_accuracy(["one two", "three", ""], ["one four", "three five", "six"]) == \
        pytest.approx((1 / 2 + 1 / 2 + 0) / 3)


@pytest.mark.parametrize("changes, message", [
    (dict(data="mnist_5k"), "'digit_captions'"),
    (dict(attention="dot"), "attention must be"),
    (dict(min_digits=5), "min_digits must be <= max_digits"),
    (dict(filters=()), "filters must be"),
])
def test_bad_config_values_are_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        caption.Config(**changes)


@pytest.mark.slow
def test_the_default_run_captions_held_out_digit_images(tmp_path):
    config = dataclasses.replace(caption.Config(), export_dir=str(tmp_path / "saved_models"))
    metrics = caption.train_and_evaluate(config, str(tmp_path / "run"))
    assert metrics["exact_match_beam"] > 0.5 and metrics["digit_accuracy"] > 0.8, metrics
    record = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert record["dataset"]["name"] == "digit_captions"
