"""What every recipe shares, written once: configs and overrides, the Keras callbacks that
make a run resumable, metrics.json, the versioned SavedModel export, and the closing summary.

A recipe module (``recipes/<name>.py``) defines ``NAME``, ``TASK``, a ``Config``
dataclass with commented defaults, ``smoke_config()``, and
``train_and_evaluate(config, workdir) -> dict``; ``deepkit run <name>`` and
``python -m recipes.<name>`` both go through :func:`main`.

Layout of a run's ``workdir``::

    workdir/
      backup/          BackupAndRestore state: re-running the same command resumes
      checkpoints/     last.keras, written at the end of every epoch
      tensorboard/     TensorBoard logs
      *.png            the recipe's plots
      metrics.json     the evaluation metrics and where everything went
      model.keras      the trained model
    saved_models/<name>/<version>/   the SavedModel (TensorFlow Serving layout)
"""

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time

import keras


def config_fields(config):
    return {field.name: field for field in dataclasses.fields(config)}


def parse_value(text, current):
    """Converts ``text`` to the type of the field's ``current`` value."""
    if isinstance(current, bool):
        if text.lower() in ("1", "true", "yes"):
            return True
        if text.lower() in ("0", "false", "no"):
            return False
        raise ValueError(f"expected true or false, received {text!r}")
    if isinstance(current, int):
        return int(text)
    if isinstance(current, float):
        return float(text)
    if isinstance(current, (tuple, list)):
        return type(current)(parse_value(part, current[0]) for part in text.split(","))
    return text


def override(config, values):
    """A copy of ``config`` with ``values`` (strings or typed) applied; ValueError on an
    unknown key, a wrong type or a negative epoch/batch count."""
    fields = config_fields(config)
    changes = {}
    for key, value in values.items():
        if key not in fields:
            raise ValueError(f"unknown config key {key!r}; known keys: {sorted(fields)}")
        current = getattr(config, key)
        try:
            changes[key] = parse_value(value, current) if isinstance(value, str) else type(current)(value)
        except (TypeError, ValueError) as error:
            raise ValueError(f"bad value for {key!r}: {error}") from None
    config = dataclasses.replace(config, **changes)
    for key in ("epochs", "batch_size"):
        if key in fields and getattr(config, key) < 1:
            raise ValueError(f"{key} must be >= 1, received {getattr(config, key)}")
    return config


# === Training ===


def training_callbacks(workdir):
    """Progress bar (fit's verbose=1), TensorBoard, BackupAndRestore and a per-epoch checkpoint.

    BackupAndRestore keeps its state after a finished run (``delete_checkpoint=False``),
    so re-running the same command resumes where the last run stopped, whether it
    crashed or finished; raising ``--epochs`` continues training.
    """
    os.makedirs(os.path.join(workdir, "checkpoints"), exist_ok=True)
    return [
        keras.callbacks.BackupAndRestore(os.path.join(workdir, "backup"), delete_checkpoint=False),
        keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard")),
        keras.callbacks.ModelCheckpoint(os.path.join(workdir, "checkpoints", "last.keras")),
    ]


def fit(model, train, config, workdir, validation=None, extra_callbacks=(), verbose=None):
    """``model.fit`` with the shared callbacks; returns the History (``epochs_run`` says how
    many epochs this call trained, 0 when a finished run is resumed)."""
    history = model.fit(
        train,
        validation_data=validation,
        epochs=config.epochs,
        callbacks=training_callbacks(workdir) + list(extra_callbacks),
        shuffle=False,  # the tf.data pipeline shuffles (seeded)
        verbose=verbose if verbose is not None else (1 if sys.stdout.isatty() else 2),
    )
    history.epochs_run = len(history.epoch)
    return history


# === Outputs ===


def next_version(base):
    versions = [int(name) for name in os.listdir(base) if name.isdigit()] if os.path.isdir(base) else []
    return max(versions, default=0) + 1


