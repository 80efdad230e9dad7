r"""Grade a student's backward pass against this package's exact gradient, and name the mistake.

:func:`grade` loads a student's Python file, calls its functions on generated cases and
runs four checks, in this order:

1. every call returns, with the right number of values, shapes and dtypes, and leaves its
   arguments unchanged;
2. the loss (and the forward pass's other outputs) against the reference;
3. each gradient against the reference's exact gradient, to a relative error of
   :data:`GRADIENT_RTOL`;
4. central differences of the student's *own* loss
   (:func:`~verification.gradcheck.check_gradients`), so that a student whose forward pass
   differs from ours still learns whether their backward pass matches their forward pass.

When a gradient fails check 3, the reference gradient is computed again under each mistake
of :data:`verification.mistakes.CATALOGUE`; the report names the mistake whose gradient
equals the student's on every case, to :data:`DIAGNOSIS_RTOL`, and the equation of the
derivation page it breaks, or says ``no known mistake matches``.

Layouts
-------
``min-char-rnn``
    Karpathy's gist: ``lossFun(inputs, targets, hprev) -> (loss, dWxh, dWhh, dWhy, dbh,
    dby, hlast)``, reading the module globals ``Wxh`` (H, V), ``Whh`` (H, H), ``Why``
    (V, H), ``bh`` (H, 1), ``by`` (V, 1) and ``vocab_size``, which the grader sets.
    ``inputs`` and ``targets`` are lists of T ints, ``hprev`` and ``hlast`` are (H, 1).
``cs231n``
    cs231n's ``rnn_layers.py``, in its row convention ``x @ Wx + prev_h @ Wh + b``:
    ``rnn_step_forward(x, prev_h, Wx, Wh, b) -> (next_h, cache)`` with x (N, D) and
    prev_h (N, H), ``rnn_step_backward(dnext_h, cache) -> (dx, dprev_h, dWx, dWh, db)``,
    ``rnn_forward(x, h0, Wx, Wh, b) -> (h, cache)`` with x (N, T, D) and h (N, T, H),
    ``rnn_backward(dh, cache) -> (dx, dh0, dWx, dWh, db)``; Wx (D, H), Wh (H, H), b (H,).
    The backward functions get a random upstream gradient. ``temporal_softmax_loss(x, y,
    mask) -> (loss, dx)`` (x (N, T, V), y (N, T), mask (N, T); the loss summed over
    the steps and averaged over the N sequences) is graded when present, and so is each
    pair of cs231n's LSTM when both its functions are: ``lstm_step_forward(x, prev_h,
    prev_c, Wx, Wh, b) -> (next_h, next_c, cache)``, ``lstm_step_backward(dnext_h,
    dnext_c, cache) -> (dx, dprev_h, dprev_c, dWx, dWh, db)``, ``lstm_forward(x, h0, Wx,
    Wh, b) -> (h, cache)`` (the cell state starts at zero) and ``lstm_backward(dh, cache)
    -> (dx, dh0, dWx, dWh, db)``, with Wx (D, 4H), Wh (H, 4H), b (4H,) holding the gates
    in the order i, f, o, g. Their reference is :class:`rnn.layers.lstm.LSTMLayer` (whose
    output gate is q), and their diagnosis uses
    :data:`~verification.mistakes.LSTM_CATALOGUE` and cites the LSTM page's equations.
``reference``
    This package's contract: ``loss_and_gradients(params, inputs, targets, h0) -> (loss,
    grads, h_last)``, with ``params`` and ``grads`` dicts keyed by the cell's parameter
    names (``U`` (H, V), ``W`` (H, H), ``V`` (V, H), ``b`` (H,), ``c`` (V,) for the RNN;
    :meth:`rnn.lstm.LSTM.param_shapes` and :meth:`rnn.gru.GRU.param_shapes` for the others),
    ``inputs`` and ``targets`` int arrays (T, B), ``h0`` and ``h_last`` (B, H) (for the
    LSTM the pair ``(h, s)``), the loss summed over steps and sequences as in eq. (5).
    ``rnn.RNN(**params).loss_and_gradients(inputs, targets, h0)`` is such a function.

Cases
-----
Drawn by a ``numpy.random.Generator`` seeded with ``seed``, from the distributions of
``verification.strategies`` (V from 1 to 30, H from 1 to 8, T from 1 to 20, B from 1 to
4, every weight and bias from :math:`\mathcal N(0, s^2)` with s from 0.01 to 1, h(0) zero
or :math:`\mathcal N(0, 0.25)` with even odds), which needs no Hypothesis at grading
time. The first case is fixed instead (V = 5, H = 4, T = 4, B = 2, s = 0.5, h(0) ≠ 0), so
that every mistake of the catalogue changes some gradient. In the ``min-char-rnn`` layout
B = 1 and T ≤ 8, and a case is drawn again until every entry of its exact gradient is
below 4 in magnitude, so the gist's clipping to ±5 inside ``lossFun`` never triggers on a
correct gradient; the report says so when a returned gradient sits at ±5, and a mistake's
gradient clipped to ±5 counts as that mistake. cs231n's LSTM functions get weights of their
own, drawn from the case's seed with the case's scale s, and an initial cell state of the
step from :math:`\mathcal N(0, 0.25)`.

Isolation
---------
The student's file is imported, and every call made, in a separate process that
``multiprocessing``'s fork server forks for each grade. The fork server imports numpy and
this module once, when it starts, so a grade does not wait for a new Python to import them;
it imports nothing of the student's, so every grade starts from the same clean state (the
fork server belongs to the process that started it: a process forked from that one after a
grade cannot grade). The grader waits at most ``timeout`` seconds for each call (and for the
import), then stops that process: a student function that loops forever fails the grade
instead of hanging it. The student's output to ``sys.stdout`` and ``sys.stderr`` is
captured, and its first :data:`OUTPUT_LIMIT` characters are shown; the process's file
descriptors 1 and 2 point to ``/dev/null``. What the student's functions return comes back
as data only: numbers, text, numpy arrays and scalars, and tuples, lists and dicts of them.
Any other value (a named tuple becomes a plain tuple), and an array of more than
:data:`SENT_LIMIT` entries, arrives as the name of its type, which the report shows; the
grader's process never imports a module of the student's, and never runs the student's code.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import multiprocessing
import os
import pickle
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from verification.gradcheck import check_gradients
from verification.mistakes import (
    CATALOGUE,
    LSTM_BREAKS,
    LSTM_CATALOGUE,
    LSTM_TRANSPOSED_EQUATIONS,
    MEAN_NOT_SUM,
    SIGN_FLIPPED,
    TRANSPOSED,
    TRANSPOSED_EQUATIONS,
    Mistake,
    after_the_pass,
    char_rnn_gradients,
    lstm_backward,
    rnn_backward,
    rnn_forward,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "DIAGNOSIS_RTOL",
    "GRADIENT_RTOL",
    "LAYOUTS",
    "Check",
    "Diagnosis",
    "GradeReport",
    "GradingError",
    "grade",
]

FloatArray = NDArray[np.float64]

LAYOUTS = ("min-char-rnn", "cs231n", "reference")
"""The layouts :func:`grade` knows."""
CELLS_OF_LAYOUT = {
    "min-char-rnn": ("rnn",),
    "cs231n": ("rnn",),
    "reference": ("rnn", "lstm", "gru"),
}
DEFAULT_NAME = {"min-char-rnn": "lossFun", "reference": "loss_and_gradients"}

GRADIENT_RTOL = 1e-10
r"""Check 3's bound on :math:`\max |g - r| / \max(\max |g|, \max |r|)` for a gradient g and
the reference r: both are float64 sums of the same terms, in different orders, so they
agree to a few ε of the largest term."""
DIAGNOSIS_RTOL = 1e-8
"""The bound, in the same measure, within which a gradient equals a mistake's gradient."""
DEFAULT_TIMEOUT = 10.0
"""Seconds the grader waits for one call of the student's code (or its import)."""
STARTUP_TIMEOUT = 120.0
"""Seconds the grader waits for the student's process to start Python and numpy."""
OUTPUT_LIMIT = 2000
"""Characters of the student's output that a report shows."""
SENT_LIMIT = 10**6
"""Entries of the largest array the student's process sends back; a larger one is sent as
its type and shape only (every array of a case holds a few hundred entries)."""
CENTRAL_ENTRIES = 30
"""Check 4 compares this many entries of each gradient (drawn from the seed)."""
CLIP = 5.0
"""The bound of the gist's ``np.clip(dparam, -5, 5, out=dparam)``."""
CLIP_MARGIN = 4.0
"""Every exact gradient entry of a ``min-char-rnn`` case is below this in magnitude."""


