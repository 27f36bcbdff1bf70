"""What every recipe shares, written once: configs and their overrides, the Keras callbacks
that make a run resumable, plots of the training curves, metrics.json, the versioned
SavedModel export, the closing summary, and the command line of ``deepkit run``.

A recipe is a module of the package ``deepkit.recipes`` (the repository's ``recipes/``
folder); every module there is a recipe (:mod:`deepkit.recipe_contract` finds them and
checks each when it loads it), run by ``deepkit run <name>`` or
``python -m deepkit.recipes.<name>``. It defines:

- a module docstring, whose first line ``deepkit list`` prints;
- ``NAME``, the module's name, and ``TASK``, a few words for ``deepkit list``;
- ``Config``, a dataclass deriving from :class:`RecipeConfig`, with one commented
  default per field;
- ``smoke()``, a ``Config`` that runs the whole recipe in seconds (the tests run it);
- ``train_and_evaluate(config, workdir) -> dict`` of metrics, written as::

    run = recipe.start(NAME, config, workdir)      # checks, seeds, opens the workdir
    history = run.fit(model, train, validation=test)
    ...evaluate, plot into run.workdir...
    return run.finish(model, metrics, history)     # .keras, SavedModel, metrics.json, summary

Layout of a run's ``workdir``::

    workdir/
      .lock            pid and host of the run working here (deepkit.workdir); a second
                       run exits 2 naming it, a dead run's lock is taken over
      config.json      the config of the run, written when training starts; re-running
                       the workdir needs the same one (``--restart`` starts it over)
      backup/          BackupAndRestore state, replaced atomically: re-running resumes
      history.json     per-epoch logs of every epoch trained so far, across resumes
      checkpoints/     last.keras, written at the end of every epoch; best.weights.h5 and
                       best.json, the best epoch so far by the validation metric
                       (deepkit.best_epoch), whose weights the run evaluates and exports
      tensorboard/     TensorBoard logs
      *.png            the recipe's plots (training.png: the training curves)
      metrics.json     the evaluation metrics (a non-finite one as null, listed under
                       "non_finite", and then no SavedModel), the dataset, the kept epoch,
                       the command and wall time (deepkit.run_record), where everything went
      model.keras      the trained model
    <export_dir>/<name>/<version>/   the SavedModel (TensorFlow Serving layout); a run whose
                                     model the newest version already serves adds none

A recipe that trains several models gives each its own ``run.fit(..., subdir=...)``.
Training stops at the first non-finite loss (deepkit.non_finite), keeping the last
finished epoch's checkpoint and backup.
"""

import argparse
import dataclasses
import inspect
import json
import os
import re
import sys
import time

import keras

from deepkit import config_values, data, non_finite, workdir as workdirs
from deepkit import best_epoch, distribution, run_record
from deepkit.export import export_unless_unchanged, export_version  # noqa: F401
from deepkit.recipe_contract import RecipeConfig, check_recipe, load_recipe, recipe_names  # noqa: F401
from deepkit.run_arguments import add_run_arguments  # noqa: F401
from deepkit.workdir import RESUMABLE_CHANGES, check_workdir  # noqa: F401


# === Configs ===


def override(config, values):
    """A copy of ``config`` with ``values`` applied (strings from the command line or
    JSON values), each converted to its field's type.

    Raises:
        ValueError: on an unknown key, a value of the wrong type, ``epochs`` or
            ``batch_size`` below 1, a negative ``seed``, or a value the recipe's own
            ``Config.__post_init__`` refuses.
    """
    defaults = {field.name: getattr(config, field.name) for field in dataclasses.fields(config)}
    config = dataclasses.replace(config, **config_values.converted(defaults, values))
    for key, minimum in config_values.MINIMUMS:
        if key in defaults and getattr(config, key) < minimum:
            raise ValueError(f"{key} must be >= {minimum}, received {getattr(config, key)}")
    return config


def dataset_info(config):
    """The ``DatasetInfo`` of ``config.data`` (or the recipe's ``Config.GENERATED_DATA``);
    ValueError if it is unknown or of a kind the recipe cannot read (``Config.DATA_KINDS``).
    User CSV/NPZ files (kind ``table``) are accepted wherever their columns may fit."""
    if type(config).GENERATED_DATA is not None:
        return type(config).GENERATED_DATA
    info = data.info(config.data)
    kinds = type(config).DATA_KINDS
    if kinds and info.kind is not None and info.kind not in (*kinds, "table"):
        raise ValueError(
            f"dataset {config.data!r} holds {info.kind} data; this recipe reads {' or '.join(kinds)} "
            f"(e.g. {', '.join(i.name for i in data.list_datasets() if i.kind in kinds)})"
        )
    return info


