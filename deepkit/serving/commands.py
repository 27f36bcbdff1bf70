"""The `deepkit predict` and `deepkit serve` subcommands: their flags and what they run.

Kept apart from `deepkit.cli` so that the command line's parser stays free of
TensorFlow: this module imports it only when a command runs. A user mistake (a missing
file, an input the signature does not take, an unknown signature) is one line on
stderr and exit status 2, like every other deepkit command.
"""

import sys

EXIT_USAGE = 2


def add_predict_arguments(parser):
    parser.add_argument("saved_model_dir", help="a SavedModel version folder, e.g. saved_models/sentiment/1")
    parser.add_argument("--input", required=True, metavar="FILE",
                        help="a TensorFlow Serving request (.json with 'instances' or 'inputs'), a .npy array, "
                             "a .npz of named arrays, or a text file with one input per line (string inputs)")
    parser.add_argument("--signature", default=None, metavar="NAME",
                        help="the signature to run (default: the JSON body's signature_name, else serving_default)")
    parser.add_argument("--output", default=None, metavar="FILE", help="write the JSON answer here instead of printing it")


def add_serve_arguments(parser):
    parser.add_argument("model_base_path", help="a model's folder of versions, e.g. saved_models/sentiment")
    parser.add_argument("--port", type=int, default=8501, help="TCP port (default 8501, TensorFlow Serving's REST port; 0: any free one)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    parser.add_argument("--model-name", default=None, help="the name in /v1/models/<name> (default: the folder's name)")
    parser.add_argument("--poll-seconds", type=float, default=1.0,
                        help="how often to look for a new version folder (default 1, as TensorFlow Serving)")


def run_predict(args, parser):
    from deepkit.serving.predict import predict, write_answer
    from deepkit.serving.requests import RequestError

    try:
        answer = predict(args.saved_model_dir, args.input, args.signature)
        write_answer(answer, args.output)
    except (FileNotFoundError, RequestError, IsADirectoryError, PermissionError) as error:
        _fail(parser, error)
    return 0


def run_serve(args, parser):
    try:
        from deepkit.serving import server
    except ImportError as error:
        _fail(parser, f"deepkit serve needs the 'serve' extra: pip install 'deepkit[serve]' ({error})")
    try:
        app = server.ModelServer(args.model_base_path, name=args.model_name, poll_seconds=args.poll_seconds)
    except (FileNotFoundError, ValueError) as error:
        _fail(parser, error)
    try:
        server.run(app, host=args.host, port=args.port)
    except OSError as error:  # the port is taken, or the host is not this machine's
        _fail(parser, error)
    return 0


def _fail(parser, error):
    message = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    print(f"{parser.prog}: error: {message}", file=sys.stderr)
    sys.exit(EXIT_USAGE)
