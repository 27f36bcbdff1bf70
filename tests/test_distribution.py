"""--strategy: MirroredStrategy over two logical CPUs trains as one device does, for a
Keras-loss recipe model and for the custom train_steps; TF_CONFIG is read and checked;
a non-chief worker writes only into a temporary folder; two workers on 127.0.0.1 run a
recipe in lockstep and export one version (slow)."""

import json
import os
import re
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from deepkit import distribution, models
from deepkit.recipes import forecast
from deepkit.testing.harness import _mirrored_strategy  # one per process: collective keys collide

BATCH, STEPS = 8, 3  # the global batch: 4 examples per replica
# The tests compare the arithmetic of a step, not XLA's: jit_compile=False saves its compile time.


def mirrored():
    strategy = _mirrored_strategy()
    assert strategy.num_replicas_in_sync == 2, "tests/conftest.py splits the CPU into two logical devices"
    return strategy


def train(make_and_compile, x, y=None, strategy=None):
    """Losses logged over ``STEPS`` SGD steps of one epoch, and the weights after them."""
    keras.utils.set_random_seed(0)
    scope = strategy.scope() if strategy else tf.distribute.get_strategy().scope()
    with scope:
        model = make_and_compile()
    data = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y)).batch(BATCH)
    losses = []
    logger = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: losses.append(dict(logs)))
    model.fit(data, epochs=1, verbose=0, shuffle=False, callbacks=[logger])
    return losses, [np.asarray(w) for w in model.get_weights()]


def assert_same_training(single, split, keys):
    for step, (one, two) in enumerate(zip(single[0], split[0], strict=True)):
        for key in keys:
            np.testing.assert_allclose(two[key], one[key], rtol=1e-5, atol=1e-6, err_msg=f"{key} at step {step}")
    for one, two in zip(single[1], split[1], strict=True):
        np.testing.assert_allclose(two, one, rtol=1e-5, atol=1e-6, err_msg="weights after the steps")


def samples(features=6, n=BATCH * STEPS, seed=0):
    return np.random.default_rng(seed).uniform(size=(n, features)).astype("float32")


# === Custom train_steps: the models and the inputs that make a step deterministic ===


def dense(input_dim, *units, last=None, **kwargs):
    layers = [keras.Input((input_dim,))] + [keras.layers.Dense(u, activation="tanh") for u in units[:-1]]
    return keras.Sequential(layers + [keras.layers.Dense(units[-1], activation=last, **kwargs)])


def make_vae():
    # z_log_var fixed at -40: the sampling noise (std e^-20) cannot tell the runs apart,
    # so both differ only in how the loss is reduced.
    x = keras.Input((6,))
    h = keras.layers.Dense(5, activation="tanh")(x)
    log_var = keras.layers.Dense(2, kernel_initializer="zeros", bias_initializer=keras.initializers.Constant(-40.0),
                                 trainable=False)(h)
    vae = models.VAE(keras.Model(x, [keras.layers.Dense(2)(h), log_var]), dense(2, 5, 6, last="sigmoid"), seed=0)
    vae.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=False)
    return vae


def constant_generator():
    # G(z) = a learnt constant: each replica draws its own z, which must not matter here.
    z = keras.Input((2,))
    return keras.Model(z, keras.layers.Dense(6, activation="sigmoid")(keras.layers.Lambda(lambda v: v * 0.0)(z)))


def make_gan():
    gan = models.GAN(constant_generator(), dense(6, 5, 1), latent_dim=2, label_smoothing=0.1, seed=0)
    gan.compile(d_optimizer=keras.optimizers.SGD(0.1), g_optimizer=keras.optimizers.SGD(0.1), jit_compile=False)
    return gan


