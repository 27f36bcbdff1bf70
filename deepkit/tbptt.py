"""Truncated backpropagation through time (TBPTT): batches laid out so that a stateful
recurrent model carries its state from one chunk of a sequence to the next, the callback
that zeros that state where a sequence starts, and the stateful copy of a model to train.

A Keras recurrent layer built with ``stateful=True`` (``keras.layers.LSTM``, deepkit's
``PeepholeLSTM`` and ``RelevanceGRU``) keeps its last state in variables and starts its
next call from them. A train step's gradient stops at that variable read, so each step
backpropagates through its own chunk of ``steps`` time steps while the forward pass keeps
the whole history (Williams & Peng 1990; the notes recommend it for long sequences, with
gradient clipping). That is only correct when row i of batch k+1 continues row i of batch
k and the state is zeroed where a new sequence begins: :func:`stream_batches` (one long
sequence, e.g. a corpus) and :func:`sequence_batches` (many sequences, one per row) lay the
batches out so, in order and never shuffled, and :class:`ResetStates` does the zeroing.

How a recipe trains with it (the served model stays stateless)::

    model = build_model(config)                      # stateless, any batch size
    trainer = tbptt.stateful_copy(model, batch_size) # same layers, stateful=True, fixed batch
    trainer.compile(...)                             # gradient clipping: global_clipnorm=...
    train = tbptt.stream_batches(ids[:-1], ids[1:], batch_size, steps)
    trainer.fit(train.dataset, callbacks=[tbptt.ResetStates(train)])
    tbptt.copy_trained(trainer, model)               # weights and optimizer state back
"""

from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf

from deepkit.validation import check_int


class Layout(NamedTuple):
    """The batches of one pass over the data, in the order they must be fed.

    ``dataset`` yields ``(inputs, targets)`` (or ``(inputs, targets, weights)``) batches
    of ``(batch_size, steps, ...)``; ``starts`` are the indices of the batches at which the
    states reset (a new group of sequences begins), ``batches`` how many batches it holds.
    """

    dataset: tf.data.Dataset
    starts: tuple
    batches: int


def _as_array(owner, name, values):
    values = np.asarray(values)
    if values.ndim < 1:
        raise ValueError(f"{owner}: `{name}` must be a sequence (time first); received a scalar")
    return values


