"""TensorFlow Serving's JSON forms: rows and columns parse to the same arrays, answers come back
in the form asked, and a body the signature cannot take is refused naming what was expected."""

import numpy as np
import pytest

from deepkit.serving.requests import RequestError, TensorSpec, format_response, parse_request

IMAGE = {"image": TensorSpec("image", "float32", (None, 2, 2))}
TWO = {"tokens": TensorSpec("tokens", "int32", (None, 3)), "lang": TensorSpec("lang", "string", (None,))}
SEEDS = {"seed": TensorSpec("seed", "int32", ()), "num_samples": TensorSpec("num_samples", "int32", ())}


def test_rows_and_columns_give_the_same_arrays():
    images = [[[0, 1], [2, 3]], [[4, 5], [6, 7.5]]]
    rows, in_rows = parse_request({"instances": images}, IMAGE, "serve")
    columns, in_columns = parse_request({"inputs": {"image": images}}, IMAGE, "serve")
    assert in_rows and not in_columns
    assert rows["image"].dtype == np.float32 and rows["image"].shape == (2, 2, 2)
    np.testing.assert_array_equal(rows["image"], columns["image"])
    np.testing.assert_array_equal(parse_request({"inputs": images}, IMAGE, "serve")[0]["image"], rows["image"])


def test_named_rows_strings_and_base64():
    body = {"instances": [{"tokens": [1, 2, 3], "lang": "fr"}, {"tokens": [4, 5, 6], "lang": {"b64": "ZGU="}}]}
    arrays, _ = parse_request(body, TWO, "serve")
    assert arrays["tokens"].dtype == np.int32 and arrays["tokens"].tolist() == [[1, 2, 3], [4, 5, 6]]
    assert arrays["lang"].tolist() == [b"fr", b"de"]


def test_scalars_go_in_columns():
    arrays, rows = parse_request({"inputs": {"seed": 3, "num_samples": 5}}, SEEDS, "generate")
    assert not rows and arrays["seed"].shape == () and int(arrays["num_samples"]) == 5
    with pytest.raises(RequestError, match=r"takes scalars .*columnar form"):
        parse_request({"instances": [{"seed": 3, "num_samples": 5}]}, SEEDS, "generate")


@pytest.mark.parametrize("body, message", [
    ([1, 2], "must be a JSON object with 'instances' or 'inputs'; received list"),
    ({"instances": [], "inputs": []}, "exactly one of 'instances' or 'inputs'"),
    ({"instances": []}, "non-empty list"),
    ({"instances": [[[0, 1], [2, 3]], [[0, 1]]]}, "is ragged"),
    ({"instances": [[[0, 1, 2], [2, 3, 4]]]}, r"expects image: float32 \(-1, 2, 2\); input 'image' received float32 of shape \(1, 2, 3\)"),
    ({"inputs": [[0, 1], [2, 3]]}, r"received float32 of shape \(2, 2\)"),
    ({"inputs": [[["a", "b"], ["c", "d"]]]}, r"expects image: float32 \(-1, 2, 2\) \(numbers\); input 'image' received str 'a'"),
    ({"inputs": [[[True, 1], [2, 3]]]}, "received bool True"),
    ({"inputs": {"pixels": [[[0, 1], [2, 3]]]}}, r"must name the inputs \['image'\]; missing \['image'\], unknown \['pixels'\]"),
    ({"inputs": [[[{"b64": "AA=="}, 1], [2, 3]]]}, r"received a \{\"b64\": \.\.\.\} string"),
])
def test_bad_bodies_say_what_was_expected_and_received(body, message):
    with pytest.raises(RequestError, match=message):
        parse_request(body, IMAGE, "serve")


def test_integers_must_be_integers_and_fit_the_dtype():
    with pytest.raises(RequestError, match=r"tokens: int32 \(-1, 3\) \(integers\); input 'tokens' received float 1.5"):
        parse_request({"inputs": {"tokens": [[1.5, 2, 3]], "lang": ["fr"]}}, TWO, "serve")
    with pytest.raises(RequestError, match="outside int32"):
        parse_request({"inputs": {"tokens": [[2 ** 40, 2, 3]], "lang": ["fr"]}}, TWO, "serve")


def test_answers_come_back_in_the_form_asked():
    outputs = {"scores": np.array([[0.5, 0.5], [1.0, 0.0]], "float32"), "label": np.array([b"a", b"\xff"])}
    assert format_response(outputs, rows=True) == {"predictions": [
        {"label": "a", "scores": [0.5, 0.5]}, {"label": {"b64": "/w=="}, "scores": [1.0, 0.0]}]}
    assert format_response(outputs, rows=False) == {"outputs": {"label": ["a", {"b64": "/w=="}],
                                                                "scores": [[0.5, 0.5], [1.0, 0.0]]}}
    assert format_response({"y": np.array([[1], [2]])}, rows=True) == {"predictions": [[1], [2]]}
    assert format_response({"y": np.array(3.0)}, rows=False) == {"outputs": 3.0}
    with pytest.raises(RequestError, match="do not share a batch dimension"):
        format_response({"y": np.zeros((2, 1)), "z": np.zeros((3,))}, rows=True)
