"""The one harness every public deepkit object runs through.

A :class:`HarnessCase` says how to build a small model that holds the object
under test, how to make inputs for it, and which registered names it covers.
:data:`CHECKS` lists the checks; :func:`run_check` runs one of them on one case.
``tests/test_conformance.py`` runs every check on every case of
:mod:`deepkit.testing.cases` and fails when a registered ``deepkit>`` name is in
no case, so nothing public escapes the harness.

Checks:
    config: ``get_config``/``from_config`` and ``keras.saving.serialize_keras_object``
        round trips of every deepkit object in the model, and of the model.
    weights: trainable weight shapes after build equal the case's expectation.
    symbolic_and_eager: a Functional (symbolic) build and an eager call agree.
    fit_step: one ``fit`` step runs, the loss is finite and the weights move.
    jit: a ``jit_compile=True`` train step and predict equal the eager ones (the
        reference runs eagerly, ``run_eagerly=True``).
    mixed_float16, mixed_bfloat16: predict and one train step are finite.
    keras_file: ``.keras`` save/load gives identical outputs.
    savedmodel: ``model.export()`` loads and runs, with identical outputs, in a
        separate Python process that cannot import deepkit (one kept running per test
        process: :mod:`deepkit.testing.without_deepkit`).
    distributed: one train step under ``tf.distribute.MirroredStrategy`` over two
        devices moves the weights exactly as the same step run eagerly on one device. The
        test-suite splits the CPU into two logical devices (``tests/conftest.py``);
        where fewer than two devices exist the check raises ``RuntimeError``.

    Every check starts from a model built by one eager call on the case's inputs, whose
    outputs are the reference of the ``keras_file`` and ``savedmodel`` round trips and
    the shapes of the zero targets (``symbolic_and_eager`` holds them equal to
    ``predict``'s). ``fit_step`` runs Keras' own first step, which makes the optimizer's
    and compiled metrics' variables inside its trace; ``jit``, the mixed-precision
    checks and ``distributed`` make them before the step, as Keras does under a
    distribution strategy, so that step is traced once.
"""

import dataclasses
import functools
import json
import os
import tempfile
import textwrap
from typing import Callable, Mapping, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from deepkit.registry import PACKAGE
from deepkit.testing.without_deepkit import run_without_deepkit


@dataclasses.dataclass
class HarnessCase:
    """How the harness builds and feeds a model holding the object under test.

    Attributes:
        id: Short name of the case (the pytest id).
        covers: Registered names (``"deepkit>PeepholeLSTM"``) this case exercises.
        make_model: Returns a fresh, uncompiled ``keras.Model`` holding the object.
            Must read ``keras.config.dtype_policy()`` at build time (the
            mixed-precision checks set it) and build deterministically from
            ``keras.utils.set_random_seed``.
        make_inputs: ``make_inputs(rng)`` returns a NumPy array (or a list of them)
            of a small batch of even size (the ``distributed`` check splits it
            over two replicas).
        weight_shapes: Expected shapes of ``model.trainable_weights``, in order.
        compile_model: Compiles the model for one train step; the default uses
            Adam and MSE against zero targets shaped like the outputs.
        targets: ``None`` for self-supervised models (VAE, GAN) whose
            ``train_step`` needs no ``y``; ``"zeros"`` (default) otherwise.
        make_train_data: ``make_train_data(rng)`` returns what ``fit`` takes
            (``x`` or ``(x, y)``), when it differs from what ``predict`` takes (a
            GAN predicts from latent vectors but trains on real samples).
        deterministic_training: Whether a training step is a deterministic function
            of the weights and data. ``False`` for models that draw random numbers
            while training (VAE, GAN, corruption): XLA and per-replica random
            streams differ from eager ones, so the ``jit`` and ``distributed``
            checks then require the step to run and stay finite instead of
            matching the eager one-device step (``jit`` still compares predict).
        predict: ``predict(model, inputs)`` returns what is compared across the
            round trips (default ``model.predict``).
        export: ``export(model, path)`` writes the SavedModel (default
            ``model.export(path)``); ``serving_endpoint`` is what the other
            process calls.
        rtol, atol: Tolerances of the comparisons.
        checks_run_by: ``{check: case id}`` for checks this case leaves to another case of
            the same model class whose run of that check goes through the same code
            (``tests/test_conformance.py`` runs neither the check here nor lets that
            other case leave it off too).
    """

    id: str
    covers: Sequence[str]
    make_model: Callable[[], keras.Model]
    make_inputs: Callable[[np.random.Generator], object]
    make_train_data: Optional[Callable[[np.random.Generator], object]] = None
    deterministic_training: bool = True
    weight_shapes: Optional[Sequence[tuple]] = None
    compile_model: Optional[Callable[[keras.Model, bool], None]] = None
    targets: Optional[str] = "zeros"
    predict: Optional[Callable[[keras.Model, object], object]] = None
    export: Optional[Callable[[keras.Model, str], None]] = None
    serving_endpoint: str = "serve"
    rtol: float = 1e-5
    atol: float = 1e-5
    checks_run_by: Mapping[str, str] = dataclasses.field(default_factory=dict)


