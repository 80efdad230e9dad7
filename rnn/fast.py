r"""The same math, rearranged for speed: fused gates, buffers reused in place, sparse one-hots.

Every function here computes what the reference computes (the cells of :mod:`rnn.model`,
:mod:`rnn.lstm` and :mod:`rnn.gru`, equations (1) to (15), (L1) to (L16) and (G1) to
(G14) of the derivation pages) and is tested equal to it to 1e-12 relative in float64
(``tests/test_fast.py``). Only the order of the arithmetic differs. Read the reference
to learn the math; read this module to see what it costs.

Sizes as everywhere: ``T`` steps, ``B`` sequences, ``H`` hidden units, ``D`` inputs (``V``
characters for one-hot inputs), ``G`` the width of a cell's fused gate block (H for the
RNN, 4H for the LSTM, 3H for the GRU).

**The rearrangements, and the target each one serves.** The targets, measured by
``benchmarks/bench_training.py``: the vanilla RNN in float64 on one thread at least 3x
the seed-style loop and 3x PyTorch at B = 1, at least 1.5x PyTorch and 40 % of the
matmul peak at B = 64; the LSTM in float32 at H = 128, B = 50, T = 50 (training step
with an Adam update) at least as fast as PyTorch's ``nn.LSTM`` + ``nn.Linear`` forward
and backward with as many threads as cores.

1. **Only the recurrence steps through time** (every target). The output layer, the
   softmax, the loss and every parameter-gradient sum are one operation over all T·B
   rows: ∇W = Σ δ(t) h(t − 1)ᵀ, for instance, is one (G, T·B) × (T·B, H) product after
   the loop. The Python loop runs only the recurrent product and the elementwise work
   of a step. At B = 1 numpy's per-call overhead is most of the cost, so the RNN keeps
   a loop of its own for exact BPTT, two operations a step (``_rnn_deltas``).
2. **One-hot inputs are gathers and sparse sums** (RNN B = 1 and B = 64, LSTM).
   :math:`U x^{(t)} + b` is a row of the table :math:`(U^\top + b)`, gathered, not a
   product; :math:`\nabla U = \sum_t \delta^{(t)} x^{(t)\top}` is a sparse (V, T·B)
   one-hot matrix times the stacked deltas, T·B·G additions. For one-hot inputs
   :math:`\nabla b` is the column sum of that (V, G) result, not of the (T·B, G) deltas.
3. **Fused gates** (LSTM target). The four LSTM gates (three GRU gates) are stacked into
   one (G, H) recurrent matrix: a step is one (B, H) × (H, G) product forward and one
   (B, G) × (G, H) backward instead of four (three) of a quarter the size; at the
   benchmark's sizes the fused forward product measured 1.8x faster than four. The
   input gather reads one stacked (D, G) table.
   The LSTM's gates are stacked q, i, f, g (the three sigmoids first, the three gates
   that multiply :math:`\nabla_s L` adjacent), the GRU's recurrent rows n, r, z (the
   rows whose deltas feed the backward product first).
4. **Sigmoid as a halved tanh, the halving folded into the weights** (LSTM and GRU).
   :math:`\sigma(a) = \tfrac12 + \tfrac12 \tanh \tfrac a2`, the identity the reference
   uses. The sigmoid gates' rows of U, W and b are halved once per call (exact: a power
   of two), so one tanh over the fused block and two in-place operations give every
   gate. numpy's tanh is vectorised; ``scipy.special.expit`` measured about 8x slower.
5. **Gate-major caches** (LSTM and GRU). Each gate of each step is a contiguous (B, H)
   block of a (T, 4, B, H) or (T, 3, B, H) buffer: the tanh of the fused product writes
   it there, and every later elementwise operation reads and writes contiguous memory,
   about 3x faster in numpy than the strided column blocks of a (B, G) row. The deltas
   are computed gate-major too and copied once per step into the (T, B, G) row layout
   that the fused products need.
6. **Few, reused buffers: no page faults** (LSTM). A buffer of more than 128 KiB comes
   from the kernel and costs a page fault per 4 KiB when first touched, about 3 µs each
   on these machines; glibc keeps freed memory for the next call only while a call's
   footprint stays under twice its largest block. The reference's LSTM step at the
   benchmark's sizes took 3,600 to 4,200 page faults per call, measured. Here the backward step
   writes the LSTM's deltas over its gate activations (consumed step by step), U x(t)
   is gathered per step into a (B, G) scratch, the upstream gradient Vᵀ ∇o(t) L is one
   small product per step instead of a (T, B, H) array, and tanh s(t) is recomputed
   rather than stored: the footprint stays under that bound, and after the first call
   a call takes no page faults. ŷ overwrites the logits and becomes ∇o L in place.
7. **Derivative factors per step, on data in cache** (LSTM and GRU). Computing them for
   all steps before the backward loop streams (T, B, G) arrays through memory several
   times; per step they stay in the cache.
8. **float32** (LSTM target). Every buffer takes the parameters' dtype, so float32
   parameters give float32 arithmetic throughout, half the memory traffic of float64.

Threads: nothing here sets them; numpy's BLAS uses its own setting (the benchmark's
choice is stated in ``benchmarks/bench_training.py``).

Truncated BPTT, eq. (15), reuses each cell's backward step, applied to all steps at
once for each lag; it is not on the speed path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeAlias

import numpy as np
import scipy.sparse
from numpy.typing import NDArray

from rnn import memory
from rnn.checks import check_castable
from rnn.layers.base import check_array_state as _check_array_state
from rnn.layers.base import check_sequence as _check_inputs
from rnn.layers.base import check_truncation as _check_truncation
from rnn.model import RecurrentModel, layer_suffix

__all__ = [
    "CELLS",
    "PARAM_NAMES",
    "GRUCache",
    "LSTMCache",
    "RNNCache",
    "backward_layer",
    "forward_layer",
    "loss",
    "loss_and_gradients",
]

Array: TypeAlias = NDArray[Any]
State: TypeAlias = "Array | tuple[Array, Array]"

CELLS = ("rnn", "lstm", "gru")
"""The cells, as :attr:`rnn.model.RecurrentModel.cell` names them."""

PARAM_NAMES: dict[str, tuple[str, ...]] = {
    "rnn": ("U", "W", "b"),
    "lstm": tuple(f"{w}_{k}" for w in "UWb" for k in "ifgq"),
    "gru": (*(f"{w}_{k}" for w in "UWb" for k in "rzn"), "b_hn"),
}
"""The recurrent parameters of one layer of each cell, by the models' names."""

