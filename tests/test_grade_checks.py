"""Checks 3 and 4 of the grader and its diagnosis, built from trials by hand: which trials
each check looks at, the exact text of each finding, the counts of check 4, and the
equation and page a diagnosis cites; then check 4's text in whole grades, where a student's
backward pass disagrees with the student's own forward pass.

Check 4 takes central differences of a loss that is linear in the parameters here, so its
central differences are the coefficients (to rounding far below the digits shown), and its
relative error is gradcheck's |a - n| / (|a| + |n|).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from grading import reference_student

import rnn
from verification.gradcheck import check_gradients
from verification.grade import Check, Diagnosis, grade
from verification.mistakes import (
    CATALOGUE,
    H_T_NOT_H_PREVIOUS,
    LSTM_BREAKS,
    LSTM_CATALOGUE,
    MEAN_NOT_SUM,
    SIGN_FLIPPED,
    TANH_OF_PREACTIVATION,
    TRANSPOSED,
    TRUNCATED,
    W_NOT_TRANSPOSED,
    Mistake,
)

GRADE = importlib.import_module("verification.grade")  # the module; the package exports grade()
Trial, Gradient = GRADE._Trial, GRADE._Gradient

STUDENTS = Path(__file__).resolve().parent / "students"
CS231N = (STUDENTS / "cs231n_rnn.py").read_text(encoding="utf-8")

CHECK_3 = "each gradient against the reference's exact gradient (rel err ≤ 1e-10)"
CHECK_4 = "central differences of your own loss (or ⟨upstream, output⟩ for a layer)"


def _array(*rows: Any) -> Any:
    return np.array(rows, dtype=np.float64)


# ------------------------------------------------------------------------- check 3


def _gradient(name: str, got: Any, expected: Any, role: str = "") -> Any:
    return Gradient(name, got, np.asarray(expected, dtype=np.float64), role=role)


def test_check_3_names_each_failing_gradient_once_at_its_worst_case_and_entry() -> None:
    """A gradient is shown once, at the case of its largest error (the first of equal ones),
    with the entry of the largest |yours - reference|; a gradient at exactly the tolerance
    passes; one that could not be read, or has another shape, is shown without an entry.
    Trials whose call failed, or that returned no gradients, are left out."""
    # error 6 / max(3, 3) = 2, worst entry [1, 0] (|-3 - 3| = 6)
    a1 = _gradient("dA", _array([1.0, 2.0], [-3.0, 0.5]), _array([1.0, 2.5], [3.0, 0.5]))
    a2 = _gradient("dA", _array([0.0, -3.0]), _array([0.0, 3.0]))  # also error 6 / 3 = 2
    b1 = _gradient("dB", _array(1.0, 0.0), _array(1.0, 1e-10))  # error exactly 1e-10
    b2 = _gradient("dB", _array(1.0, 0.0), _array(1.0, 2e-10))  # error 2e-10
    c1 = _gradient("dC", None, np.zeros(2))
    c2 = _gradient("dC", np.zeros(3), np.zeros(2))
    d = _gradient("dD", np.ones(3), np.ones(2))
    t1 = Trial("f", 0, gradients=[a1, b1, c1])
    t2 = Trial("f", 1, gradients=[a2, b2, c2])
    failed = Trial("f", 2, failure="f raised ValueError")
    empty = Trial("g", 0)  # e.g. grads was not a dict: no gradients to compare
    t3 = Trial("g", 1, gradients=[d])
    check, failing = GRADE._check_gradients([t1, t2, failed, empty, t3])
    assert check == Check(
        CHECK_3,
        "FAILED",
        (
            "f: dA rel err 2 (case 1); worst entry [1, 0]: yours -3, reference 3",
            "f: dC could not be read (case 1)",
            "f: dB rel err 2e-10 (case 2); worst entry [1]: yours 0, reference 2e-10",
            "g: dD has shape (3,), expected (2,) (case 2)",
        ),
    )
    # for the diagnosis: every case of a failing gradient, also the cases where it passed
    ids = {key: [(id(t), id(g)) for t, g in pairs] for key, pairs in failing.items()}
    assert ids == {
        ("f", "dA"): [(id(t1), id(a1)), (id(t2), id(a2))],
        ("f", "dC"): [(id(t1), id(c1)), (id(t2), id(c2))],
        ("f", "dB"): [(id(t1), id(b1)), (id(t2), id(b2))],
        ("g", "dD"): [(id(t3), id(d))],
    }


def test_check_3_passes_gradients_within_the_tolerance_and_is_not_run_without_any() -> None:
    passing = Trial("f", 0, gradients=[_gradient("dB", _array(1.0, 0.0), _array(1.0, 1e-10))])
    assert GRADE._check_gradients([passing]) == (Check(CHECK_3, "passed"), {})
    failed, empty = Trial("f", 0, failure="f raised ValueError"), Trial("f", 1)
    assert GRADE._check_gradients([failed, empty]) == (Check(CHECK_3, "not run"), {})


# ------------------------------------------------------------------------- check 4


def _linear(coefficients: dict[str, Any]) -> Callable[[dict[str, Any]], float]:
    """L(p) = Σ_n ⟨C_n, p_n⟩: its gradient, and its central differences, are the C_n."""
    return lambda p: float(sum(np.sum(c * p[n]) for n, c in coefficients.items()))


C_U, C_B, C_X = _array([2.0, -1.0]), _array([0.5], [4.0]), _array(1.5, -2.5)
"""The coefficients of the gist's Wxh (1, 2) and bh (2, 1), and of a layer's input x (2,)."""


def _gist_trial(case: int, dWxh: Any, dbh: Any, **changes: Any) -> Any:
    """A trial of lossFun on parameters Wxh and bh, whose loss is linear with C_U and C_B."""
    trial = Trial(
        "lossFun",
        case,
        # in the reverse order of the point: check 4 pairs them by the parameter's role
        gradients=[_gradient("dbh", dbh, C_B, "b"), _gradient("dWxh", dWxh, C_U, "U")],
        point={"Wxh": _array([0.5, -1.5]), "bh": _array([0.25], [2.0])},
        loss_fn=_linear({"Wxh": C_U, "bh": C_B}),
    )
    for name, value in changes.items():
        setattr(trial, name, value)
    return trial


def _layer_trial(case: int, dx: Any) -> Any:
    return Trial(
        "f",
        case,
        gradients=[_gradient("dx", dx, C_X, "x")],
        point={"x": _array(0.25, -0.75)},
        loss_fn=_linear({"x": C_X}),
    )


def _fails(p: dict[str, Any]) -> float:
    raise GRADE._StudentFailed("lossFun raised ValueError: no")


def test_check_4_shows_each_gradient_s_first_failing_case_and_counts_the_rest() -> None:
    """A gradient that fails on one case gets the line of that case; one that fails on
    more cases gets the line of the first of them and a count out of the function's cases.
    A case whose loss cannot be computed says why, and the later cases are still checked.
    Trials with a gradient that is missing, of another shape or not finite are not checked.
    """
    exact_u, exact_b = C_U.copy(), C_B.copy()
    trials = [
        # rel err |3 - 2| / (3 + 2) = 0.2 at [0, 0]
        _gist_trial(0, _array([3.0, -1.0]), exact_b),
        # rel err |2.5 + 2.5| / (2.5 + 2.5) = 1 at [1]
        _layer_trial(0, _array(1.5, 2.5)),
        # rel err |1 - 4| / (1 + 4) = 0.6 at [1, 0]
        _gist_trial(1, exact_u, _array([0.5], [1.0])),
        _layer_trial(1, C_X.copy()),
        _gist_trial(2, exact_u, exact_b, loss_fn=_fails),
        _gist_trial(3, _array([2.0, 1.0]), exact_b),  # dWxh's second failing case
        _gist_trial(4, exact_u, _array([np.nan], [4.0])),
        _gist_trial(5, None, exact_b),
        _gist_trial(6, exact_u, np.zeros(2)),
        _gist_trial(7, exact_u, exact_b, loss_fn=None),
        Trial("lossFun", 8, failure="lossFun raised ValueError"),
    ]
    assert GRADE._check_central(trials, 0) == Check(
        CHECK_4,
        "FAILED",
        (
            "case 1, lossFun: dWxh rel err 0.2 at [0, 0]: yours 3, central difference 2",
            "case 1, f: dx rel err 1 at [1]: yours 2.5, central difference -2.5",
            "case 2, lossFun: dbh rel err 0.6 at [1, 0]: yours 1, central difference 4",
            "case 3, lossFun: lossFun raised ValueError: no",
            "lossFun: dWxh fails on 2 of 4 cases",
        ),
    )


def test_check_4_passes_correct_gradients_and_is_not_run_without_readable_ones() -> None:
    correct = [_gist_trial(k, C_U.copy(), C_B.copy()) for k in range(2)]
    assert GRADE._check_central(correct, 0) == Check(CHECK_4, "passed")
    unreadable = [_gist_trial(0, None, C_B.copy()), Trial("lossFun", 1, failure="raised")]
    assert GRADE._check_central(unreadable, 0) == Check(CHECK_4, "not run")


@pytest.mark.parametrize(
    ("function", "parameters"),
    [
        (
            "lossFun",
            {"Wxh": ("U", "dWxh"), "Whh": ("W", "dWhh"), "Why": ("V", "dWhy")}
            | {"bh": ("b", "dbh"), "by": ("c", "dby")},
        ),
        (
            "lstm_step_forward/lstm_step_backward",
            {"x": ("x", "dx"), "prev_h": ("h0", "dprev_h"), "prev_c": ("s0", "dprev_c")}
            | {"Wx": ("U", "dWx"), "Wh": ("W", "dWh"), "b": ("b", "db")},
        ),
        ("rnn_forward/rnn_backward", {"h0": ("h0", "dh0")}),
        ("f", {"U": ("U", "grads['U']"), "c": ("c", "grads['c']")}),
    ],
    ids=["gist", "layer step", "layer sequence", "reference"],
)
def test_check_4_pairs_each_input_with_the_gradient_of_its_role(
    function: str, parameters: dict[str, tuple[str, str]]
) -> None:
    """Each input of the point (the gist's globals, a layer's arguments, the reference's
    parameters) is compared with the returned gradient of its role, whatever the order of
    the returned gradients, and a finding names that gradient as the student does. Here the
    k-th input's loss coefficient is k and its returned gradient k + 1: rel err 1 / (2k + 1).
    """
    coefficients = {n: np.array([float(k)]) for k, n in enumerate(parameters, 1)}
    trial = Trial(
        function,
        0,
        gradients=[
            _gradient(name, coefficients[n] + 1.0, coefficients[n], role)
            for n, (role, name) in reversed(parameters.items())
        ],
        point={n: np.array([0.5]) for n in parameters},
        loss_fn=_linear(coefficients),
    )
    assert GRADE._check_central([trial], 0).details == tuple(
        f"case 1, {function}: {name} rel err {1 / (2 * k + 1):.2g} at [0]: yours {k + 1}, "
        f"central difference {k}"
        for k, (_, name) in enumerate(parameters.values(), 1)
    )


def test_check_4_compares_the_entries_that_the_grade_s_seed_draws() -> None:
    """With fewer entries compared than a gradient has, whether one wrong entry is seen
    depends on the seed: check 4 sees it exactly when gradcheck's draw for the grade's seed
    holds it. Among the seeds tried, some see it and some do not."""
    coefficients = np.arange(1.0, 21.0).reshape(4, 5)
    claimed = coefficients.copy()
    claimed[2, 3] += 1.0

    def trial() -> Any:
        return Trial(
            "lossFun",
            0,
            gradients=[_gradient("dWxh", claimed, coefficients, "U")],
            point={"Wxh": np.full((4, 5), 0.5)},
            loss_fn=_linear({"Wxh": coefficients}),
        )

    entries = GRADE.CENTRAL_ENTRIES
    assert entries < claimed.size
    seen = []
    for seed in range(8):
        alone = check_gradients(
            trial().loss_fn,
            {"Wxh": np.full((4, 5), 0.5)},
            {"Wxh": claimed},
            entries=entries,
            seed=seed,
        )
        status = GRADE._check_central([trial()], seed).status
        assert status == ("passed" if alone.passed else "FAILED"), seed
        seen.append(not alone.passed)
    assert any(seen), seen
    assert not all(seen), seen


# ------------------------------------------------------------------------ diagnosis


def _diagnosed(
    name: str,
    role: str,
    got: Any,
    variants: dict[Mistake, Any],
    cell: str = "rnn",
    expected: Any = None,
) -> Any:
    exact = _array([1.0, 2.0], [3.0, 4.0]) if expected is None else expected
    return Gradient(name, got, exact, variants, role, cell=cell)


def test_a_diagnosis_cites_the_equation_of_the_gradient_s_role_on_the_derivation_page() -> None:
    """A transposed gradient breaks (13) for U, (12) for W and (8) for V; other mistakes
    their own equation. Gradients of one function with the same finding are grouped, in
    the order they failed; those no mistake explains are grouped per function. A case whose
    gradient could not be read is left out of the comparison."""
    transposed = _array([1.0, 3.0], [2.0, 4.0])
    truncated = _array([1.0, 2.0], [3.0, 0.0])
    both = {TRANSPOSED: transposed, TRUNCATED: truncated}
    gist, seq = "lossFun", "rnn_forward/rnn_backward"
    t1, t2 = Trial(gist, 0), Trial(gist, 1)
    failing = {
        (gist, "dWxh"): [(t1, _diagnosed("dWxh", "U", transposed, both))],
        (gist, "dWhh"): [
            (t1, _diagnosed("dWhh", "W", None, both)),
            (t2, _diagnosed("dWhh", "W", transposed, both)),
        ],
        (gist, "dWhy"): [(t1, _diagnosed("dWhy", "V", transposed, both))],
        (gist, "dbh"): [(t1, _diagnosed("dbh", "b", truncated, both))],
        (gist, "dby"): [(t1, _diagnosed("dby", "c", 2 * truncated, both))],
        (seq, "dx"): [(t1, _diagnosed("dx", "x", truncated, both))],
        (seq, "dh0"): [(t1, _diagnosed("dh0", "h0", -truncated, both))],
        (seq, "db"): [(t1, _diagnosed("db", "b", truncated, both))],
        (seq, "dWh"): [(t1, _diagnosed("dWh", "W", None, both))],
    }
    assert GRADE._diagnose(failing) == [
        Diagnosis(TRANSPOSED, gist, ("dWxh",), "(13)", "derivation", ""),
        Diagnosis(TRANSPOSED, gist, ("dWhh",), "(12)", "derivation", ""),
        Diagnosis(TRANSPOSED, gist, ("dWhy",), "(8)", "derivation", ""),
        Diagnosis(TRUNCATED, gist, ("dbh",), "(9)", "derivation", ""),
        Diagnosis(None, gist, ("dby",), "", "derivation", ""),
        Diagnosis(TRUNCATED, seq, ("dx", "db"), "(9)", "derivation", ""),
        Diagnosis(None, seq, ("dh0", "dWh"), "", "derivation", ""),
    ]
    texts = [str(d) for d in GRADE._diagnose(failing)]
    assert texts[3] == (
        f"lossFun: dbh: truncated BPTT (k=1); breaks eq. (9) of the derivation page: "
        f"{TRUNCATED.breaks}"
    )
    assert texts[6] == "rnn_forward/rnn_backward: dh0, dWh: no known mistake matches"


def test_an_lstm_diagnosis_cites_the_lstm_page_s_equation_and_words() -> None:
    """For cs231n's LSTM pairs the equations are the LSTM page's: a transposed dWx breaks
    (L15) and a transposed dWh (L14); other mistakes cite their (L..) for every gradient."""
    transposed = _array([1.0, 3.0], [2.0, 4.0])
    truncated = _array([1.0, 2.0], [3.0, 0.0])
    both = {TRANSPOSED: transposed, TRUNCATED: truncated}
    step, seq = "lstm_step_forward/lstm_step_backward", "lstm_forward/lstm_backward"
    t = Trial(step, 0)
    failing = {
        (step, "dWx"): [(t, _diagnosed("dWx", "U", transposed, both, "lstm"))],
        (step, "dWh"): [(t, _diagnosed("dWh", "W", transposed, both, "lstm"))],
        (seq, "dWx"): [(t, _diagnosed("dWx", "U", truncated, both, "lstm"))],
        (seq, "dWh"): [(t, _diagnosed("dWh", "W", truncated, both, "lstm"))],
    }
    transposed_says, truncated_says = LSTM_BREAKS[TRANSPOSED][1], LSTM_BREAKS[TRUNCATED][1]
    assert GRADE._diagnose(failing) == [
        Diagnosis(TRANSPOSED, step, ("dWx",), "(L15)", "LSTM", transposed_says),
        Diagnosis(TRANSPOSED, step, ("dWh",), "(L14)", "LSTM", transposed_says),
        Diagnosis(TRUNCATED, seq, ("dWx", "dWh"), "(L7)", "LSTM", truncated_says),
    ]
    assert str(GRADE._diagnose(failing)[0]) == (
        f"{step}: dWx: transposed; breaks eq. (L15) of the LSTM page: {transposed_says}"
    )


def test_a_mistake_whose_gradient_is_the_exact_one_on_every_case_is_not_named() -> None:
    """A gradient a little off (3e-10, beyond check 3's 1e-10 but within the diagnosis's
    1e-8) is as close to a mistake that leaves this gradient as it is (or changes it by no
    more than check 3's tolerance) as to the exact one: naming that mistake would guess. A
    mistake counts once its gradient differs on one case."""
    exact = _array(1.0, 0.0)
    near = _array(1.0, 3e-10)
    at_tolerance = _array(1.0, 1e-10)  # differs from the exact gradient by exactly 1e-10
    t1, t2 = Trial("f", 0), Trial("f", 1)
    failing = {
        ("f", "dA"): [(t1, _diagnosed("dA", "b", near, {TRUNCATED: exact}, expected=exact))],
        ("f", "dB"): [
            (t1, _diagnosed("dB", "b", near, {TRANSPOSED: at_tolerance}, expected=exact))
        ],
    }
    assert GRADE._diagnose(failing) == [Diagnosis(None, "f", ("dA", "dB"))]
    differs_once = {
        ("f", "dC"): [
            (t1, _diagnosed("dC", "c", exact, {TRUNCATED: exact}, expected=exact)),
            (t2, _diagnosed("dC", "c", 2 * exact, {TRUNCATED: 2 * exact}, expected=exact)),
        ]
    }
    assert GRADE._diagnose(differs_once) == [Diagnosis(TRUNCATED, "f", ("dC",), "(9)")]


def test_a_gradient_matches_a_mistake_to_the_diagnosis_tolerance() -> None:
    """Within DIAGNOSIS_RTOL (1e-8), also at exactly it; beyond it, no match."""
    at = _diagnosed("dA", "b", _array(1.0, 0.0), {TRUNCATED: _array(1.0, 1e-8)})
    beyond = _diagnosed("dA", "b", _array(1.0, 0.0), {TRUNCATED: _array(1.0, 2e-8)})
    assert at.matches(TRUNCATED)
    assert not beyond.matches(TRUNCATED)


def test_the_gist_s_gradient_matches_a_mistake_s_gradient_clipped_to_5() -> None:
    """lossFun clips its gradients to [-5, 5], so a mistake's gradient counts clipped at
    both ends (to the same tolerance); other layouts do not clip, and there it does not."""
    variant = _array(7.0, -6.0, 1.0)
    clipped = Gradient("dWhh", _array(5.0, -5.0, 1.0), np.zeros(3), {TRUNCATED: variant})
    assert not clipped.matches(TRUNCATED)
    clipped.clipped = True
    assert clipped.matches(TRUNCATED)
    # |5e-8| / 5 = 1e-8 from the clipped gradient (-5, 0): exactly the tolerance
    at = Gradient("dbh", _array(-5.0, 5e-8), np.zeros(2), {TRUNCATED: _array(-5.5, 0.0)})
    at.clipped = True
    assert at.matches(TRUNCATED)
    at.got = _array(-5.0, 1e-7)
    assert not at.matches(TRUNCATED)


# --------------------------------------------------------------- cases of the gist


def test_every_drawn_gist_case_has_exact_gradient_entries_below_the_clip_margin() -> None:
    """lossFun clips to ±5, so every drawn min-char-rnn case has exact gradient entries below
    CLIP_MARGIN = 4 at the case's own initial state h0 (the fixed first case is not drawn).
    Seed 0's sixth case, among others, is drawn from a state whose gradient at a zero h0 is
    below 4 but not at its own h0."""
    assert GRADE.CLIP_MARGIN == 4.0
    for seed in range(8):
        for case in GRADE._cases("min-char-rnn", "rnn", 6, seed)[1:]:
            model = rnn.RNN(**case.params)
            grads = model.loss_and_gradients(case.inputs, case.targets, case.h0)[1]
            largest = max(float(np.abs(g).max()) for g in grads.values())
            assert largest < 4.0, (seed, str(case))


def test_cs231n_lstm_inputs_have_the_case_s_scale_and_a_step_cell_state_of_n_0_0_25() -> None:
    """The module notes promise cs231n's LSTM functions weights of their own, drawn with the
    case's scale s (the report's "weights N(0, s²)"), and a step's prev_c from N(0, 0.25).
    Over 60 cases of seed 0, each weight divided by its case's s pools to a standard
    deviation near 1, and prev_c to one near 0.5. Both pairs get the same weights; the
    sequence's cell state starts at zero."""
    functions = {f"{stem}_{half}" for stem in GRADE.LSTM_STEMS for half in ("forward", "backward")}
    scaled: dict[str, list[np.ndarray]] = {"Wx": [], "Wh": [], "b": []}
    cell_states = []
    for case in GRADE._cases("cs231n", "rnn", 60, 0):
        step, sequence = GRADE._lstm_pairs(case, functions)
        assert (step.stem, sequence.stem) == ("lstm_step", "lstm")
        H = case.H
        assert step.args["Wx"].shape == (case.V, 4 * H)
        assert step.args["b"].shape == (4 * H,)
        for name, parts in scaled.items():
            np.testing.assert_array_equal(sequence.args[name], step.args[name])
            parts.append(step.args[name].ravel() / case.scale)
        cell_states.append(step.args["prev_c"].ravel())
    for name, parts in scaled.items():
        pooled = np.concatenate(parts)
        assert pooled.size > 500
        assert 0.9 < pooled.std() < 1.1, (name, pooled.std())
    pooled = np.concatenate(cell_states)
    assert pooled.size > 300
    assert 0.45 < pooled.std() < 0.55, pooled.std()


