"""deepkit: Keras 3 layers, losses and models for recurrent and generative deep learning.

Import the parts you need::

    import deepkit
    layer = deepkit.layers.PeepholeLSTM(32)

Every public class is registered with
``keras.saving.register_keras_serializable(package="deepkit")``, so saved models
load with a plain ``keras.saving.load_model`` once deepkit is imported.
"""

__version__ = "0.1.0"

from deepkit import data, layers, losses, models  # noqa: E402,F401
from deepkit import vision  # noqa: E402,F401