_INPUT_ORDER = {"rnn": ("",), "lstm": ("q", "i", "f", "g"), "gru": ("r", "z", "n")}
"""How the gates' input rows are stacked into the fused block."""

_RECURRENT_ORDER = {"rnn": ("",), "lstm": ("q", "i", "f", "g"), "gru": ("n", "r", "z")}
"""How the gates' recurrent rows are stacked into the fused block."""

_SIGMOID_GATES = {"rnn": (), "lstm": ("q", "i", "f"), "gru": ("r", "z")}
"""The gates whose rows are halved, so that one tanh gives their sigmoid."""


# ------------------------------------------------------------------------ the caches


@dataclass(frozen=True)
class RNNCache:
    """What the RNN's forward pass keeps for its backward pass.

    Attributes
    ----------
    x : ndarray, shape (T, B) of int or (T, B, D) of float
        The inputs.
    hs : ndarray, shape (T + 1, B, H)
        h(0) .. h(T); ``hs[:-1]`` is h(t − 1) and ``hs[1:]`` is h(t) for every t.
    """

    x: Array
    hs: Array


@dataclass(frozen=True)
class LSTMCache:
    """What the LSTM's forward pass keeps for its backward pass.

    Attributes
    ----------
    x : ndarray, shape (T, B) of int or (T, B, D) of float
        The inputs.
    hs : ndarray, shape (T + 1, B, H)
        h(0) .. h(T).
    ss : ndarray, shape (T + 1, B, H)
        The cell states s(0) .. s(T).
    gates : ndarray, shape (T, 4, B, H)
        q(t), i(t), f(t), g(t), in that order.
    """

    x: Array
    hs: Array
    ss: Array
    gates: Array


@dataclass(frozen=True)
class GRUCache:
    """What the GRU's forward pass keeps for its backward pass.

    Attributes
    ----------
    x : ndarray, shape (T, B) of int or (T, B, D) of float
        The inputs.
    hs : ndarray, shape (T + 1, B, H)
        h(0) .. h(T).
    gates : ndarray, shape (T, 3, B, H)
        r(t), z(t), n(t), in that order.
    m : ndarray, shape (T, B, H)
        m(t) = b_hn + W_n h(t − 1), eq. (G3).
    """

    x: Array
    hs: Array
    gates: Array
    m: Array


Cache: TypeAlias = "RNNCache | LSTMCache | GRUCache"


class _Packed(NamedTuple):
    """One layer's parameters stacked into fused blocks.

    ``U`` (G, D) and ``b`` (G,) in the input order, ``W`` (G, H) in the recurrent order,
    all unscaled; ``U_half``, ``b_half``, ``W_half_T`` (H, G) are the same with the
    sigmoid gates' rows halved, for the forward pass.
    """

    U: Array
    b: Array
    W: Array
    U_half: Array
    b_half: Array
    W_half_T: Array
    b_hn: Array | None