def test_a_step_pair_is_compared_only_with_the_mistakes_one_step_can_make() -> None:
    """On one step, "first step missing" and "last step missing" would both be all zeros,
    and "truncated BPTT (k=1)" the exact gradient, so the step functions' candidates are the
    mistakes of one step. The sequence functions' candidates are the whole catalogue except
    "mean instead of sum" (their upstream gradient is given, not a mean's), and the LSTM's
    its own catalogue."""
    case = GRADE._cases("cs231n", "rnn", 1, 0)[0]
    functions = {f"{stem}_{half}" for stem in GRADE.LSTM_STEMS for half in ("forward", "backward")}
    N, T, D, H = case.B, case.T, case.V, case.H
    Wx, Wh, b = case.params["U"].T, case.params["W"].T, case.params["b"]
    rng = np.random.default_rng(0)
    x, dh = rng.standard_normal((N, T, D)), rng.standard_normal((N, T, H))
    rnn_step = GRADE._rnn_pair(True, x[:, 0], case.h0, Wx, Wh, b, dh[:, 0])
    rnn_sequence = GRADE._rnn_pair(False, x, case.h0, Wx, Wh, b, dh)
    lstm_step, lstm_sequence = GRADE._lstm_pairs(case, functions)
    one_step = {m for m in CATALOGUE if m.in_one_step}
    assert one_step == {
        TRANSPOSED,
        TANH_OF_PREACTIVATION,
        W_NOT_TRANSPOSED,
        H_T_NOT_H_PREVIOUS,
        SIGN_FLIPPED,
    }
    for pair, candidates in (
        (rnn_step, one_step),
        (rnn_sequence, set(CATALOGUE) - {MEAN_NOT_SUM}),
        (lstm_step, {m for m in LSTM_CATALOGUE if m.in_one_step}),
        (lstm_sequence, set(LSTM_CATALOGUE)),
    ):
        for g in pair.gradients:
            assert set(g.variants) == candidates, (pair.stem, g.name)


