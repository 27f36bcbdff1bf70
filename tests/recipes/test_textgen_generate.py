"""textgen's generate endpoint: the prompt is read once and the state carried from
character to character; served without deepkit, it gives the text the recipe's own
samples come from, the same for the same seed, with unknown prompt characters read
as [UNK] and bad arguments refused."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from deepkit.export import WithEndpoints
from deepkit.recipes import textgen
from deepkit.testing import serve_without_deepkit

VOCABULARY = ["", "[UNK]"] + list("abcde \n")


def tiny_model():
    config = dataclasses.replace(textgen.smoke(), units=6)
    return textgen.build_model(config, len(VOCABULARY))


def test_the_stepper_carries_state_like_reading_the_whole_text():
    """The prompt in one call, then one character at a time, gives the logits the trained
    model gives for the whole text at once."""
    model = tiny_model()
    stepper = textgen.build_stepper(model)
    text = np.random.default_rng(0).integers(2, len(VOCABULARY), size=(1, 9))
    h = c = np.zeros((1, 6), "float32")
    logits, h, c = stepper([tf.constant(text[:, :5]), tf.constant(h), tf.constant(c)])
    stepped = [np.asarray(logits)]
    for i in range(5, 9):
        logits, h, c = stepper([tf.constant(text[:, i : i + 1]), h, c])
        stepped.append(np.asarray(logits))
    np.testing.assert_allclose(np.stack(stepped, 1), np.asarray(model(text))[:, 4:], rtol=1e-5, atol=1e-6)


def request(prompt, num_chars, temperature, seed):
    return [np.array(prompt.encode()), np.int32(num_chars), np.float32(temperature), np.int64(seed)]


def test_generate_served_without_deepkit_is_the_recipes_sampler(tmp_path):
    model = tiny_model()
    generator, used = textgen.build_generator(model, VOCABULARY)
    WithEndpoints(model, {"generate": (generator, textgen.GENERATE_SIGNATURE)}, track=used).export(str(tmp_path / "m"))

    served = serve_without_deepkit(str(tmp_path / "m"), request("ab\u00e9c", 12, 0.8, 7), "generate")
    generated, text = (array.item() for array in served)  # outputs in key order: generated, text
    expected = generator(*[tf.constant(x) for x in request("ab\u00e9c", 12, 0.8, 7)])
    assert text == expected["text"].numpy() and generated == expected["generated"].numpy()
    assert text.decode() == "ab\u00e9c" + generated.decode()  # é is not in the vocabulary: read as [UNK]
    assert len(generated.decode()) == 12 and set(generated.decode()) <= set("abcde \n")
    again = generator(*[tf.constant(x) for x in request("ab\u00e9c", 12, 0.8, 8)])["generated"].numpy()
    assert again != generated  # another seed, another sample (12 draws from 7 characters)


def test_generate_refuses_a_negative_length_and_a_zero_temperature():
    generator, _ = textgen.build_generator(tiny_model(), VOCABULARY)
    assert generator(*[tf.constant(x) for x in request("", 0, 1.0, 0)])["text"].numpy() == b""
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_chars must be >= 0"):
        generator(*[tf.constant(x) for x in request("ab", -1, 1.0, 0)])
    with pytest.raises(tf.errors.InvalidArgumentError, match="temperature must be > 0"):
        generator(*[tf.constant(x) for x in request("ab", 3, 0.0, 0)])