_jsonable = workdirs.config_json


# === Training ===


class EpochLog(keras.callbacks.Callback):
    """Keeps the logs of every epoch in ``path`` (JSON, keyed by epoch), across resumed runs.

    Keras' ``History`` only holds the epochs of the current ``fit`` call; a run that
    resumes at epoch 7 needs epochs 1-6 from the earlier runs for its plots and
    metrics. Epochs from a discarded attempt (at or after where this one starts) are dropped.
    """

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.first_epoch = None

    def read(self):
        if not os.path.exists(self.path):
            return {}
        with open(self.path) as f:  # null is how a non-finite value is written
            return {int(epoch): {k: non_finite.from_json_number(v) for k, v in logs.items()}
                    for epoch, logs in json.load(f).items()}

    def on_epoch_begin(self, epoch, logs=None):
        if self.first_epoch is None:
            self.first_epoch = epoch
            self._write({e: l for e, l in self.read().items() if e < epoch})

    def on_epoch_end(self, epoch, logs=None):
        epochs = self.read()
        epochs[epoch] = {key: non_finite.json_number(value) for key, value in (logs or {}).items()}
        self._write(epochs)

    def _write(self, epochs):
        with open(self.path + ".tmp", "w") as f:
            json.dump({str(e): {k: non_finite.json_number(v) for k, v in epochs[e].items()} for e in sorted(epochs)},
                      f, indent=1, allow_nan=False)
        os.replace(self.path + ".tmp", self.path)


def training_callbacks(workdir):
    """A stop at the first non-finite loss, BackupAndRestore (written atomically), the
    epoch log, TensorBoard and a per-epoch ``.keras`` checkpoint.

    BackupAndRestore keeps its state after a finished run (``delete_checkpoint=False``),
    so re-running the same command resumes where the last run stopped, whether it
    crashed or finished (0 more epochs); raising ``--epochs`` continues training.
    """
    os.makedirs(os.path.join(workdir, "checkpoints"), exist_ok=True)
    return [
        non_finite.StopOnNonFiniteLoss(),  # first: it raises before the others see a NaN epoch
        workdirs.AtomicBackupAndRestore(os.path.join(workdir, "backup"), delete_checkpoint=False),
        EpochLog(os.path.join(workdir, "history.json")),
        keras.callbacks.TensorBoard(os.path.join(workdir, "tensorboard")),
        keras.callbacks.ModelCheckpoint(os.path.join(workdir, "checkpoints", "last.keras")),
    ]


@dataclasses.dataclass
class TrainingRecord:
    """What :meth:`Run.fit` returns: ``history`` maps each logged name to one value per
    epoch trained so far (across resumes); ``epochs_this_run`` is how many this call trained."""

    history: dict
    epochs_this_run: int
    exported: dict = None  # the epoch whose weights the model holds: deepkit.best_epoch.restore_best

    @property
    def epochs(self):
        return max((len(values) for values in self.history.values()), default=0)