class GradingError(ValueError):
    """The grade cannot start: a missing file or name, a module that does not import, a
    layout or cell the grader does not know. The CLI reports it with exit status 2."""


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Check:
    """One of the four checks.

    Attributes
    ----------
    title : str
        What it checks.
    status : str
        ``"passed"``, ``"FAILED"`` or ``"not run"`` (an earlier check failed on every case).
    details : tuple of str
        One line per finding.
    """

    title: str
    status: str
    details: tuple[str, ...] = ()


@dataclass(frozen=True)
class Diagnosis:
    """The known mistake that a group of wrong gradients shows, or None.

    Attributes
    ----------
    mistake : Mistake or None
        None when no known mistake matches.
    function : str
        The student's function (or pair of functions) that returned the gradients.
    gradients : tuple of str
        The student's names of the gradients.
    equation : str
        The equation the mistake breaks ("" for None).
    page : str
        The docs page of that equation: ``"derivation"``, or ``"LSTM"`` for the LSTM's
        (L1)-(L16).
    breaks : str
        What the equation says and how the mistake departs from it; "" means the
        mistake's own ``breaks`` (the RNN's).
    """

    mistake: Mistake | None
    function: str
    gradients: tuple[str, ...]
    equation: str = ""
    page: str = "derivation"
    breaks: str = ""

    def __str__(self) -> str:
        names = ", ".join(self.gradients)
        if self.mistake is None:
            return f"{self.function}: {names}: no known mistake matches"
        return (
            f"{self.function}: {names}: {self.mistake.phrase}; breaks eq. {self.equation} "
            f"of the {self.page} page: {self.breaks or self.mistake.breaks}"
        )


@dataclass(frozen=True)
class GradeReport:
    """The outcome of :func:`grade`.

    Attributes
    ----------
    target : str
        The graded file, with the function's name where the layout has one.
    layout, cell : str
    seed : int
    timeout : float
        The per-call timeout in seconds.
    cases : tuple of str
        A description of each case.
    checks : tuple of Check
        The four checks, in order.
    diagnoses : tuple of Diagnosis
        One per known mistake found, and one for wrong gradients no mistake explains.
    notes : tuple of str
        Remarks that are not failures, such as clipping inside ``lossFun``.
    output : str
        The student's output, at most :data:`OUTPUT_LIMIT` characters.
    output_length : int
        How many characters the student's code printed in all.
    """

    target: str
    layout: str
    cell: str
    seed: int
    timeout: float
    cases: tuple[str, ...]
    checks: tuple[Check, ...]
    diagnoses: tuple[Diagnosis, ...] = ()
    notes: tuple[str, ...] = ()
    output: str = ""
    output_length: int = 0

    @property
    def passed(self) -> bool:
        """True when every check passed."""
        return all(check.status == "passed" for check in self.checks)

    def __str__(self) -> str:
        lines = [
            f"grading {self.target} (layout {self.layout}, cell {self.cell}, seed {self.seed})",
            f"each call runs in a separate process, stopped after {self.timeout:g} s "
            "(per-call timeout)",
            f"{len(self.cases)} case{'' if len(self.cases) == 1 else 's'}:",
            *(f"  {k + 1}. {case}" for k, case in enumerate(self.cases)),
            "",
        ]
        for k, check in enumerate(self.checks):
            lines.append(f"{k + 1}. {check.title}: {check.status}")
            lines += [f"     {detail}" for detail in check.details]
        if self.diagnoses:
            lines += ["", "diagnosis:"]
            lines += [f"  {diagnosis}" for diagnosis in self.diagnoses]
        if self.notes:
            lines += ["", "notes:", *(f"  {note}" for note in self.notes)]
        if self.output_length:
            shown = len(self.output)
            head = f"your code printed {self.output_length} characters" + (
                f"; the first {shown}:" if shown < self.output_length else ":"
            )
            lines += ["", head, *(f"  | {line}" for line in self.output.splitlines())]
        lines += ["", "result: " + ("passed" if self.passed else "FAILED")]
        return "\n".join(lines)


# ------------------------------------------------------------- the student's process


@dataclass(frozen=True)
class _Ref:
    """An argument that is value ``index`` of what an earlier call, stored as ``key``, returned."""

    key: str
    index: int


@dataclass(frozen=True)
class _Opaque:
    """A returned value that cannot be sent back: only its type is known."""

    type_name: str


@dataclass(frozen=True)
class _Reply:
    values: Any = None
    changed: tuple[str, ...] = ()
    problem: str | None = None


class _Capture(io.TextIOBase):
    """A text stream that keeps the first ``limit`` characters written and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.kept: list[str] = []
        self.room = limit
        self.total = 0
        self.unsent = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        text = str(text)
        self.total += len(text)
        if self.room > 0:
            self.kept.append(text[: self.room])
            self.room -= len(self.kept[-1])
        return len(text)

    def take(self) -> tuple[str, int]:
        """What was kept since the last call, and the total written since then."""
        text, count = "".join(self.kept), self.total - self.unsent
        self.kept, self.unsent = [], self.total
        return text, count


def _describe(err: BaseException, path: str) -> str:
    """``TypeName: message (file, line n, in f: source)`` at the student's innermost frame."""
    where = ""
    if isinstance(err, SyntaxError) and err.filename == path:
        where = f" ({path}, line {err.lineno})"
    frames = [f for f in traceback.extract_tb(err.__traceback__) if f.filename == path]
    if frames:
        f = frames[-1]
        where = f" ({path}, line {f.lineno}, in {f.name}: {(f.line or '').strip()})"
    text = str(err.msg if isinstance(err, SyntaxError) else err).strip()
    message = text.splitlines()[0] if text else ""
    return f"{type(err).__name__}{': ' + message if message else ''}{where}"


def _data(value: Any) -> Any:
    """The value as data only, to send to the grader's process.

    Numbers, text, bytes and None, numpy arrays and scalars of a dtype that holds no Python
    objects (an array subclass becomes a plain array), and tuples, lists and dicts of these
    are kept; anything else, an array of more than :data:`SENT_LIMIT` entries, and a container that
    holds itself become an :class:`_Opaque` naming the type. The grader's process then
    unpickles only data, with :class:`_DataUnpickler`: no class of the student's is imported
    there, and no code of the student's runs there.
    """
    try:
        return _data_of(value, frozenset())
    except Exception:  # a container whose iteration raises, say
        return _Opaque(type(value).__name__)


def _data_of(value: Any, holders: frozenset[int]) -> Any:
    kind = type(value)
    if kind in (type(None), bool, int, float, complex, str, bytes):
        return value
    if isinstance(value, (np.ndarray, np.generic)) and not value.dtype.hasobject:
        if value.size > SENT_LIMIT:
            return _Opaque(f"{kind.__name__} of shape {value.shape}")
        array = np.array(value, copy=True, subok=False)
        return array if isinstance(value, np.ndarray) else array[()]
    if id(value) in holders:
        return _Opaque(f"{kind.__name__} that holds itself")
    holders = holders | {id(value)}
    if isinstance(value, tuple):
        return tuple(_data_of(v, holders) for v in value)
    if isinstance(value, list):
        return [_data_of(v, holders) for v in value]
    if isinstance(value, dict):
        return {_data_of(k, holders): _data_of(v, holders) for k, v in value.items()}
    return _Opaque(kind.__name__)


def _type_name(value: Any) -> str:
    """The name of the value's type, as the student's code made it."""
    return value.type_name if isinstance(value, _Opaque) else type(value).__name__