CHECKS = (
    "config",
    "weights",
    "symbolic_and_eager",
    "fit_step",
    "jit",
    "mixed_float16",
    "mixed_bfloat16",
    "keras_file",
    "savedmodel",
    "distributed",
)


def run_check(case, check, tmp_dir):
    """Runs one of :data:`CHECKS` on ``case``; raises AssertionError on failure."""
    if check not in CHECKS:
        raise ValueError(f"run_check: argument `check` must be one of {CHECKS}. Received: {check!r}")
    globals()[f"check_{check}"](case, str(tmp_dir))


def run_all_checks(case, tmp_dir):
    """Runs every check on ``case`` (for a quick look outside pytest)."""
    for check in CHECKS:
        run_check(case, check, tmp_dir)


# === Helpers ===


def _fresh_model(case, seed=0):
    """``(model, inputs, outputs)``: a fresh model built by one eager call on ``inputs``,
    and that call's outputs (NumPy)."""
    keras.utils.set_random_seed(seed)
    model = case.make_model()
    inputs = case.make_inputs(np.random.default_rng(seed))
    # One eager call builds every weight, as predict would, without tracing a function
    # that the check throws away (tracing is most of the time of the larger cases).
    if case.predict is not None:
        outputs = case.predict(model, inputs)
    else:
        outputs = model(inputs, training=False)
    return model, inputs, _to_numpy(outputs)


def _predict(case, model, inputs):
    if case.predict is not None:
        return case.predict(model, inputs)
    return model.predict(inputs, verbose=0)


def _flat(values):
    if isinstance(values, dict):
        return [np.asarray(values[key]) for key in sorted(values)]
    if isinstance(values, (list, tuple)):
        return [array for value in values for array in _flat(value)]
    return [np.asarray(values)]


def _assert_close(case, actual, expected, what):
    actual, expected = _flat(actual), _flat(expected)
    assert len(actual) == len(expected), f"{case.id}: {what}: {len(actual)} vs {len(expected)} outputs"
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(
            a.astype("float64"), e.astype("float64"), rtol=case.rtol, atol=case.atol,
            err_msg=f"{case.id}: {what}",
        )


def _compile(case, model, jit_compile=False):
    if case.compile_model is not None:
        case.compile_model(model, jit_compile)
    else:
        model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse", jit_compile=jit_compile)


def _compile_reference(case, model):
    """Compiles the model whose step the ``jit`` and ``distributed`` checks compare against,
    to run eagerly: the fit_step check already runs the traced step, and tracing the
    reference as well would double the tracing these checks do."""
    _compile(case, model)
    model.run_eagerly = True


def _targets(case, model, inputs, outputs):
    """Zeros shaped like the model's outputs: those of the eager call that built it (a
    ``predict`` would trace a function only for their shapes)."""
    if case.targets is None:
        return None
    if case.predict is not None:  # `outputs` are the case's own, not the model's
        outputs = model.predict(inputs, verbose=0)
    if isinstance(outputs, (list, tuple)):
        return [np.zeros_like(o) for o in outputs]
    return np.zeros_like(outputs)


def _train_data(case, model, inputs, outputs):
    """``(x, y)`` of the one ``fit`` step; ``outputs`` those of :func:`_fresh_model`."""
    if case.make_train_data is not None:
        data = case.make_train_data(np.random.default_rng(0))
        return data if isinstance(data, tuple) else (data, None)
    return inputs, _targets(case, model, inputs, outputs)


