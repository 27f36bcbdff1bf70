"""`deepkit serve`: TensorFlow Serving's REST API over a model's version folders, for testing a client locally.

A client written against this server works unchanged against ``tensorflow/serving``
(and a KServe InferenceService running it): the same routes, the same ``instances`` /
``inputs`` bodies and ``predictions`` / ``outputs`` answers, the same
``{"error": "..."}`` with 400 or 404. Like TensorFlow Serving's default version policy,
it serves the newest version under ``<base>/<name>/`` and switches to a newer one as
soon as its folder appears (deepkit's exports appear complete, renamed into place).

Built on FastAPI and uvicorn, the REST layers KServe's own model server runs on (the
``serve`` extra); docs/serving.md says why not KServe's model server itself.

Routes (``<v>`` an integer version)::

    GET  /v1/models/<name>                       model_version_status of the served version
    GET  /v1/models/<name>/versions/<v>
    GET  /v1/models/<name>[/versions/<v>]/metadata   the SignatureDefs
    POST /v1/models/<name>[/versions/<v>]:predict    {"instances": ...} or {"inputs": ...}
"""

import json
import os
import socket
import sys
import threading

import fastapi
import uvicorn
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from deepkit.serving.loaded_model import DEFAULT_SIGNATURE, LoadedModel
from deepkit.serving.requests import RequestError, format_response, parse_request


class NotFound(LookupError):
    """A model or version this server does not serve (HTTP 404)."""