def stream_batches(inputs, targets, batch_size, steps):
    """One long sequence as TBPTT batches: ``batch_size`` contiguous rows, read in chunks.

    The sequence is cut into ``batch_size`` rows of equal length ``L`` (a multiple of
    ``steps``; the last ``len(inputs) - batch_size·L`` items are dropped). Batch k holds
    ``rows[:, k·steps : (k+1)·steps]``, so row i of batch k+1 continues row i of batch k;
    the states reset only before batch 0 (``starts == (0,)``).

    Args:
        inputs: Array of the sequence, time first: ``(T,)`` ids or ``(T, features)``.
        targets: Array aligned with ``inputs`` (``targets[t]`` is what the model should
            give after reading ``inputs[t]``; for next-step prediction pass
            ``x[:-1], x[1:]``).
        batch_size: Rows per batch (the stateful model's fixed batch size).
        steps: Time steps per chunk: how far back each step's gradient reaches.

    Returns:
        A :class:`Layout` of ``(inputs, targets)`` batches.

    Raises:
        ValueError: a non-positive ``batch_size`` or ``steps``, ``inputs`` and ``targets`` of
            different lengths, or a sequence too short for one chunk per row.

    Example:

    >>> layout = stream_batches(np.arange(12), np.arange(1, 13), batch_size=2, steps=3)
    >>> [x.tolist() for x, y in layout.dataset.as_numpy_iterator()]
    [[[0, 1, 2], [6, 7, 8]], [[3, 4, 5], [9, 10, 11]]]
    >>> layout.starts, layout.batches
    ((0,), 2)
    """
    batch_size = check_int("stream_batches", "batch_size", batch_size)
    steps = check_int("stream_batches", "steps", steps)
    inputs = _as_array("stream_batches", "inputs", inputs)
    targets = _as_array("stream_batches", "targets", targets)
    if len(inputs) != len(targets):
        raise ValueError(f"stream_batches: `inputs` and `targets` must have the same length; received "
                         f"{len(inputs)} and {len(targets)}")
    row_length = len(inputs) // batch_size // steps * steps
    if row_length == 0:
        raise ValueError(f"stream_batches: a sequence of {len(inputs)} steps cut into {batch_size} rows gives "
                         f"rows of {len(inputs) // batch_size} steps, fewer than one chunk of steps={steps}; "
                         "lower batch_size or steps")

    def chunks(values):  # (T, ...) -> (chunks, batch_size, steps, ...)
        rows = values[: batch_size * row_length].reshape((batch_size, row_length // steps, steps) + values.shape[1:])
        return np.swapaxes(rows, 0, 1)

    dataset = tf.data.Dataset.from_tensor_slices((chunks(inputs), chunks(targets)))
    return Layout(dataset.prefetch(tf.data.AUTOTUNE), (0,), row_length // steps)


def sequence_batches(inputs, targets, batch_size, steps, weights=None, padding=0):
    """Many sequences as TBPTT batches: each row is one sequence, read in chunks.

    Sequences are taken ``batch_size`` at a time, in the order given (a group); the group
    is padded to a whole number of chunks of its longest sequence (and, the last group,
    with empty rows to ``batch_size``), and its chunks follow one another, so row i of
    batch k+1 continues row i of batch k until the group ends. The states reset at the
    first batch of every group (``starts``). Padded steps have weight 0: compile a loss
    with ``reduction="mean_with_sample_weight"`` and the metrics as ``weighted_metrics``
    (Keras' ``metrics`` ignore the weights) for means over the real steps of a batch.
    Keras averages the batches' losses with equal weights, so a logged epoch loss is
    the mean over the real steps only when every batch holds as many.

    Args:
        inputs: A list of arrays, time first (``(T_j,)`` or ``(T_j, features)``).
        targets: A list of arrays aligned with ``inputs``.
        batch_size: Rows per batch (the stateful model's fixed batch size).
        steps: Time steps per chunk.
        weights: Optional list of per-step weights ``(T_j,)`` (default: 1 on every step).
        padding: The value padded steps hold in ``inputs`` and ``targets``.

    Returns:
        A :class:`Layout` of ``(inputs, targets, weights)`` batches.

    Raises:
        ValueError: no sequences, lists of different lengths, an empty sequence, or a
            sequence whose targets or weights do not match its inputs step for step.

    Example:

    >>> layout = sequence_batches([np.arange(4), np.arange(10, 12)], [np.arange(1, 5), np.arange(11, 13)],
    ...                           batch_size=2, steps=2)
    >>> [(x.tolist(), w.tolist()) for x, y, w in layout.dataset.as_numpy_iterator()]
    [([[0, 1], [10, 11]], [[1.0, 1.0], [1.0, 1.0]]), ([[2, 3], [0, 0]], [[1.0, 1.0], [0.0, 0.0]])]
    """
    batch_size = check_int("sequence_batches", "batch_size", batch_size)
    steps = check_int("sequence_batches", "steps", steps)
    if not len(inputs) or len(inputs) != len(targets) or (weights is not None and len(weights) != len(inputs)):
        raise ValueError(f"sequence_batches: `inputs`, `targets` (and `weights`) must be lists of the same "
                         f"non-zero length; received {len(inputs)}, {len(targets)}"
                         + ("" if weights is None else f", {len(weights)}"))
    inputs = [_as_array("sequence_batches", "inputs", x) for x in inputs]
    targets = [_as_array("sequence_batches", "targets", y) for y in targets]
    weights = [np.ones(len(x), "float32") if weights is None else np.asarray(w, "float32")
               for x, w in zip(inputs, weights or [None] * len(inputs))]
    for j, (x, y, w) in enumerate(zip(inputs, targets, weights)):
        if len(x) == 0 or len(y) != len(x) or w.shape != (len(x),):
            raise ValueError(f"sequence_batches: sequence {j} must have at least one step and targets and weights "
                             f"of the same length; received {len(x)} inputs, {len(y)} targets, weights {w.shape}")

    def padded(values, length):
        out = np.full((batch_size, length) + values[0].shape[1:], padding, dtype=values[0].dtype)
        for row, v in enumerate(values):
            out[row, : len(v)] = v
        return out

    xs, ys, ws, starts = [], [], [], []
    for first in range(0, len(inputs), batch_size):
        group = slice(first, first + batch_size)
        length = -(-max(len(x) for x in inputs[group]) // steps) * steps
        starts.append(sum(len(chunk) for chunk in xs))
        for values, out in ((inputs[group], xs), (targets[group], ys)):
            out.append([padded(values, length)[:, k : k + steps] for k in range(0, length, steps)])
        w = np.zeros((batch_size, length), "float32")
        for row, v in enumerate(weights[group]):
            w[row, : len(v)] = v
        ws.append([w[:, k : k + steps] for k in range(0, length, steps)])
    flat = [np.stack([chunk for group in parts for chunk in group]) for parts in (xs, ys, ws)]
    dataset = tf.data.Dataset.from_tensor_slices(tuple(flat))
    return Layout(dataset.prefetch(tf.data.AUTOTUNE), tuple(starts), len(flat[0]))


def stateful_layers(model):
    """The layers of ``model`` (nested ones included) built with ``stateful=True``."""
    return [layer for layer in model._flatten_layers(include_self=False) if getattr(layer, "stateful", False)]


def reset_states(model):
    """Zeros the carried state of every stateful layer of ``model``."""
    for layer in stateful_layers(model):
        layer.reset_states()


def _starts(owner, value):
    if isinstance(value, Layout):
        return frozenset(value.starts)
    if value is None:
        return frozenset((0,))
    starts = tuple(value)
    if not all(isinstance(s, (int, np.integer)) and s >= 0 for s in starts):
        raise ValueError(f"{owner}: expected a Layout or batch indices >= 0; received {value!r}")
    return frozenset(int(s) for s in starts)


class ResetStates(keras.callbacks.Callback):
    """Zeros the model's recurrent states where a sequence starts, in ``fit``,
    ``evaluate`` and ``predict``.

    The states reset at the start of every epoch and of every evaluation or prediction,
    and before each batch whose index (counted from 0 in the epoch, or the evaluation)
    is in the layout's ``starts``. Batches must reach the model one step at a time
    (``steps_per_execution=1``, Keras' default), or a reset would land mid-execution.

    Args:
        train: The :class:`Layout` of the training batches (or their reset indices).
        test: That of the validation/evaluation batches (default: reset at batch 0 only).
        predict: That of the prediction batches (default: reset at batch 0 only).

    Raises:
        ValueError: (when training starts) the model runs several steps per execution,
            or has no stateful layer to reset.

    Example:

    >>> train = stream_batches(ids[:-1], ids[1:], batch_size=32, steps=50)  # doctest: +SKIP
    >>> trainer.fit(train.dataset, epochs=3, callbacks=[ResetStates(train)])  # doctest: +SKIP
    """

    def __init__(self, train=None, test=None, predict=None):
        super().__init__()
        self.train_starts = _starts("ResetStates: `train`", train)
        self.test_starts = _starts("ResetStates: `test`", test)
        self.predict_starts = _starts("ResetStates: `predict`", predict)

    def _check(self):
        if getattr(self.model, "steps_per_execution", 1) != 1:
            raise ValueError(f"ResetStates: the model must run one batch per execution to reset between batches; "
                             f"received steps_per_execution={self.model.steps_per_execution}")
        if not stateful_layers(self.model):
            raise ValueError(f"ResetStates: model {self.model.name!r} has no layer with stateful=True; "
                             "train tbptt.stateful_copy(model, batch_size)")

    def on_train_begin(self, logs=None):
        self._check()

    def _reset(self, *unused, logs=None):
        reset_states(self.model)

    # Every pass starts from zeros; after an evaluation too, so that a stand-alone
    # evaluate leaves no state behind for the next fit.
    on_epoch_begin = on_test_begin = on_test_end = on_predict_begin = _reset

    def on_train_batch_begin(self, batch, logs=None):
        self._reset_before(batch, self.train_starts)

    def on_test_batch_begin(self, batch, logs=None):
        self._reset_before(batch, self.test_starts)

    def on_predict_batch_begin(self, batch, logs=None):
        self._reset_before(batch, self.predict_starts)

    def _reset_before(self, batch, starts):
        if batch in starts:
            reset_states(self.model)


def stateful_copy(model, batch_size):
    """A copy of the functional or Sequential ``model`` whose recurrent layers are
    stateful, for a fixed ``batch_size``, holding ``model``'s weights (not shared).

    Every layer with a ``stateful`` argument (Keras' and deepkit's recurrent layers) is
    rebuilt from its config with ``stateful=True``; the inputs get the batch size
    ``batch_size``. The weights come in the same order, so ``model.set_weights(copy.get_weights())``
    brings the trained weights back into the stateless model. The copy is not compiled.

    Raises:
        ValueError: a non-positive ``batch_size``, or ``model`` has no recurrent layer.

    Example:

    >>> model = keras.Sequential([keras.Input((None, 3)), keras.layers.LSTM(4, return_sequences=True)])
    >>> trainer = stateful_copy(model, batch_size=2)
    >>> trainer.layers[0].stateful, tuple(trainer.layers[0].states[0].shape)  # one (batch, units) state each
    (True, (2, 4))
    """
    batch_size = check_int("stateful_copy", "batch_size", batch_size)
    found = []

    def clone(layer):
        config = layer.get_config()
        if "stateful" in config:
            found.append(layer.name)
            config["stateful"] = True
        return layer.__class__.from_config(config)

    inputs = [keras.Input(batch_shape=(batch_size,) + tuple(x.shape[1:]), dtype=x.dtype, name=x.name.split(":")[0])
              for x in model.inputs]
    if isinstance(model, keras.Sequential):  # clone_model leaves a Sequential with new inputs unbuilt
        copy = keras.Sequential([inputs[0]] + [clone(layer) for layer in model.layers], name=model.name)
    else:
        copy = keras.models.clone_model(model, input_tensors=inputs if len(inputs) > 1 else inputs[0],
                                        clone_function=clone)
    if not found:
        raise ValueError(f"stateful_copy: model {model.name!r} has no recurrent layer (none takes `stateful`)")
    copy.set_weights(model.get_weights())
    return copy


def copy_trained(trainer, model):
    """Copies the weights of ``trainer`` (a :func:`stateful_copy` of ``model``) into ``model``,
    and, when both are compiled, the state of the trainer's optimizer into ``model``'s, so
    that ``model`` saves (``.keras``) as if it had been trained itself.

    Raises:
        ValueError: the two models' weights or optimizers do not match one for one.
    """
    shapes = [tuple(w.shape) for w in trainer.weights], [tuple(w.shape) for w in model.weights]
    if shapes[0] != shapes[1]:
        raise ValueError(f"copy_trained: {trainer.name!r} and {model.name!r} must hold the same weights; received "
                         f"shapes {shapes[0]} and {shapes[1]}")
    model.set_weights(trainer.get_weights())
    if getattr(trainer, "optimizer", None) is None or getattr(model, "optimizer", None) is None:
        return
    if trainer.optimizer.built and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    pairs = list(zip(trainer.optimizer.variables, model.optimizer.variables))
    if len(trainer.optimizer.variables) != len(model.optimizer.variables) or any(
            a.shape != b.shape for a, b in pairs):
        raise ValueError(f"copy_trained: the optimizers of {trainer.name!r} and {model.name!r} must be of the same "
                         "kind, built on the same weights")
    for source, target in pairs:
        target.assign(source)