def make_can():
    x = keras.Input((6,))
    h = keras.layers.Dense(5, activation="tanh")(x)
    discriminator = keras.Model(x, [keras.layers.Dense(1)(h), keras.layers.Dense(3)(h)])
    can = models.CAN(constant_generator(), discriminator, latent_dim=2, num_styles=3, seed=0)
    can.compile(d_optimizer=keras.optimizers.SGD(0.1), g_optimizer=keras.optimizers.SGD(0.1), jit_compile=False)
    return can


def make_autoencoder():
    autoencoder = models.Autoencoder(dense(6, 3, last="sigmoid"), dense(3, 6, last="sigmoid"), kind="contractive",
                                     penalty_weight=0.1, seed=0)
    autoencoder.compile(optimizer=keras.optimizers.SGD(0.5), jit_compile=False)
    return autoencoder


CUSTOM_STEPS = {
    "VAE": (make_vae, ("loss", "reconstruction_loss", "kl_loss")),
    "GAN": (make_gan, ("d_loss", "g_loss")),
    "CAN": (make_can, ("d_loss", "g_loss", "style_loss", "ambiguity_loss")),
    "Autoencoder": (make_autoencoder, ("loss", "reconstruction_loss", "penalty")),
}


def inputs_of(name):
    if name == "CAN":
        return samples(), np.arange(BATCH * STEPS) % 3
    return samples(), None


SLOW = {"Autoencoder"}  # the suite's budget; the harness's `distributed` check mirrors Autoencoder too


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n
                                  for n in sorted(CUSTOM_STEPS)])
def test_a_custom_train_step_on_two_replicas_logs_and_learns_what_one_device_does(name):
    make, keys = CUSTOM_STEPS[name]
    x, y = inputs_of(name)
    assert_same_training(train(make, x, y), train(make, x, y, mirrored()), keys)


def test_the_comparison_fails_when_the_replica_scaling_is_left_out(monkeypatch):
    # The check above can fail: without the division, the summed gradients are twice
    # one device's, and plain SGD moves twice as far.
    x, _ = inputs_of("VAE")
    single = train(make_vae, x, strategy=None)
    monkeypatch.setattr(distribution, "scale_loss_for_replicas", lambda loss: loss)
    with pytest.raises(AssertionError):
        assert_same_training(single, train(make_vae, x, strategy=mirrored()), ("loss",))


def test_word2vec_sums_its_loss_so_two_replicas_add_up_to_one_devices_gradient():
    # Its loss is a sum over the batch (per-example SGD updates), so nothing is divided:
    # with one negative drawn but never counted (weight 0: it equals the centre word)
    # the step is deterministic.
    def make():
        w2v = models.Word2Vec(["a", "b"], [5, 0], vector_size=3, window=1, negative=1, seed=0)
        w2v.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=False)
        return w2v

    ids = np.zeros((BATCH * STEPS, 1), "int32")  # context "a", centre "a"; "b" is never drawn (count 0)
    single, split = train(make, ids, ids[:, 0]), train(make, ids, ids[:, 0], mirrored())
    assert_same_training(single, split, ("loss",))


def test_a_keras_loss_model_on_two_replicas_trains_as_on_one_device():
    def make():
        model = dense(6, 5, 3, last="softmax")
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"], jit_compile=False)
        return model

    x, y = samples(), np.arange(BATCH * STEPS) % 3
    assert_same_training(train(make, x, y), train(make, x, y, mirrored()), ("loss", "accuracy"))


@pytest.mark.slow  # the PeepholeLSTM's loop traces slowly; the fast test above covers Keras' loss scaling
def test_a_keras_loss_recipe_model_on_two_replicas_trains_as_on_one_device():
    config = forecast.smoke()

    def make():
        model = forecast.build_model(config)
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse", metrics=["mae"], jit_compile=False)
        return model

    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH * STEPS, config.window, 1)).astype("float32")
    y = rng.normal(size=(BATCH * STEPS, 1)).astype("float32")
    assert_same_training(train(make, x, y), train(make, x, y, mirrored()), ("loss", "mae"))


