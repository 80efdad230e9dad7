"""How much memory a call or a training run needs at its peak, estimated before allocating.

A size that does not fit is refused up front with one message naming the estimate and the
memory available, instead of failing with ``MemoryError`` after seconds of work (or after
the system has started to swap). The estimates count the arrays alive at the peak, in
elements of the model's dtype:

=====================  ==================================================================
term                   arrays
=====================  ==================================================================
``k·T·B·H``            the caches of the T·B steps: the hidden states and, for the gated
                       cells, each gate's activations, and the backward pass's deltas
                       (k = :data:`STEP_ARRAYS` of the cell)
``T·B·V``              the logits o(t), overwritten in place by ŷ(t) and then ∇o(t) L
``m·P``                the P gradients, and for the RNN a temporary of the same size
                       (m = :data:`PARAM_ARRAYS` of the cell)
=====================  ==================================================================

A training run adds the parameters themselves, the optimizer's state, the gradients
divided by B, the optimizer step's temporaries and the corpus. The coefficients were
read off ``tracemalloc`` for each cell; ``tests/test_memory.py`` holds every estimate
within a factor of 2 of the measured peak.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

__all__ = [
    "PARAM_ARRAYS",
    "STEP_ARRAYS",
    "available_memory",
    "call_peak",
    "check_call",
    "check_fits",
    "training_peak",
]

STEP_ARRAYS = {"rnn": 3, "lstm": 13, "gru": 11}
"""Arrays of shape (T, B, H) alive at the peak of one ``loss_and_gradients`` call, by cell."""

PARAM_ARRAYS = {"rnn": 2, "lstm": 1, "gru": 1}
"""Arrays of the parameters' total size alive at the peak of one call, by cell."""

LOGIT_ARRAYS = 4
"""Arrays of shape (T, B, V) alive at the peak of the reference ``loss_and_gradients``: the
logits, their log-softmax, the probabilities and the output gradient. The trainer's fast
path (:mod:`rnn.fast`) overwrites the logits with their gradient and keeps one."""

_INDEX_ARRAYS = 3
"""Arrays of T·B indices (intp) alive in a call: the inputs, the targets and their rows."""

_SMALL = 64 * 2**20
"""Below this estimate a call is not checked: reading the available memory would cost more
than the call."""


def available_memory() -> int:
    """Bytes of memory this process can still allocate.

    The least of: ``MemAvailable`` of ``/proc/meminfo`` (else the physical memory), what
    the address-space limit ``RLIMIT_AS`` leaves of this process's address space, and what
    a cgroup v2 memory limit leaves.
    """
    limits = [_system_available()]
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
        if soft != resource.RLIM_INFINITY:
            limits.append(soft - _status_kib("VmSize") * 1024)
    except (ImportError, OSError, ValueError):  # pragma: no cover - not POSIX
        pass
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as limit:
            high = limit.read().strip()
        if high != "max":
            with open("/sys/fs/cgroup/memory.current", encoding="ascii") as current:
                limits.append(int(high) - int(current.read()))
    except (OSError, ValueError):
        pass
    return max(0, min(limits))


def _system_available() -> int:
    try:
        return _meminfo_kib("/proc/meminfo", "MemAvailable") * 1024
    except (OSError, ValueError, StopIteration):  # pragma: no cover - not Linux
        pass
    try:  # pragma: no cover - not Linux
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return 2**63 - 1


def _status_kib(key: str) -> int:
    """A ``kB`` field of ``/proc/self/status``; 0 where there is none."""
    try:
        return _meminfo_kib("/proc/self/status", key)
    except (OSError, ValueError, StopIteration):  # pragma: no cover - not Linux
        return 0


def _meminfo_kib(path: str, key: str) -> int:
    with open(path, encoding="ascii") as file:
        line = next(line for line in file if line.startswith(key + ":"))
    return int(line.split()[1])


