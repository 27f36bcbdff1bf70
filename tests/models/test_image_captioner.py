"""ImageCaptioner: the image starts the decoder's state (Show and Tell), the searches score
captions as teacher forcing does, attention weighs the CNN's grid, the exported caption
endpoint serves strings without deepkit, and bad input is refused with a clear message."""

import json
import textwrap

import keras
import numpy as np
import pytest

from deepkit.models import ImageCaptioner
from deepkit.models.seq2seq import END
from deepkit.testing import run_without_deepkit

WORDS = ["one", "two", "three"]
IMAGE_SHAPE = (6, 8, 1)


def make_model(attention=None, states_from="flatten", scale=1.0, seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    encoder = keras.Sequential([keras.Input(IMAGE_SHAPE), keras.layers.Conv2D(2, 3, strides=2, padding="same")])
    model = ImageCaptioner(encoder, keras.layers.GRUCell(5), WORDS, attention=attention, states_from=states_from,
                           embedding_dim=3, max_target_length=3, **kwargs)
    model.build(((None,) + IMAGE_SHAPE, (None, 4)))
    model.set_weights([w * scale for w in model.get_weights()])  # peaked distributions: greedy and beam differ
    return model


def images(count=4, seed=0):
    return np.random.default_rng(seed).uniform(size=(count,) + IMAGE_SHAPE).astype("float32")


def test_the_image_features_start_the_decoder_state_through_the_bridge():
    model = make_model()
    x = images()
    grid = model.image_encoder(x).numpy().reshape(len(x), -1)  # (batch, 3 * 4 * 2), flattened in place
    kernel, bias = model.bridges[0].get_weights()
    np.testing.assert_allclose(model.encode(x).state[0].numpy(), np.tanh(grid @ kernel + bias), rtol=1e-5,
                               atol=1e-6)
    target_in, _ = model.encode_target(["one two", "one two", "one two", "one two"])
    logits = model.predict((x, target_in), verbose=0)
    assert not np.allclose(logits[0], logits[1], atol=1e-4)  # the same words, other images: other predictions


@pytest.mark.parametrize("attention", [None, "bahdanau", "luong"])
def test_every_beam_scores_its_captions_teacher_forced_log_probability(attention):
    model = make_model(attention, scale=3.0)
    x = images()
    found = model.beam_search(x, beam_width=3)
    ids, scores = found["ids"].numpy(), found["scores"].numpy()
    for beam in range(3):
        rows = ids[:, beam]
        target_in = np.concatenate([np.full((len(x), 1), 2, "int32"), rows[:, :-1]], 1)
        target_in[target_in == END] = 0  # after the end the teacher-forced steps do not count
        log_probs = keras.ops.log_softmax(model.predict((x, target_in), verbose=0)).numpy()
        for row in range(len(x)):
            length = int(np.argmax(rows[row] == END)) + 1 if (rows[row] == END).any() else rows.shape[1]
            expected = sum(log_probs[row, t, rows[row, t]] for t in range(length))
            assert scores[row, beam] == pytest.approx(expected, abs=1e-4)
    greedy = model.greedy_search(x)["ids"].numpy()
    np.testing.assert_array_equal(model.beam_search(x, beam_width=1)["ids"].numpy()[:, 0], greedy)


def test_attention_weighs_the_cells_of_the_cnn_grid():
    model = make_model("bahdanau", states_from="average")
    weights = model.greedy_search(images())["attention"].numpy()
    assert weights.shape == (4, 4, 3 * 4)  # (batch, steps, the 3x4 grid's cells)
    ids = model.greedy_search(images())["ids"].numpy()
    live = np.cumsum(np.concatenate([np.zeros((4, 1)), ids[:, :-1] == END], 1), 1) == 0
    np.testing.assert_allclose(weights.sum(-1)[live], 1.0, rtol=1e-5)


_CAPTION_WITHOUT_DEEPKIT = textwrap.dedent(
    """
    import json, sys
    sys.modules["deepkit"] = None  # any import of deepkit now fails
    import numpy as np
    import tensorflow as tf

    loaded = tf.saved_model.load(sys.argv[1])
    x = tf.constant(np.load(sys.argv[2]))
    serving = loaded.signatures["serving_default"]
    out = {"inputs": sorted(serving.structured_input_signature[1]), "outputs": sorted(serving.structured_outputs),
           "default": [c.decode() for c in serving(image=x)["caption"].numpy()],
           "greedy": [c.decode() for c in loaded.caption_greedy(x)["caption"].numpy()]}
    print(json.dumps(out))
    """
)


def test_the_exported_caption_endpoint_takes_images_and_answers_strings_without_deepkit(tmp_path):
    model = make_model("luong", scale=3.0)
    x = images()
    path = str(tmp_path / "captioner")
    model.export(path, verbose=False)
    np.save(tmp_path / "images.npy", x)
    printed = run_without_deepkit(_CAPTION_WITHOUT_DEEPKIT, [path, str(tmp_path / "images.npy")], cwd=str(tmp_path))
    served = json.loads(printed.strip().splitlines()[-1])
    assert served["inputs"] == ["image"] and served["outputs"] == ["caption"]
    assert served["default"] == list(model.caption(x))
    assert served["greedy"] == list(model.decode_ids(model.greedy_search(x)["ids"].numpy()))


def test_a_restored_model_captions_as_the_trained_one(tmp_path):
    model = make_model("bahdanau", scale=3.0)
    model.compile(optimizer="adam")
    model.save(tmp_path / "m.keras")
    restored = keras.saving.load_model(tmp_path / "m.keras")
    assert list(restored.caption(images())) == list(model.caption(images()))


def test_bad_input_names_what_was_expected():
    model = make_model()
    with pytest.raises(ValueError, match=r"expected float images of shape \(batch, 6, 8, 1\). Received .*\(2, 8, 6, 1\)"):
        model.greedy_search(np.zeros((2, 8, 6, 1), "float32"))
    with pytest.raises(ValueError, match="expected float images"):
        model.beam_search(np.zeros((2,) + IMAGE_SHAPE, "int32"))
    with pytest.raises(ValueError, match="beam_width"):
        model.beam_search(images(), beam_width=0)
    flat = keras.Sequential([keras.Input(IMAGE_SHAPE), keras.layers.Flatten()])
    with pytest.raises(ValueError, match=r"feature grid \(batch, h, w, c\).*Received an output of shape \(None, 48\)"):
        ImageCaptioner(flat, keras.layers.GRUCell(4), WORDS).build(((None,) + IMAGE_SHAPE, (None, 4)))
    with pytest.raises(ValueError, match="states_from"):
        ImageCaptioner(flat, keras.layers.GRUCell(4), WORDS, states_from="max")
    with pytest.raises(ValueError, match="reserved tokens"):
        ImageCaptioner(flat, keras.layers.GRUCell(4), ["one", "<end>"])
    with pytest.raises(ValueError, match="ImageCaptioner.encode_target: expected words of the model's vocabulary"):
        model.encode_target(["one four"])