@pytest.mark.slow  # tracing the teacher-forced decoder on two replicas: minutes on a loaded 2-core machine
def test_seq2seq_on_two_replicas_trains_as_on_one_device():
    # Seq2Seq keeps Keras' train_step: its masked loss is compiled, and Keras scales it.
    from deepkit import layers

    def make():
        model = models.Seq2Seq(layers.BRNN(keras.layers.GRU(4, return_sequences=True, return_state=True)),
                               keras.layers.GRUCell(5), list("abcd"), list("xy"), embedding_dim=3,
                               max_source_length=6, max_target_length=4)
        model.compile(optimizer=keras.optimizers.SGD(0.5), jit_compile=False)
        return model

    rng = np.random.default_rng(0)

    def texts(letters):
        return ["".join(rng.choice(list(letters), rng.integers(1, 5))) for _ in range(BATCH * STEPS)]

    model = make()
    target_in, target_out = model.encode_target(texts("xy"))
    x = (model.encode_source(texts("abcd")), target_in)
    assert_same_training(train(make, x, target_out), train(make, x, target_out, mirrored()), ("loss",))


def test_scale_loss_for_replicas_divides_by_the_replicas_in_sync():
    assert float(distribution.scale_loss_for_replicas(tf.constant(3.0))) == 3.0
    strategy = mirrored()
    per_replica = strategy.run(lambda: distribution.scale_loss_for_replicas(tf.constant(3.0)))
    assert [float(v) for v in strategy.experimental_local_results(per_replica)] == [1.5, 1.5]


def draws_of_each_replica(strategy):
    with strategy.scope():
        generator = keras.random.SeedGenerator(0)

    @tf.function
    def draw():
        return strategy.run(lambda: keras.random.normal((4,), seed=generator))

    return [np.asarray(v) for v in strategy.experimental_local_results(draw())]


def test_each_replica_draws_its_own_noise_under_a_strategy_of_deepkit_run(monkeypatch):
    strategy = mirrored()
    first, second = draws_of_each_replica(strategy)
    np.testing.assert_array_equal(first, second)  # Keras alone: every replica the same noise
    monkeypatch.setattr(keras.random.SeedGenerator, "next", keras.random.SeedGenerator.next)  # undone after
    distribution.distinct_noise_per_replica()
    first, second = draws_of_each_replica(strategy)
    assert np.abs(first - second).min() > 1e-3
    one_device = keras.random.normal((4,), seed=keras.random.SeedGenerator(0))
    np.testing.assert_array_equal(np.asarray(one_device), first)  # replica 0 draws what one device draws


def test_the_module_docstring_examples_run():
    import doctest

    assert doctest.testmod(distribution).failed == 0


# === TF_CONFIG and where each worker writes ===


def tf_config(task_type="worker", index=0, cluster=None):
    cluster = cluster or {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})}


def test_worker_0_is_the_chief_unless_the_cluster_names_one():
    assert distribution.read_tf_config(tf_config("worker", 0)).is_chief
    assert not distribution.read_tf_config(tf_config("worker", 1)).is_chief
    with_chief = {"chief": ["127.0.0.1:3"], "worker": ["127.0.0.1:1"]}
    assert distribution.read_tf_config(tf_config("chief", 0, with_chief)).is_chief
    task = distribution.read_tf_config(tf_config("worker", 0, with_chief))
    assert not task.is_chief and task.workers == 2


@pytest.mark.parametrize("environ, message", [
    ({}, "TF_CONFIG, which is not set"),
    ({"TF_CONFIG": "{cluster"}, "expected JSON"),
    ({"TF_CONFIG": json.dumps({"task": {"type": "worker", "index": 0}})}, 'with "cluster" and "task"'),
    (tf_config("worker", 2), r"index must be an integer in \[0, 2\).*received 2"),
    (tf_config("ps", 0), 'task type must be "chief" or "worker", received \'ps\''),
    (tf_config(cluster={"worker": ["no-port"]}), 'list of "host:port" strings'),
])
def test_a_bad_tf_config_is_refused_naming_what_was_expected(environ, message):
    with pytest.raises(ValueError, match=message):
        distribution.read_tf_config(environ)


