"""deepkit: Keras 3 layers, losses and models for recurrent and generative deep learning.

Import the parts you need::

    import deepkit
    layer = deepkit.layers.PeepholeLSTM(32)

Every public class is registered with
``keras.saving.register_keras_serializable(package="deepkit")``, so saved models
load with a plain ``keras.saving.load_model`` once deepkit is imported.
"""

__version__ = "0.1.0"

import importlib  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

_SUBPACKAGES = ("data", "layers", "losses", "models", "vision")


def _started_as_the_command_line():
    """Whether this process is the ``deepkit`` command (the console script or
    ``python -m deepkit``), which imports TensorFlow only to run a recipe, so that
    ``deepkit list``, ``--help`` and ``--version`` answer at once."""
    options = sys.orig_argv[1:]
    module = options[options.index("-m") + 1] if "-m" in options[:-1] else None
    return os.path.basename(sys.argv[0]) == "deepkit" or module == "deepkit"


def __getattr__(name):
    # The command line leaves the subpackages to be imported on first use.
    if name in _SUBPACKAGES:
        return importlib.import_module(f"deepkit.{name}")
    raise AttributeError(f"module 'deepkit' has no attribute {name!r}")


if not _started_as_the_command_line():
    from deepkit import data, layers, losses, models  # noqa: E402,F401
    from deepkit import vision  # noqa: E402,F401
