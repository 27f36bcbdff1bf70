"""Hides TensorFlow's start-up log lines from the command line's standard error.

TensorFlow 2.20+ writes its C++ start-up lines (CUDA probes, "Could not find cuda
drivers", CPU-feature notes) through absl before absl's logging is initialised, so
``TF_CPP_MIN_LOG_LEVEL`` does not hide them. :func:`hide_tensorflow_start_up_lines`
puts a filter between file descriptor 2 and the terminal that drops those lines and
passes everything else (Python's warnings, tracebacks, deepkit's messages) unchanged.
``deepkit run --verbose`` leaves standard error alone.
"""

import atexit
import os
import re
import sys
import threading

# An absl/TensorFlow C++ log line: severity letter, date, time, thread id, file:line].
_CPP_LOG_LINE = re.compile(rb"^[IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ (?P<file>[\w.]+):\d+\] ")
_NOISE = (
    b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    b"To enable the following instructions:",
)


def is_start_up_noise(line):
    """Whether ``line`` (bytes) is one of TensorFlow's informational C++ start-up lines: an
    I or W line, a CUDA probe's E line on a machine without a GPU, or absl's preamble."""
    if line.startswith(_NOISE):
        return True
    match = _CPP_LOG_LINE.match(line)
    if match is None:
        return False
    return not line.startswith(b"E") or b"cuda" in match["file"].lower() or b"cuInit" in line


def hide_tensorflow_start_up_lines():
    """Routes file descriptor 2 through a thread that drops :func:`is_start_up_noise` lines.

    Idempotent; the filter is flushed and removed at interpreter exit.
    """
    global _installed
    if _installed:
        return
    _installed = True
    sys.stderr.flush()
    terminal = os.dup(2)
    read_end, write_end = os.pipe()
    os.dup2(write_end, 2)
    os.close(write_end)

    def pump():
        with os.fdopen(read_end, "rb", buffering=0) as pipe:
            pending = b""
            while chunk := pipe.read(65536):
                pending += chunk
                *lines, pending = pending.split(b"\n")
                kept = b"".join(line + b"\n" for line in lines if not is_start_up_noise(line))
                if kept:
                    os.write(terminal, kept)
            if pending and not is_start_up_noise(pending):
                os.write(terminal, pending)

    thread = threading.Thread(target=pump, name="deepkit-stderr-filter", daemon=True)
    thread.start()

    @atexit.register
    def _restore():
        sys.stderr.flush()
        os.dup2(terminal, 2)  # closes the pipe's last write end: the pump sees the end and stops
        thread.join(timeout=2)


_installed = False
