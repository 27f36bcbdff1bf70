"""What deepkit's self-supervised models share: loss trackers, distributed and
mixed-precision-safe updates, sub-model serialization and SavedModel endpoints."""

import copy

import keras
from keras import ops

from deepkit import distribution


def describe_structure(value):
    """A short description of what a sub-model returned, for error messages."""
    if isinstance(value, (list, tuple)) and len(value) == 1:
        return describe_structure(value[0])
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of {len(value)}: " + ", ".join(describe_structure(v) for v in value)
    if isinstance(value, dict):
        return f"dict with keys {sorted(value)}"
    return f"tensor of shape {tuple(value.shape)}" if hasattr(value, "shape") else repr(value)


def known_input_shape(model, owner, argument):
    """The per-sample input shape of a Functional/Sequential sub-model, for export signatures."""
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ValueError(
            f"{owner}: exporting needs the input shape of `{argument}`; build it from a "
            f"keras.Input (Functional or Sequential with an Input). Received: {model!r}"
        )
    return tuple(inputs[0].shape[1:])


def batch_mean(values, sample_weight=None):
    """Mean over the batch of per-sample ``values``; with ``sample_weight`` (shape
    ``(batch,)`` or ``(batch, 1)``) Keras' ``"sum_over_batch_size"`` reduction
    ``Σ_n w_n·l_n / batch``."""
    if sample_weight is None:
        return ops.mean(values)
    weights = ops.reshape(ops.cast(sample_weight, values.dtype), (-1,))
    return ops.mean(values * weights)


BUILT_IN_COMPILE_ARGUMENTS = ("loss", "loss_weights", "metrics", "weighted_metrics")


class TrackedModel(keras.Model):
    """A ``keras.Model`` whose ``train_step``/``test_step`` log the losses named in
    ``tracked`` through ``keras.metrics.Mean`` trackers listed in ``metrics``."""

    def __init__(self, tracked=("loss",), **kwargs):
        super().__init__(**kwargs)
        self.trackers = {name: keras.metrics.Mean(name=name) for name in tracked}

    def mark_built(self, *sub_models):
        """A model whose sub-models all have their weights is built: saving then
        stores its weights and loading rebuilds its optimizers to restore their state."""
        if all(getattr(model, "built", False) for model in sub_models):
            self.built = True

    def compile(self, optimizer="rmsprop", **kwargs):
        """``keras.Model.compile`` without ``loss`` and ``metrics``: the model's losses
        are built in and logged by its own trackers (see ``metrics``)."""
        given = sorted(name for name in BUILT_IN_COMPILE_ARGUMENTS if kwargs.get(name) is not None)
        if given:
            raise ValueError(
                f"{type(self).__name__}.compile: the losses are built in and logged by the model's own "
                f"trackers; pass an optimizer and compile options only. Received: {given}"
            )
        super().compile(optimizer=optimizer, **kwargs)

    def compile_from_config(self, config):
        """Compiles from ``get_compile_config()`` and builds the optimizer, so that a
        ``.keras`` file restores its state (Keras skips this for a custom ``compile``)."""
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**{name: value for name, value in config.items() if name not in BUILT_IN_COMPILE_ARGUMENTS})
        if self.built:
            self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self):
        return list(self.trackers.values())

    def record(self, values):
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: tracker.result() for name, tracker in self.trackers.items()}

    @staticmethod
    def scaled_loss(loss, optimizer):
        """What to differentiate: the loss divided by the replica count (so summed
        replica gradients equal one device's: :func:`deepkit.distribution.scale_loss_for_replicas`)
        and scaled for mixed float16."""
        return optimizer.scale_loss(distribution.scale_loss_for_replicas(loss))

    @staticmethod
    def update(tape, scaled_loss, optimizer, variables):
        gradients = tape.gradient(scaled_loss, variables)
        optimizer.apply(gradients, variables)

    @staticmethod
    def loss_scaled_optimizer(optimizer):
        """Wraps ``optimizer`` in a LossScaleOptimizer under the mixed_float16 policy."""
        optimizer = keras.optimizers.get(optimizer)
        if keras.config.dtype_policy().name == "mixed_float16" and not isinstance(
            optimizer, keras.optimizers.LossScaleOptimizer
        ):
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    # === Export ===

    def serving_endpoints(self):
        """``{name: (function, input_signature)}`` of the SavedModel; ``serve`` first."""
        raise NotImplementedError(f"{type(self).__name__} must define serving_endpoints()")

    def export(self, filepath, format="tf_saved_model", verbose=True, **kwargs):
        """Writes a SavedModel with the endpoints of :meth:`serving_endpoints`.

        It loads with ``tf.saved_model.load`` in a process that does not import
        deepkit, and serves with TensorFlow Serving (signature ``serving_default`` is
        ``serve``). The endpoints' input signatures are fixed by the model, so
        Keras' ``input_signature`` and other export options are refused.
        """
        if format != "tf_saved_model":
            raise ValueError(
                f"{type(self).__name__}.export: argument `format` must be 'tf_saved_model'. Received: {format!r}"
            )
        options = sorted(name for name, value in kwargs.items() if value is not None)
        if options:
            raise ValueError(
                f"{type(self).__name__}.export: the endpoints and their signatures are fixed by the model "
                f"(serving_endpoints()); no other options are taken. Received: {options}"
            )
        archive = keras.export.ExportArchive()
        archive.track(self)
        for name, (function, signature) in self.serving_endpoints().items():
            archive.add_endpoint(name, function, input_signature=signature)
        archive.write_out(filepath, verbose=verbose)


def serialize_sub_models(**models):
    return {name: keras.saving.serialize_keras_object(model) for name, model in models.items()}


def deserialize_sub_models(config, *names):
    """A copy of ``config`` with the named sub-models deserialized (Keras' deserializer
    consumes the nested dicts it reads, so the caller's config is left alone)."""
    config = copy.deepcopy(config)
    for name in names:
        config[name] = keras.saving.deserialize_keras_object(config[name])
    return config