class ModelServer:
    """The newest SavedModel version under a model's folder, reloaded when a newer one appears.

    Args:
        base_path: The model's folder of integer versions (``saved_models/<recipe>``),
            TensorFlow Serving's ``--model_base_path``.
        name: The name in ``/v1/models/<name>``; default: the folder's name.
        poll_seconds: How often a background thread (:meth:`start_polling`) looks for a
            newer version.

    Raises:
        FileNotFoundError: ``base_path`` is not a folder, or holds no version with a
            ``saved_model.pb``.

    Example:

    >>> server = ModelServer("saved_models/sentiment")  # doctest: +SKIP
    >>> server.predict("sentiment", None, {"instances": ["a wonderful film"]})  # doctest: +SKIP
    {'predictions': [[0.97]]}
    """

    def __init__(self, base_path, name=None, poll_seconds=1.0):
        if not os.path.isdir(base_path):
            raise FileNotFoundError(f"no model folder {base_path}: expected saved_models/<recipe> holding version folders 1, 2, ...")
        self.base_path = base_path
        self.name = name or os.path.basename(os.path.normpath(base_path))
        self.poll_seconds = poll_seconds
        self._lock = threading.Lock()
        self._served = None  # (version, LoadedModel)
        self._failed = {}  # version -> the error that kept it from loading
        self._stop = threading.Event()
        if self.refresh() is None:
            raise FileNotFoundError(f"{base_path} holds no SavedModel version: expected {base_path}/<integer>/saved_model.pb")

    # === Versions ===

    def available_versions(self):
        """The integer versions that hold a complete SavedModel, ascending."""
        found = [int(entry) for entry in os.listdir(self.base_path) if entry.isdigit()]
        return sorted(v for v in found if os.path.isfile(os.path.join(self.base_path, str(v), "saved_model.pb")))

    def refresh(self):
        """Loads the newest version if it is not the one served; returns the served version.

        A version that fails to load is reported once on stderr and skipped, and the
        version served before stays served (as TensorFlow Serving keeps it).
        """
        for version in reversed(self.available_versions()):
            if self._served is not None and version <= self._served[0]:
                break
            if version in self._failed:
                continue
            try:
                loaded = LoadedModel(os.path.join(self.base_path, str(version)))
            except Exception as error:  # noqa: BLE001 (a broken export must not stop the server)
                self._failed[version] = error
                print(f"deepkit serve: version {version} of {self.name} did not load: {error}", file=sys.stderr)
                continue
            with self._lock:
                self._served = (version, loaded)
            print(f"deepkit serve: serving {self.name} version {version}", file=sys.stderr)
            break
        return self._served[0] if self._served else None

    def start_polling(self):
        """Looks for a newer version every ``poll_seconds`` in a daemon thread, until :meth:`stop_polling`."""

        def poll():
            while not self._stop.wait(self.poll_seconds):
                self.refresh()

        threading.Thread(target=poll, name=f"deepkit-serve-{self.name}", daemon=True).start()

    def stop_polling(self):
        self._stop.set()

    def served(self, name, version=None):
        """``(version, LoadedModel)`` for a request's model name and optional version."""
        if name != self.name:
            raise NotFound(f"Servable not found for request: Latest({name}); this server serves '{self.name}'")
        with self._lock:
            served_version, model = self._served
        if version is not None and _version_number(version) != served_version:
            raise NotFound(f"Servable not found for request: Specific({name}, {version}); "
                           f"'{self.name}' is served at version {served_version}")
        return served_version, model

    # === Answers ===

    def status(self, name, version=None):
        served_version, _ = self.served(name, version)
        return {"model_version_status": [
            {"version": str(served_version), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
        ]}

    def metadata(self, name, version=None):
        served_version, model = self.served(name, version)
        return {"model_spec": {"name": self.name, "signature_name": "", "version": str(served_version)},
                "metadata": {"signature_def": {"signature_def": model.signature_defs()}}}

    def predict(self, name, version, body):
        """The answer to a ``:predict`` body (already decoded from JSON)."""
        _, model = self.served(name, version)
        named = body.get("signature_name") if isinstance(body, dict) else None
        signature_name = named or DEFAULT_SIGNATURE
        arrays, rows = parse_request(body, model.input_specs(signature_name), signature_name)
        return format_response(model.run(signature_name, arrays), rows)


def _version_number(version):
    if not str(version).isdigit():
        raise RequestError(f"a version is a positive integer, as in /v1/models/<name>/versions/3; received '{version}'")
    return int(version)


def make_app(server):
    """The FastAPI application answering TensorFlow Serving's REST routes for ``server``."""
    app = fastapi.FastAPI(title=f"deepkit serve: {server.name}", docs_url=None, redoc_url=None, openapi_url=None)

    def answer(function, *args):
        try:
            return function(*args)
        except NotFound as error:
            return JSONResponse({"error": str(error)}, status_code=404)
        except RequestError as error:
            return JSONResponse({"error": str(error)}, status_code=400)

    @app.exception_handler(Exception)
    async def failed(request, error):
        # A bug or a graph that fails at run time: still TF Serving's error form, with a 500.
        return JSONResponse({"error": f"{type(error).__name__}: {error}"}, status_code=500)

    @app.exception_handler(HTTPException)
    async def malformed(request, error):
        # TensorFlow Serving's answer to a route it does not have, in its error form.
        status = 404 if error.status_code == 404 else error.status_code
        return JSONResponse({"error": f"Malformed request: {request.method} {request.url.path}"}, status_code=status)

    def status(name: str, version: str | None = None):
        return answer(server.status, name, version)

    def metadata(name: str, version: str | None = None):
        return answer(server.metadata, name, version)

    async def predict(request: fastapi.Request, name: str, version: str | None = None):
        raw = await request.body()
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as error:
            return JSONResponse({"error": f"JSON Parse error: {error}; the body must be a JSON object with "
                                          "'instances' or 'inputs'"}, status_code=400)
        # The SavedModel runs in a worker thread: the event loop keeps answering meanwhile.
        return await run_in_threadpool(answer, server.predict, name, version, body)

    for model in ("/v1/models/{name}", "/v1/models/{name}/versions/{version}"):
        app.add_api_route(model, status, methods=["GET"])
        app.add_api_route(model + "/metadata", metadata, methods=["GET"])
        app.add_api_route(model + ":predict", predict, methods=["POST"])
    return app


def bind(host, port):
    """A listening socket on ``host:port`` (``port`` 0: a free one the system picks)."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    return sock


def uvicorn_server(server):
    """A uvicorn server for ``server``; ``.run(sockets=[bind(...)])`` serves until ``.should_exit``."""
    config = uvicorn.Config(make_app(server), log_level="warning", access_log=False)
    return uvicorn.Server(config)


def run(server, host="127.0.0.1", port=8501):
    """Serves until interrupted, looking for new versions meanwhile."""
    sock = bind(host, port)
    actual_port = sock.getsockname()[1]
    server.start_polling()
    print(f"deepkit serve: {server.name} at http://{host}:{actual_port}/v1/models/{server.name} "
          f"(POST .../v1/models/{server.name}:predict; Ctrl-C stops)", flush=True)
    try:
        uvicorn_server(server).run(sockets=[sock])
    finally:
        server.stop_polling()
        sock.close()