def _build_training_state(model, data):
    """Makes the optimizer's and the compiled loss's and metrics' variables before ``fit``,
    as Keras itself does under a distribution strategy (``Trainer._symbolic_build``).

    A first step that makes variables inside its ``tf.function`` is traced twice (once to
    make them, once to run); made before, the step is traced once. ``check_fit_step``
    leaves Keras' own first-step path alone; the checks that only need a step to run
    under XLA or a dtype policy build first.
    """
    x, y = data
    model._symbolic_build(data_batch=(x, y, None))


def _train_step(case, model, data):
    x, y = data
    batch = len(_flat(x)[0])
    history = model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    return history.history


def _deepkit_objects(model):
    found = [model] if type(model).__module__.startswith(PACKAGE) else []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if type(layer).__module__.startswith(PACKAGE):
            found.append(layer)
    return found


def _finite_logs(case, logs, what):
    for key, values in logs.items():
        assert np.all(np.isfinite(values)), f"{case.id}: {what}: `{key}` is not finite: {values}"


# === Checks ===


def check_config(case, tmp_dir):
    model, _, _ = _fresh_model(case)
    objects = _deepkit_objects(model)
    assert objects, f"{case.id}: the model holds no deepkit object"
    for obj in objects:
        config = obj.get_config()
        json.dumps(config)  # a config must be plain JSON
        clone = type(obj).from_config(config)
        assert clone.get_config() == config, f"{case.id}: from_config(get_config()) of {type(obj).__name__}"
        serialized = keras.saving.serialize_keras_object(obj)
        assert serialized["registered_name"].startswith(f"{PACKAGE}>") or serialized["module"].startswith(
            PACKAGE
        ), f"{case.id}: {type(obj).__name__} is not registered under '{PACKAGE}>'"
        restored = keras.saving.deserialize_keras_object(serialized)
        assert type(restored) is type(obj)
        assert restored.get_config() == config, f"{case.id}: serialize round trip of {type(obj).__name__}"


def check_weights(case, tmp_dir):
    model, _, _ = _fresh_model(case)
    if case.weight_shapes is None:
        assert model.trainable_weights, f"{case.id}: no trainable weights"
        return
    shapes = [tuple(w.shape) for w in model.trainable_weights]
    assert shapes == [tuple(s) for s in case.weight_shapes], f"{case.id}: weight shapes {shapes}"


def check_symbolic_and_eager(case, tmp_dir):
    model, inputs, eager = _fresh_model(case)  # the eager call that built the model
    if case.predict is not None:  # then `eager` holds the case's predict: call the model itself
        eager = _to_numpy(model(inputs, training=False))
    predicted = _predict(case, model, inputs)
    _assert_close(case, eager, predicted, "eager call vs predict")


def _to_numpy(values):
    return keras.tree.map_structure(keras.ops.convert_to_numpy, values)


def check_fit_step(case, tmp_dir):
    model, inputs, outputs = _fresh_model(case)
    before = [np.array(w) for w in model.trainable_weights]
    _compile(case, model)
    logs = _train_step(case, model, _train_data(case, model, inputs, outputs))
    _finite_logs(case, logs, "fit step")
    after = [np.array(w) for w in model.trainable_weights]
    assert any(not np.allclose(b, a) for b, a in zip(before, after)), f"{case.id}: fit moved no weight"


def check_jit(case, tmp_dir):
    eager_model, inputs, outputs = _fresh_model(case)
    jit_model, _, _ = _fresh_model(case)
    jit_model.set_weights(eager_model.get_weights())
    _compile_reference(case, eager_model)
    _compile(case, jit_model, jit_compile=True)
    data = _train_data(case, eager_model, inputs, outputs)
    _build_training_state(jit_model, data)
    tolerance = dataclasses.replace(case, rtol=max(case.rtol, 1e-4), atol=max(case.atol, 1e-5))
    if case.predict is None:
        _assert_close(
            tolerance, jit_model.predict(inputs, verbose=0), eager_model.predict(inputs, verbose=0), "jit predict"
        )
    keras.utils.set_random_seed(1)
    _train_step(case, eager_model, data)
    keras.utils.set_random_seed(1)
    logs = _train_step(case, jit_model, data)
    _finite_logs(case, logs, "jit fit step")
    if case.deterministic_training:
        _assert_close(tolerance, jit_model.get_weights(), eager_model.get_weights(), "weights after a jit step")


def _check_policy(case, policy):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model, inputs, outputs = _fresh_model(case)
        for output in _flat(_predict(case, model, inputs)):
            assert np.all(np.isfinite(output.astype("float32"))), f"{case.id}: {policy} predict not finite"
        _compile(case, model)
        data = _train_data(case, model, inputs, outputs)
        _build_training_state(model, data)
        _finite_logs(case, _train_step(case, model, data), f"{policy} fit step")
    finally:
        keras.config.set_dtype_policy(previous)


