"""deepkit's Keras layers.

Recurrent: :class:`PeepholeLSTM` (+ cell), :class:`RelevanceGRU` (+ cell), :class:`BRNN`.
"""

from deepkit.layers.brnn import BRNN
from deepkit.layers.peephole_lstm import PeepholeLSTM, PeepholeLSTMCell, peephole_lstm_step
from deepkit.layers.relevance_gru import RelevanceGRU, RelevanceGRUCell, relevance_gru_step

__all__ = [
    "BRNN",
    "PeepholeLSTM",
    "PeepholeLSTMCell",
    "RelevanceGRU",
    "RelevanceGRUCell",
    "peephole_lstm_step",
    "relevance_gru_step",
]