class _DataUnpickler(pickle.Unpickler):
    """Unpickles the student's replies, refusing every global but those of :func:`_data`'s
    types, so that a reply the student's code forged cannot run code in the grader."""

    ALLOWED = frozenset(
        {
            ("verification.grade", "_Reply"),
            ("verification.grade", "_Opaque"),
            ("builtins", "complex"),
            ("__builtin__", "complex"),  # its name in pickle protocol 2
            ("_codecs", "encode"),  # bytes, in pickle protocol 2
            ("numpy", "ndarray"),
            ("numpy", "dtype"),
        }
        | {
            (f"numpy.{core}.{module}", name)  # numpy 1 has numpy.core, numpy 2 numpy._core
            for core in ("core", "_core")
            for module, name in (
                ("multiarray", "_reconstruct"),
                ("multiarray", "scalar"),
                ("numeric", "_frombuffer"),
            )
        }
    )

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not one of the types sent")
        return super().find_class(module, name)


def _same(before: Any, after: Any) -> bool:
    """Whether an argument is as it was before the call (arrays, dicts, tuples of them)."""
    if isinstance(before, dict):
        return (
            isinstance(after, dict)
            and before.keys() == after.keys()
            and all(_same(before[k], after[k]) for k in before)
        )
    if isinstance(before, (tuple, list)):
        return (
            isinstance(after, (tuple, list))
            and len(before) == len(after)
            and all(map(_same, before, after))
        )
    if isinstance(before, np.ndarray):
        return (
            isinstance(after, np.ndarray)
            and before.shape == after.shape
            and bool(np.array_equal(before, after, equal_nan=before.dtype.kind in "fc"))
        )
    try:
        return bool(before == after)
    except Exception:  # a number replaced by an array, whose == has no single truth value
        return False


PRELOADED = ("numpy", "verification.grade")
"""Modules the fork server imports once, so that a student's process starts without them."""

DEFINED = "__which_functions_are_defined__"
"""A request to the student's process for the names among its arguments that are functions."""


def _child(conn: Any, path: str) -> None:  # pragma: no cover - the forked process's entry
    """The student's process: file descriptors 1 and 2 to /dev/null, then :func:`_serve`."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    _serve(conn, path)


def _serve(conn: Any, path: str) -> None:
    """Import the file, then run each call that arrives on ``conn`` and send back the reply."""
    capture = _Capture(OUTPUT_LIMIT)
    conn.send("started")
    sys.path.insert(0, str(Path(path).parent))
    namespace: dict[str, Any] = {"__name__": "student", "__file__": path}
    try:
        with contextlib.redirect_stdout(capture), contextlib.redirect_stderr(capture):
            code = compile(Path(path).read_bytes(), path, "exec")
            exec(code, namespace)
    except BaseException as err:
        conn.send(_Reply(problem=_describe(err, path), values=capture.take()))
        return
    conn.send(_Reply(values=capture.take()))
    stored: dict[str, Any] = {}
    while True:
        try:
            name, args, arg_names, names, keep, watch = conn.recv()
        except EOFError:
            return
        if name == DEFINED:
            conn.send(
                _Reply(values=(tuple(n for n in args[0] if callable(namespace.get(n))), ("", 0)))
            )
            continue
        namespace.update(names)
        originals = args
        args = [stored[a.key][a.index] if isinstance(a, _Ref) else a for a in args]
        before = copy.deepcopy((args, names)) if watch else None
        try:
            with contextlib.redirect_stdout(capture), contextlib.redirect_stderr(capture):
                result = namespace[name](*args)
        except BaseException as err:
            conn.send(_Reply(problem=_describe(err, path), values=capture.take()))
            continue
        changed = []
        if before is not None:
            ours = zip(arg_names, before[0], args, originals, strict=True)
            changed = [n for n, a, b, o in ours if not isinstance(o, _Ref) and not _same(a, b)]
            changed += [n for n in names if not _same(before[1][n], namespace[n])]
        if keep:
            stored[keep] = result
        conn.send(_Reply(values=(_data(result), capture.take()), changed=tuple(changed)))


def _script_hint() -> str:
    """Why the student's process may end as it starts: the grading script grades at import.

    ``multiprocessing`` runs a script's ``__main__`` module again, as ``__mp_main__``, in each
    process it starts with the fork server, so a script that calls :func:`grade` at its top
    level calls it again there, where starting a process is refused.
    """
    main = sys.modules.get("__main__")
    script = getattr(main, "__file__", None)
    if script is None or getattr(main, "__spec__", None) is not None:
        return ""
    return (
        f"; {script} runs again in that process, so a script must call grade() "
        'under `if __name__ == "__main__":`'
    )


class _Student:
    """The student's file, imported in a process of its own."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = str(path)
        self.timeout = timeout
        self.output: list[str] = []
        self.output_length = 0
        self.stopped: str | None = None
        self.watch = True
        """Whether each call reports the arguments and globals it changed (a deep copy each)."""
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(PRELOADED))  # no effect once the server runs
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_child, args=(child, self.path), daemon=True)
        self._process.start()
        child.close()
        started = self._receive(STARTUP_TIMEOUT, "starting Python and numpy", "startup timeout")
        if started is None:
            self.close()
            # exit status 1 is an uncaught exception, such as the refusal _script_hint explains
            hint = _script_hint() if self._process.exitcode == 1 else ""
            raise GradingError(f"the grader's process did not start: {self.stopped}{hint}")
        reply = self._receive(timeout, f"importing {path.name}")
        if reply is None or reply.problem is not None:
            self.close()
            problem = self.stopped if reply is None else reply.problem
            raise GradingError(f"{self.path} does not import: {problem}")
        self._keep_output(reply.values)

    def _receive(self, timeout: float, doing: str, limit: str = "per-call timeout") -> Any:
        """The next message, or None after recording in ``stopped`` why none came."""
        if self._conn.poll(timeout):
            try:
                return _DataUnpickler(io.BytesIO(self._conn.recv_bytes())).load()
            except EOFError:
                self._process.join()
                self.stopped = (
                    f"the process ended while {doing} (exit status {self._process.exitcode})"
                )
                return None
            except Exception as err:  # not what _serve sends: the student's code sent it
                self.stopped = (
                    f"the process sent what the grader does not read while {doing} ({err}); "
                    "stopped"
                )
                self.close()
                return None
        self.stopped = f"no answer after {timeout:g} s while {doing} ({limit}); stopped"
        self.close()
        return None

    def _keep_output(self, taken: tuple[str, int]) -> None:
        text, count = taken
        self.output.append(text)
        self.output_length += count

    def call(
        self,
        name: str,
        args: Sequence[Any],
        arg_names: Sequence[str],
        names: dict[str, Any] | None = None,
        keep: str | None = None,
    ) -> _Reply:
        """Call the student's ``name(*args)``; ``names`` are set as module globals first."""
        if self.stopped is not None:
            return _Reply(problem=f"not called: {self.stopped}")
        self._conn.send((name, list(args), list(arg_names), names or {}, keep, self.watch))
        reply = self._receive(self.timeout, f"running {name}")
        if reply is None:
            return _Reply(problem=f"{name}: {self.stopped}")
        if reply.problem is not None:
            self._keep_output(reply.values)
            return _Reply(problem=f"{name} raised {reply.problem}")
        values, taken = reply.values
        self._keep_output(taken)
        return _Reply(values=values, changed=reply.changed)

    def close(self) -> None:
        """Stop the process (it serves no further call)."""
        if self._process.is_alive():
            self._process.kill()
        self._process.join()
        self._conn.close()


# -------------------------------------------------------------------------- cases


@dataclass(frozen=True)
class _Case:
    """Sizes, the reference's parameters (package convention) and the data of one case."""

    V: int
    H: int
    T: int
    B: int
    scale: float
    params: dict[str, FloatArray]
    inputs: NDArray[np.intp]  # (T, B)
    targets: NDArray[np.intp]  # (T, B)
    h0: Any  # (B, H), or a tuple of them for the LSTM
    rng_seed: int

    def __str__(self) -> str:
        zero = all(not np.any(part) for part in _parts(self.h0))
        return (
            f"V={self.V}, H={self.H}, T={self.T}, B={self.B}, weights N(0, {self.scale:.3g}²), "
            f"h0 {'= 0' if zero else 'random'}"
        )


