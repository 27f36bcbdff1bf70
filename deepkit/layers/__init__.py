"""deepkit's Keras layers.

Recurrent: :class:`PeepholeLSTM` (+ cell), :class:`RelevanceGRU` (+ cell), :class:`BRNN`.
Generative: :class:`Sampling` (VAE reparameterisation), :class:`Corruption` (denoising).
"""

from deepkit.layers.attention import BahdanauAttention, LuongAttention
from deepkit.layers.brnn import BRNN
from deepkit.layers.corruption import Corruption
from deepkit.layers.crf import CRF
from deepkit.layers.peephole_lstm import PeepholeLSTM, PeepholeLSTMCell, peephole_lstm_step
from deepkit.layers.relevance_gru import RelevanceGRU, RelevanceGRUCell, relevance_gru_step
from deepkit.layers.sampling import Sampling

__all__ = [
    "BRNN",
    "CRF",
    "BahdanauAttention",
    "LuongAttention",
    "Corruption",
    "PeepholeLSTM",
    "PeepholeLSTMCell",
    "RelevanceGRU",
    "RelevanceGRUCell",
    "Sampling",
    "peephole_lstm_step",
    "relevance_gru_step",
]
