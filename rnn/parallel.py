r"""The streams of a window shared among worker processes: one core each, the sums exact.

The loss (5) of a window of B streams is a sum over the streams, and so is every gradient
(6) to (15): given the parameters, stream b's terms depend only on stream b's characters
and state. A :class:`StreamPool` of n workers therefore cuts the B streams into n contiguous
slices, worker k computes its slice's loss and gradients with
:func:`rnn.fast.loss_and_gradients`, and the calling process adds the n results in worker
order. Only the order of floating-point additions differs from one call over all B
streams; ``tests/test_parallel.py`` holds the two equal to 1e-12 relative in float64, for
every cell and for stacked layers.

**Why processes.** At the sizes a character model trains at (H = 128, B = 50: a step's
recurrent product is (50, 128) × (128, 512), about 3 MFLOP), a step's products are too
small for the BLAS library to share between threads: on the 2-core machines of
``benchmarks/`` its second thread made them slower, not faster. The elementwise work of a
step runs on one thread in numpy, and Python threads share one interpreter lock. Separate
processes have none of these limits: each worker runs its slice on its own core with one
BLAS thread, and the products of a step stay whole within a worker.

When the workers are as many as the CPUs the process may use, each stays on its own CPU
(:func:`placement`).

**What a call costs beyond the workers' own work.** The parameters are copied once per
call into memory shared with every worker (and by each worker into its own model), the
gradients come back through shared memory, and the characters and the states of each
slice (a few tens of KiB) travel through a pipe.

Workers are started with the ``spawn`` method, as fresh interpreters, so a script that
trains with workers needs the usual ``if __name__ == "__main__":`` guard of any
``multiprocessing`` program. They ignore SIGINT and SIGTERM (Ctrl-C reaches every
process of the terminal's group; the calling process decides when to stop) and end by
themselves when the calling process ends, even when it is killed.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import signal
import weakref
from collections.abc import Iterator
from typing import Any

import numpy as np
from numpy.typing import NDArray

from rnn import fast
from rnn.checks import check_int
from rnn.model import RecurrentModel

__all__ = ["StreamPool", "WorkerError", "placement"]

_SPAWN = multiprocessing.get_context("spawn")

_STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
"""The signals on which the command line stops training cleanly; the workers ignore them."""

_THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
"""The environment variables that fix a BLAS library's thread count when it loads."""


class WorkerError(RuntimeError):
    """A worker process of a :class:`StreamPool` ended before it answered; the pool is closed."""


