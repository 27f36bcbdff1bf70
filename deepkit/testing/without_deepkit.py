"""One Python process that cannot import deepkit, kept running to answer every check that an
exported SavedModel loads and serves with TensorFlow alone.

A fresh Python + TensorFlow start costs seconds, and the suite checks dozens of SavedModels
that way, so each test process (each pytest-xdist worker) starts one such process on first
use and sends it every request. A request runs a script in fresh globals, with its own
``sys.argv`` and working folder, and fails when the script raises, exits non-zero or
imported a deepkit module; a process that died is started again at the next request.
"""

import atexit
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading

# The process's loop. Its replies go through a copy of the original stdout; fd 1 then
# points at stderr, so a C++ library printing to stdout cannot break a reply line.
_WORKER = textwrap.dedent(
    """
    import contextlib, io, json, os, sys, traceback
    sys.modules["deepkit"] = None  # any import of deepkit now fails
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    for line in sys.stdin:
        request = json.loads(line)
        printed, errors = io.StringIO(), io.StringIO()
        reply = {"ok": True}
        sys.argv = ["-c", *request["argv"]]
        os.chdir(request["cwd"])
        try:
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(errors):
                exec(compile(request["script"], "<script>", "exec"), {"__name__": "__main__"})
        except SystemExit as exit:
            if exit.code not in (None, 0):
                reply = {"ok": False, "error": f"the script exited with {exit.code!r}"}
        except BaseException:
            reply = {"ok": False, "error": traceback.format_exc()}
        imported = sorted(name for name, module in sys.modules.items()
                          if name.split(".")[0] == "deepkit" and module is not None)
        if imported:
            reply = {"ok": False, "error": f"the script imported deepkit modules: {imported}"}
        reply.update(stdout=printed.getvalue(), stderr=errors.getvalue()[-4000:])
        replies.write(json.dumps(reply) + "\\n")
        replies.flush()
    """
)


class _Worker:
    """The running process, its stderr log, and the pid of the test process that started it."""

    def __init__(self):
        self.owner = os.getpid()
        self.log = tempfile.TemporaryFile(mode="w+")
        environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH="")
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
            text=True, env=environment, cwd=tempfile.gettempdir(),
        )

    def request(self, script, argv, cwd):
        self.process.stdin.write(json.dumps({"script": script, "argv": list(argv), "cwd": cwd}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise ConnectionError(self.stderr_tail())
        return json.loads(line)

    def stderr_tail(self):
        self.log.seek(0)
        return self.log.read()[-4000:]

    def close(self):
        if self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


_worker = None
_lock = threading.Lock()


def run_without_deepkit(script, args=(), cwd=None):
    """Runs Python source ``script`` in the process that cannot import deepkit.

    Args:
        script: Python source, run as ``__main__`` in fresh globals (as ``python -c``).
        args: Strings the script reads as ``sys.argv[1:]``.
        cwd: Folder the script runs in (default: the system's temporary folder).

    Returns:
        What the script printed to ``sys.stdout``.

    Raises:
        AssertionError: The script raised, exited with a non-zero status, or imported
            deepkit (its traceback in the message), or the process died (the end of its
            stderr in the message).

    Example:
        >>> run_without_deepkit("import sys; print(sys.argv[1])", ["hello"])
        'hello\\n'
    """
    global _worker
    with _lock:
        if _worker is None or _worker.owner != os.getpid() or _worker.process.poll() is not None:
            _worker = _Worker()  # a forked test process starts its own: the pipes are its parent's
        try:
            reply = _worker.request(script, args, cwd or tempfile.gettempdir())
        except (ConnectionError, BrokenPipeError):
            died, _worker = _worker, None
            raise AssertionError(f"the process without deepkit died:\n{died.stderr_tail()}") from None
    if not reply["ok"]:
        raise AssertionError(f"the script failed without deepkit:\n{reply['error']}\n{reply['stderr']}")
    return reply["stdout"]


@atexit.register
def _close_worker():
    if _worker is not None and _worker.owner == os.getpid():
        _worker.close()
