"""What a finished run records about how it was made: the command that repeats it, its
wall time (this invocation and all of the workdir's together) and the cores it had.

``metrics.json`` holds the numbers a run measured; this is the rest of what a results
table needs (:mod:`deepkit.report` reads both), written by the runner so that no
table is typed by hand.
"""

import dataclasses
import datetime
import hashlib
import inspect
import json
import os
import shlex
import sys

import deepkit
from deepkit import export


def command_line(name, config, smoke=None, workdir=None):
    """The shortest ``deepkit run`` command that makes ``config``: flags for the fields that
    differ from the recipe's defaults (``--smoke`` first when that needs fewer), the
    workdir when it is not the default ``runs/<name>`` (``runs/<name>-smoke`` with ``--smoke``).

    Args:
        name: The recipe's name.
        config: The run's config.
        smoke: The recipe's ``smoke()`` config, or None.
        workdir: The run's workdir, or None to leave it out.
    """
    candidates = [(False, type(config)())] + ([(True, smoke)] if smoke is not None else [])
    best = None
    for is_smoke, base in candidates:
        flags = ["--smoke"] if is_smoke else []
        for field in dataclasses.fields(config):
            value, default = getattr(config, field.name), getattr(base, field.name)
            if value == default or field.name == "export_dir" and value == "saved_models":
                continue
            text = ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)
            if field.name in ("epochs", "data", "seed"):
                flags += [f"--{field.name}", text]
            elif field.name == "batch_size":
                flags += ["--batch-size", text]
            else:
                flags += ["--set", f"{field.name}={text}"]
        default_workdir = os.path.join("runs", name + ("-smoke" if is_smoke else ""))
        if workdir is not None and os.path.normpath(workdir) != default_workdir:
            flags += ["--workdir", workdir]
        if best is None or len(flags) < len(best):
            best = flags
    return shlex.join(["deepkit", "run", name, *best])


def cores():
    """The CPU cores this process may run on (its affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count()


def _recipe_module(name):
    return sys.modules.get(f"deepkit.recipes.{name}")


def model_fingerprint(model, name, config):
    """:func:`deepkit.export.fingerprint` of ``model`` in the context that made it: the
    recipe, the config fields that change what is trained (not ``epochs``, ``export_dir``
    nor ``Config.AFTER_TRAINING``: more epochs that keep the same best epoch export
    nothing new), deepkit's version and the recipe's source, so that a changed recipe
    exports again even when the weights come out the same."""
    free = ("epochs", "export_dir", *type(config).AFTER_TRAINING)
    fields = {key: value for key, value in dataclasses.asdict(config).items() if key not in free}
    module = _recipe_module(name)
    try:
        source = hashlib.sha256(inspect.getsource(module).encode()).hexdigest() if module else None
    except (OSError, TypeError):
        source = None
    return export.fingerprint(model, name, fields, deepkit.__version__, source)


def describe_export(record):
    """The summary's SavedModel line: the version, whether it is new, or why there is none."""
    if not record.get("saved_model"):
        return "not exported (metrics not finite)"
    if record.get("saved_model_is_new", True):
        return record["saved_model"]
    return f"{record['saved_model']} (unchanged: that newest version already serves these weights)"


def describe_epoch(exported):
    """``epoch 7 of 10 (best val_loss = 0.123, min)``, or the last epoch when nothing chose it."""
    text = f"epoch {exported['epoch']} of {exported['of']}"
    if exported.get("value") is None:
        return text + " (the last: no validation metric to choose by)"
    return text + f" (best {exported['monitor']} = {exported['value']:.4g}, {exported['mode']})"


def run_section(name, config, workdir, wall_time_s, smoke=None, trained=True):
    """The ``run`` section of metrics.json: ``command``, ``finished_utc``, ``wall_time_s``
    (this invocation), ``total_wall_time_s`` (what the result cost: the finished
    invocations of this workdir that trained, read from the previous metrics.json, plus
    this one if it ``trained``; a re-run that trains no epoch adds nothing) and ``cpu_cores``."""
    previous = 0.0
    try:
        with open(os.path.join(workdir, "metrics.json")) as f:
            previous = float(json.load(f).get("run", {}).get("total_wall_time_s", 0.0))
    except (FileNotFoundError, ValueError, AttributeError):
        pass
    module = _recipe_module(name)
    if smoke is None and module is not None and hasattr(module, "smoke"):
        smoke = module.smoke()
    return {
        "command": command_line(name, config, smoke, workdir),
        "finished_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "wall_time_s": round(wall_time_s, 1),
        "total_wall_time_s": round(previous + (wall_time_s if trained or not previous else 0.0), 1),
        "cpu_cores": cores(),
    }
