"""A recipe run's workdir: the checks before a run may write there, its lock, and its resume state.

A workdir holds one run (see :mod:`deepkit.recipe` for its layout); re-running the
same command resumes it. Everything that could make that go wrong is checked here
before training starts, with a message that names the file and what to do: a folder
of someone else's files that a run would overwrite, a run of another config, damaged
resume state, an ``export_dir`` that is a file, or a second run already working in
the same workdir (the lock, ``.lock``). Nothing is written until training starts
(:meth:`Workdir.commit`), so a start that fails leaves the folder as it was.
"""

import atexit
import dataclasses
import json
import os
import shutil
import socket
import sys
import time

try:
    import fcntl
except ImportError:  # Windows: the lock is the file alone (see _write_lock)
    fcntl = None

import keras

LOCK_FILE = ".lock"
FRESH_LOCK_S = 5  # an unreadable lock younger than this is being written by the run that made it
CONFIG_FILE = "config.json"
# Fields that may change between runs of one workdir: they do not change what is trained.
RESUMABLE_CHANGES = ("epochs", "export_dir")
# What a run writes (deepkit.recipe's layout): a folder holding any of them but no
# config.json is not a deepkit workdir, and a run there would overwrite them.
RUN_FILES = ("model.keras", "metrics.json", "history.json", "training.png", "backup", "checkpoints", "tensorboard")
# Keras' BackupAndRestore state, as ``keras.callbacks.BackupAndRestore`` names it.
BACKUP_WEIGHTS = "latest.weights.h5"
BACKUP_METADATA = "training_metadata.json"


class WorkdirError(ValueError):
    """A workdir a run cannot use as it is; the message says why and what to do.

    The command line prints it on one line and exits with status 2.
    """


def config_json(config):
    """The config as the JSON values ``config.json`` holds."""
    return json.loads(json.dumps(dataclasses.asdict(config)))


def _restart_hint(workdir):
    return f"rerun with --restart to start {workdir!r} over (it deletes that run), or choose another --workdir"


def read_json_file(path, what, workdir):
    """The JSON object in ``path``; WorkdirError naming the file and ``--restart`` if it is damaged."""
    try:
        with open(path, encoding="utf-8") as f:
            value = json.load(f)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise WorkdirError(f"{path}: damaged {what} ({error}); {_restart_hint(workdir)}") from None
    if not isinstance(value, dict):
        raise WorkdirError(f"{path}: damaged {what} (expected a JSON object, received {type(value).__name__}); "
                           f"{_restart_hint(workdir)}")
    return value


def check_workdir(config, workdir):
    """ValueError if ``workdir`` holds a run whose config differs from ``config`` in a field
    that changes what is trained (all but ``epochs``, ``export_dir`` and the fields a
    recipe lists in ``Config.AFTER_TRAINING``): resuming it would mix two runs. A field
    the run recorded that the recipe's config no longer has is not compared (the code
    that read it is gone); a field added since then compares as its default.

    Raises:
        WorkdirError: as above, or ``config.json`` is damaged.
    """
    path = os.path.join(workdir, CONFIG_FILE)
    if not os.path.exists(path):
        return
    previous = read_json_file(path, "run config", workdir)
    current = config_json(config)
    previous = {**config_json(type(config)()), **previous}  # a field added since then: its default
    previous = {key: value for key, value in previous.items() if key in current}  # a field removed since then
    free = RESUMABLE_CHANGES + tuple(type(config).AFTER_TRAINING)
    changed = [
        f"{key}: {previous.get(key)!r} -> {current.get(key)!r}"
        for key in sorted(set(previous) | set(current))
        if key not in free and previous.get(key) != current.get(key)
    ]
    if changed:
        raise WorkdirError(
            f"workdir {workdir!r} holds a run with another config ({'; '.join(changed)}). Re-running a workdir "
            "resumes its run; choose another --workdir for this config, or rerun with --restart to start that one over."
        )


