"""The package's contract, written independently of rnn.RNN: a loop over steps, batched."""

import numpy as np


def loss_and_gradients(params, inputs, targets, h0):
    """params U (H, V), W (H, H), V (V, H), b (H,), c (V,); inputs, targets (T, B); h0 (B, H)."""
    U, W, V, b, c = (params[k] for k in "UWVbc")
    T, B = inputs.shape
    hs = {-1: h0}
    probs = {}
    loss = 0.0
    for t in range(T):
        hs[t] = np.tanh(U[:, inputs[t]].T + hs[t - 1] @ W.T + b)
        o = hs[t] @ V.T + c
        p = np.exp(o - o.max(axis=1, keepdims=True))
        probs[t] = p / p.sum(axis=1, keepdims=True)
        loss -= np.log(probs[t][np.arange(B), targets[t]]).sum()
    grads = {k: np.zeros_like(v) for k, v in params.items()}
    dh_next = np.zeros_like(h0)
    for t in reversed(range(T)):
        do = probs[t].copy()
        do[np.arange(B), targets[t]] -= 1
        grads["c"] += do.sum(axis=0)
        grads["V"] += do.T @ hs[t]
        delta = (1 - hs[t] ** 2) * (do @ V + dh_next)
        grads["b"] += delta.sum(axis=0)
        grads["W"] += delta.T @ hs[t - 1]
        np.add.at(grads["U"].T, inputs[t], delta)
        dh_next = delta @ W
    return loss, grads, hs[T - 1]


def wrapped(params, inputs, targets, h0):
    """The package's own model of the parameters' cell, behind the same contract."""
    import rnn

    (model,) = (m for m in rnn.CELLS.values() if set(m.param_names) == set(params))
    return model(**params).loss_and_gradients(inputs, targets, h0)
