"""Real `deepkit run` processes interrupted the hard ways, then run again: a second run on a
busy workdir is refused naming the first, Ctrl-C prints one line and
exits 130, SIGKILL during training and a kill in the middle of the backup write both leave a
workdir the same command resumes, and a stale lock of a dead run is taken over. The runs that
no signal interrupts (the refusal, the resumes) go through `deepkit.cli.main` in the test process."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

QUIET = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")


def command(tmp_path, epochs):
    return [sys.executable, "-m", "deepkit", "run", "forecast", "--smoke", "--workdir", str(tmp_path / "w"),
            "--set", f"export_dir={tmp_path / 'sm'}", "--epochs", str(epochs)]


def _default_ctrl_c():
    # A suite started in the background of a shell without job control inherits SIGINT
    # ignored, and a Python started so never installs its KeyboardInterrupt handler: the
    # run must see Ctrl-C as a user's terminal delivers it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(tmp_path, epochs):
    return subprocess.Popen(command(tmp_path, epochs), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=QUIET, cwd=tmp_path, preexec_fn=_default_ctrl_c)


def epochs_logged(tmp_path):
    try:
        return len(json.loads((tmp_path / "w" / "history.json").read_text()))
    except (OSError, ValueError):
        return 0


def wait_for_epochs(process, tmp_path, count, timeout=240):
    deadline = time.monotonic() + timeout
    while epochs_logged(tmp_path) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run logged no epoch in time"
        time.sleep(0.05)


def run_in_this_process(tmp_path, epochs, capsys):
    """``deepkit run`` of :func:`command` through ``deepkit.cli.main`` here: (exit status, stderr)."""
    from deepkit import cli

    capsys.readouterr()
    try:
        status = cli.main(command(tmp_path, epochs)[3:])
    except SystemExit as exit:
        status = exit.code
    return status, capsys.readouterr().err


def test_busy_workdir_ctrl_c_and_sigkill_then_the_same_command_resumes(tmp_path, capsys):
    first = start(tmp_path, epochs=500)
    wait_for_epochs(first, tmp_path, 1)

    # Two runs on one workdir: the second exits 2 naming the first. It runs in this
    # process (TensorFlow already imported): it reads the real run's lock all the same.
    status, err = run_in_this_process(tmp_path, 500, capsys)
    assert status == 2, err[-2000:]
    assert f"is in use by another run (pid {first.pid}" in err and "Traceback" not in err

    # Ctrl-C: one line, status 130, the lock released.
    first.send_signal(signal.SIGINT)
    _, err = first.communicate(timeout=120)
    assert first.returncode == 130, err[-2000:]
    (line,) = [line for line in err.splitlines() if line.strip()]
    assert "error: interrupted at epoch" in line and "the same command resumes" in line
    assert not (tmp_path / "w" / ".lock").exists()

    # SIGKILL during training: the lock stays behind, stale; the rerun takes it over.
    killed = start(tmp_path, epochs=500)
    wait_for_epochs(killed, tmp_path, epochs_logged(tmp_path) + 1)
    killed.kill()
    killed.wait()
    assert json.loads((tmp_path / "w" / ".lock").read_text())["pid"] == killed.pid
    done = epochs_logged(tmp_path)
    # The rerun needs no process of its own (no kill follows): here, without a second
    # Python + TensorFlow start.
    status, err = run_in_this_process(tmp_path, done + 1, capsys)
    assert status == 0, err[-2000:]
    record = json.loads((tmp_path / "w" / "metrics.json").read_text())
    assert record["training"]["epochs"] == done + 1 and record["training"]["epochs_this_run"] <= 2
    assert record["saved_model"] == str(tmp_path / "sm" / "forecast" / "1")
    assert not (tmp_path / "w" / ".lock").exists()


# A run whose process dies (os._exit: no cleanup, as SIGKILL) in the middle of writing
# the backup of epoch 2: half the weights written, or all of them but not yet in place.
DIE_DURING_BACKUP = """
import os, sys
from deepkit import workdir
import keras

stage, dies_at = sys.argv[1], int(sys.argv[2])
writes = []
save_weights = keras.Model.save_weights

def dying_save_weights(self, filepath, *args, **kwargs):
    if os.path.basename(os.path.dirname(str(filepath))) != "backup":  # another callback's weights
        return save_weights(self, filepath, *args, **kwargs)
    writes.append(filepath)
    if len(writes) == dies_at and stage == "half":
        with open(filepath, "wb") as f:
            f.write(b"\\x89HDF\\r\\n\\x1a\\n")  # the first bytes of an HDF5 file, then death
        os._exit(9)
    save_weights(self, filepath, *args, **kwargs)
    if len(writes) == dies_at and stage == "before-replace":
        os._exit(9)

keras.Model.save_weights = dying_save_weights
from deepkit.cli import main
sys.exit(main(sys.argv[3:]))
"""


def test_a_kill_during_the_backup_write_leaves_the_previous_backup_whole(tmp_path, capsys):
    script = tmp_path / "die.py"
    script.write_text(textwrap.dedent(DIE_DURING_BACKUP))
    # A fresh run backs up epoch 1 and dies writing epoch 2's; the rerun resumes at
    # epoch 2 and dies on its first backup write, after the weights, before the replace.
    for stage, dies_at in (("half", 2), ("before-replace", 1)):
        died = subprocess.run([sys.executable, str(script), stage, str(dies_at), *command(tmp_path, 3)[3:]],
                              capture_output=True, text=True, env=QUIET, cwd=tmp_path)
        assert died.returncode == 9, died.stderr[-2000:]
        metadata = json.loads((tmp_path / "w" / "backup" / "training_metadata.json").read_text())
        assert metadata["epoch"] == 1  # epoch 2's backup never replaced epoch 1's
        if stage == "half":
            assert ".partial.weights.h5" in os.listdir(tmp_path / "w" / "backup")  # beside, not in place
    status, err = run_in_this_process(tmp_path, 3, capsys)  # the resume is killed by nothing: in this process
    assert status == 0, err[-2000:]
    record = json.loads((tmp_path / "w" / "metrics.json").read_text())
    assert record["training"] == {"epochs": 3, "epochs_this_run": 2}


def _take_the_lock(workdir, start_at, results, everyone_tried):
    from deepkit import workdir as workdirs

    while time.time() < start_at:
        pass
    results.put(workdirs._write_lock(workdir))
    everyone_tried.wait(60)  # hold it (or not) until the others have tried


def test_of_many_runs_taking_a_stale_lock_at_once_exactly_one_gets_it(tmp_path):
    import multiprocessing

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    workdir = tmp_path / "w"
    workdir.mkdir()
    (workdir / ".lock").write_text(json.dumps({"pid": dead.pid, "host": os.uname().nodename, "command": "old"}))
    context = multiprocessing.get_context("fork")
    results, everyone_tried = context.Queue(), context.Event()
    start_at = time.time() + 0.5
    racers = [context.Process(target=_take_the_lock, args=(str(workdir), start_at, results, everyone_tried))
              for _ in range(6)]
    for racer in racers:
        racer.start()
    taken = [results.get(timeout=30) for _ in racers]
    everyone_tried.set()
    for racer in racers:
        racer.join(timeout=30)
    assert taken.count(True) == 1, taken
    # Its holder ended: the lock is stale again, and the next run takes it.
    from deepkit import workdir as workdirs

    assert workdirs.lock_holder(str(workdir)) is None
    assert workdirs._write_lock(str(workdir))
    workdirs._release_lock(str(workdir / ".lock"))
    assert not (workdir / ".lock").exists()
