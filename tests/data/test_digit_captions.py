"""digit_captions: each caption names the digits pasted in its image, in order; test captions
use only held-out digit images; the process is seeded; the registered dataset is its split."""

import numpy as np
import pytest

from deepkit import data
from deepkit.data import digit_captions as dc


def test_each_caption_names_the_digit_images_pasted_left_to_right():
    examples = dc.digit_captions("test", 40, seed=3)
    digits = data.load_arrays("mnist_5k", "test")
    for image, caption, labels, index in zip(examples["image"], examples["caption"], examples["digits"],
                                             examples["digit_index"]):
        used = index[index >= 0]
        assert 2 <= len(used) <= 4 and caption.split() == [dc.WORDS[digits["label"][i]] for i in used]
        for slot, i in enumerate(used):
            np.testing.assert_array_equal(image[:, 28 * slot : 28 * (slot + 1)], digits["image"][i])
        assert not image[:, 28 * len(used) :].any()  # black right of the last digit
        np.testing.assert_array_equal(labels[: len(used)], digits["label"][used])


def test_test_captions_use_no_digit_image_that_training_shows():
    train_images = {image.tobytes() for image in data.load_arrays("mnist_5k", "train")["image"]}
    test = dc.digit_captions("test", 300)
    slots = [image[:, 28 * s : 28 * (s + 1)] for image, index in zip(test["image"], test["digit_index"])
             for s in range(int((index >= 0).sum()))]
    assert len(slots) > 600 and not any(slot.tobytes() in train_images for slot in slots)


def test_the_draws_are_seeded_and_a_larger_draw_extends_a_smaller_one():
    small, large = dc.digit_captions("train", 20, seed=1), dc.digit_captions("train", 50, seed=1)
    np.testing.assert_array_equal(large["image"][:20], small["image"])
    assert list(large["caption"][:20]) == list(small["caption"])
    assert list(dc.digit_captions("train", 20, seed=2)["caption"]) != list(small["caption"])
    lengths = [len(c.split()) for c in dc.digit_captions("train", 300, min_digits=1, max_digits=2)["caption"]]
    assert set(lengths) == {1, 2}


def test_the_registered_dataset_splits_into_the_seed_0_train_and_test_captions():
    for split, size in (("train", dc.TRAIN_CAPTIONS), ("test", dc.TEST_CAPTIONS)):
        arrays = data.load_arrays("digit_captions", split)
        expected = dc.digit_captions(split, size, seed=0)
        np.testing.assert_array_equal(arrays["image"], expected["image"])
        assert [c.decode() for c in arrays["caption"]] == list(expected["caption"])
    assert data.info("digit_captions").kind == "captioned_images"


@pytest.mark.parametrize("arguments, message", [
    (dict(split="validation", size=3), "'train' or 'test'"),
    (dict(split="train", size=0), "`size` must be an integer >= 1"),
    (dict(split="train", size=3, min_digits=3, max_digits=2), "min_digits <= max_digits"),
])
def test_bad_arguments_name_what_was_expected(arguments, message):
    with pytest.raises(ValueError, match=message):
        dc.digit_captions(**arguments)