def _parts(state: Any) -> list[FloatArray]:
    return list(state) if isinstance(state, tuple) else [state]


def _make_case(
    cell: str, V: int, H: int, T: int, B: int, scale: float, zero: bool, seed: int
) -> _Case:
    from rnn.training import CELLS

    rng = np.random.default_rng(seed)
    shapes = CELLS[cell].param_shapes(V, H)
    params = {name: rng.standard_normal(shape) * scale for name, shape in shapes.items()}
    inputs = rng.integers(0, V, (T, B))
    targets = rng.integers(0, V, (T, B))
    like = CELLS[cell].random(V, H, rng, scale=0.0).initial_state(B)
    h0 = tuple(
        np.zeros((B, H)) if zero else rng.standard_normal((B, H)) * 0.5 for _ in _parts(like)
    )
    return _Case(V, H, T, B, scale, params, inputs, targets, h0 if cell == "lstm" else h0[0], seed)


def _cases(layout: str, cell: str, count: int, seed: int) -> list[_Case]:
    """The fixed first case, then ``count - 1`` drawn ones (see the module notes)."""
    one_stream = layout == "min-char-rnn"
    cases = [_make_case(cell, 5, 4, 4, 1 if one_stream else 2, 0.5, False, seed)]
    rng = np.random.default_rng(seed)
    while len(cases) < count:
        T = int(rng.integers(1, (8 if one_stream else 20) + 1))
        case = _make_case(
            cell,
            V=int(rng.integers(1, 31)),
            H=int(rng.integers(1, 9)),
            T=T,
            B=1 if one_stream else int(rng.integers(1, 5)),
            scale=float(rng.uniform(0.01, 1.0)),
            zero=bool(rng.integers(2)),
            seed=int(rng.integers(2**32)),
        )
        if not one_stream or _largest_gradient(case) < CLIP_MARGIN:
            cases.append(case)
    return cases


def _largest_gradient(case: _Case) -> float:
    from rnn.model import RNN

    grads = RNN(**case.params).loss_and_gradients(case.inputs, case.targets, case.h0)[1]
    return max(float(np.abs(g).max()) for g in grads.values())


# ------------------------------------------------------------------------- trials


@dataclass
class _Gradient:
    """One returned gradient: the student's value, the reference's, each mistake's."""

    name: str
    got: Any
    expected: FloatArray
    variants: dict[Mistake, FloatArray] = field(default_factory=dict)
    role: str = ""
    clipped: bool = False
    """Whether the student may clip to ±5 (the gist's lossFun), so that a mistake's gradient
    is also compared clipped."""
    cell: str = "rnn"
    """The cell whose equations a diagnosis cites: ``"lstm"`` cites the LSTM page."""

    def matches(self, mistake: Mistake) -> bool:
        """Whether the student's gradient is this mistake's, to :data:`DIAGNOSIS_RTOL`."""
        variant = self.variants[mistake]
        if _error(self.got, variant) <= DIAGNOSIS_RTOL:
            return True
        return self.clipped and _error(self.got, np.clip(variant, -CLIP, CLIP)) <= DIAGNOSIS_RTOL


@dataclass
class _Trial:
    """One function (or forward/backward pair) of the student run on one case."""

    function: str
    case: int
    failure: str | None = None
    shape_problems: list[str] = field(default_factory=list)
    values: list[tuple[str, Any, Any]] = field(default_factory=list)
    gradients: list[_Gradient] = field(default_factory=list)
    loss_fn: Callable[[dict[str, Any]], float] | None = None
    point: dict[str, FloatArray] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


class _StudentFailed(Exception):
    """A call of the student's code failed inside check 4's loss function."""


def _unpack(
    trial: _Trial, reply: _Reply, names: Sequence[str], function: str | None = None
) -> list[Any] | None:
    """The values ``function`` (by default the trial's) returned, or None after recording
    why they cannot be graded."""
    function = function or trial.function
    if reply.problem is not None:
        trial.failure = reply.problem
        return None
    if reply.changed:
        trial.shape_problems.append(
            f"{function} changed its argument{'s' if len(reply.changed) > 1 else ''} "
            f"{', '.join(reply.changed)} in place"
        )
    values = reply.values
    listed = f"({', '.join(names)})"
    if not isinstance(values, tuple):
        trial.failure = (
            f"{function} returned one {_type_name(values)}, expected {len(names)} values: {listed}"
        )
        return None
    if len(values) != len(names):
        count = f"{len(values)} value{'' if len(values) == 1 else 's'}"
        trial.failure = f"{function} returned {count}, expected {len(names)}: {listed}"
        return None
    return list(values)


def _as_array(trial: _Trial, name: str, value: Any, shape: tuple[int, ...]) -> Any:
    """The value as float64 if it is an array of ``shape``; records any other problem."""
    if isinstance(value, _Opaque):
        trial.shape_problems.append(f"{name} is a {value.type_name}, expected an array {shape}")
        return None
    if not isinstance(value, np.ndarray):
        trial.shape_problems.append(
            f"{name} is a {_type_name(value)}, expected a numpy array of shape {shape}"
        )
        value = _real(value)
        if value is None:
            return None
    if value.dtype != np.float64:
        trial.shape_problems.append(f"{name} has dtype {value.dtype}, expected float64")
        if not np.can_cast(value.dtype, np.float64, casting="same_kind"):
            return None
        with np.errstate(over="ignore"):  # a long double beyond float64 becomes inf
            value = value.astype(np.float64)
    if value.shape != shape:
        trial.shape_problems.append(f"{name} has shape {value.shape}, expected {shape}")
    return value