def test_a_non_chief_worker_writes_into_a_temporary_copy_of_the_chiefs_workdir(tmp_path, monkeypatch):
    workdir = tmp_path / "run"
    (workdir / "backup").mkdir(parents=True)
    (workdir / "backup" / "training_metadata.json").write_text('{"epoch": 3, "batch": -1}')
    (workdir / ".lock").write_text("{}")
    config = forecast.smoke()
    monkeypatch.setenv("TF_CONFIG", tf_config("worker", 1)["TF_CONFIG"])
    placement = distribution.place("multiworker", str(workdir), config)
    assert not placement.is_chief and placement.workdir.startswith(placement.temporary)
    assert placement.config.export_dir.startswith(placement.temporary) and config.export_dir == "saved_models"
    assert distribution.backup_epoch(placement.workdir) == 3  # it resumes where the chief does
    assert not os.path.exists(os.path.join(placement.workdir, ".lock"))
    assert distribution.place("multiworker", str(workdir), config, resume=False).workdir != placement.workdir
    monkeypatch.setenv("TF_CONFIG", tf_config("worker", 0)["TF_CONFIG"])
    chief = distribution.place("multiworker", str(workdir), config)
    assert chief.is_chief and chief.workdir == str(workdir) and chief.config is config and chief.temporary is None


def test_multiworker_without_tf_config_exits_2_naming_it(tmp_path, monkeypatch, capsys):
    from deepkit import cli

    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(SystemExit) as exit_:
        cli.main(["run", "forecast", "--smoke", "--strategy", "multiworker", "--workdir", str(tmp_path / "w")])
    assert exit_.value.code == 2 and "TF_CONFIG, which is not set" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


# === Two workers on 127.0.0.1 ===


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run_two_workers(workdir, export_dir, timeout=600):
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    command = [sys.executable, "-m", "deepkit", "run", "forecast", "--smoke", "--strategy", "multiworker",
               "--workdir", str(workdir), "--set", f"export_dir={export_dir}"]
    workers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env={**os.environ, **tf_config("worker", index, cluster), "TF_CPP_MIN_LOG_LEVEL": "3"})
        for index in range(2)
    ]
    outputs = [worker.communicate(timeout=timeout)[0] for worker in workers]
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]
    return outputs


@pytest.mark.slow  # two TensorFlow processes: about 2 minutes on a loaded 2-core machine
def test_two_workers_train_in_lockstep_only_the_chief_writes_and_a_rerun_resumes(tmp_path):
    workdir, export_dir = tmp_path / "run", tmp_path / "models"
    outputs = run_two_workers(workdir, export_dir)
    hashes = [re.search(r"worker (\d), weights sha256 (\w+)", output).groups() for output in outputs]
    assert sorted(hashes) == [("0", hashes[0][1]), ("1", hashes[0][1])], hashes  # identical weights
    assert sorted(os.listdir(export_dir / "forecast")) == ["1"]  # one version, the chief's
    record = json.loads((workdir / "metrics.json").read_text())
    assert record["distribution"]["task"] == "worker 0" and record["distribution"]["replicas_in_sync"] == 2
    temporary = re.search(r"model:\s+(\S+)/workdir/model.keras", outputs[1]).group(1)
    assert not os.path.exists(temporary)  # the non-chief's folder is gone

    outputs = run_two_workers(workdir, export_dir)  # the same command resumes: 0 more epochs, no new version
    assert all("(0 in this run)" in output for output in outputs), outputs[0][-2000:]
    assert sorted(os.listdir(export_dir / "forecast")) == ["1"]