# ---------------------------------------------------------- check 4 in whole grades


@pytest.mark.check_4_in_full  # every entry of b (at most 8) is compared
def test_check_4_shows_a_backward_pass_that_disagrees_with_its_own_forward_pass(
    tmp_path: Path,
) -> None:
    """The student's loss is the exact one, so its central differences are the exact
    gradient; the returned grads['b'][0] is 1 more. Both cases fail: the line of the first,
    then the count."""
    path = reference_student(tmp_path, "    grads['b'][0] += 1.0\n    return loss, grads, h\n")
    report = grade(f"{path}:f", layout="reference", examples=2)
    case = GRADE._cases("reference", "rnn", 1, 0)[0]
    exact = rnn.RNN(**case.params).loss_and_gradients(case.inputs, case.targets, case.h0)[1]
    b0 = float(exact["b"][0])
    rel = 1.0 / (abs(b0 + 1.0) + abs(b0))
    assert report.checks[3] == Check(
        CHECK_4,
        "FAILED",
        (
            f"case 1, f: grads['b'] rel err {rel:.2g} at [0]: yours {b0 + 1.0:.6g}, "
            f"central difference {b0:.6g}",
            "f: grads['b'] fails on 2 of 2 cases",
        ),
    )


@pytest.mark.check_4_in_full  # every entry of dWx (5 × 4) is compared
def test_check_4_of_a_layer_differentiates_upstream_times_output(tmp_path: Path) -> None:
    """cs231n's layers have no loss: check 4 differentiates ⟨upstream, output⟩, whose
    gradient is the backward pass's. Here the step's dWx[0, 0] is 1 too large, and the
    sequence's, which adds up the T = 4 steps' dWx, is 4 too large; each is named by the
    student's name for it."""
    path = tmp_path / "rnn_layers.py"
    path.write_text(
        CS231N.replace("    dWx = x.T @ dtanh\n", "    dWx = x.T @ dtanh\n    dWx[0, 0] += 1\n"),
        encoding="utf-8",
    )
    report = grade(path, layout="cs231n", examples=1)
    # the exact gradients, from the correct student file on the grader's inputs
    namespace: dict[str, Any] = {}
    exec(compile(CS231N, "cs231n_rnn.py", "exec"), namespace)
    case = GRADE._cases("cs231n", "rnn", 1, 0)[0]
    rng = np.random.default_rng(case.rng_seed + 1)
    x = rng.standard_normal((case.B, case.T, case.V))
    Wx, Wh, b = case.params["U"].T, case.params["W"].T, case.params["b"]
    dh = rng.standard_normal((case.B, case.T, case.H))
    _, cache = namespace["rnn_step_forward"](x[:, 0], case.h0, Wx, Wh, b)
    step = float(namespace["rnn_step_backward"](dh[:, 0], cache)[2][0, 0])
    _, cache = namespace["rnn_forward"](x, case.h0, Wx, Wh, b)
    sequence = float(namespace["rnn_backward"](dh, cache)[2][0, 0])

    def line(function: str, exact: float, change: float) -> str:
        rel = change / (abs(exact + change) + abs(exact))
        return (
            f"case 1, {function}: dWx rel err {rel:.2g} at [0, 0]: yours {exact + change:.6g}, "
            f"central difference {exact:.6g}"
        )

    assert report.checks[3] == Check(
        CHECK_4,
        "FAILED",
        (
            line("rnn_step_forward/rnn_step_backward", step, 1.0),
            line("rnn_forward/rnn_backward", sequence, 4.0),
        ),
    )