def check_mixed_float16(case, tmp_dir):
    _check_policy(case, "mixed_float16")


def check_mixed_bfloat16(case, tmp_dir):
    _check_policy(case, "mixed_bfloat16")


def check_keras_file(case, tmp_dir):
    # The outputs of the eager call that built the model (check_symbolic_and_eager holds
    # them equal to predict's) are what the restored model's predict must give.
    model, inputs, expected = _fresh_model(case)
    path = os.path.join(tmp_dir, f"{case.id}.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is type(model)
    _assert_close(case, _predict(case, restored, inputs), expected, ".keras round trip")


_SERVE = textwrap.dedent(
    """
    import sys
    import numpy as np
    import tensorflow as tf

    saved_model_dir, inputs_file, endpoint, outputs_file = sys.argv[1:5]
    loaded = tf.saved_model.load(saved_model_dir)
    data = np.load(inputs_file)
    inputs = [data[f"arr_{i}"] for i in range(len(data.files))]
    outputs = getattr(loaded, endpoint)(*[tf.constant(x) for x in inputs])
    flat = tf.nest.flatten(outputs)
    np.savez(outputs_file, *[t.numpy() for t in flat])
    """
)


def serve_without_deepkit(saved_model_dir, inputs, endpoint="serve"):
    """Loads a SavedModel and calls ``endpoint`` in a process that cannot import deepkit
    (:func:`deepkit.testing.without_deepkit.run_without_deepkit`).

    Returns the flattened outputs as a list of NumPy arrays.
    """
    # The arrays travel through a folder of their own: none is left beside the
    # SavedModel, among the versions of an export folder.
    with tempfile.TemporaryDirectory() as folder:
        inputs_file, outputs_file = os.path.join(folder, "inputs.npz"), os.path.join(folder, "outputs.npz")
        np.savez(inputs_file, *_flat(inputs))
        run_without_deepkit(_SERVE, [os.path.abspath(saved_model_dir), inputs_file, endpoint, outputs_file],
                            cwd=folder)
        with np.load(outputs_file) as data:
            return [data[f"arr_{i}"] for i in range(len(data.files))]


def check_savedmodel(case, tmp_dir):
    # Served against the outputs of the eager call that built the model
    # (check_symbolic_and_eager holds them equal to predict's).
    model, inputs, expected = _fresh_model(case)
    path = os.path.join(tmp_dir, f"{case.id}_savedmodel")
    if case.export is not None:
        case.export(model, path)
    else:
        model.export(path, verbose=False)
    served = serve_without_deepkit(path, inputs, case.serving_endpoint)
    _assert_close(case, served, expected, "SavedModel served without deepkit")


@functools.lru_cache(maxsize=1)
def _mirrored_strategy():
    # One strategy per process: collective-op instance keys of separate
    # MirroredStrategy objects collide in TensorFlow.
    devices = [d.name for d in tf.config.list_logical_devices("GPU")] or [
        d.name for d in tf.config.list_logical_devices("CPU")
    ]
    if len(devices) < 2:
        raise RuntimeError(
            f"check_distributed needs two devices; found {devices}. Split the CPU with "
            "tf.config.set_logical_device_configuration before TensorFlow starts."
        )
    return tf.distribute.MirroredStrategy(devices[:2])


def check_distributed(case, tmp_dir):
    single_model, inputs, outputs = _fresh_model(case)
    initial_weights = single_model.get_weights()
    _compile_reference(case, single_model)
    data = _train_data(case, single_model, inputs, outputs)
    keras.utils.set_random_seed(1)
    _train_step(case, single_model, data)

    with _mirrored_strategy().scope():
        mirrored_model, _, _ = _fresh_model(case)
        mirrored_model.set_weights(initial_weights)
        _compile(case, mirrored_model)
    keras.utils.set_random_seed(1)
    logs = _train_step(case, mirrored_model, data)
    _finite_logs(case, logs, "distributed fit step")
    if not case.deterministic_training:
        return
    tolerance = dataclasses.replace(case, rtol=max(case.rtol, 1e-4), atol=max(case.atol, 1e-5))
    _assert_close(tolerance, mirrored_model.get_weights(), single_model.get_weights(), "mirrored vs single step")