class Run:
    """One run of a recipe: its config, workdir, dataset and clock. Made by :func:`start`."""

    def __init__(self, name, config, workdir, info, opened=None):
        self.name, self.config, self.workdir, self.info = name, config, workdir, info
        self.opened = opened  # the locked deepkit.workdir.Workdir
        self.started = time.perf_counter()
        self.tensorboard_dirs = []  # one per model fitted, in the order of the fit calls

    def fit(self, model, train, validation=None, callbacks=(), subdir=None, monitor=None, mode=None):
        """``model.fit`` for ``config.epochs`` with the shared callbacks; a progress bar on a
        terminal, one line per epoch otherwise. With ``validation``, the model then holds
        the weights of its best epoch so far by ``monitor`` (``mode`` ``"min"``/``"max"``;
        default: the config's ``monitor``/``monitor_mode`` fields, else ``val_loss``, see
        :func:`deepkit.best_epoch.selection`), across resumes; without, its last epoch's.
        Returns a :class:`TrainingRecord`."""
        workdir = os.path.join(self.workdir, subdir) if subdir else self.workdir
        log = os.path.join(workdir, "history.json")
        if os.path.join(workdir, "tensorboard") not in self.tensorboard_dirs:
            self.tensorboard_dirs.append(os.path.join(workdir, "tensorboard"))
        tracked = []
        if self.opened is not None:
            self.opened.commit()  # training starts: from now on the workdir holds this run
            tracked = [workdirs.EpochTracker(self.opened)]
        best = None
        if validation is not None or monitor is not None:
            best = best_epoch.BestEpoch(os.path.join(workdir, "checkpoints"),
                                        *best_epoch.selection(self.config, monitor, mode))
        result = model.fit(
            train,
            validation_data=validation,
            epochs=self.config.epochs,
            callbacks=training_callbacks(workdir) + ([best] if best else []) + tracked + list(callbacks),
            shuffle=False,  # the tf.data pipelines shuffle, seeded
            verbose=1 if sys.stdout.isatty() else 2,
        )
        epochs = EpochLog(log).read()
        history = {}
        for epoch in sorted(epochs):
            for key, value in epochs[epoch].items():
                history.setdefault(key, []).append(value)
        last = max((len(values) for values in history.values()), default=0)
        exported = best_epoch.restore_best(model, best, last) if best else {"epoch": last, "of": last}
        return TrainingRecord(history, len(result.epoch), exported)

    def finish(self, model, metrics, training=None, plots_title=None, plots_units=None):
        """Saves ``model.keras``, exports the next SavedModel version (none when the newest
        already serves the same weights: :func:`deepkit.export.export_unless_unchanged`),
        draws ``training.png`` (``plots_units``: ``{metric: y-axis label}``), writes
        ``metrics.json`` (with the kept epoch and :func:`deepkit.run_record.run_section`),
        prints the summary; returns ``metrics`` as floats.

        Metrics that are not finite are written as ``null``, and nothing is exported (a
        server must never load a model that serves NaN): metrics.json names them under
        ``"non_finite"`` and :class:`deepkit.non_finite.NonFiniteMetricsError` is raised
        after the summary."""
        from deepkit import plots

        metrics = {key: float(value) for key, value in metrics.items()}
        non_finite_metrics = non_finite.non_finite_keys(metrics)
        if self.opened is not None:
            self.opened.commit()
        if training is not None and training.history:
            plots.training_curves(training.history, os.path.join(self.workdir, "training.png"),
                                  plots_title or f"{self.name}: training", plots_units, training.exported)
        model_path = os.path.join(self.workdir, "model.keras")
        partial = os.path.join(self.workdir, ".model.partial.keras")
        model.save(partial)
        os.replace(partial, model_path)  # a crash while saving never leaves a broken model.keras
        saved_model, exported_now = None, False
        if not non_finite_metrics:  # the newest version already serving these weights: not again
            saved_model, exported_now = export_unless_unchanged(
                model, self.config.export_dir, self.name, run_record.model_fingerprint(model, self.name, self.config))
        wall_time = time.perf_counter() - self.started
        record = {
            "recipe": self.name,
            "metrics": {key: non_finite.json_number(value) for key, value in metrics.items()},
            "non_finite": non_finite_metrics,
            "dataset": {"name": self.info.name, "source": self.info.source, "offline": self.info.offline},
            "training": {
                "epochs": training.epochs if training else 0,
                "epochs_this_run": training.epochs_this_run if training else 0,
            },
            "exported_epoch": training.exported if training else None,
            "wall_time_s": round(wall_time, 1),
            "run": run_record.run_section(self.name, self.config, self.workdir, wall_time,
                                          trained=bool(training and training.epochs_this_run)),
            "model": model_path,
            "saved_model": saved_model,
            "saved_model_is_new": exported_now,
            "plots": sorted(os.path.join(self.workdir, f) for f in os.listdir(self.workdir) if f.endswith(".png")),
            "config": _jsonable(self.config),
            "distribution": distribution.run_record(model),
        }
        path = os.path.join(self.workdir, "metrics.json")
        with open(path + ".tmp", "w") as f:
            json.dump(record, f, indent=2, allow_nan=False)
        os.replace(path + ".tmp", path)
        # One model: its logs; several (run.fit(..., subdir=...)): the workdir, which
        # TensorBoard searches for every model's logs, one run per folder.
        tensorboard = self.tensorboard_dirs[0] if len(self.tensorboard_dirs) == 1 else self.workdir
        print_summary({**record, "metrics": metrics}, path, tensorboard)
        if self.opened is not None:
            self.opened.close()
        if non_finite_metrics:
            raise non_finite.NonFiniteMetricsError(
                f"{self.name}: metrics not finite ({', '.join(f'{k}={metrics[k]}' for k in non_finite_metrics)}); "
                f"no SavedModel exported. model.keras and {path} are written for inspection"
            )
        return metrics