def _pack(cell: str, p: Mapping[str, Array], dtype: np.dtype[Any]) -> _Packed:
    if cell == "rnn":  # one gate, no sigmoid: nothing to stack or halve
        U, b, W = (np.asarray(p[n], dtype) for n in ("U", "b", "W"))
        return _Packed(U, b, W, U, b, np.ascontiguousarray(W.T), None)

    def stacked(w: str, order: tuple[str, ...]) -> tuple[Array, Array]:
        """The rows of ``order`` stacked, as given and with the sigmoid gates' halved."""
        block = np.concatenate([p[f"{w}_{k}"] for k in order]).astype(dtype, copy=False)
        half = block.copy()
        for n, k in enumerate(order):
            if k in _SIGMOID_GATES[cell]:
                half[n * len(block) // len(order) : (n + 1) * len(block) // len(order)] *= 0.5
        return block, half

    (U, U_half), (b, b_half) = (stacked(w, _INPUT_ORDER[cell]) for w in "Ub")
    W, W_half = stacked("W", _RECURRENT_ORDER[cell])
    b_hn = np.asarray(p["b_hn"], dtype) if cell == "gru" else None
    return _Packed(U, b, W, U_half, b_half, np.ascontiguousarray(W_half.T), b_hn)


# ----------------------------------------------------------------------- forward


def forward_layer(
    cell: str, p: Mapping[str, Any], x: Any, state0: Any
) -> tuple[Array, State, Cache]:
    r"""Run one recurrent layer over a sequence.

    Parameters
    ----------
    cell : {"rnn", "lstm", "gru"}
        Which cell.
    p : mapping of str to ndarray
        The layer's parameters under the models' names (:data:`PARAM_NAMES`); every
        ``U*`` has shape (H, D), every ``W*`` (H, H), every bias (H,).
    x : ndarray, shape (T, B) of int, or (T, B, D) of float
        Indices in ``0 .. D-1`` (one-hot inputs, taken as a gather), or dense inputs.
    state0 : ndarray, shape (B, H), or for the LSTM the pair (h0, s0)
        The initial state.

    Returns
    -------
    hs : ndarray, shape (T, B, H)
        h(1) .. h(T), in the dtype shared by the parameters and the state.
    state_T : ndarray, shape (B, H), or the pair (h(T), s(T))
        The state after the last step.
    cache : RNNCache, LSTMCache or GRUCache
        What :func:`backward_layer` needs. ``hs`` and ``state_T`` are views of it.

    Raises
    ------
    ValueError
        If ``cell`` is unknown, a parameter is missing or misshapen, ``x`` or the state
        has the wrong shape, or an index is out of range.
    TypeError
        If ``x`` is neither an integer nor a floating-point array.
    """
    cell, p, x, state0 = _check_layer(cell, p, x, state0)
    parts = state0 if isinstance(state0, tuple) else (state0,)
    return _forward(cell, _pack(cell, p, np.result_type(*p.values(), *parts)), x, state0)


def _forward(cell: str, P: _Packed, x: Array, state0: State) -> tuple[Array, State, Cache]:
    parts = state0 if isinstance(state0, tuple) else (state0,)
    T, B = x.shape[:2]
    H = P.W.shape[1]
    hs = np.empty((T + 1, B, H), P.W.dtype)  # h(0) .. h(T)
    hs[0] = parts[0]
    if cell == "rnn":
        _input_projection(P, x, out=hs[1:])  # U x(t) + b, overwritten by h(t) below
        for t in range(T):
            a = hs[t + 1]
            a += np.dot(hs[t], P.W_half_T)  # eq. (1): a(t) = b + W h(t−1) + U x(t)
            np.tanh(a, out=a)  # eq. (2)
        return hs[1:], hs[T], RNNCache(x, hs)
    add_input = _input_adder(P, x)
    if isinstance(state0, tuple):
        return _lstm_forward(P, x, add_input, hs, state0[1])
    return _gru_forward(P, x, add_input, hs)


def _input_projection(P: _Packed, x: Array, out: Array) -> Array:
    """U x(t) + b for all t at once into ``out`` (T, B, G): a gather of rows of (Uᵀ + b)
    for one-hot x, one product for dense x."""
    if x.dtype.kind in "iu":
        # row v is U x + b for the one-hot x of input v; rows contiguous, for fast gathers
        table = np.add(P.U_half.T, P.b_half, order="C")
        return np.take(table, x, axis=0, out=out, mode="clip")  # "raise" would copy via a buffer
    T, B, D = x.shape
    A = out.reshape(T * B, -1)
    np.matmul(x.reshape(T * B, D).astype(P.U.dtype, copy=False), P.U_half.T, out=A)
    A += P.b_half
    return out


def _input_adder(P: _Packed, x: Array) -> Callable[[int, Array], None]:
    """``add_input(t, a)`` adds U x(t) + b to ``a`` (B, G).

    One-hot inputs are gathered step by step from the (D, G) table, which stays in the
    cache; dense inputs are projected for all steps at once, one large product.
    """
    if x.dtype.kind in "iu":
        # row v is U x + b for the one-hot x of input v; rows contiguous, for fast gathers
        table = np.add(P.U_half.T, P.b_half, order="C")
        scratch = np.empty((x.shape[1], table.shape[1]), table.dtype)

        def add_gathered(t: int, a: Array) -> None:
            a += np.take(table, x[t], axis=0, out=scratch, mode="clip")  # x is in range

        return add_gathered
    A = _input_projection(P, x, np.empty((*x.shape[:2], P.U.shape[0]), P.U.dtype))

    def add_projected(t: int, a: Array) -> None:
        a += A[t]

    return add_projected


def _lstm_forward(
    P: _Packed, x: Array, add_input: Callable[[int, Array], None], hs: Array, s0: Array
) -> tuple[Array, State, LSTMCache]:
    T, B, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    gates = np.empty((T, 4, B, H), hs.dtype)  # [q, i, f, g](t), each gate contiguous
    ss = np.empty_like(hs)  # s(0) .. s(T)
    ss[0] = s0
    a = np.empty((B, 4 * H), hs.dtype)
    tmp = np.empty((B, H), hs.dtype)
    for t in range(T):
        np.matmul(hs[t], P.W_half_T, out=a)
        add_input(t, a)  # the pre-activations of (L1)-(L4), the sigmoid gates' halved
        np.tanh(a.reshape(B, 4, H).transpose(1, 0, 2), out=gates[t])  # eq. (L3) for g
        sig = gates[t, :3]
        sig *= 0.5
        sig += 0.5  # eqs. (L4), (L1), (L2): σ(a) = 1/2 + tanh(a/2)/2
        q, i, f, g = gates[t]
        np.multiply(f, ss[t], out=ss[t + 1])
        ss[t + 1] += np.multiply(i, g, out=tmp)  # eq. (L5)
        np.multiply(q, np.tanh(ss[t + 1], out=tmp), out=hs[t + 1])  # eq. (L6)
    return hs[1:], (hs[T], ss[T]), LSTMCache(x, hs, ss, gates)


def _gru_forward(
    P: _Packed, x: Array, add_input: Callable[[int, Array], None], hs: Array
) -> tuple[Array, State, GRUCache]:
    T, B, H = hs.shape[0] - 1, hs.shape[1], hs.shape[2]
    assert P.b_hn is not None
    gates = np.empty((T, 3, B, H), hs.dtype)  # [r, z, n](t), each gate contiguous
    m = np.empty((T, B, H), hs.dtype)
    a = np.empty((B, 3 * H), hs.dtype)
    hw = np.empty((B, 3 * H), hs.dtype)
    tmp = np.empty((B, H), hs.dtype)
    for t in range(T):
        a[:] = 0.0
        add_input(t, a)  # [U_r x + b_r, U_z x + b_z] / 2, U_n x + b_n
        np.matmul(hs[t], P.W_half_T, out=hw)  # [W_n h, W_r h / 2, W_z h / 2](t − 1)
        rz = a[:, : 2 * H]
        rz += hw[:, H:]
        r_z = gates[t, :2]
        np.tanh(rz.reshape(B, 2, H).transpose(1, 0, 2), out=r_z)
        r_z *= 0.5
        r_z += 0.5  # eqs. (G1), (G2)
        r, z, n = gates[t]
        np.add(hw[:, :H], P.b_hn, out=m[t])  # eq. (G3)
        np.multiply(r, m[t], out=n)
        n += a[:, 2 * H :]
        np.tanh(n, out=n)  # eq. (G4)
        np.subtract(hs[t], n, out=tmp)
        tmp *= z
        np.add(n, tmp, out=hs[t + 1])  # eq. (G5): h(t) = n + z ⊙ (h(t−1) − n)
    return hs[1:], hs[T], GRUCache(x, hs, gates, m)


# ---------------------------------------------------------------------- backward


def backward_layer(
    cell: str,
    p: Mapping[str, Any],
    dhs: Any,
    cache: Cache,
    dstate_T: Any = None,
    truncation: int | None = None,
) -> tuple[dict[str, Array], Array | None, State]:
    r"""Backpropagate any upstream gradient through one layer's sequence.

    Parameters
    ----------
    cell : {"rnn", "lstm", "gru"}
        Which cell; it must be the one that made ``cache``.
    p : mapping of str to ndarray
        The parameters the forward pass used.
    dhs : ndarray, shape (T, B, H)
        Any gradient on the hidden states h(1) .. h(T). Not modified.
    cache : RNNCache, LSTMCache or GRUCache
        From :func:`forward_layer`. Not modified.
    dstate_T : ndarray, shape (B, H), or for the LSTM a pair, optional
        A gradient on the final state; None means zero.
    truncation : int ≥ 1, optional
        Truncated BPTT, eq. (15): the gradient on the hidden state of step t (and on
        the final state, as that of step T) is backpropagated through at most this
        many steps. None is the exact gradient.

    Returns
    -------
    grads : dict of str to ndarray
        The gradient of each parameter of ``p``, by name, each of its parameter's shape.
    dx : ndarray, shape (T, B, D), or None
        The gradient on dense inputs; None for one-hot (index) inputs.
    dstate0 : ndarray, shape (B, H), or for the LSTM a pair
        The gradient on the initial state.

    Raises
    ------
    ValueError
        If ``cell`` is unknown or does not match the cache, a shape disagrees, or
        ``truncation`` < 1.
    TypeError
        If ``truncation`` is not an int or None.
    """
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {list(CELLS)}, got {cell!r}")
    expected = {"rnn": RNNCache, "lstm": LSTMCache, "gru": GRUCache}[cell]
    if not isinstance(cache, expected):
        raise ValueError(
            f"cache must be the {expected.__name__} of a {cell} forward pass, "
            f"got {type(cache).__name__}"
        )
    truncation = _check_truncation(truncation)
    hs = cache.hs
    T1, B, H = hs.shape
    dH = np.asarray(dhs, dtype=hs.dtype)
    if dH.shape != (T1 - 1, B, H):
        raise ValueError(f"dhs must have shape {(T1 - 1, B, H)}, got {dH.shape}")
    dT = _check_dstate(cell, dstate_T, B, H, hs.dtype)
    P = _pack(cell, _check_params(cell, p), hs.dtype)
    return _backward(cell, P, dH, cache, dT, truncation)


def _backward(
    cell: str,
    P: _Packed,
    upstream: Upstream,
    cache: Cache,
    dstate_T: tuple[Array, ...] | None,
    truncation: int | None,
    consume: bool = False,
) -> tuple[dict[str, Array], Array | None, State]:
    """The backward pass proper; with ``consume`` the cache is the caller's to give away."""
    H = P.W.shape[1]
    if truncation is None and cell == "rnn" and not callable(upstream):
        delta = upstream if consume else np.array(upstream)
        dstate: tuple[Array, ...] = (_rnn_deltas(delta, cache.hs, P.W, dstate_T),)
        grads, dx = _parameter_gradients(cell, P, cache, delta)
        return grads, dx, dstate[0]
    step, delta = _backward_step(cell, P, cache, consume)
    if truncation is None:
        dstate = _full_bptt(step, upstream, delta, H, dstate_T, cell == "lstm")
    else:
        delta = np.zeros(delta.shape, delta.dtype)  # the sum over lags
        dstate = _truncated_bptt(step, upstream, delta, H, dstate_T, cell == "lstm", truncation)
    grads, dx = _parameter_gradients(cell, P, cache, delta)
    if cell == "lstm":
        return grads, dx, (dstate[0], dstate[1])
    return grads, dx, dstate[0]


Upstream: TypeAlias = "Array | Callable[[int, Array], None]"
"""The upstream gradient on h(1) .. h(T): an array (T, B, H), or a function
``upstream(t, dh)`` that adds that of h(t) to ``dh`` (B, H)."""

Step = Callable[[Any, Array, Array, Array, Array, Array], None]
"""``step(t, dh, ds, delta, dh_prev, ds_prev)``: backpropagate through step(s) ``t``.

``dh`` (and for the LSTM ``ds``) is the gradient that reaches h(t) (and s(t)) from
later; ``delta`` receives the gate deltas of step(s) ``t``, ``dh_prev`` and ``ds_prev``
what reaches h(t − 1) and s(t − 1) through these steps. ``t`` is an int (arrays (B, ·))
or a slice of steps (arrays (n, B, ·)). The LSTM's ``ds`` is overwritten.
"""


def _full_bptt(
    step: Step,
    upstream: Upstream,
    delta: Array,
    H: int,
    dstate_T: tuple[Array, ...] | None,
    lstm: bool,
) -> tuple[Array, ...]:
    """The exact gradient: one backward step per t, from T down to 1."""
    T, B = delta.shape[:2]
    dh = np.zeros((B, H), delta.dtype)  # the gradient at h(t), from T down
    dh_prev = np.empty_like(dh)  # what reaches h(t − 1) through step t
    ds = np.zeros_like(dh)  # the gradient at s(t) (LSTM), in place from T down
    if dstate_T is not None:
        dh[...] = dstate_T[0]
        if lstm:
            ds[...] = dstate_T[1]
    for t in reversed(range(T)):
        if callable(upstream):
            upstream(t, dh)  # eq. (L7), (G6): the upstream gradient and the recurrent terms
        else:
            dh += upstream[t]
        step(t, dh, ds, delta[t], dh_prev, ds)
        dh, dh_prev = dh_prev, dh
    return (dh, ds) if lstm else (dh,)  # eq. (14), (L16), (G14)


def _rnn_deltas(delta: Array, hs: Array, W: Array, dstate_T: tuple[Array, ...] | None) -> Array:
    """The RNN's exact δ(t), eqs. (9) and (10), written over the upstream gradient ``delta``.

    The one cell whose step is two operations gets its own loop: at B = 1 the calls of
    the shared loop would cost as much as the arithmetic. Returns ∇h(0), eq. (14).
    """
    dtanh = hs[1:] * hs[1:]
    np.subtract(1.0, dtanh, out=dtanh)  # 1 − h(t)² = ∂h(t)/∂a(t) for every t, eq. (10)'s factor
    d_next = delta[-1]
    if dstate_T is not None:
        d_next += dstate_T[0]
    d_next *= dtanh[-1]  # eqs. (9) and (10) at t = T
    for t in reversed(range(len(delta) - 1)):
        d = delta[t]
        d += np.dot(d_next, W)  # eq. (9)
        d *= dtanh[t]  # eq. (10)
        d_next = d
    dh0: Array = np.dot(d_next, W)  # eq. (14)
    return dh0


def _truncated_bptt(
    step: Step,
    upstream: Upstream,
    delta: Array,
    H: int,
    dstate_T: tuple[Array, ...] | None,
    lstm: bool,
    truncation: int,
) -> tuple[Array, ...]:
    """Eq. (15): for each lag j < k, the gradient at step t from step t + j alone, all t at once.

    ``delta`` (T, B, G) is zero on entry and receives the sum over lags.
    """
    T, B = delta.shape[:2]
    grad_h = np.zeros((T, B, H), delta.dtype)  # lag 0: the gradient of step t's own terms
    for t in range(T):
        if callable(upstream):
            upstream(t, grad_h[t])
        else:
            grad_h[t] += upstream[t]
    grad_s = np.zeros_like(grad_h)
    if dstate_T is not None:
        grad_h[-1] += dstate_T[0]
        if lstm:
            grad_s[-1] += dstate_T[1]
    dstate0 = [np.zeros((B, H), delta.dtype) for _ in range(2 if lstm else 1)]
    for j in range(min(truncation, T)):
        n = T - j
        part = np.empty((n, *delta.shape[1:]), delta.dtype)
        dh_prev, ds_prev = np.empty_like(grad_h), np.empty_like(grad_h)
        step(slice(0, n), grad_h, grad_s, part, dh_prev, ds_prev)
        delta[:n] += part  # eq. (15)
        dstate0[0] += dh_prev[0]
        if lstm:
            dstate0[1] += ds_prev[0]
        grad_h, grad_s = dh_prev[1:], ds_prev[1:]
    return tuple(dstate0)


def _backward_step(cell: str, P: _Packed, cache: Cache, consume: bool) -> tuple[Step, Array]:
    """The cell's backward step, and the buffer for its deltas in the fused layout.

    With ``consume``, the LSTM's deltas overwrite its gate activations in the cache,
    step by step once read.
    """
    W = P.W
    if isinstance(cache, RNNCache):
        h = cache.hs[1:]
        dtanh = np.multiply(h, h)
        np.subtract(1.0, dtanh, out=dtanh)  # 1 − h(t)², eq. (10)'s factor

        def rnn_step(t: Any, dh: Array, ds: Array, d: Array, dh_prev: Array, _: Array) -> None:
            np.multiply(dh, dtanh[t], out=d)  # eq. (10)
            np.matmul(d, W, out=dh_prev)  # eq. (9)'s Wᵀ δ(t) one step earlier, or (14)

        return rnn_step, np.empty_like(h)
    if isinstance(cache, LSTMCache):
        T, _, B, H = cache.gates.shape
        gates, ss = cache.gates, cache.ss
        delta = gates.reshape(T, B, 4 * H) if consume else np.empty((T, B, 4 * H), gates.dtype)

        def lstm_step(
            t: Any, dh: Array, ds: Array, d: Array, dh_prev: Array, ds_prev: Array
        ) -> None:
            G = gates[t]  # [q, i, f, g] of step(s) t: (..., 4, B, H)
            G_all = _gate_first(G)  # a view (4, ..., B, H)
            q, i, f, g = G_all
            D = np.subtract(1.0, G)  # becomes [δ_q, δ_i, δ_f, δ_g]
            D_q, D_i, D_f, D_g = D_all = _gate_first(D)
            D_sig = D_all[:3]
            D_sig *= G_all[:3]  # σ'(a) = σ(1 − σ) for q, i, f
            tanh_s = np.tanh(ss[1:][t])
            dtanh = np.multiply(tanh_s, tanh_s)
            np.subtract(1.0, dtanh, out=dtanh)
            dtanh *= q
            dtanh *= dh
            ds += dtanh  # eq. (L8)
            D_q *= tanh_s
            D_q *= dh  # eq. (L9)
            D_i *= g
            D_f *= ss[:-1][t]
            np.multiply(g, g, out=D_g)
            np.subtract(1.0, D_g, out=D_g)
            D_g *= i
            D_ifg = D_all[1:]
            D_ifg *= ds  # eqs. (L10), (L11), (L12); ds broadcasts over the three gates
            np.multiply(f, ds, out=ds_prev)  # (L8)'s second term one step earlier, or (L16)
            np.copyto(d.reshape(*d.shape[:-1], 4, H), np.swapaxes(D, -3, -2))
            np.matmul(d, W, out=dh_prev)  # (L7)'s Σ_k W_kᵀ δ_k one step earlier, or (L16)

        return lstm_step, delta
    T, _, B, H = cache.gates.shape
    gates, m, hs = cache.gates, cache.m, cache.hs
    delta = np.empty((T, B, 4 * H), gates.dtype)  # δ_m, δ_r, δ_z, δ_n

    def gru_step(t: Any, dh: Array, _: Array, d: Array, dh_prev: Array, __: Array) -> None:
        r, z, n = (gates[t][..., k, :, :] for k in range(3))
        D = np.empty((*dh.shape[:-2], 4, *dh.shape[-2:]), dh.dtype)  # [δ_m, δ_r, δ_z, δ_n]
        one_minus_z = np.subtract(1.0, z)
        np.multiply(n, n, out=D[..., 3, :, :])
        np.subtract(1.0, D[..., 3, :, :], out=D[..., 3, :, :])
        D[..., 3, :, :] *= one_minus_z
        D[..., 3, :, :] *= dh  # eq. (G7)
        np.subtract(hs[:-1][t], n, out=D[..., 2, :, :])
        D[..., 2, :, :] *= z
        D[..., 2, :, :] *= one_minus_z
        D[..., 2, :, :] *= dh  # eq. (G8)
        np.multiply(D[..., 3, :, :], r, out=D[..., 0, :, :])  # eq. (G9)
        np.subtract(1.0, r, out=D[..., 1, :, :])
        D[..., 1, :, :] *= r
        D[..., 1, :, :] *= m[t]
        D[..., 1, :, :] *= D[..., 3, :, :]  # eq. (G10)
        np.copyto(d.reshape(*d.shape[:-1], 4, H), np.swapaxes(D, -3, -2))
        np.matmul(d[..., : 3 * H], W, out=dh_prev)
        dh_prev += np.multiply(z, dh)  # (G6)'s recurrent terms one step earlier, or (G14)

    return gru_step, delta


def _gate_first(G: Array) -> Array:
    """The gate axis of (..., 4, B, H) first, as a view; a single step's (4, B, H) as it is
    (``np.moveaxis`` costs more than the elementwise work of a small step)."""
    return G if G.ndim == 3 else np.moveaxis(G, -3, 0)


def _parameter_gradients(
    cell: str, P: _Packed, cache: Cache, delta: Array
) -> tuple[dict[str, Array], Array | None]:
    """The sums over all steps, one product each: ∇W, ∇U, ∇b and the input gradient."""
    T, B, G_delta = delta.shape
    H = P.W.shape[1]
    rows = delta.reshape(T * B, G_delta)
    d_rec = rows[:, : P.W.shape[0]]  # the deltas that multiply W, in the recurrent order
    d_in = rows[:, G_delta - P.U.shape[0] :]  # the deltas that multiply U, in the input order
    dW = d_rec.T @ cache.hs[:-1].reshape(T * B, H)  # eqs. (12), (L14), (G12)
    x = cache.x
    if x.dtype.kind in "iu":
        X = _one_hot_columns(x, P.U.shape[1], delta.dtype)
        dUT = X @ rows  # eqs. (13), (L15), (G13): each δ(t) added into row x(t)
        dUT = dUT[:, G_delta - P.U.shape[0] :]
        dU, db, dx = dUT.T, dUT.sum(axis=0), None  # eqs. (11), (L13), (G11)
    else:
        x2 = x.reshape(T * B, -1)
        dU, db = d_in.T @ x2, d_in.sum(axis=0)
        dx = (d_in @ P.U).reshape(T, B, -1)
    grads: dict[str, Array] = {}
    for k, name in enumerate(_INPUT_ORDER[cell]):
        suffix = f"_{name}" if name else ""
        grads["U" + suffix] = np.ascontiguousarray(dU[k * H : (k + 1) * H])
        grads["b" + suffix] = db[k * H : (k + 1) * H]
    for k, name in enumerate(_RECURRENT_ORDER[cell]):
        grads["W" + (f"_{name}" if name else "")] = dW[k * H : (k + 1) * H]
    if cell == "gru":
        grads["b_hn"] = d_rec[:, :H].sum(axis=0)  # eq. (G11): Σ δ_m(t)
    return {name: grads[name] for name in PARAM_NAMES[cell]}, dx


def _one_hot_columns(x: Array, size: int, dtype: np.dtype[Any]) -> scipy.sparse.csc_array:
    r"""The one-hot inputs as a sparse (D, T·B) matrix X: column t·B + b is :math:`x_b^{(t)}`.

    ``X @ R`` for per-step rows ``R`` (T·B, K) is :math:`\sum_t x^{(t)} R^{(t)}`: row v sums
    the rows of the steps whose input is v, T·B·K additions and no dense one-hot array.
    """
    n = x.size
    return scipy.sparse.csc_array((np.ones(n, dtype), x.reshape(-1), np.arange(n + 1)), (size, n))


# ------------------------------------------------------------------------ the loss


def loss_and_gradients(
    model: RecurrentModel,
    inputs: Any,
    targets: Any,
    h0: Any = None,
    truncation: int | None = None,
) -> tuple[float, dict[str, Array], Any]:
    r"""What ``model.loss_and_gradients`` returns, computed on the fast path.

    Same contract and results: see :meth:`rnn.model.RecurrentModel.loss_and_gradients`. The
    model's parameters are read through ``model.params`` and its cell through
    ``model.cell``; the model is not changed.

    Parameters
    ----------
    model : RecurrentModel
        An RNN, LSTM or GRU with any number of layers, reading character indices.
    inputs, targets : array_like of int, shape (T,) or (T, B)
        Input and target character indices.
    h0 : array_like, shape (H,) or (B, H), or the LSTM's pair, optional
        The initial state; None means zeros.
    truncation : int ≥ 1, optional
        Truncated BPTT, eq. (15); None is the exact gradient.

    Returns
    -------
    loss : float
        The summed negative log-likelihood, eq. (5).
    grads : dict of str to ndarray
        The gradient of every parameter, keyed and ordered by ``model.param_names``.
    h_last : ndarray or pair
        The state after the last step, shaped like ``h0``.

    Raises
    ------
    TypeError, ValueError
        As ``model.loss_and_gradients`` does, with the same messages.

    Examples
    --------
    >>> from rnn import LSTM
    >>> model = LSTM.random(vocab_size=5, hidden_size=4, rng=np.random.default_rng(0))
    >>> x, y = np.array([[0, 1], [2, 3], [4, 0]]), np.array([[1, 2], [3, 4], [0, 1]])
    >>> loss, grads, (h, s) = loss_and_gradients(model, x, y)
    >>> reference, expected, _ = model.loss_and_gradients(x, y)
    >>> bool(np.isclose(loss, reference, rtol=1e-12))
    True
    >>> all(np.allclose(grads[k], expected[k], rtol=1e-12, atol=1e-15) for k in grads)
    True
    """
    truncation = _check_truncation(truncation)  # before the forward pass allocates
    run = _forward_model(model, inputs, targets, h0)
    x, y, Vw, h, logits = run.x, run.y, run.Vw, run.h, run.logits
    T, B = x.shape
    H = h.shape[-1]
    value = _softmax_loss_gradient(logits, y.reshape(-1))  # logits become ∇o L
    grads = {
        "c": logits.sum(axis=0),  # eq. (7)
        "V": logits.T @ h,  # eq. (8)
    }
    if model.cell == "rnn":  # one product for all steps: at B = 1 it beats T small ones
        upstream: Upstream = (logits @ Vw).reshape(T, B, H)  # eq. (9)'s Vᵀ ∇o(t) L term
    else:  # a product per step: no (T, B, H) buffer beside the gates' (T, B, G)
        upstream = _output_gradient(logits.reshape(T, B, -1), Vw.astype(h.dtype, copy=False))
    for layer in reversed(range(model.num_layers)):  # each layer's dx is the upstream below
        suffix = layer_suffix(layer)
        cell_grads, dx, _ = _backward(
            model.cell, run.packed[layer], upstream, run.caches[layer], None, truncation, True
        )
        grads.update({name + suffix: g for name, g in cell_grads.items()})
        if dx is not None:  # None below the bottom layer, whose inputs are indices
            upstream = dx
    return float(value), {name: grads[name] for name in model.param_names}, run.state_T()


def loss(model: RecurrentModel, inputs: Any, targets: Any, h0: Any = None) -> tuple[float, Any]:
    r"""What ``model.loss`` returns, computed on the fast path, and the state after the last step.

    The forward half of :func:`loss_and_gradients`: no backward pass, for evaluating a model
    on data it does not train on. The model is not changed.

    Parameters
    ----------
    model : RecurrentModel
        An RNN, LSTM or GRU with any number of layers, reading character indices.
    inputs, targets : array_like of int, shape (T,) or (T, B)
        Input and target character indices.
    h0 : array_like, shape (H,) or (B, H), or the LSTM's pair, optional
        The initial state; None means zeros.

    Returns
    -------
    loss : float
        The summed negative log-likelihood, eq. (5).
    h_last : ndarray or pair
        The state after the last step, shaped like ``h0``.

    Raises
    ------
    TypeError, ValueError
        As ``model.loss`` does, with the same messages.

    Examples
    --------
    >>> from rnn import GRU
    >>> model = GRU.random(vocab_size=5, hidden_size=4, rng=np.random.default_rng(0))
    >>> x, y = np.array([[0, 1], [2, 3], [4, 0]]), np.array([[1, 2], [3, 4], [0, 1]])
    >>> value, h = loss(model, x, y)
    >>> bool(np.isclose(value, model.loss(x, y), rtol=1e-12))
    True
    """
    run = _forward_model(model, inputs, targets, h0)
    value = _softmax_loss_gradient(run.logits, run.y.reshape(-1))  # eq. (5)
    return float(value), run.state_T()


@dataclass(frozen=True)
class _ModelRun:
    """A model's forward pass on the fast path: what the loss and the backward pass read."""

    x: Array  # (T, B) input indices
    y: Array  # (T, B) target indices
    batched: bool  # whether the inputs had a batch axis
    Vw: Array  # the output weights V, (K, H)
    h: Array  # the top layer's h(1) .. h(T), stacked to (T·B, H)
    logits: Array  # o(t) of eq. (3) for all steps, (T·B, K)
    packed: list[_Packed]  # each layer's fused parameters, bottom first
    caches: list[Cache]  # each layer's cache, bottom first
    finals: list[State]  # each layer's state after the last step, (B, H) or pairs

    def state_T(self) -> Any:
        """The state after the last step, shaped as the model's ``h0`` is."""
        finals = self.finals
        if not self.batched:
            finals = [tuple(a[0] for a in s) if isinstance(s, tuple) else s[0] for s in finals]
        return finals[0] if len(finals) == 1 else tuple(finals)


def _forward_model(model: RecurrentModel, inputs: Any, targets: Any, h0: Any) -> _ModelRun:
    """Check the arguments as the model does, then run every layer and the output layer."""
    memory.check_call(model, np.shape(inputs))  # before the caches are allocated
    params, cell = model.params, model.cell
    Vw, c = params["V"], params["c"]
    x, batched = _check_inputs("inputs", inputs, Vw.shape[0])
    T, B = x.shape
    state0 = model._check_state(h0, B, batched)
    states = (state0,) if model.num_layers == 1 else state0  # one state per layer
    for state in states:
        parts = state if isinstance(state, tuple) else (state,)
        for name, part in zip(("h0", "s0"), parts, strict=False):  # the LSTM's pair, or h
            check_castable(name, part, model.dtype)
    y, y_batched = _check_inputs("targets", targets, Vw.shape[0])
    if y.shape != x.shape or y_batched != batched:
        shape = x.shape if batched else x.shape[:1]
        given = y.shape if y_batched else y.shape[:1]
        raise ValueError(f"targets must have the inputs' shape {shape}, got {given}")
    arrays = [a for s in states for a in (s if isinstance(s, tuple) else (s,))]
    dtype = np.result_type(*params.values(), *arrays)
    packed, caches, finals, hs = [], [], [], x
    for layer, state in enumerate(states):  # bottom first; layer l ≥ 1 reads layer l − 1's h
        suffix = layer_suffix(layer)
        P = _pack(cell, {n: params[n + suffix] for n in PARAM_NAMES[cell]}, dtype)
        hs, last, cache = _forward(cell, P, hs, state)
        packed.append(P)
        caches.append(cache)
        finals.append(last)
    h = hs.reshape(T * B, hs.shape[-1])
    logits = h @ Vw.T.astype(h.dtype, copy=False)  # eq. (3), all steps at once
    logits += c
    return _ModelRun(x, y, batched, Vw, h, logits, packed, caches, finals)


def _output_gradient(do: Array, Vw: Array) -> Upstream:
    """The upstream gradient Vᵀ ∇o(t) L of eq. (9), one product per step; ``do`` (T, B, V)."""
    scratch = np.empty((do.shape[1], Vw.shape[1]), do.dtype)

    def upstream(t: int, dh: Array) -> None:
        dh += np.matmul(do[t], Vw, out=scratch)

    return upstream


def _softmax_loss_gradient(o: Array, y: NDArray[np.intp]) -> Any:
    r"""The summed loss (5) of logits ``o`` (N, V), and ∇o L (6) written over ``o``.

    One exponential per entry: with :math:`z = o - \max o`, the loss at row n is
    :math:`\ln \sum_k e^{z_k} - z_{y_n}`, and :math:`\hat y = e^z / \sum_k e^{z_k}`.
    """
    rows = np.arange(len(o))
    o -= o.max(axis=1, keepdims=True)  # e^z ≤ 1: no overflow
    z_y = o[rows, y]
    np.exp(o, out=o)
    total = o.sum(axis=1, keepdims=True)
    o /= total  # eq. (4)
    o[rows, y] -= 1.0  # eq. (6): ∇o L = ŷ − onehot(y)
    return np.log(total).sum() - z_y.sum()  # eq. (5)


# -------------------------------------------------------------------- validation


def _check_params(cell: str, p: Mapping[str, Any]) -> dict[str, Array]:
    names = PARAM_NAMES[cell]
    missing = [n for n in names if n not in p]
    if missing:
        raise ValueError(
            f"parameters of a {cell} layer must include {list(names)}, missing {missing}"
        )
    arrays = {n: np.asarray(p[n]) for n in names}
    H, D = arrays[names[0]].shape if arrays[names[0]].ndim == 2 else (-1, -1)
    for n, a in arrays.items():
        want = {"U": (H, D), "W": (H, H), "b": (H,)}[n[0]]
        if a.shape != want or H < 1 or D < 1:
            raise ValueError(
                f"{n} must have shape {want} like the other parameters, got {a.shape}"
            )
    return arrays


def _check_layer(
    cell: str, p: Mapping[str, Any], x: Any, state0: Any
) -> tuple[str, dict[str, Array], Array, State]:
    if cell not in CELLS:
        raise ValueError(f"cell must be one of {list(CELLS)}, got {cell!r}")
    arrays = _check_params(cell, p)
    H, D = arrays[PARAM_NAMES[cell][0]].shape
    xa = np.asarray(x)
    if xa.dtype.kind in "iu":
        if xa.ndim != 2:
            raise ValueError(f"index inputs x must have shape (T, B), got {xa.shape}")
        xa, _ = _check_inputs("x", xa, D)
    elif xa.dtype.kind == "f":
        if xa.ndim != 3 or xa.shape[2] != D or xa.shape[0] < 1 or xa.shape[1] < 1:
            raise ValueError(f"dense inputs x must have shape (T, B, {D}), got {xa.shape}")
    else:
        raise TypeError(f"x must be an integer or floating-point array, got dtype {xa.dtype}")
    B = xa.shape[1]
    if cell == "lstm":
        if not (isinstance(state0, (tuple, list)) and len(state0) == 2):
            raise TypeError(
                f"state0 of an LSTM must be a pair (h0, s0), got {type(state0).__name__}"
            )
        state: State = (
            _check_array_state("h0", state0[0], B, H, True),
            _check_array_state("s0", state0[1], B, H, True),
        )
    else:
        state = _check_array_state("state0", state0, B, H, True)
    return cell, arrays, xa, state


def _check_dstate(
    cell: str, dstate: Any, B: int, H: int, dtype: np.dtype[Any]
) -> tuple[Array, ...] | None:
    if dstate is None:
        return None
    parts = tuple(dstate) if cell == "lstm" else (dstate,)
    if cell == "lstm" and len(parts) != 2:
        raise ValueError(f"dstate_T of an LSTM must be a pair (dh, ds), got {len(parts)} arrays")
    out = tuple(np.asarray(a, dtype) for a in parts)
    for a in out:
        if a.shape != (B, H):
            raise ValueError(f"dstate_T must have shape {(B, H)}, got {a.shape}")
    return out