def test_check_4_says_why_the_student_s_loss_could_not_be_computed(tmp_path: Path) -> None:
    """The graded call returns; check 4's calls of the same function raise, and the report
    says so, with the student's line."""
    path = reference_student(
        tmp_path,
        "    CALLS.append(1)\n"
        "    if len(CALLS) > 1:\n"
        "        raise RuntimeError('called again')\n"
        "    return loss, grads, h\n\n\nCALLS = []\n",
    )
    report = grade(f"{path}:f", layout="reference", examples=1)
    lines = path.read_text(encoding="utf-8").splitlines()
    line = lines.index("        raise RuntimeError('called again')") + 1
    assert report.checks[2].status == "passed"
    assert report.checks[3] == Check(
        CHECK_4,
        "FAILED",
        (
            f"case 1, f: f raised RuntimeError: called again ({path.resolve()}, line {line}, "
            "in f: raise RuntimeError('called again'))",
        ),
    )


def test_check_4_says_when_a_layer_s_forward_stops_returning_its_outputs(
    tmp_path: Path,
) -> None:
    """The step forward returns (next_h, cache) until its backward has run, then next_h
    alone: checks 1 to 3 pass, and check 4, which calls the forward again, says what it got.
    rnn_forward uses the step forward as it was, so the sequence pair passes."""
    source = CS231N.replace(
        "        prev_h, cache = rnn_step_forward(x[:, t], prev_h, Wx, Wh, b)\n",
        "        prev_h, cache = _step_forward(x[:, t], prev_h, Wx, Wh, b)\n",
    )
    path = tmp_path / "rnn_layers.py"
    path.write_text(
        source + "\n\n_step_forward, _step_backward = rnn_step_forward, rnn_step_backward\n"
        "BACKWARD_CALLS = []\n\n\n"
        "def rnn_step_forward(x, prev_h, Wx, Wh, b):\n"
        "    next_h, cache = _step_forward(x, prev_h, Wx, Wh, b)\n"
        "    return next_h if BACKWARD_CALLS else (next_h, cache)\n\n\n"
        "def rnn_step_backward(dnext_h, cache):\n"
        "    BACKWARD_CALLS.append(1)\n"
        "    return _step_backward(dnext_h, cache)\n",
        encoding="utf-8",
    )
    report = grade(path, layout="cs231n", examples=1)
    assert [c.status for c in report.checks[:3]] == ["passed"] * 3, str(report)
    assert report.checks[3] == Check(
        CHECK_4,
        "FAILED",
        ("case 1, rnn_step_forward/rnn_step_backward: rnn_step_forward returned ndarray",),
    )


