r"""The softmax and the cross-entropy loss, equations (4) to (6) of the derivation page.

The output layer :math:`o = c + V h` (eq. 3) maps hidden states to logits; this module
turns logits into probabilities and a summed negative log-likelihood with its gradient.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["log_softmax", "softmax", "softmax_cross_entropy"]

Array = NDArray[Any]


def log_softmax(o: Array, out: Array | None = None) -> Array:
    r"""Log-probabilities of logits along the last axis.

    Parameters
    ----------
    o : ndarray, shape (..., V)
        Logits. Real or complex.
    out : ndarray, shape (..., V), optional
        Where to write the result; it may be ``o`` itself. None allocates a new array.

    Returns
    -------
    ndarray, shape (..., V)
        :math:`\ln \operatorname{softmax}(o)`.

    Notes
    -----
    The shift by the maximum makes logits of :math:`\pm 10^4` safe. It is taken from the real
    part, so for complex input (the complex-step check) the function stays analytic: the
    shift cancels exactly and only adds a constant to every entry.
    """
    logp: Array = np.subtract(o, o.real.max(axis=-1, keepdims=True), out=out)
    logp -= np.log(np.exp(logp).sum(axis=-1, keepdims=True))
    return logp


def softmax(o: Array, out: Array | None = None) -> Array:
    r"""Probabilities of logits along the last axis, eq. (4).

    Parameters
    ----------
    o : ndarray, shape (..., V)
        Logits. Real or complex.
    out : ndarray, shape (..., V), optional
        Where to write the result; it may be ``o`` itself. None allocates a new array.

    Returns
    -------
    ndarray, shape (..., V)
        :math:`\hat y = e^{o} / \sum_k e^{o_k}`.

    Notes
    -----
    The logits are shifted by their real maximum first, as in :func:`log_softmax`, so that
    no exponential overflows.

    Examples
    --------
    >>> softmax(np.array([0.0, np.log(3.0)])).round(12).tolist()
    [0.25, 0.75]
    """
    y_hat: Array = np.exp(log_softmax(o, out=out), out=out)
    return y_hat


def softmax_cross_entropy(logits: Any, targets: Any, mask: Any = None) -> tuple[Any, Array]:
    r"""The summed cross-entropy of softmax predictions, and its gradient at the logits.

    Parameters
    ----------
    logits : ndarray, shape (..., V)
        Logits :math:`o`, any leading shape (for a model, (T, B, V)). Real or complex.
    targets : array_like of int, shape (...)
        Target classes :math:`y` in ``0 .. V-1``, one per row of ``logits``.
    mask : array_like of bool, shape (...), optional
        False marks an entry to ignore: it adds nothing to the loss and gets a zero
        gradient. None counts every entry.

    Returns
    -------
    loss : float or complex
        :math:`L = -\sum \ln \hat y[y]` over the counted entries, eq. (5); complex for
        complex logits (the complex-step check).
    dlogits : ndarray, shape (..., V)
        :math:`\nabla_o L = \hat y - \operatorname{onehot}(y)` at counted entries, zero
        at ignored ones, eq. (6).

    Raises
    ------
    TypeError
        If ``targets`` is not an integer array or ``mask`` not a boolean one.
    ValueError
        If a shape disagrees with the logits' leading shape or a target is out of range.

    Examples
    --------
    >>> loss, d = softmax_cross_entropy(np.zeros((2, 4)), [1, 3], mask=[True, False])
    >>> round(float(loss), 12) == round(float(np.log(4)), 12), d[1].tolist()
    (True, [0.0, 0.0, 0.0, 0.0])
    """
    o = np.asarray(logits)
    y = np.asarray(targets)
    if o.ndim < 1:
        raise ValueError(f"logits must have shape (..., V), got {o.shape}")
    if y.dtype.kind not in "iu":
        raise TypeError(f"targets must be an integer array, got dtype {y.dtype}")
    if y.shape != o.shape[:-1]:
        raise ValueError(
            f"targets must have the logits' leading shape {o.shape[:-1]}, got {y.shape}"
        )
    V = o.shape[-1]
    if y.size and (y.min() < 0 or y.max() >= V):
        raise ValueError(
            f"targets must lie in [0, {V}), got {y.min() if y.min() < 0 else y.max()}"
        )
    keep = None if mask is None else np.asarray(mask)
    if keep is not None and keep.dtype != bool:
        raise TypeError(f"mask must be a boolean array, got dtype {keep.dtype}")
    if keep is not None and keep.shape != y.shape:
        raise ValueError(f"mask must have the targets' shape {y.shape}, got {keep.shape}")
    log_y_hat = log_softmax(o)  # ln ŷ, shifted by the largest logit so that e^o cannot overflow
    y_hat = np.exp(log_y_hat)  # eq. (4)
    rows, labels = log_y_hat.reshape(-1, V), y.reshape(-1)
    picked = rows[np.arange(len(labels)), labels]  # ln ŷ[y] for every entry
    counted = picked if keep is None else picked[keep.reshape(-1)]
    loss = -np.sum(counted)  # eq. (5), over the counted entries
    dlogits = y_hat - (labels[:, None] == np.arange(V)).reshape(o.shape)  # eq. (6)
    return loss, dlogits if keep is None else np.where(keep[..., None], dlogits, 0.0)