def check_folder(workdir):
    """WorkdirError if ``workdir`` is a file, or a folder of files a run would overwrite
    without a ``config.json`` saying a deepkit run wrote them."""
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise WorkdirError(f"workdir {workdir!r} is a file; expected a folder (or a path that does not exist yet)")
    if not os.path.isdir(workdir) or os.path.exists(os.path.join(workdir, CONFIG_FILE)):
        return
    clashes = sorted(set(RUN_FILES) & set(os.listdir(workdir)))
    if clashes:
        raise WorkdirError(
            f"workdir {workdir!r} is not a deepkit workdir (no {CONFIG_FILE}) but holds {', '.join(clashes)}, which "
            "a run would overwrite; choose an empty or new --workdir"
        )


def _backup_dirs(workdir):
    """The BackupAndRestore folders of the workdir: its own and those of ``run.fit(subdir=...)``."""
    found = []
    for root in [workdir] + [os.path.join(workdir, d) for d in sorted(os.listdir(workdir))]:
        if os.path.isdir(os.path.join(root, "backup")):
            found.append(os.path.join(root, "backup"))
    return found


def check_resume_state(workdir):
    """WorkdirError naming the damaged file if the state a resumed run reads is damaged:
    ``history.json`` (every model's), the backup's metadata and weights.

    The weights file is opened as HDF5, which finds a truncated or overwritten file
    without loading it into a model.
    """
    if not os.path.isdir(workdir):
        return
    for root in [workdir] + [os.path.join(workdir, d) for d in sorted(os.listdir(workdir))]:
        history = os.path.join(root, "history.json")
        if os.path.isfile(history):
            read_json_file(history, "epoch log", workdir)
    for backup in _backup_dirs(workdir):
        metadata = os.path.join(backup, BACKUP_METADATA)
        if os.path.exists(metadata):
            record = read_json_file(metadata, "backup metadata", workdir)
            if not isinstance(record.get("epoch"), int) or isinstance(record.get("epoch"), bool):
                raise WorkdirError(f"{metadata}: damaged backup metadata (expected an integer 'epoch', received "
                                   f"{record.get('epoch')!r}); {_restart_hint(workdir)}")
        weights = os.path.join(backup, BACKUP_WEIGHTS)
        if os.path.exists(weights):
            import h5py  # Keras' own weights format; installed with Keras

            try:
                with h5py.File(weights, "r"):
                    pass
            except OSError as error:
                raise WorkdirError(f"{weights}: damaged backup weights ({error}); {_restart_hint(workdir)}") from None


def check_export_dir(export_dir, name):
    """WorkdirError if ``<export_dir>/<name>`` cannot be a folder of SavedModel versions
    (``export_dir`` or that folder is a file): found before training, not after."""
    for path in (export_dir, os.path.join(export_dir, name)):
        if os.path.exists(path) and not os.path.isdir(path):
            raise WorkdirError(f"export_dir: {path!r} is a file; expected a folder for the SavedModel versions")


def restart(workdir):
    """Deletes the run in ``workdir`` (``--restart``), so that the next run starts it over.

    Only a deepkit workdir (one with ``config.json``, a ``backup/`` or a ``history.json``)
    is deleted; a folder of other files raises WorkdirError, as :func:`check_folder`.
    """
    if not os.path.exists(workdir):
        return
    check_folder(workdir)
    entries = set(os.listdir(workdir))
    if entries and not {CONFIG_FILE, "backup", "history.json", LOCK_FILE} & entries:
        raise WorkdirError(f"--restart: {workdir!r} is not a deepkit workdir (no {CONFIG_FILE}); nothing deleted")
    holder = lock_holder(workdir)
    if holder is not None:
        raise WorkdirError(f"--restart: {busy_message(workdir, holder)}")
    shutil.rmtree(workdir)


