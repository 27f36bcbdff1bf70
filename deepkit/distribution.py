"""Training a recipe on several devices or machines: ``deepkit run <recipe> --strategy S``.

``default`` trains on one device; ``mirrored`` (``tf.distribute.MirroredStrategy``)
copies the model onto every GPU of this machine (or its one CPU), ``multiworker``
(``tf.distribute.MultiWorkerMirroredStrategy``) onto every device of the workers
that ``TF_CONFIG`` lists; each step's gradients are summed over the replicas, so the
config's ``batch_size`` is the global batch, split evenly between them.

Only the chief (task ``chief``, or ``worker`` 0 when the cluster has no chief) writes
the workdir, the plots, ``metrics.json`` and the SavedModel. The other workers run
the same program in lockstep (every collective needs them all), but write into a
temporary folder that is removed when they finish: the practice of Keras' and
TensorFlow's multi-worker guides. To resume, a worker starts from a copy of the
chief's workdir, so on several hosts the workdir must be on a file system that all
of them can read (as ``keras.callbacks.BackupAndRestore`` needs).
"""

import atexit
import contextlib
import dataclasses
import json
import os
import shutil
import tempfile

STRATEGIES = ("default", "mirrored", "multiworker")
# What a worker copies from the chief's workdir to resume as the chief does: the
# resume state and the run's record, not its lock, logs or exports.
NOT_COPIED = (".lock", "tensorboard", "saved_models")


def scale_loss_for_replicas(loss):
    """``loss`` divided by the number of replicas in sync (1 outside a strategy).

    A ``train_step`` that computes its own loss, the mean over its replica's part of
    the batch, differentiates this instead: the gradients that the optimizer sums
    over the replicas are then those of the mean over the global batch, as on one
    device. Keras does the same for the losses given to ``compile``
    (``keras.src.losses.loss.scale_loss_for_distribution``), not for these.

    Args:
        loss: A scalar tensor, the loss averaged over this replica's examples.

    Returns:
        ``loss / num_replicas_in_sync`` of the current ``tf.distribute`` strategy.

    Example:
        >>> import tensorflow as tf
        >>> float(scale_loss_for_replicas(tf.constant(3.0)))  # no strategy: one replica
        3.0
    """
    import tensorflow as tf

    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss if replicas == 1 else loss / tf.cast(replicas, loss.dtype)


# === TF_CONFIG ===


@dataclasses.dataclass(frozen=True)
class Task:
    """This process's place in a multi-worker cluster, as ``TF_CONFIG`` gives it."""

    type: str  # "chief" or "worker"
    index: int
    workers: int  # how many processes train: the chief and the workers
    has_chief: bool = False  # the cluster has a "chief" job (else worker 0 is the chief)

    @property
    def is_chief(self):
        return self.type == "chief" or (self.type == "worker" and self.index == 0 and not self.has_chief)

    def describe(self):
        return f"{self.type} {self.index} of {self.workers} processes"


def read_tf_config(environ=None):
    """This process's :class:`Task` from the ``TF_CONFIG`` environment variable.

    ``TF_CONFIG`` is the JSON that TensorFlow's cluster resolver reads, e.g.
    ``{"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", "index": 0}}``.

    Raises:
        ValueError: ``TF_CONFIG`` is unset, not JSON, or names no worker, an unknown
            task type, or an index outside its list.
    """
    environ = os.environ if environ is None else environ
    example = ('e.g. TF_CONFIG=\'{"cluster": {"worker": ["localhost:12345", "localhost:12346"]}, '
               '"task": {"type": "worker", "index": 0}}\'')
    text = environ.get("TF_CONFIG")
    if not text:
        raise ValueError(f"--strategy multiworker reads the cluster from TF_CONFIG, which is not set; {example}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG: expected JSON, received {text!r} ({error}); {example}") from None
    cluster = value.get("cluster") if isinstance(value, dict) else None
    task = value.get("task") if isinstance(value, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ValueError(f"TF_CONFIG: expected an object with \"cluster\" and \"task\", received {text!r}; {example}")
    for kind, addresses in cluster.items():
        if kind not in ("chief", "worker", "evaluator"):
            raise ValueError(f"TF_CONFIG: cluster jobs must be chief or worker (evaluator is not used), "
                             f"received {kind!r}")
        if not isinstance(addresses, list) or not all(isinstance(a, str) and ":" in a for a in addresses):
            raise ValueError(f"TF_CONFIG: cluster {kind!r} must be a list of \"host:port\" strings, "
                             f"received {addresses!r}")
    if not cluster.get("worker") and not cluster.get("chief"):
        raise ValueError(f"TF_CONFIG: the cluster lists no worker, received {text!r}; {example}")
    kind, index = task.get("type"), task.get("index")
    if kind not in ("chief", "worker"):
        raise ValueError(f"TF_CONFIG: task type must be \"chief\" or \"worker\", received {kind!r}")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster.get(kind, [])):
        raise ValueError(f"TF_CONFIG: task index must be an integer in [0, {len(cluster.get(kind, []))}) "
                         f"for the {len(cluster.get(kind, []))} {kind} address(es), received {index!r}")
    workers = len(cluster.get("chief", [])) + len(cluster.get("worker", []))
    return Task(kind, index, workers, has_chief=bool(cluster.get("chief")))