def call_peak(
    cell: str,
    vocab_size: int,
    hidden_size: int,
    steps: int,
    batch: int,
    params: int,
    itemsize: int,
    logit_arrays: int = LOGIT_ARRAYS,
    layers: int = 1,
) -> int:
    """Estimated peak bytes of one ``loss_and_gradients`` call.

    Parameters
    ----------
    cell : str
        A key of :data:`STEP_ARRAYS`.
    vocab_size, hidden_size : int
        V and H.
    steps, batch : int
        T and B.
    params : int
        P, the number of parameter entries.
    itemsize : int
        Bytes per entry of the model's dtype.
    logit_arrays : int, optional
        Arrays of shape (T, B, V) alive at the peak: ``LOGIT_ARRAYS`` for the
        reference, 1 for the fast path.
    layers : int, optional
        Stacked recurrent layers; each keeps its own caches for the backward pass.
    """
    TB = steps * batch
    elements = (
        layers * STEP_ARRAYS[cell] * TB * hidden_size
        + logit_arrays * TB * vocab_size
        + PARAM_ARRAYS[cell] * params
    )
    return elements * itemsize + _INDEX_ARRAYS * TB * np.dtype(np.intp).itemsize


def training_peak(
    cell: str,
    shapes: dict[str, tuple[int, ...]],
    steps: int,
    batch: int,
    itemsize: int,
    corpus_length: int,
    optimizer_slots: int = 1,
    layers: int = 1,
) -> int:
    """Estimated peak bytes of a training run.

    Parameters
    ----------
    cell : str
        A key of :data:`STEP_ARRAYS`.
    shapes : dict of str to tuple of int
        The parameters' shapes; ``V`` of shape (V, H) gives the vocabulary and hidden sizes.
    steps, batch : int
        T and B of one window.
    itemsize : int
        Bytes per entry of the model's dtype.
    corpus_length : int
        N, characters of the corpus, held as text and as compact indices
        (:meth:`rnn.data.Vocabulary.encode_corpus`).
    optimizer_slots : int, optional
        Arrays of the parameters' size that the optimizer keeps (AdaGrad: 1).
    layers : int, optional
        Stacked recurrent layers, as in :func:`call_peak`.
    """
    sizes = [math.prod(shape) for shape in shapes.values()]
    P = sum(sizes)
    V, H = shapes["V"]
    call = call_peak(cell, V, H, steps, batch, P, itemsize, 1, layers)  # the fast path
    kept = (1 + optimizer_slots + 1) * P + 3 * max(sizes)  # θ, state, g / B, step temporaries
    index = np.min_scalar_type(V - 1).itemsize  # the corpus's indices: uint8 for V ≤ 256
    corpus = corpus_length * (4 + index)  # the text (≤ 4 bytes a character) and its indices
    return call + kept * itemsize + corpus


def check_fits(what: str, needed: int, *, skip_below: int = 0) -> None:
    """Refuse ``what`` if ``needed`` bytes exceed the memory available.

    Parameters
    ----------
    what : str
        Names the work and its sizes, as the message should show them.
    needed : int
        The estimated peak in bytes.
    skip_below : int, optional
        Do not read the available memory for estimates below this many bytes.

    Raises
    ------
    ValueError
        If ``needed`` is more than :func:`available_memory`.

    Examples
    --------
    >>> check_fits("a test", 2**60)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: a test needs an estimated 1073741824.0 GiB at its peak, more than the ...
    """
    if needed < skip_below:
        return
    available = available_memory()
    if needed > available:
        raise ValueError(
            f"{what} needs an estimated {needed / 2**30:.1f} GiB at its peak, "
            f"more than the {available / 2**30:.1f} GiB of memory available"
        )


def check_call(model: Any, input_shape: tuple[int, ...]) -> None:
    """Refuse a ``loss_and_gradients`` call whose estimated peak does not fit in memory.

    Parameters
    ----------
    model : RecurrentModel
        The model called.
    input_shape : tuple of int
        The shape of its inputs, (T,) or (T, B); other shapes are left to the model's
        own checks.

    Raises
    ------
    ValueError
        Naming T, B, H and V, the estimate and the memory available.
    """
    if len(input_shape) not in (1, 2):
        return
    T, B = input_shape[0], math.prod(input_shape[1:])
    P = sum(p.size for p in model.params.values())
    V, H = model.vocab_size, model.hidden_size
    needed = call_peak(model.cell, V, H, T, B, P, model.dtype.itemsize, layers=model.num_layers)
    what = f"loss_and_gradients on T={T} steps of B={B} sequences with H={H}, V={V}"
    check_fits(what, needed, skip_below=_SMALL)
