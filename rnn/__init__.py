"""A gradient-verified reference implementation of character-level recurrent networks.

The public names are stable; course material may import them.

Examples
--------
>>> import numpy as np
>>> import rnn
>>> vocab = rnn.Vocabulary.from_text(rnn.seed_corpus())
>>> model = rnn.RNN.random(len(vocab), hidden_size=16, rng=np.random.default_rng(0))
>>> x = vocab.encode("Kedves")
>>> loss, grads, h = model.loss_and_gradients(x[:-1], x[1:])
"""

from rnn.data import Vocabulary, seed_corpus
from rnn.gru import GRU
from rnn.layers import GRULayer, LSTMLayer, RNNLayer
from rnn.loss import softmax_cross_entropy
from rnn.lstm import LSTM
from rnn.model import RNN, RecurrentModel, log_softmax, softmax
from rnn.optim import SGD, AdaGrad, clip_elementwise, clip_global_norm
from rnn.training import CELLS, EpochResult, Trainer, TrainingConfig

__version__ = "0.1.0"

__all__ = [
    "CELLS",
    "GRU",
    "LSTM",
    "RNN",
    "SGD",
    "AdaGrad",
    "EpochResult",
    "GRULayer",
    "LSTMLayer",
    "RNNLayer",
    "RecurrentModel",
    "Trainer",
    "TrainingConfig",
    "Vocabulary",
    "__version__",
    "clip_elementwise",
    "clip_global_norm",
    "log_softmax",
    "seed_corpus",
    "softmax",
    "softmax_cross_entropy",
]