def test_check_4_differentiates_the_student_s_softmax_loss(tmp_path: Path) -> None:
    """A temporal_softmax_loss whose loss is twice the reference's but whose dx is the
    reference's: check 3 passes, and check 4 finds dx half its own loss's gradient, a
    relative error of |a - 2a| / (|a| + |2a|) = 1/3."""
    old = "    loss = -np.sum(mask_flat * np.log(probs[np.arange(N * T), y_flat])) / N\n"
    assert CS231N.count(old) == 1
    path = tmp_path / "rnn_layers.py"
    twice = "    loss = -2 * np.sum(mask_flat * np.log(probs[np.arange(N * T), y_flat])) / N\n"
    path.write_text(CS231N.replace(old, twice), encoding="utf-8")
    report = grade(path, layout="cs231n", examples=1)
    assert report.checks[2].status == "passed"
    assert report.checks[3].status == "FAILED"
    assert (
        report.checks[3]
        .details[0]
        .startswith("case 1, temporal_softmax_loss: dx rel err 0.33 at ")
    ), report.checks[3].details


def test_check_4_reads_a_loss_returned_as_the_text_of_a_number(tmp_path: Path) -> None:
    """Check 1 names a loss returned as a str; check 4 still differentiates the number it
    spells, converted as numpy converts it, so the backward pass is still checked. A float's
    str round-trips, so the central differences are those of the exact loss."""
    path = reference_student(tmp_path, "    return str(loss), grads, h\n")
    report = grade(f"{path}:f", layout="reference", examples=1)
    assert "case 1: the loss is a str, expected a float" in report.checks[0].details
    assert report.checks[3].status == "passed", str(report)