def start(name, config, workdir, info=None):
    """Checks ``config`` against its dataset and ``workdir`` (:mod:`deepkit.workdir`), locks
    the workdir, seeds Keras, NumPy and Python with ``config.seed``, and returns a
    :class:`Run`; ``config.json`` is written when training starts.

    Args:
        name: The recipe's name (the SavedModel goes to ``<export_dir>/<name>/``).
        config: The recipe's config.
        workdir: Where the run writes (made if missing).
        info: The ``DatasetInfo`` to report; by default :func:`dataset_info`'s (that of
            ``config.data``, or ``Config.GENERATED_DATA`` for a recipe that makes its data).
    """
    info = info or dataset_info(config)
    opened = workdirs.open_workdir(config, workdir, name)  # writes nothing but its lock until training starts
    keras.utils.set_random_seed(config.seed)
    return Run(name, config, workdir, info, opened)


def train_and_evaluate(module, config, workdir, placement=None):
    """``module.train_and_evaluate(config, workdir)`` under the strategy of ``placement``
    (a :class:`deepkit.distribution.Placement`; default: one device): the one place
    where a recipe's models and optimizers are built inside ``strategy.scope()``, so
    that no recipe names a strategy. ``config.batch_size`` is the global batch."""
    placement = placement or distribution.place("default", workdir, config)
    with distribution.distributed(placement) as strategy:
        if placement.strategy_name != "default":
            print(f"strategy: {distribution.describe(strategy, placement.task)}", flush=True)
        return module.train_and_evaluate(config, workdir)


def print_summary(record, metrics_path, tensorboard):
    dataset = record["dataset"]
    source = dataset["source"].removesuffix(" (offline)")
    training = record["training"]
    print(f"\n== {record['recipe']}: done in {record['wall_time_s']:.1f} s ==")
    print(f"data:        {dataset['name']}, {'offline' if dataset['offline'] else 'online'}: {source}")
    epochs = training["epochs"]
    print(f"trained:     {epochs} epoch{'' if epochs == 1 else 's'} ({training['epochs_this_run']} in this run)")
    if record.get("exported_epoch"):
        print(f"kept:        {run_record.describe_epoch(record['exported_epoch'])}")
    for key, value in record["metrics"].items():
        print(f"metric:      {key} = {value:.4g}")
    print(f"model:       {record['model']}")
    print(f"SavedModel:  {run_record.describe_export(record)}")
    plots = record["plots"]
    if len(plots) <= 6:
        for path in plots:
            print(f"plot:        {path}")
    else:
        print(f"plots:       {len(plots)} PNGs in {os.path.dirname(plots[0])}: {os.path.basename(plots[0])} ... "
              f"{os.path.basename(plots[-1])}")
    if record.get("distribution", {}).get("replicas_in_sync", 1) > 1 or "task" in record.get("distribution", {}):
        print(f"strategy:    {distribution.describe_record(record['distribution'])}")
    print(f"metrics:     {metrics_path}")
    print(f"TensorBoard: tensorboard --logdir {tensorboard}")


# === Command line ===


def config_reference(module):
    """The recipe's config fields as its source writes them (type, default, comment): the
    epilog of ``deepkit run <recipe> --help``. The recipe's own lines come first, then the
    fields it inherits from :class:`RecipeConfig` as that class writes them."""
    fields, lines = [field.name for field in dataclasses.fields(module.Config)], {}
    for cls in module.Config.__mro__:
        if not dataclasses.is_dataclass(cls):
            continue
        for line in inspect.getsource(cls).splitlines():
            match = re.match(r"    (\w+)\s*:", line)  # a field of the class body, not a docstring line
            if match and match[1] in fields and match[1] not in lines:
                lines[match[1]] = "  " + line.strip()
    return f"config of {module.NAME} (set with --set KEY=VALUE or --config FILE):\n" + "\n".join(lines.values())


def config_from_arguments(module, args):
    """The recipe's config (or its smoke config) with --config, then --set, then the
    flags applied; ValueError (or OSError for --config) when one is bad."""
    config = module.smoke() if args.smoke else module.Config()
    values = config_values.values_from_arguments(args)
    return override(config, values)


def run(module, args, parser):
    """Runs a recipe from parsed arguments, as ``deepkit run`` does (:func:`deepkit.cli.run_recipe`:
    a user mistake exits 2 with one line, a failed run 1, Ctrl-C 130)."""
    from deepkit import cli

    return cli.run_recipe(module, args, parser)


def main(module, argv=None):
    """``python -m deepkit.recipes.<name> [flags]``: the same flags as ``deepkit run <name>``."""
    check_recipe(module)
    parser = argparse.ArgumentParser(
        prog=f"python -m deepkit.recipes.{module.NAME}", description=module.__doc__.strip().splitlines()[0],
        epilog=config_reference(module), formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_run_arguments(parser)
    run(module, parser.parse_args(argv), parser)
    return 0