# === The lock ===


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def lock_holder(workdir):
    """The lock record (pid, host, started, command) of another live run in ``workdir``, or
    ``None``: no lock, our own process's, or a stale one (no process holds it any more)."""
    path = os.path.join(workdir, LOCK_FILE)
    if os.path.abspath(path) in _LOCK_FDS:
        return None
    held = _held_by_another_process(path)
    if held is False:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            holder = json.load(f)
        pid, host = int(holder["pid"]), str(holder["host"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        if held:  # taken, its record not written yet
            return {"pid": "?", "host": "?", "started": "just now", "command": "?"}
        # Unreadable: being written by a run that has just made it, or cut short by a
        # kill while it was written long ago (no run holds it then).
        try:
            fresh = time.time() - os.path.getmtime(path) < FRESH_LOCK_S
        except OSError:
            return None
        return {"pid": "?", "host": "?", "started": "just now", "command": "?"} if fresh else None
    if held:
        return holder
    if pid == os.getpid() and host == socket.gethostname():
        return None
    if host == socket.gethostname() and not _process_alive(pid):
        return None
    return holder


def _held_by_another_process(path):
    """Whether another process holds ``path``'s ``flock``; ``None`` where there is no
    ``fcntl`` (then the record's pid tells)."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # a file system without flock
        return None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def busy_message(workdir, holder):
    return (
        f"workdir {workdir!r} is in use by another run (pid {holder['pid']} on {holder['host']}, started "
        f"{holder.get('started', '?')}: {holder.get('command', '?')}); wait for it to end or choose another "
        f"--workdir (if that run is gone, delete {os.path.join(workdir, LOCK_FILE)})"
    )


_LOCK_FDS = {}  # absolute lock path -> the descriptor whose flock this process holds


def _lock_record():
    return {
        "pid": os.getpid(), "host": socket.gethostname(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"), "command": " ".join(sys.argv) or "python",
    }


def _write_lock(workdir):
    """Takes the lock; False if another live run holds it.

    The lock is an exclusive ``flock`` on ``.lock``, held for the whole run: the kernel
    releases it when the process ends, however it ends, so a stale lock is never taken
    by two runs at once. The file also holds who took it, for the message of a refused
    run. Without ``fcntl`` (Windows) the file alone is the lock (made with ``O_EXCL``; a
    stale one, of a dead pid, replaced).
    """
    path = os.path.join(workdir, LOCK_FILE)
    if fcntl is None:
        return _write_lock_file(path)
    if os.path.abspath(path) in _LOCK_FDS:  # ours already: an earlier run in this process that failed
        return True
    while True:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError:  # a file system without flock
            os.close(fd)
            return _write_lock_file(path)
        # Its holder may have removed the file between our open and our flock: then
        # we hold the lock of a file no other run sees, and must take the new one.
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps(_lock_record()).encode("utf-8"))
    _LOCK_FDS[os.path.abspath(path)] = fd
    return True


def _write_lock_file(path):
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        if lock_holder(os.path.dirname(path)) is not None:
            return False
        partial = f"{path}.{os.getpid()}"
        with open(partial, "w", encoding="utf-8") as f:
            json.dump(_lock_record(), f)
        os.replace(partial, path)
        return True
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(_lock_record(), f)
    return True


def _release_lock(path):
    """Removes ``path`` and releases its flock, if this process holds it."""
    fd = _LOCK_FDS.pop(os.path.abspath(path), None)
    if fd is not None:
        try:
            os.remove(path)  # while still holding it: a waiter then sees another inode
        except FileNotFoundError:
            pass
        finally:
            os.close(fd)  # releases the flock
        return
    try:
        with open(path, encoding="utf-8") as f:
            mine = json.load(f).get("pid") == os.getpid()
    except (OSError, ValueError):
        mine = False
    if mine:
        os.remove(path)


@dataclasses.dataclass
class Workdir:
    """An opened workdir: checked and locked; :meth:`commit` writes ``config.json`` when
    training starts, :meth:`close` releases the lock, :meth:`abandon` undoes the opening."""

    path: str
    config: object
    created: bool  # the folder did not exist before this run
    committed: bool = False
    epoch: int | None = None  # the epoch being trained now (1-based), for the Ctrl-C line

    def commit(self):
        """Writes ``config.json`` (atomically): from now on the folder holds this run."""
        if self.committed:
            return
        path = os.path.join(self.path, CONFIG_FILE)
        with open(path + ".tmp", "w", encoding="utf-8") as f:
            json.dump(config_json(self.config), f, indent=2)
        os.replace(path + ".tmp", path)
        self.committed = True

    def close(self):
        """Releases the lock (if this process holds it)."""
        _release_lock(os.path.join(self.path, LOCK_FILE))
        _OPEN.pop(os.path.abspath(self.path), None)

    def abandon(self):
        """After a failure: releases the lock and, if training never started, leaves the
        folder as it was (removed again if this run made it and nothing else is in it)."""
        self.close()
        if not self.committed and self.created and os.path.isdir(self.path) and not os.listdir(self.path):
            os.rmdir(self.path)


_OPEN = {}  # absolute path -> the Workdir this process has open


def check_before_start(config, workdir, name):
    """Every check that can fail before a run writes to ``workdir``: the folder, another
    run's lock, the config, the resume state, ``export_dir``; WorkdirError naming the cause."""
    check_folder(workdir)
    if os.path.isdir(workdir):
        holder = lock_holder(workdir)
        if holder is not None:
            raise WorkdirError(busy_message(workdir, holder))
    check_workdir(config, workdir)
    check_resume_state(workdir)
    check_export_dir(config.export_dir, name)


def open_workdir(config, workdir, name):
    """Checks ``workdir`` (:func:`check_before_start`), takes its lock and returns a :class:`Workdir`.

    Raises:
        WorkdirError: a check fails, or another run took the lock first.
    """
    check_before_start(config, workdir, name)
    created = not os.path.exists(workdir)
    os.makedirs(workdir, exist_ok=True)
    if not _write_lock(workdir):
        raise WorkdirError(busy_message(workdir, lock_holder(workdir) or {"pid": "?", "host": "?"}))
    opened = Workdir(workdir, config, created)
    _OPEN[os.path.abspath(workdir)] = opened
    return opened


def open_workdirs():
    """The workdirs this process has open now (for the command line's failure handling)."""
    return list(_OPEN.values())


@atexit.register
def _release_at_exit():
    for opened in list(_OPEN.values()):
        opened.abandon()


# === Callbacks of the resume state ===


class AtomicBackupAndRestore(keras.callbacks.BackupAndRestore):
    """``keras.callbacks.BackupAndRestore`` whose state files are replaced, never rewritten in place.

    Keras writes ``latest.weights.h5`` and ``training_metadata.json`` where they lie, so
    a kill during the write leaves a truncated file that every rerun fails on. Here each
    is written beside its target and moved over it with ``os.replace`` (atomic on one
    file system): a kill leaves the previous epoch's state whole. The weights go first,
    so a kill between the two replaces resumes one epoch early, never one too late.
    """

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        partial_weights = os.path.join(self.backup_dir, ".partial.weights.h5")
        self.model.save_weights(filepath=partial_weights, overwrite=True)
        os.replace(partial_weights, self._weights_path)
        partial_metadata = self._training_metadata_path + ".tmp"
        with open(partial_metadata, "w", encoding="utf-8") as f:
            json.dump({"epoch": self._current_epoch, "batch": self._last_batch_seen}, f)
        os.replace(partial_metadata, self._training_metadata_path)


class EpochTracker(keras.callbacks.Callback):
    """Keeps the epoch being trained (1-based) on the :class:`Workdir`, for the Ctrl-C message."""

    def __init__(self, opened):
        super().__init__()
        self.opened = opened

    def on_epoch_begin(self, epoch, logs=None):
        self.opened.epoch = epoch + 1