def export_savedmodel(model, export_dir, name):
    """Exports ``model`` to ``export_dir/name/<version>/`` atomically; returns the path.

    The SavedModel is written to a temporary folder beside the versions and renamed
    into place, so a crash never leaves a half-written version that TensorFlow
    Serving would try to load. ``model.export`` is the Keras one, or the model's own
    (deepkit's generative models write named endpoints).
    """
    base = os.path.join(export_dir, name)
    os.makedirs(base, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".export-", dir=base)
    try:
        target = os.path.join(staging, "model")
        model.export(target, verbose=False)
        while True:
            version_dir = os.path.join(base, str(next_version(base)))
            try:
                os.rename(target, version_dir)
                return version_dir
            except OSError:
                if not os.path.exists(version_dir):
                    raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_metrics(workdir, metrics):
    path = os.path.join(workdir, "metrics.json")
    with open(path + ".tmp", "w") as f:
        json.dump(metrics, f, indent=2, sort_keys=True, default=float)
    os.replace(path + ".tmp", path)
    return path


def finish(model, config, workdir, name, dataset_info, metrics, history=None):
    """Saves the model, exports the SavedModel, plots the training curves (training.png),
    writes metrics.json and prints the summary."""
    if history is not None and history.history:
        from deepkit import plots

        plots.training_curves(history.history, os.path.join(workdir, "training.png"), f"{name}: training")
    model_path = os.path.join(workdir, "model.keras")
    model.save(model_path)
    saved_model = export_savedmodel(model, config.export_dir, name)
    metrics = {
        **{key: float(value) for key, value in metrics.items()},
        "epochs_run_this_time": getattr(history, "epochs_run", None),
    }
    record = {
        "metrics": metrics,
        "dataset": {"name": dataset_info.name, "source": dataset_info.source, "offline": dataset_info.offline},
        "model": model_path,
        "saved_model": saved_model,
        "config": dataclasses.asdict(config),
    }
    write_metrics(workdir, record)
    plots = sorted(f for f in os.listdir(workdir) if f.endswith(".png"))
    print(f"\n== {name}: done ==")
    print(f"data:        {dataset_info.name} — {dataset_info.source}{'' if dataset_info.offline else ' (downloaded)'}")
    for key, value in metrics.items():
        if value is not None:
            print(f"metric:      {key} = {value:.4g}")
    print(f"model:       {model_path}")
    print(f"SavedModel:  {saved_model}")
    print(f"plots:       {', '.join(os.path.join(workdir, p) for p in plots)}")
    print(f"metrics:     {os.path.join(workdir, 'metrics.json')}")
    print(f"TensorBoard: tensorboard --logdir {os.path.join(workdir, 'tensorboard')}")
    return record


# === Command line ===


def add_run_arguments(parser):
    parser.add_argument("--epochs", type=int, help="training epochs")
    parser.add_argument("--batch-size", type=int, dest="batch_size", help="batch size")
    parser.add_argument("--data", help="dataset name (deepkit.data), e.g. tfds:mnist")
    parser.add_argument("--workdir", help="where logs, checkpoints, plots and metrics go (default runs/<recipe>)")
    parser.add_argument("--seed", type=int, help="random seed")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override any config field")
    parser.add_argument("--config", help="JSON file of config overrides")
    parser.add_argument("--smoke", action="store_true", help="the recipe's seconds-long smoke config")


def config_from_arguments(module, args):
    """The recipe's config with --config, --set and the flags applied (ValueError if bad)."""
    config = module.smoke_config() if args.smoke else module.Config()
    values = {}
    if args.config:
        with open(args.config) as f:
            values.update(json.load(f))
    for item in args.set:
        key, separator, value = item.partition("=")
        if not separator:
            raise ValueError(f"--set expects KEY=VALUE, received {item!r}")
        values[key] = value
    for key in ("epochs", "batch_size", "data", "seed"):
        if getattr(args, key) is not None:
            values[key] = getattr(args, key)
    return override(config, values)


def run(module, args, parser):
    try:
        config = config_from_arguments(module, args)
    except (ValueError, OSError) as error:
        parser.error(str(error))  # exits with status 2
    workdir = args.workdir or os.path.join("runs", module.NAME)
    os.makedirs(workdir, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    start = time.perf_counter()
    metrics = module.train_and_evaluate(config, workdir)
    print(f"wall time:   {time.perf_counter() - start:.1f} s")
    return metrics


def main(module, argv=None):
    """``python -m recipes.<name> [flags]``."""
    parser = argparse.ArgumentParser(prog=f"python -m recipes.{module.NAME}", description=module.__doc__.splitlines()[0])
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    run(module, args, parser)
    return 0
