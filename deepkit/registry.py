"""One place that registers deepkit's public objects with Keras' serialization.

Every public layer, loss and model is decorated with :func:`register`, which is
``keras.saving.register_keras_serializable(package="deepkit")``. The conformance
test reads :func:`registered_names` and fails if one of them escapes the test
harness.
"""

import keras

PACKAGE = "deepkit"


def register(obj):
    """Registers a class or function under the ``deepkit>`` prefix."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(obj)


def registered_names():
    """Returns every registered name of deepkit, e.g. ``{"deepkit>PeepholeLSTM", ...}``."""
    prefix = PACKAGE + ">"
    return {name for name in keras.saving.get_custom_objects() if name.startswith(prefix)}
