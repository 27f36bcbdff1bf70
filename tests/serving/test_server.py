"""`deepkit serve` answers TensorFlow Serving's REST API over real HTTP on 127.0.0.1: what the
SavedModel itself answers, 400/404 with an error message for bad requests, and a version
folder added while it runs."""

import json
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

pytest.importorskip("fastapi", reason="deepkit serve needs the serve extra")

from deepkit.serving import server as serving  # noqa: E402
from tests.serving.tiny_models import export_next, numbers_model  # noqa: E402

X = [[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]]


class Running:
    """A ModelServer behind uvicorn in a thread, on an ephemeral port."""

    def __init__(self, base_path):
        self.model_server = serving.ModelServer(base_path, poll_seconds=0.2)
        self.model_server.start_polling()
        sock = serving.bind("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.uvicorn = serving.uvicorn_server(self.model_server)
        self.thread = threading.Thread(target=self.uvicorn.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.uvicorn.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.05)

    def stop(self):
        self.uvicorn.should_exit = True
        self.model_server.stop_polling()
        self.thread.join(timeout=10)

    def request(self, path, body=None, raw=None):
        """(status, decoded JSON answer) of a GET, or of a POST of ``body`` (JSON) or ``raw`` bytes."""
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method="GET" if data is None else "POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    base = tmp_path_factory.mktemp("served")
    path = export_next(numbers_model(), base, "numbers")
    running = Running(str(base / "numbers"))
    yield running, tf.saved_model.load(path).signatures["serving_default"]
    running.stop()


def own_answer(signature, x):
    return {name: value.numpy() for name, value in signature(x=tf.constant(x, tf.float32)).items()}


def test_status_and_metadata_answer_as_tensorflow_serving(served):
    running, _ = served
    expected = {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}]}
    assert running.request("/v1/models/numbers") == (200, expected)
    assert running.request("/v1/models/numbers/versions/1") == (200, expected)
    status, metadata = running.request("/v1/models/numbers/metadata")
    assert status == 200 and metadata["model_spec"] == {"name": "numbers", "signature_name": "", "version": "1"}
    signature = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]
    assert signature["inputs"]["x"]["dtype"] == "DT_FLOAT" and sorted(signature["outputs"]) == ["scores", "total"]


def test_rows_and_columns_get_what_the_savedmodel_answers(served):
    running, signature = served
    expected = own_answer(signature, X)
    status, rows = running.request("/v1/models/numbers:predict", {"instances": X})
    assert status == 200 and len(rows["predictions"]) == 2
    for i, row in enumerate(rows["predictions"]):
        np.testing.assert_allclose(row["scores"], expected["scores"][i], rtol=1e-6)
        np.testing.assert_allclose(row["total"], expected["total"][i], rtol=1e-6)
    status, columns = running.request("/v1/models/numbers/versions/1:predict",
                                      {"signature_name": "serve", "inputs": {"x": X}})
    assert status == 200
    np.testing.assert_allclose(columns["outputs"]["scores"], expected["scores"], rtol=1e-6)
    np.testing.assert_allclose(columns["outputs"]["total"], [[6.0], [-0.5]], rtol=1e-6)


@pytest.mark.parametrize("path, body, status, message", [
    ("/v1/models/numbers:predict", {"instances": [[1.0, 2.0]]}, 400, "expects x: float32 (-1, 3); input 'x' received float32 of shape (1, 2)"),
    ("/v1/models/numbers:predict", {"instances": [["a", "b", "c"]]}, 400, "expects x: float32 (-1, 3) (numbers); input 'x' received str 'a'"),
    ("/v1/models/numbers:predict", {"instances": [[1.0, 2.0, 3.0], [1.0]]}, 400, "is ragged"),
    ("/v1/models/numbers:predict", {"signature_name": "nope", "instances": X}, 400, "unknown signature 'nope'"),
    ("/v1/models/numbers:predict", {"rows": X}, 400, "exactly one of 'instances' or 'inputs'"),
    ("/v1/models/numbers/versions/one:predict", {"instances": X}, 400, "a version is a positive integer"),
    ("/v1/models/letters:predict", {"instances": X}, 404, "Servable not found for request: Latest(letters)"),
    ("/v1/models/numbers/versions/7:predict", {"instances": X}, 404, "Specific(numbers, 7)"),
    ("/v1/models/numbers/versions/7", None, 404, "'numbers' is served at version 1"),
    ("/v1/models/letters", None, 404, "Latest(letters)"),
    ("/v2/anything", None, 404, "Malformed request: GET /v2/anything"),
])
def test_bad_requests_get_400_or_404_with_a_message(served, path, body, status, message):
    answer = served[0].request(path, body)
    assert answer[0] == status and message in answer[1]["error"], answer


def test_a_body_that_is_not_json_gets_400(served):
    status, answer = served[0].request("/v1/models/numbers:predict", raw=b"instances=[[1,2,3]]")
    assert status == 400 and answer["error"].startswith("JSON Parse error")


def test_a_version_folder_added_while_it_runs_is_served(tmp_path):
    export_next(numbers_model(seed=0), tmp_path, "numbers")
    running = Running(str(tmp_path / "numbers"))
    try:
        first = running.request("/v1/models/numbers:predict", {"inputs": X})[1]["outputs"]["scores"]
        second_path = export_next(numbers_model(seed=1), tmp_path, "numbers")
        deadline = time.monotonic() + 60
        while running.request("/v1/models/numbers")[1]["model_version_status"][0]["version"] != "2":
            assert time.monotonic() < deadline, "version 2 was not picked up"
            time.sleep(0.2)
        status, answer = running.request("/v1/models/numbers/versions/2:predict", {"inputs": X})
        expected = own_answer(tf.saved_model.load(second_path).signatures["serving_default"], X)
        assert status == 200
        np.testing.assert_allclose(answer["outputs"]["scores"], expected["scores"], rtol=1e-6)
        assert not np.allclose(first, expected["scores"])  # really the new model
        assert running.request("/v1/models/numbers/versions/1")[0] == 404  # only the newest is served, as TF Serving
    finally:
        running.stop()


def test_a_failure_inside_the_server_is_a_500_in_the_error_form(served, monkeypatch):
    running, _ = served

    def broken(*args):
        raise RuntimeError("graph exploded")

    monkeypatch.setattr(running.model_server, "predict", broken)
    assert running.request("/v1/models/numbers:predict", {"instances": X}) == (500, {"error": "RuntimeError: graph exploded"})