class StreamPool:
    """Worker processes that each compute the loss and gradients of a slice of the streams.

    Parameters
    ----------
    model : RecurrentModel
        The model to train. Its cell, sizes and dtype are fixed for the pool's life; the
        values of its parameters are read at every call.
    workers : int
        n ≥ 1 worker processes, each with one BLAS thread.

    Raises
    ------
    TypeError, ValueError
        If ``model`` is not a model or ``workers`` is not an int ≥ 1.

    Notes
    -----
    Use it as a context manager, or call :meth:`close`: the workers end when the pool is
    closed, when it is garbage-collected, and when the calling process ends.

    Examples
    --------
    >>> from rnn import LSTM
    >>> model = LSTM.random(vocab_size=5, hidden_size=4, rng=np.random.default_rng(0))
    >>> x, y = np.array([[0, 1, 2], [3, 4, 0]]), np.array([[1, 2, 3], [4, 0, 1]])
    >>> with StreamPool(model, workers=2) as pool:
    ...     loss, grads, state = pool.loss_and_gradients(model, x, y)
    >>> one_loss, one_grads, _ = fast.loss_and_gradients(model, x, y)
    >>> bool(np.isclose(loss, one_loss, rtol=1e-12))
    True
    >>> all(np.allclose(grads[k], one_grads[k], rtol=1e-12, atol=1e-15) for k in grads)
    True
    """

    def __init__(self, model: RecurrentModel, workers: int) -> None:
        if not isinstance(model, RecurrentModel):
            raise TypeError(f"model must be a RecurrentModel, got {type(model).__name__}")
        self.workers = check_int("workers", workers, minimum=1)
        self._shapes = {name: p.shape for name, p in model.params.items()}
        self._dtype = model.dtype
        self._cell = model.cell
        size = sum(int(np.prod(s)) for s in self._shapes.values()) * self._dtype.itemsize
        # one block of parameters read by every worker, one block of gradients per worker
        self._param_block = _SPAWN.RawArray("b", max(size, 1))
        self._grad_blocks = [_SPAWN.RawArray("b", max(size, 1)) for _ in range(workers)]
        self._params = _views(self._param_block, self._shapes, self._dtype)
        self._grads = [_views(b, self._shapes, self._dtype) for b in self._grad_blocks]
        self._connections: list[multiprocessing.connection.Connection] = []
        self._processes: list[Any] = []
        cpus = placement(workers, _allowed_cpus())
        try:
            with _one_blas_thread(), _stop_signals_blocked():
                for block, cpu in zip(self._grad_blocks, cpus, strict=True):
                    here, there = _SPAWN.Pipe()
                    process = _SPAWN.Process(
                        target=_serve,
                        args=(there, model, self._param_block, block, cpu),
                        daemon=True,
                        name=f"rnn stream worker {len(self._processes) + 1} of {workers}",
                    )
                    process.start()
                    there.close()  # the worker holds its end; EOF reaches it if we end
                    self._connections.append(here)
                    self._processes.append(process)
        except BaseException:
            _shut_down(self._connections, self._processes)
            raise
        self._finalizer = weakref.finalize(self, _shut_down, self._connections, self._processes)

    # ------------------------------------------------------------------ the calls

    def loss_and_gradients(
        self, model: RecurrentModel, inputs: Any, targets: Any, h0: Any = None
    ) -> tuple[float, dict[str, NDArray[Any]], Any]:
        """What :func:`rnn.fast.loss_and_gradients` returns, the streams shared by the workers.

        Parameters
        ----------
        model : RecurrentModel
            The pool's model (the same cell, sizes and dtype); its current parameters
            are used.
        inputs, targets : array_like of int, shape (T, B)
            Input and target character indices, B ≥ ``workers`` streams.
        h0 : array_like, shape (B, H), or the LSTM's pair, or one per layer, optional
            The initial state; None means zeros.

        Returns
        -------
        loss : float
            The summed negative log-likelihood, eq. (5), over all B streams.
        grads : dict of str to ndarray
            The gradient of every parameter (new arrays), the sum of the workers' in
            worker order, keyed and ordered by ``model.param_names``.
        h_last : ndarray or tuple
            The state after the last step, shaped like ``h0``.

        Raises
        ------
        TypeError, ValueError
            If the arguments are not allowed: as :func:`rnn.fast.loss_and_gradients`
            raises them, or if there are fewer streams than workers.
        RuntimeError
            If the pool is closed.
        WorkerError
            If a worker process has ended (killed, or out of memory); the pool closes.
        """
        loss, state = self._run("loss_and_gradients", model, inputs, targets, h0, None)
        grads = {}
        for name in model.param_names:  # in worker order, so a call is repeatable
            total = self._grads[0][name].copy()
            for worker in self._grads[1:]:
                total += worker[name]
            grads[name] = total
        return loss, grads, state

    def loss(
        self,
        model: RecurrentModel,
        inputs: Any,
        targets: Any,
        h0: Any = None,
        window: int | None = None,
    ) -> tuple[float, Any]:
        """What :func:`rnn.fast.loss` returns, the streams shared by the workers.

        Parameters and exceptions as :meth:`loss_and_gradients`, and:

        Parameters
        ----------
        window : int, optional
            Each worker reads its streams in consecutive windows of this many steps (the
            last may be shorter), the state carried from each to the next: long streams
            are evaluated in one call, with the memory of one window. None reads all
            steps at once.

        Returns
        -------
        loss : float
            The summed negative log-likelihood, eq. (5), over all steps and streams.
        h_last : ndarray or tuple
            The state after the last step, shaped like ``h0``.
        """
        if window is not None:
            check_int("window", window, minimum=1)
        return self._run("loss", model, inputs, targets, h0, window)

    def _run(
        self,
        operation: str,
        model: RecurrentModel,
        inputs: Any,
        targets: Any,
        h0: Any,
        window: int | None,
    ) -> tuple[float, Any]:
        """Send each worker its slice of the streams; the summed loss and joined state."""
        if not self._finalizer.alive:
            raise RuntimeError("the stream pool is closed")
        if not isinstance(model, RecurrentModel):
            raise TypeError(f"model must be a RecurrentModel, got {type(model).__name__}")
        shapes = {name: p.shape for name, p in model.params.items()}
        if (model.cell, model.dtype, shapes) != (self._cell, self._dtype, self._shapes):
            raise ValueError(
                f"model must be a {self._cell} with the pool's parameter shapes and dtype "
                f"{self._dtype}, got a {model.cell} in {model.dtype}"
            )
        x, y = np.asarray(inputs), np.asarray(targets)
        if x.ndim != 2 or y.ndim != 2:
            raise ValueError(
                f"inputs and targets must have shape (T, B), got {x.shape} and {y.shape}"
            )
        streams = x.shape[1]
        if streams < self.workers:
            raise ValueError(
                f"the pool's {self.workers} workers need at least as many streams, "
                f"got B = {streams}"
            )
        for name, p in model.params.items():
            np.copyto(self._params[name], p)
        edges = [streams * k // self.workers for k in range(self.workers + 1)]
        errors = np.geterr()  # the workers compute under the caller's floating-point rules
        for k, connection in enumerate(self._connections):
            lo, hi = edges[k], edges[k + 1]
            message = (operation, x[:, lo:hi], y[:, lo:hi], _rows(h0, lo, hi), window, errors)
            self._send(k, connection, message)
        replies = [self._receive(k, c) for k, c in enumerate(self._connections)]
        failed = next((r[1] for r in replies if r[0] == "error"), None)
        if failed is not None:
            raise failed
        loss = 0.0
        for reply in replies:  # in worker order
            loss += reply[1]
        return loss, _join([reply[2] for reply in replies])

    def _send(self, k: int, connection: Any, message: Any) -> None:
        try:
            connection.send(message)
        except (BrokenPipeError, ConnectionResetError, OSError):
            raise self._ended(k) from None

    def _receive(self, k: int, connection: Any) -> Any:
        try:
            return connection.recv()
        except (EOFError, ConnectionResetError, OSError):
            raise self._ended(k) from None

    def _ended(self, k: int) -> WorkerError:
        process = self._processes[k]
        process.join(timeout=1)
        self.close()
        return WorkerError(
            f"stream worker {k + 1} of {self.workers} ended unexpectedly "
            f"(exit code {process.exitcode}); the pool is closed"
        )

    # -------------------------------------------------------------------- the end

    def close(self) -> None:
        """End the workers; a closed pool refuses calls. Calling it again does nothing."""
        self._finalizer()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has ended the workers."""
        return not self._finalizer.alive

    def __enter__(self) -> StreamPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------------- the workers


def _serve(
    connection: Any, model: RecurrentModel, param_block: Any, grad_block: Any, cpu: int | None
) -> None:
    """A worker's loop: compute what each message asks for, until EOF or None arrives."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    for stop in _STOP_SIGNALS:  # the calling process decides when to stop
        signal.signal(stop, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):  # POSIX; elsewhere nothing was blocked
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    shapes = {name: p.shape for name, p in model.params.items()}
    params = _views(param_block, shapes, model.dtype)
    grads = _views(grad_block, shapes, model.dtype)
    while True:
        try:
            message = connection.recv()
        except (EOFError, OSError):  # the calling process has ended
            return
        if message is None:
            return
        operation, x, y, h0, window, errors = message
        try:
            for name, p in model.params.items():
                np.copyto(p, params[name])
            with np.errstate(**errors):
                if operation == "loss":
                    loss, state = _windowed_loss(model, x, y, h0, window)
                else:
                    loss, computed, state = fast.loss_and_gradients(model, x, y, h0)
                    for name, g in computed.items():
                        np.copyto(grads[name], g)
            reply: tuple[Any, ...] = ("ok", loss, state)
        except Exception as err:  # the caller re-raises it, with its type and message
            reply = ("error", err)
        try:
            connection.send(reply)
        except (BrokenPipeError, OSError):
            return


def _windowed_loss(
    model: RecurrentModel, x: Any, y: Any, h0: Any, window: int | None
) -> tuple[float, Any]:
    """:func:`rnn.fast.loss` over consecutive windows of ``window`` steps, the state
    carried; all steps at once for None."""
    if window is None:
        return fast.loss(model, x, y, h0)
    total, state = 0.0, h0
    for start in range(0, len(x), window):
        value, state = fast.loss(
            model, x[start : start + window], y[start : start + window], state
        )
        total += value
    return total, state


def placement(workers: int, cpus: list[int] | None) -> list[int | None]:
    """The CPU each worker is kept on, or None where the operating system chooses.

    When the workers are as many as the CPUs this process may run on (``cpus``, from
    ``os.sched_getaffinity``; None where it does not exist), worker k stays on the
    k-th of them. Workers that move between CPUs lose their caches, and a worker that
    waits for a core delays the whole window: on the 2-core benchmark machine, keeping
    them in place took the slowest tenth of the updates from about 21 ms to about 15 ms,
    and the median from 14 to 18 ms down to 13 to 14 ms. With fewer workers than CPUs
    none is kept in place, so that no CPU is left idle for another job.

    Examples
    --------
    >>> placement(2, [0, 1]), placement(2, [0, 1, 2, 3]), placement(2, None)
    ([0, 1], [None, None], [None, None])
    """
    if cpus is not None and len(cpus) == workers:
        return list(cpus)
    return [None] * workers


def _allowed_cpus() -> list[int] | None:
    """The CPUs this process may run on, sorted; None where the system does not say."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    return sorted(os.sched_getaffinity(0))


def _views(
    block: Any, shapes: dict[str, tuple[int, ...]], dtype: np.dtype[Any]
) -> dict[str, NDArray[Any]]:
    """Arrays of ``shapes`` laid end to end in the shared ``block``."""
    flat = np.frombuffer(block, dtype=np.uint8)
    views, offset = {}, 0
    for name, shape in shapes.items():
        nbytes = int(np.prod(shape)) * dtype.itemsize
        views[name] = flat[offset : offset + nbytes].view(dtype).reshape(shape)
        offset += nbytes
    return views


def _rows(state: Any, lo: int, hi: int) -> Any:
    """Streams ``lo`` to ``hi`` of a state: None, a (B, H) array, or a tuple of them."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(_rows(part, lo, hi) for part in state)
    return np.asarray(state)[lo:hi]


def _join(parts: list[Any]) -> Any:
    """The states of consecutive slices of streams joined along the stream axis."""
    if isinstance(parts[0], tuple):
        return tuple(_join([p[i] for p in parts]) for i in range(len(parts[0])))
    return np.concatenate(parts, axis=0)


def _shut_down(connections: list[Any], processes: list[Any]) -> None:
    """Ask each worker to end, then make sure it has."""
    for connection in connections:
        with contextlib.suppress(OSError):
            connection.send(None)
    for process in processes:
        process.join(timeout=2)
        if process.is_alive():
            process.kill()
            process.join()
    for connection in connections:
        connection.close()


@contextlib.contextmanager
def _one_blas_thread() -> Iterator[None]:
    """Processes started within it load their BLAS library with one thread."""
    saved = {name: os.environ.get(name) for name in _THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(_THREAD_VARIABLES, "1"))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _stop_signals_blocked() -> Iterator[None]:
    """SIGINT and SIGTERM held back while workers start: they inherit the mask and ignore
    the signals once running; here they are delivered when the block ends. Where signal
    masks do not exist (Windows), nothing is held back."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