def _as_loss(trial: _Trial, value: Any) -> float | None:
    """The loss as a float if it is a real number (or an array of one); records any other
    problem."""
    number = isinstance(value, (float, int, np.floating, np.integer)) and not isinstance(
        value, bool
    )
    if number or (isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iuf"):
        try:
            return float(np.reshape(value, ()) if isinstance(value, np.ndarray) else value)
        except OverflowError:  # an int beyond float64's range
            trial.shape_problems.append(f"the loss is a {_type_name(value)} too large for a float")
            return None
    trial.shape_problems.append(f"the loss is a {_type_name(value)}, expected a float")
    return None


def _real(value: Any) -> FloatArray | None:
    """The value as a float64 array if it holds real numbers (or their text), else None:
    never a complex number's real part, and never an object array's guess."""
    try:
        array = np.asarray(value)
        if array.dtype.kind not in "biufUS":
            return None
        with np.errstate(over="ignore"):  # a long double beyond float64 becomes inf
            return array.astype(np.float64)
    except (TypeError, ValueError, OverflowError):  # ragged lists, text of no number
        return None


def _student_loss(call: Callable[[dict[str, Any]], _Reply]) -> Any:
    def loss_fn(p: dict[str, Any]) -> float:
        reply = call(p)
        if reply.problem is not None:
            raise _StudentFailed(reply.problem)
        values = reply.values
        if isinstance(values, tuple) and not values:
            raise _StudentFailed("it returned an empty tuple, not a loss")
        loss = values[0] if isinstance(values, tuple) else values
        real = _real(loss)
        if real is None:
            raise _StudentFailed(f"the loss is a {_type_name(loss)}, not a number")
        return float(real.sum())

    return loss_fn


def _min_char_rnn(student: _Student, name: str, case: _Case, k: int) -> list[_Trial]:
    from rnn.model import RNN

    trial = _Trial(name, k)
    p, H, V = case.params, case.H, case.V
    names = {
        "Wxh": p["U"],
        "Whh": p["W"],
        "Why": p["V"],
        "bh": p["b"][:, None],
        "by": p["c"][:, None],
    }
    inputs, targets = case.inputs[:, 0].tolist(), case.targets[:, 0].tolist()
    hprev = case.h0[0][:, None]
    sizes = {"vocab_size": V, "hidden_size": H, "seq_length": case.T}
    reply = student.call(
        name, (inputs, targets, hprev), ("inputs", "targets", "hprev"), {**names, **sizes}
    )
    returned = ("loss", "dWxh", "dWhh", "dWhy", "dbh", "dby", "hlast")
    values = _unpack(trial, reply, returned)
    if values is None:
        return [trial]
    loss, grads, h_last = RNN(**p).loss_and_gradients(case.inputs, case.targets, case.h0)
    trial.values = [
        ("loss", _as_loss(trial, values[0]), loss),
        ("hlast", _as_array(trial, "hlast", values[6], (H, 1)), h_last.reshape(H, 1)),
    ]
    roles = {"dWxh": "U", "dWhh": "W", "dWhy": "V", "dbh": "b", "dby": "c"}
    variants = {m: char_rnn_gradients(p, case.inputs, case.targets, case.h0, m) for m in CATALOGUE}
    for value, (student_name, role) in zip(values[1:6], roles.items(), strict=True):
        column = _as_column if role in "bc" else _unchanged
        expected = column(grads[role])
        got = _as_array(trial, student_name, value, expected.shape)
        trial.gradients.append(
            _Gradient(
                student_name,
                got,
                expected,
                {m: column(v[role]) for m, v in variants.items()},
                role,
                clipped=True,
            )
        )
        if got is not None and got.shape == expected.shape and np.any(np.abs(got) == CLIP):
            trial.notes.append(
                f"{student_name} has entries of exactly ±{CLIP:g} on case {k + 1}: lossFun clips "
                f"its gradients, and here that clipping triggered; every exact entry of these "
                f"cases is below {CLIP_MARGIN:g} in magnitude, so the clipped entries were wrong"
            )
    trial.point = {n: v.copy() for n, v in names.items()}
    trial.loss_fn = _student_loss(
        lambda q: student.call(
            name, (inputs, targets, hprev), ("inputs", "targets", "hprev"), {**q, **sizes}
        ),
    )
    return [trial]


def _reference(student: _Student, name: str, case: _Case, k: int, cell: str) -> list[_Trial]:
    from rnn.training import CELLS

    trial = _Trial(name, k)
    model_class = CELLS[cell]
    args = (case.params, case.inputs, case.targets, case.h0)
    arg_names = ("params", "inputs", "targets", "h0")
    values = _unpack(trial, student.call(name, args, arg_names), ("loss", "grads", "h_last"))
    if values is None:
        return [trial]
    model = model_class(**case.params)
    loss, grads, h_last = model.loss_and_gradients(case.inputs, case.targets, case.h0)
    expected_last = _parts(h_last)
    got_last = (
        _parts(values[2])
        if isinstance(values[2], (tuple, list)) and cell == "lstm"
        else [values[2]]
    )
    trial.values = [("loss", _as_loss(trial, values[0]), loss)]
    if len(got_last) != len(expected_last):
        trial.shape_problems.append(
            f"h_last has {len(got_last)} parts, expected {len(expected_last)}"
        )
    else:
        for j, (got, expected) in enumerate(zip(got_last, expected_last, strict=True)):
            label = f"h_last[{j}]" if cell == "lstm" else "h_last"
            trial.values.append((label, _as_array(trial, label, got, expected.shape), expected))
    got_grads = values[1]
    if not isinstance(got_grads, dict) or set(got_grads) != set(grads):
        keys = (
            f"[{', '.join(sorted(map(repr, got_grads)))}]"  # keys of any types, as written
            if isinstance(got_grads, dict)
            else _type_name(got_grads)
        )
        trial.shape_problems.append(f"grads is {keys}, expected a dict with keys {sorted(grads)}")
        return [trial]
    variants = (
        {
            m: char_rnn_gradients(case.params, case.inputs, case.targets, case.h0, m)
            for m in CATALOGUE
        }
        if cell == "rnn"
        else {}
    )
    for role in model_class.param_names:
        got = _as_array(trial, f"grads[{role!r}]", got_grads[role], grads[role].shape)
        trial.gradients.append(
            _Gradient(
                f"grads[{role!r}]",
                got,
                grads[role],
                {m: v[role] for m, v in variants.items()},
                role,
            )
        )
    trial.point = {n: v.copy() for n, v in case.params.items()}
    trial.loss_fn = _student_loss(
        lambda q: student.call(name, (q, case.inputs, case.targets, case.h0), arg_names),
    )
    return [trial]


def _cs231n(student: _Student, functions: set[str], case: _Case, k: int) -> list[_Trial]:
    """The RNN's step and sequence pairs and, if present, temporal_softmax_loss and the
    LSTM's pairs."""
    rng = np.random.default_rng(case.rng_seed + 1)
    N, T, D, H = case.B, case.T, case.V, case.H
    x = rng.standard_normal((N, T, D))
    h0 = case.h0
    Wx, Wh, b = case.params["U"].T.copy(), case.params["W"].T.copy(), case.params["b"]
    dh = rng.standard_normal((N, T, H))
    trials = [
        _cs231n_pair(student, _rnn_pair(True, x[:, 0], h0, Wx, Wh, b, dh[:, 0]), k),
        _cs231n_pair(student, _rnn_pair(False, x, h0, Wx, Wh, b, dh), k),
    ]
    if "temporal_softmax_loss" in functions:
        trials.append(_temporal_softmax(student, case, k, rng))
    trials += [_cs231n_pair(student, pair, k) for pair in _lstm_pairs(case, functions)]
    return trials


@dataclass(frozen=True)
class _Pair:
    """A forward/backward pair of cs231n's layout on one case, with the reference's answers.

    ``args`` are the forward's arguments by cs231n's names, in order; ``outputs`` are its
    outputs before the cache, each with the reference's value and the upstream gradient the
    backward gets; ``gradients`` are what the backward returns, in order, each with ``got``
    still None.
    """

    stem: str
    args: dict[str, FloatArray]
    outputs: dict[str, tuple[FloatArray, FloatArray]]
    gradients: tuple[_Gradient, ...]


def _gradients(
    names: Sequence[str],
    roles: Sequence[str],
    exact: dict[str, FloatArray],
    variants: dict[Mistake, dict[str, FloatArray]],
    cell: str,
) -> tuple[_Gradient, ...]:
    """The expected gradients of a pair, by the student's names; ``exact`` and each variant
    are keyed by role."""
    return tuple(
        _Gradient(
            name, None, exact[role], {m: v[role] for m, v in variants.items()}, role, cell=cell
        )
        for name, role in zip(names, roles, strict=True)
    )


def _rnn_pair(
    step: bool,
    x: FloatArray,
    h0: FloatArray,
    Wx: FloatArray,
    Wh: FloatArray,
    b: FloatArray,
    dout: FloatArray,
) -> _Pair:
    """``rnn_step_*`` (x (N, D), dout (N, H)) or ``rnn_*`` (x (N, T, D), dout (N, T, H))."""
    U, W = Wx.T, Wh.T
    fw = rnn_forward(_time_major(x, step), h0, U, W, b)

    def in_student_form(g: dict[str, FloatArray]) -> dict[str, FloatArray]:
        return {
            "x": _batch_major(g["x"], step),
            "h0": g["h0"],
            "U": g["U"].T,
            "W": g["W"].T,
            "b": g["b"],
        }

    exact = in_student_form(rnn_backward(fw, _time_major(dout, step), U, W))
    mistakes = [m for m in CATALOGUE if (m.in_one_step or not step) and m is not MEAN_NOT_SUM]
    variants = {
        m: in_student_form(
            after_the_pass(rnn_backward(fw, _time_major(dout, step), U, W, m), m, 1)
        )
        for m in mistakes
    }
    h_name = "prev_h" if step else "h0"
    return _Pair(
        "rnn_step" if step else "rnn",
        {"x": x, h_name: h0, "Wx": Wx, "Wh": Wh, "b": b},
        {"next_h" if step else "h": (_batch_major(fw.h, step), dout)},
        _gradients(
            ("dx", f"d{h_name}", "dWx", "dWh", "db"),
            ("x", "h0", "U", "W", "b"),
            exact,
            variants,
            "rnn",
        ),
    )


LSTM_STEMS = ("lstm_step", "lstm")
"""cs231n's LSTM pairs, each graded when the file defines both its functions."""
CS231N_GATES = ("i", "f", "q", "g")
"""The layer's gates in the order of cs231n's four H-blocks: input, forget, output (the
layer's q) and the candidate g."""


def _lstm_pairs(case: _Case, functions: set[str]) -> list[_Pair]:
    """The LSTM pairs the file defines, on weights (D, 4H), (H, 4H), (4H,) drawn for the case."""
    stems = [s for s in LSTM_STEMS if {f"{s}_forward", f"{s}_backward"} <= functions]
    if not stems:
        return []
    rng = np.random.default_rng(case.rng_seed + 2)
    N, T, D, H = case.B, case.T, case.V, case.H
    x = rng.standard_normal((N, T, D))
    Wx = rng.standard_normal((D, 4 * H)) * case.scale
    Wh = rng.standard_normal((H, 4 * H)) * case.scale
    b = rng.standard_normal(4 * H) * case.scale
    c0 = rng.standard_normal((N, H)) * 0.5
    dh, dc = rng.standard_normal((N, T, H)), rng.standard_normal((N, H))
    return [
        _lstm_pair(True, x[:, 0], case.h0, c0, Wx, Wh, b, dh[:, 0], dc)
        if stem == "lstm_step"
        else _lstm_pair(False, x, case.h0, np.zeros((N, H)), Wx, Wh, b, dh, np.zeros((N, H)))
        for stem in stems
    ]


def _lstm_pair(
    step: bool,
    x: FloatArray,
    h0: FloatArray,
    c0: FloatArray,
    Wx: FloatArray,
    Wh: FloatArray,
    b: FloatArray,
    dh: FloatArray,
    dc: FloatArray,
) -> _Pair:
    """``lstm_step_*`` (x (N, D), prev_c ``c0``, upstream dh and dc (N, H)) or ``lstm_*``
    (x (N, T, D), dh (N, T, H); the cell state starts at zero and gets no upstream)."""
    from rnn.layers.lstm import LSTMLayer

    params = _lstm_params(Wx, Wh, b)
    layer = LSTMLayer(**params)
    xs, dhs = _time_major(x, step), _time_major(dh, step)
    hs, (_, s_last), cache = layer.forward(xs, (h0, c0))
    grads, dx, (dh0, ds0) = layer.backward(dhs, cache, (np.zeros_like(h0), dc))
    assert dx is not None  # the inputs are dense

    def in_student_form(g: dict[str, FloatArray]) -> dict[str, FloatArray]:
        return {
            "x": _batch_major(g["x"], step),
            "h0": g["h0"],
            "s0": g["s0"],
            **_cs231n_weights(g),
        }

    exact = in_student_form({**grads, "x": dx, "h0": dh0, "s0": ds0})
    variants = {
        m: after_the_pass(in_student_form(lstm_backward(cache.steps, dhs, dc, params, m)), m, 1)
        for m in LSTM_CATALOGUE
        if m.in_one_step or not step
    }
    if step:
        return _Pair(
            "lstm_step",
            {"x": x, "prev_h": h0, "prev_c": c0, "Wx": Wx, "Wh": Wh, "b": b},
            {"next_h": (hs[0], dh), "next_c": (s_last, dc)},
            _gradients(
                ("dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"),
                ("x", "h0", "s0", "U", "W", "b"),
                exact,
                variants,
                "lstm",
            ),
        )
    return _Pair(
        "lstm",
        {"x": x, "h0": h0, "Wx": Wx, "Wh": Wh, "b": b},
        {"h": (_batch_major(hs, step), dh)},
        _gradients(
            ("dx", "dh0", "dWx", "dWh", "db"), ("x", "h0", "U", "W", "b"), exact, variants, "lstm"
        ),
    )


def _lstm_params(Wx: FloatArray, Wh: FloatArray, b: FloatArray) -> dict[str, FloatArray]:
    """cs231n's Wx (D, 4H), Wh (H, 4H), b (4H,) as the layer's U_k (H, D), W_k (H, H), b_k (H,)."""
    H = Wh.shape[0]
    params: dict[str, FloatArray] = {}
    for j, k in enumerate(CS231N_GATES):
        block = slice(j * H, (j + 1) * H)
        params.update({f"U_{k}": Wx[:, block].T, f"W_{k}": Wh[:, block].T, f"b_{k}": b[block]})
    return params


def _cs231n_weights(grads: dict[str, FloatArray]) -> dict[str, FloatArray]:
    """The layer's gradients of U_k, W_k, b_k as cs231n's dWx (D, 4H), dWh (H, 4H), db (4H,),
    keyed by role."""
    return {
        "U": np.concatenate([grads[f"U_{k}"].T for k in CS231N_GATES], axis=1),
        "W": np.concatenate([grads[f"W_{k}"].T for k in CS231N_GATES], axis=1),
        "b": np.concatenate([grads[f"b_{k}"] for k in CS231N_GATES]),
    }


def _cs231n_pair(student: _Student, pair: _Pair, k: int) -> _Trial:
    """Call the student's forward, then its backward on the forward's cache and the pair's
    upstream gradients, and record what each returned against the reference."""
    forward, backward = f"{pair.stem}_forward", f"{pair.stem}_backward"
    trial = _Trial(f"{forward}/{backward}", k)
    input_names, out_names = tuple(pair.args), tuple(pair.outputs)
    values = _unpack(
        trial,
        student.call(forward, tuple(pair.args.values()), input_names, keep="forward"),
        (*out_names, "cache"),
        forward,
    )
    if values is None:
        return trial
    trial.values = [
        (name, _as_array(trial, name, value, expected.shape), expected)
        for (name, (expected, _)), value in zip(pair.outputs.items(), values, strict=False)
    ]
    upstream = [up for _, up in pair.outputs.values()]
    reply = student.call(
        backward,
        (*upstream, _Ref("forward", len(out_names))),
        (*(f"d{name}" for name in out_names), "cache"),
    )
    got = _unpack(trial, reply, tuple(g.name for g in pair.gradients), backward)
    if got is None:
        return trial
    for value, g in zip(got, pair.gradients, strict=True):
        trial.gradients.append(replace(g, got=_as_array(trial, g.name, value, g.expected.shape)))
    trial.point = {n: np.array(a, copy=True) for n, a in pair.args.items()}

    def call(p: dict[str, Any]) -> _Reply:
        reply = student.call(forward, [p[n] for n in input_names], input_names)
        if reply.problem is not None or not isinstance(reply.values, tuple):
            return _Reply(
                problem=reply.problem or f"{forward} returned {_type_name(reply.values)}"
            )
        total = 0.0
        for name, value, up in zip(out_names, reply.values, upstream, strict=False):
            # ⟨upstream, output⟩ needs each output as an array of numbers of the upstream's shape
            output = _real(value)
            if output is None:
                return _Reply(problem=f"{forward}'s {name} is a {_type_name(value)}, not numbers")
            if output.shape != up.shape:
                return _Reply(
                    problem=f"{forward}'s {name} has shape {output.shape}, expected {up.shape}"
                )
            total += float(np.sum(output * up))
        return _Reply(values=total)

    trial.loss_fn = _student_loss(call)
    return trial


def _time_major(a: FloatArray, step: bool) -> FloatArray:
    """cs231n's (N, T, ·), or (N, ·) for a step, as the reference's (T, N, ·)."""
    return a[None] if step else a.transpose(1, 0, 2)


def _batch_major(a: FloatArray, step: bool) -> FloatArray:
    """The reference's (T, N, ·) as cs231n's (N, T, ·), or (N, ·) for a step."""
    first: FloatArray = a[0]
    return first if step else a.transpose(1, 0, 2)


def _as_column(g: FloatArray) -> FloatArray:
    """A bias gradient (n,) as the gist's column (n, 1)."""
    return g[:, None]


def _unchanged(g: FloatArray) -> FloatArray:
    return g


def _temporal_softmax(student: _Student, case: _Case, k: int, rng: np.random.Generator) -> _Trial:
    trial = _Trial("temporal_softmax_loss", k)
    N, T, V = case.B, case.T, case.V
    x = rng.standard_normal((N, T, V))
    y = case.targets.T.copy()
    mask = rng.random((N, T)) < 0.7
    values = _unpack(
        trial,
        student.call("temporal_softmax_loss", (x, y, mask), ("x", "y", "mask")),
        ("loss", "dx"),
    )
    if values is None:
        return trial
    logp = x - x.max(axis=-1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=-1, keepdims=True))
    onehot = np.eye(V)[y]
    loss = -float((logp * onehot).sum(axis=-1)[mask].sum()) / N  # eq. (5), averaged over N
    dx = (np.exp(logp) - onehot) * mask[..., None] / N  # eq. (6), masked and averaged
    trial.values = [("loss", _as_loss(trial, values[0]), loss)]
    variants = {m: after_the_pass({"x": dx}, m, T)["x"] for m in (MEAN_NOT_SUM, SIGN_FLIPPED)}
    trial.gradients.append(
        _Gradient("dx", _as_array(trial, "dx", values[1], dx.shape), dx, variants, "x")
    )
    trial.point = {"x": x.copy()}

    def call(p: dict[str, Any]) -> _Reply:
        return student.call("temporal_softmax_loss", (p["x"], y, mask), ("x", "y", "mask"))

    trial.loss_fn = _student_loss(call)
    return trial