def test_check_4_names_a_layer_output_of_the_wrong_shape(tmp_path: Path) -> None:
    """rnn_forward returns h time-major, (T, N, H), while its backward is right. The first
    case has N = 2, T = 4, H = 4: ⟨upstream, output⟩ is undefined for h of shape (4, 2, 4), so
    check 4 says why instead of multiplying arrays that do not match."""
    path = tmp_path / "rnn_layers.py"
    path.write_text(
        CS231N.replace("    return h, caches\n", "    return h.transpose(1, 0, 2), caches\n"),
        encoding="utf-8",
    )
    report = grade(path, layout="cs231n", examples=1)
    assert "case 1: h has shape (4, 2, 4), expected (2, 4, 4)" in report.checks[0].details
    assert report.checks[2].status == "passed", str(report)
    assert report.checks[3] == Check(
        CHECK_4,
        "FAILED",
        (
            "case 1, rnn_forward/rnn_backward: rnn_forward's h has shape (4, 2, 4), "
            "expected (2, 4, 4)",
        ),
    )


def test_check_4_names_a_layer_output_that_is_not_numbers(tmp_path: Path) -> None:
    """The step forward returns its output as a word. rnn_forward then raises, which check 1
    reports as the student's; the step pair's backward is right, and check 4 says that the
    output it would differentiate is not numbers."""
    path = tmp_path / "rnn_layers.py"
    path.write_text(
        CS231N.replace(
            "    return next_h, (x, prev_h, Wx, Wh, next_h)\n",
            "    return 'tanh', (x, prev_h, Wx, Wh, next_h)\n",
        ),
        encoding="utf-8",
    )
    report = grade(path, layout="cs231n", examples=1)
    assert "case 1: next_h is a str, expected a numpy array of shape (2, 4)" in (
        report.checks[0].details
    ), str(report)
    assert report.checks[3] == Check(
        CHECK_4,
        "FAILED",
        (
            "case 1, rnn_step_forward/rnn_step_backward: "
            "rnn_step_forward's next_h is a str, not numbers",
        ),
    )


