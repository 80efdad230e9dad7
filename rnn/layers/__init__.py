"""Recurrent layers in paper form: one step forward and one step backward per cell, and
backpropagation through time written once over any layer's steps.

Each layer has the pure methods ``step_forward(x_t, state) -> (state, cache)``,
``step_backward(dstate, cache) -> (dstate_prev, dx_t, grads)``,
``forward(x, state0=None) -> (hs, state_T, cache)`` and
``backward(dhs, cache, dstate_T=None, truncation=None) -> (grads, dx, dstate0)``.
"""

from rnn.layers.base import Layer, SequenceCache, State, sigmoid
from rnn.layers.gru import GRUCache, GRULayer
from rnn.layers.lstm import LSTMCache, LSTMLayer
from rnn.layers.rnn import RNNCache, RNNLayer

__all__ = [
    "GRUCache",
    "GRULayer",
    "LSTMCache",
    "LSTMLayer",
    "Layer",
    "RNNCache",
    "RNNLayer",
    "SequenceCache",
    "State",
    "sigmoid",
]