# -------------------------------------------------------------------------- checks


def _error(got: Any, expected: Any) -> float:
    """max |g - r| / max(max |g|, max |r|): 0 for equal arrays, inf if not comparable."""
    if got is None:
        return math.inf
    g, r = np.asarray(got, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    if g.shape != r.shape:
        return math.inf
    if g.size == 0:
        return 0.0
    if not np.all(np.isfinite(g)):
        return math.inf
    scale = max(float(np.abs(g).max()), float(np.abs(r).max()))
    return float(np.abs(g - r).max()) / scale if scale > 0 else 0.0


def _discrepancy(got: Any, expected: Any) -> str:
    """``rel err x``, or why the two cannot be compared."""
    if got is None:
        return "could not be read"
    if np.shape(got) != np.shape(expected):
        return f"has shape {np.shape(got)}, expected {np.shape(expected)}"
    if not np.all(np.isfinite(got)):
        return "is not finite (NaN or inf)"
    return f"rel err {_error(got, expected):.2g}"


def _check_calls(trials: list[_Trial]) -> Check:
    details = [f"case {t.case + 1}, {t.function}: {t.failure}" for t in trials if t.failure]
    details += [f"case {t.case + 1}: {p}" for t in trials for p in t.shape_problems]
    return Check(
        "calls return values of the right count, shapes and dtypes",
        "FAILED" if details else "passed",
        tuple(details),
    )


def _check_values(trials: list[_Trial]) -> Check:
    ran = [t for t in trials if t.failure is None]
    details = []
    for t in ran:
        for name, got, expected in t.values:
            err = _error(got, expected)
            if not err <= GRADIENT_RTOL:
                shown = (
                    "" if got is None else f": yours {_short(got)}, reference {_short(expected)}"
                )
                details.append(
                    f"case {t.case + 1}, {t.function}: {name} {_discrepancy(got, expected)}{shown}"
                )
    return Check(
        f"loss and forward outputs against the reference (rel err ≤ {GRADIENT_RTOL:g})",
        _status(ran, details),
        tuple(details),
    )


def _short(value: Any) -> str:
    arr = np.asarray(value, dtype=np.float64)
    if arr.size == 1:
        return f"{float(arr.reshape(())):.10g}"
    return (
        f"array {arr.shape} with max |entry| {float(np.abs(arr).max()) if arr.size else 0.0:.4g}"
    )


def _status(ran: list[_Trial], details: list[str]) -> str:
    if not ran:
        return "not run"
    return "FAILED" if details else "passed"


def _check_gradients(
    trials: list[_Trial],
) -> tuple[Check, dict[tuple[str, str], list[tuple[_Trial, _Gradient]]]]:
    """Check 3, and the failing gradients by (function, name) for the diagnosis."""
    ran = [t for t in trials if t.failure is None and t.gradients]
    failing: dict[tuple[str, str], list[tuple[_Trial, _Gradient]]] = {}
    worst: dict[tuple[str, str], tuple[float, _Trial, _Gradient]] = {}
    for t in ran:
        for g in t.gradients:
            err = _error(g.got, g.expected)
            key = (t.function, g.name)
            if not err <= GRADIENT_RTOL:
                failing.setdefault(key, [])
                if key not in worst or err > worst[key][0]:
                    worst[key] = (err, t, g)
    details = []
    for (function, name), (err, t, g) in worst.items():
        where = f"{function}: {name} {_discrepancy(g.got, g.expected)} (case {t.case + 1})"
        if not math.isinf(err) and g.expected.size:
            diff = np.abs(g.got - g.expected)
            index = np.unravel_index(int(np.argmax(diff)), diff.shape)
            where += (
                f"; worst entry {list(map(int, index))}: yours {float(g.got[index]):.6g}, "
                f"reference {float(g.expected[index]):.6g}"
            )
        details.append(where)
    for key in failing:
        failing[key] = [(t, g) for t in ran for g in t.gradients if (t.function, g.name) == key]
    return (
        Check(
            f"each gradient against the reference's exact gradient (rel err ≤ {GRADIENT_RTOL:g})",
            _status(ran, details),
            tuple(details),
        ),
        failing,
    )


def _diagnose(failing: dict[tuple[str, str], list[tuple[_Trial, _Gradient]]]) -> list[Diagnosis]:
    """Name, for each failing gradient, the mistake whose gradient equals it on every case."""
    found: dict[tuple[str, Mistake | None, str, str, str], list[str]] = {}
    for (function, name), pairs in failing.items():
        comparable = [(t, g) for t, g in pairs if g.got is not None]
        matches = [
            m
            for m in (pairs[0][1].variants if comparable else {})
            if all(g.matches(m) for _, g in comparable)
            and any(_error(g.variants[m], g.expected) > GRADIENT_RTOL for _, g in comparable)
        ]
        if len(matches) == 1:
            m = matches[0]
            found.setdefault((function, m, *_broken(m, pairs[0][1])), []).append(name)
        else:
            found.setdefault((function, None, "", "derivation", ""), []).append(name)
    return [
        Diagnosis(m, function, tuple(names), *where)
        for (function, m, *where), names in found.items()
    ]


def _broken(m: Mistake, g: _Gradient) -> tuple[str, str, str]:
    """The equation a mistake in gradient ``g`` breaks, its page, and what it says ("" for
    the mistake's own words)."""
    if g.cell == "lstm":
        equation, says = LSTM_BREAKS[m]
        if m is TRANSPOSED:
            equation = LSTM_TRANSPOSED_EQUATIONS.get(g.role, equation)
        return equation, "LSTM", says
    if m is TRANSPOSED:
        return TRANSPOSED_EQUATIONS.get(g.role, m.equation), "derivation", ""
    return m.equation, "derivation", ""


def _check_central(trials: list[_Trial], seed: int) -> Check:
    """Check 4: central differences of the student's own loss at each case."""
    ran = [
        t
        for t in trials
        if t.loss_fn is not None
        and t.gradients
        and all(
            g.got is not None
            and np.shape(g.got) == g.expected.shape
            and np.all(np.isfinite(g.got))
            for g in t.gradients
        )
    ]
    details: list[str] = []
    failed: dict[tuple[str, str], int] = {}
    for t in ran:
        point_names = list(t.point)
        claimed = {
            n: np.asarray(g.got, dtype=np.float64)
            for n, g in zip(point_names, _matching(t), strict=True)
        }
        assert t.loss_fn is not None
        try:
            report = check_gradients(
                t.loss_fn, t.point, claimed, method="central", entries=CENTRAL_ENTRIES, seed=seed
            )
        except _StudentFailed as err:
            details.append(f"case {t.case + 1}, {t.function}: {err}")
            continue
        for row in report.rows:
            label = _grad_label(t, row.name)
            failed[t.function, label] = failed.get((t.function, label), 0) + (not row.passed)
            if not row.passed and failed[t.function, label] == 1:
                details.append(
                    f"case {t.case + 1}, {t.function}: {label} rel err {row.rel_error:.2g} at "
                    f"{list(row.worst_index)}: yours {row.analytic:.6g}, "
                    f"central difference {row.numeric:.6g}"
                )
    details += [
        f"{function}: {label} fails on {count} of {sum(t.function == function for t in ran)} cases"
        for (function, label), count in failed.items()
        if count > 1
    ]
    return Check(
        "central differences of your own loss (or ⟨upstream, output⟩ for a layer)",
        _status(ran, details),
        tuple(details),
    )


def _matching(t: _Trial) -> list[_Gradient]:
    """The trial's gradients in the order of its point's entries (the inputs it differentiates)."""
    by_role = {g.role: g for g in t.gradients}
    order = {
        "Wxh": "U",
        "Whh": "W",
        "Why": "V",
        "bh": "b",
        "by": "c",
        "x": "x",
        "prev_h": "h0",
        "prev_c": "s0",
        "h0": "h0",
        "Wx": "U",
        "Wh": "W",
        "b": "b",
    }
    return [by_role[order.get(n, n)] for n in t.point]


def _grad_label(t: _Trial, point_name: str) -> str:
    return dict(zip(t.point, (g.name for g in _matching(t)), strict=True))[point_name]


# --------------------------------------------------------------------------- grade


def grade(
    target: str | os.PathLike[str],
    layout: str = "min-char-rnn",
    cell: str = "rnn",
    examples: int = 5,
    seed: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
) -> GradeReport:
    """Grade the backward pass in a student's Python file.

    Parameters
    ----------
    target : str or path
        ``PATH.py`` or ``PATH.py:NAME``; NAME is the function to grade in the
        ``min-char-rnn`` layout (default ``lossFun``) and the ``reference`` layout (default
        ``loss_and_gradients``); the ``cs231n`` layout takes no NAME.
    layout : {"min-char-rnn", "cs231n", "reference"}, optional
        How the student's functions are called; see the module notes.
    cell : {"rnn", "lstm", "gru"}, optional
        The cell; only the ``reference`` layout has the LSTM and GRU (the ``cs231n``
        layout, cell ``rnn``, grades the LSTM's functions when the file defines them).
    examples : int, optional
        Number of cases, ≥ 1 (default 5).
    seed : int, optional
        Seed of the cases, ≥ 0.
    timeout : float, optional
        Seconds to wait for each call of the student's code, > 0 (default 10).

    Returns
    -------
    GradeReport
        ``report.passed`` is the verdict; ``str(report)`` is the readable report.

    Raises
    ------
    GradingError
        If the file or the name is missing, the file does not import (its error, with
        its line, is in the message), or the layout or cell is unknown. A ``ValueError``.
    TypeError
        If ``examples``, ``seed`` or ``timeout`` is not a number.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> code = "import rnn\\ndef f(params, inputs, targets, h0):\\n"
    >>> code += "    return rnn.RNN(**params).loss_and_gradients(inputs, targets, h0)\\n"
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     path = pathlib.Path(folder, "mine.py")
    ...     _ = path.write_text(code)
    ...     report = grade(f"{path}:f", layout="reference", examples=2)
    >>> report.passed
    True
    """
    path, name, given = _parse_target(target, layout, cell)
    _check_counts(examples, seed, timeout)
    student = _Student(path, float(timeout))
    try:
        functions = _functions(student, path, layout, name)
        cases = _cases(layout, cell, examples, seed)
        trials: list[_Trial] = []
        for k, case in enumerate(cases):
            if layout == "min-char-rnn":
                trials += _min_char_rnn(student, name, case, k)
            elif layout == "reference":
                trials += _reference(student, name, case, k, cell)
            else:
                trials += _cs231n(student, functions, case, k)
        checks = [_check_calls(trials), _check_values(trials)]
        check3, failing = _check_gradients(trials)
        # check 4 calls the student's functions hundreds of times with fresh arguments, and
        # check 1 already knows whether they change them: the copies to compare would cost
        # several times as much as the calls
        student.watch = False
        checks += [check3, _check_central(trials, seed)]
    finally:
        student.close()
    shown = f"{given}:{name}" if name else given
    notes = list(dict.fromkeys(note for t in trials for note in t.notes))
    if layout == "cs231n":
        notes += _cs231n_notes(functions)
    return GradeReport(
        target=shown,
        layout=layout,
        cell=cell,
        seed=seed,
        timeout=float(timeout),
        cases=tuple(str(c) for c in cases),
        checks=tuple(checks),
        diagnoses=tuple(_diagnose(failing)),
        notes=tuple(notes),
        output="".join(student.output),
        output_length=student.output_length,
    )


def _cs231n_notes(functions: set[str]) -> list[str]:
    """What the cs231n layout graded, and each LSTM pair of which the file defines one half."""
    graded = ["rnn_step_forward/backward", "rnn_forward/backward"]
    graded += [f for f in ("temporal_softmax_loss",) if f in functions]
    notes = []
    for stem in LSTM_STEMS:
        pair = (f"{stem}_forward", f"{stem}_backward")
        present = [f for f in pair if f in functions]
        if len(present) == 2:
            graded.append(f"{stem}_forward/backward")
        elif present:
            (missing,) = set(pair) - set(present)
            notes.append(f"{present[0]} is not graded: the file defines no {missing}")
    return ["graded: " + ", ".join(graded), *notes]


def _parse_target(target: str | os.PathLike[str], layout: str, cell: str) -> tuple[Path, str, str]:
    """The resolved path, the function's name and the path as given."""
    if layout not in LAYOUTS:
        raise GradingError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if cell not in CELLS_OF_LAYOUT[layout]:
        allowed = " or ".join(CELLS_OF_LAYOUT[layout])
        also = (
            " (its LSTM functions are graded with the RNN's when the file defines them)"
            if layout == "cs231n" and cell == "lstm"
            else ""
        )
        raise GradingError(f"the {layout} layout has the cell {allowed}, got {cell!r}{also}")
    text = os.fspath(target)
    name = ""
    if ":" in text and not text.endswith(".py"):
        text, name = text.rsplit(":", 1)
        if not name.isidentifier():
            raise GradingError(f"NAME in PATH.py:NAME must be a Python identifier, got {name!r}")
        if layout == "cs231n":
            raise GradingError(
                "the cs231n layout grades fixed function names; give PATH.py without :NAME"
            )
    path = Path(text)
    if not path.is_file():
        what = "is a directory, not a Python file" if path.is_dir() else "does not exist"
        raise GradingError(f"student file {text!r} {what}")
    return path.resolve(), name or DEFAULT_NAME.get(layout, ""), text


def _check_counts(examples: Any, seed: Any, timeout: Any) -> None:
    for label, value in (("examples", examples), ("seed", seed)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise TypeError(f"{label} must be an int, got {type(value).__name__}")
    if examples < 1:
        raise GradingError(f"examples must be ≥ 1, got {examples}")
    if seed < 0:
        raise GradingError(f"seed must be ≥ 0, got {seed}")
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool):
        raise TypeError(f"timeout must be a number, got {type(timeout).__name__}")
    if not (math.isfinite(timeout) and timeout > 0):
        raise GradingError(f"timeout must be finite and > 0, got {timeout}")


REQUIRED = {"cs231n": ("rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward")}
OPTIONAL = {
    "cs231n": (
        "temporal_softmax_loss",
        *(f"{stem}_{way}" for stem in LSTM_STEMS for way in ("forward", "backward")),
    )
}


def _functions(student: _Student, path: Path, layout: str, name: str) -> set[str]:
    """The graded functions the file defines; a missing required one is a GradingError."""
    wanted = REQUIRED.get(layout, (name,)) + OPTIONAL.get(layout, ())
    reply = student.call(DEFINED, (wanted,), ("names",))
    found = (
        set(reply.values) if reply.problem is None and isinstance(reply.values, tuple) else set()
    )
    missing = [n for n in REQUIRED.get(layout, (name,)) if n not in found]
    if missing:
        raise GradingError(
            f"{path} defines no function {', '.join(missing)} (the {layout} layout needs "
            f"{', '.join(REQUIRED.get(layout, (name,)))})"
        )
    return found