# === Strategies ===


def make_strategy(name):
    """The ``tf.distribute.Strategy`` that ``--strategy name`` means.

    ``default`` is TensorFlow's default (one device); ``mirrored`` mirrors over
    every GPU of this machine, or its CPU when it has none; ``multiworker`` over the
    workers of ``TF_CONFIG`` (checked first by :func:`read_tf_config`).

    Raises:
        ValueError: an unknown name, or (``multiworker``) a bad ``TF_CONFIG``.
    """
    if name not in STRATEGIES:
        raise ValueError(f"--strategy: expected one of {', '.join(STRATEGIES)}, received {name!r}")
    import tensorflow as tf

    if name == "default":
        return tf.distribute.get_strategy()
    distinct_noise_per_replica()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    read_tf_config()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    fix_keras_multi_worker_fit()
    return strategy


def distinct_noise_per_replica():
    """Makes every replica draw its own random numbers from a ``keras.random.SeedGenerator``.

    A mirrored ``SeedGenerator`` holds the same state on every replica, so without
    this each replica draws the same noise: a GAN's fake batch is the same on every
    replica (the discriminator sees ``batch / replicas`` distinct fakes, not
    ``batch``), dropout drops the same units of every replica's i-th example, and
    Word2Vec draws the same negatives. Here, in a replica context of several
    replicas, ``SeedGenerator.next`` offsets the seed it returns by the replica's id;
    the state it advances, and one device's draws, are unchanged. Idempotent.
    """
    import keras
    import tensorflow as tf

    generator = keras.random.SeedGenerator
    if getattr(generator.next, "deepkit_per_replica", False):
        return
    draw = generator.next

    def next_seed(self, ordered=True):
        seed = draw(self, ordered)
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return seed
        replica = tf.cast(context.replica_id_in_sync_group, seed.dtype)
        return seed + tf.stack([replica * tf.constant(1_000_003, seed.dtype), tf.zeros((), seed.dtype)])

    next_seed.deepkit_per_replica = True
    generator.next = next_seed


def fix_keras_multi_worker_fit():
    """Mends the two places where Keras 3's TensorFlow trainer fails under
    ``MultiWorkerMirroredStrategy`` (keras-team/keras#20585, open for Keras 3.7 to
    3.15: every ``fit`` raises "Attempt to convert a value (PerReplica...)"):

    - ``_maybe_symbolic_build`` averages the first batch over the workers with one
      ``strategy.reduce`` of the whole ``(x, y)`` structure, which the collective
      reduction refuses; it only needs the batch's shapes, so this worker's first
      replica's part is given instead;
    - ``reduce_per_replica`` averages each logged scalar over ``axis=0``, which a
      scalar lacks; scalars are averaged with ``axis=None``.

    Both patches change nothing for the other strategies. Idempotent.
    """
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer.reduce_per_replica, "deepkit_fixed", False):
        return
    build, reduce_per_replica = trainer.TensorFlowTrainer._maybe_symbolic_build, trainer.reduce_per_replica

    def multi_worker(strategy):
        return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is None or not multi_worker(self._distribute_strategy):
            return build(self, iterator=iterator, data_batch=data_batch)
        for _, _, batches in iterator:
            data_batch = next(batches)
            break
        local = self._distribute_strategy.experimental_local_results
        data_batch = tree.map_structure(
            lambda v: local(v)[0] if isinstance(v, tf.distribute.DistributedValues) else v, data_batch)
        return build(self, data_batch=data_batch)

    def fixed_reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and multi_worker(strategy):
            return tree.map_structure(
                lambda v: strategy.reduce("MEAN", v, axis=0 if v.shape.rank else None), values)
        return reduce_per_replica(values, strategy, reduction)

    fixed_reduce_per_replica.deepkit_fixed = True
    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer.reduce_per_replica = fixed_reduce_per_replica


@dataclasses.dataclass
class Placement:
    """Where a process of a (possibly distributed) run writes: see :func:`place`."""

    strategy_name: str
    workdir: str  # the run's workdir, or a temporary one on a non-chief worker
    config: object  # the config, its export_dir moved into the temporary one there
    task: Task = None  # None unless multiworker
    temporary: str = None  # the folder removed at the end (non-chief workers only)

    @property
    def is_chief(self):
        return self.task is None or self.task.is_chief