def test_check_4_holds_a_layer_with_tiny_outputs_to_its_own_rounding_floor(
    tmp_path: Path,
) -> None:
    """The step forward returns 1e-6 tanh(a) and its backward is exact for that, except that
    dWx is 1e-11 too large in every entry: a relative error of about 1e-5. The rounding floor
    of a central difference is 32 eps |f| / h, so ⟨upstream, output⟩, of size about 1e-6 here,
    has a floor near 1e-15 and check 4 sees the error. An offset in ⟨upstream, output⟩ would
    cancel in every difference but raise |f| to 1, and with it the floor to about 1e-9, which
    hides the error."""
    forward = (
        "    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)\n"
        "    return next_h, (x, prev_h, Wx, Wh, next_h)\n"
    )
    scaled = (
        "    a = np.tanh(x @ Wx + prev_h @ Wh + b)\n"  # the cache keeps tanh(a), as before
        "    return 1e-6 * a, (x, prev_h, Wx, Wh, a)\n"
    )
    backward = "    dtanh = dnext_h * (1 - next_h**2)\n"
    dwx = "    dWx = x.T @ dtanh\n"
    for line in (forward, backward, dwx):
        assert CS231N.count(line) == 1, line
    student = (
        CS231N.replace(forward, scaled)
        .replace(backward, backward.replace("dnext_h *", "1e-6 * dnext_h *"))
        .replace(dwx, dwx.replace("dtanh\n", "dtanh + 1e-11\n"))
    )
    path = tmp_path / "rnn_layers.py"
    path.write_text(student, encoding="utf-8")
    check = grade(path, layout="cs231n", examples=1).checks[3]
    assert check.status == "FAILED", check
    assert {d.split(" rel err ")[0] for d in check.details} == {
        "case 1, rnn_step_forward/rnn_step_backward: dWx",
        "case 1, rnn_forward/rnn_backward: dWx",
    }, check
