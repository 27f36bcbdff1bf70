"""The fused path of deepkit's recurrent layers: the whole sequence as one differentiable op.

``keras.layers.RNN`` runs the cell once per time step and lets TensorFlow
differentiate that loop. Here a layer's whole sequence is one
``tf.custom_gradient`` op around a raw ``tf.while_loop`` with a static trip
count (so that it compiles under XLA), whose backward loop runs only the
sequential part of the chain rule on the chain; ``docs/fused_path.md`` gives
the equations and the reasons for each choice.

It needs the TensorFlow backend, ``activation="tanh"``,
``recurrent_activation="sigmoid"`` and ``unroll=False``, and covers every other
option of :class:`~deepkit.layers.PeepholeLSTM` and
:class:`~deepkit.layers.RelevanceGRU`. A layer's ``use_fused`` (``"auto"``,
``True``, ``False``) forces or forbids it; :func:`general_path` switches it off
for the calls traced inside the block; ``layer.execution_path()`` says which
loop the last traced call took.

Modules: :mod:`.dispatch` (the choice), :mod:`.scan` (the loop),
:mod:`.lstm_kernel`, :mod:`.gru_kernel` (the ops), :mod:`.sequence_io` (layer
arguments to time-major tensors), :mod:`.gate_products`, :mod:`.tf_private`
(every private TensorFlow import).
"""

from deepkit.layers.fused.dispatch import USE_FUSED_CHOICES, check_use_fused, choose_path, fused_blocker, general_path
from deepkit.layers.fused.gru_kernel import gru_sequence, run_relevance_gru
from deepkit.layers.fused.lstm_kernel import lstm_sequence, run_peephole_lstm
from deepkit.layers.fused.scan import STEPS_PER_ITERATION, WEIGHT_GRADIENT_WINDOW

__all__ = [
    "STEPS_PER_ITERATION",
    "USE_FUSED_CHOICES",
    "WEIGHT_GRADIENT_WINDOW",
    "check_use_fused",
    "choose_path",
    "fused_blocker",
    "general_path",
    "gru_sequence",
    "lstm_sequence",
    "run_peephole_lstm",
    "run_relevance_gru",
]