def place(strategy_name, workdir, config, resume=True):
    """Where this process writes: the chief (and any single-process run) in ``workdir``
    and ``config.export_dir``; a non-chief worker in a new temporary folder, seeded
    with a copy of the chief's ``workdir`` when it can read one and ``resume`` (to
    resume in step with the chief; ``--restart`` starts every worker over).

    Raises:
        ValueError: an unknown strategy or a bad ``TF_CONFIG``.
    """
    if strategy_name not in STRATEGIES:
        raise ValueError(f"--strategy: expected one of {', '.join(STRATEGIES)}, received {strategy_name!r}")
    if strategy_name != "multiworker":
        return Placement(strategy_name, workdir, config)
    task = read_tf_config()
    if task.is_chief:
        return Placement(strategy_name, workdir, config, task)
    temporary = tempfile.mkdtemp(prefix=f"deepkit-{task.type}{task.index}-")
    atexit.register(shutil.rmtree, temporary, True)  # also when the run fails before it starts
    own = os.path.join(temporary, "workdir")
    if resume and os.path.isdir(workdir):
        shutil.copytree(workdir, own, ignore=shutil.ignore_patterns(*NOT_COPIED))
    own_config = dataclasses.replace(config, export_dir=os.path.join(temporary, "saved_models"))
    return Placement(strategy_name, own, own_config, task, temporary)


def backup_epoch(workdir):
    """The epoch ``keras.callbacks.BackupAndRestore`` would resume from in ``workdir``
    (its own and its sub-runs' ``backup/``): the lowest one found, -1 when none."""
    epochs = []
    for folder, _, files in os.walk(workdir):
        if os.path.basename(folder) == "backup" and "training_metadata.json" in files:
            try:
                with open(os.path.join(folder, "training_metadata.json"), encoding="utf-8") as f:
                    epochs.append(int(json.load(f).get("epoch", -1)))
            except (OSError, ValueError):
                epochs.append(-1)
    return min(epochs, default=-1)


def check_workers_agree(strategy, workdir):
    """ValueError unless every worker of ``strategy`` resumes from the same epoch: a
    worker that cannot see the chief's backup would train other epochs, and the run
    would hang on the first collective the others never reach."""
    import tensorflow as tf

    epoch = tf.constant([backup_epoch(workdir)])

    @tf.function  # eager collectives warn of their overhead
    def every_workers_epoch():
        return strategy.gather(strategy.run(lambda: tf.identity(epoch)), axis=0)

    epochs = sorted(set(every_workers_epoch().numpy().tolist()))
    if len(epochs) > 1:
        raise ValueError(
            f"the workers would resume from different epochs (their backups: {epochs}, -1 for none): on "
            "several hosts the workdir must be on a file system every worker can read; or start every "
            "worker over with --restart"
        )


@contextlib.contextmanager
def distributed(placement):
    """Runs the body under the placement's strategy (``strategy.scope()``, so that the
    models and optimizers a recipe builds are mirrored); on a non-chief worker its
    temporary folder is removed afterwards, whatever happened."""
    try:
        strategy = make_strategy(placement.strategy_name)
        if placement.task is not None and placement.task.workers > 1:
            check_workers_agree(strategy, placement.workdir)
        with strategy.scope():
            yield strategy
    finally:
        if placement.temporary:
            shutil.rmtree(placement.temporary, ignore_errors=True)


def strategy_name(strategy):
    """The public class name of ``strategy`` (``MultiWorkerMirroredStrategy``, not its
    implementation's ``CollectiveAllReduceStrategy``); ``default`` for none."""
    import tensorflow as tf

    for public in (tf.distribute.MultiWorkerMirroredStrategy, tf.distribute.MirroredStrategy):
        if isinstance(strategy, public):
            return public.__name__
    return "default" if not tf.distribute.has_strategy() else type(strategy).__name__


def describe(strategy, task=None):
    """One line: the strategy, its replicas and (multiworker) this process's task."""
    name = strategy_name(strategy)
    where = ""
    if task is not None:
        where = f"; this process: {task.describe()}" + (" (chief: writes the results)" if task.is_chief else "")
    return f"{name}, {strategy.num_replicas_in_sync} replica{'s' if strategy.num_replicas_in_sync != 1 else ''}{where}"


def run_record(model):
    """The ``"distribution"`` section of ``metrics.json``: the strategy, its replicas and,
    under ``multiworker``, this process's task and a SHA-256 of the model's weights
    (every worker prints it: equal hashes show that the workers stayed in sync)."""
    import tensorflow as tf

    from deepkit import export

    strategy = tf.distribute.get_strategy()
    record = {"strategy": strategy_name(strategy), "replicas_in_sync": strategy.num_replicas_in_sync}
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        resolver = strategy.cluster_resolver
        record["task"] = f"{resolver.task_type} {resolver.task_id}"
        record["weights_sha256"] = export.fingerprint(model)
    return record


def describe_record(record):
    """The summary line of a :func:`run_record`."""
    replicas = record["replicas_in_sync"]
    line = f"{record['strategy']}, {replicas} replica{'' if replicas == 1 else 's'} in sync"
    if "task" in record:
        line += f"; this process: {record['task']}, weights sha256 {record['weights_sha256'][:16]}"
    return line
