"""rnn.interop: what to_torch builds, what from_torch refuses, and PyTorch as an optional extra."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import rnn.interop
from rnn import RNN
from rnn.interop import TORCH_REQUIREMENT, from_torch, to_torch
from rnn.training import CELLS
from verification.strategies import EDGE_CASES, Case, model_cases

pytestmark = pytest.mark.torch

ROOT = Path(__file__).resolve().parents[2]
V, H = 5, 3


def _model(dtype: Any = np.float64) -> RNN:
    return RNN.random(V, H, np.random.default_rng(0), scale=0.5, dtype=dtype)


def _modules(**rnn_options: Any) -> tuple[torch.nn.RNN, torch.nn.Linear]:
    options: dict[str, Any] = {"dtype": torch.float64, **rnn_options}
    return torch.nn.RNN(V, H, **options), torch.nn.Linear(H, V, dtype=torch.float64)


def _cases() -> st.SearchStrategy[Case]:
    """Cases of every cell: V ≤ 8, H ≤ 8, T ≤ 6, B ≤ 4, parameters of scale up to 1."""
    bounds = {"max_vocab": 8, "max_hidden": 8, "max_length": 6, "max_batch": 4}
    return st.sampled_from(sorted(CELLS)).flatmap(lambda c: model_cases(CELLS[c], **bounds))


# ------------------------------------------------------------------------ round trip


@settings(max_examples=60)
@example(case=EDGE_CASES[0].build(RNN), special=True)
@given(case=_cases(), special=st.booleans())
def test_to_torch_then_from_torch_round_trips_bit_for_bit(case: Case, special: bool) -> None:
    """Every parameter of every cell comes back as the same class, dtype and bytes.

    ``special`` writes −0.0, a subnormal and a huge value into each array, the values a
    careless conversion (adding a zero bias, rounding through float32) would change.
    """
    params = {k: v.copy() for k, v in case.model.params.items()}
    if special:
        for arr in params.values():
            flat = arr.reshape(-1)
            values = [-0.0, 5e-324, -1e308][: flat.size]
            flat[: len(values)] = values
    model = case.model.with_params(params)
    back = from_torch(*to_torch(model))
    assert type(back) is type(model)
    for name in model.param_names:
        assert back.params[name].dtype == model.params[name].dtype
        assert back.params[name].tobytes() == model.params[name].tobytes(), name


# ------------------------------------------------------------------------ to_torch


def test_to_torch_builds_a_one_layer_tanh_rnn_and_a_linear_in_float64_on_the_cpu() -> None:
    model = _model()
    recurrent, linear = to_torch(model)
    assert isinstance(recurrent, torch.nn.RNN)
    assert isinstance(linear, torch.nn.Linear)
    assert recurrent.mode == "RNN_TANH"
    assert recurrent.num_layers == 1
    assert not recurrent.bidirectional
    assert not recurrent.batch_first
    assert (recurrent.input_size, recurrent.hidden_size) == (V, H)
    for p in (*recurrent.parameters(), *linear.parameters()):
        assert (p.dtype, p.device.type) == (torch.float64, "cpu")
    np.testing.assert_array_equal(recurrent.weight_ih_l0.detach().numpy(), model.U)
    np.testing.assert_array_equal(recurrent.weight_hh_l0.detach().numpy(), model.W)
    np.testing.assert_array_equal(recurrent.bias_ih_l0.detach().numpy(), model.b)
    np.testing.assert_array_equal(recurrent.bias_hh_l0.detach().numpy(), np.zeros(H))
    assert not recurrent.bias_hh_l0.requires_grad
    np.testing.assert_array_equal(linear.weight.detach().numpy(), model.V)
    np.testing.assert_array_equal(linear.bias.detach().numpy(), model.c)


def test_to_torch_copies_so_that_training_one_side_leaves_the_other() -> None:
    model = _model()
    before = model.copy()
    recurrent, linear = to_torch(model)
    with torch.no_grad():
        recurrent.weight_hh_l0.add_(1.0)
        linear.bias.add_(1.0)
    model.W += 2.0
    np.testing.assert_array_equal(model.c, before.c)
    np.testing.assert_array_equal(recurrent.weight_hh_l0.detach().numpy(), before.W + 1.0)


def test_to_torch_draws_nothing_from_torchs_global_generator() -> None:
    state = torch.random.get_rng_state()
    to_torch(_model())
    assert torch.equal(torch.random.get_rng_state(), state)


def test_float32_model_travels_as_float32() -> None:
    model = _model(np.float32)
    recurrent, linear = to_torch(model)
    assert recurrent.weight_ih_l0.dtype == torch.float32
    back = from_torch(recurrent, linear)
    for name in model.param_names:
        assert back.params[name].dtype == np.float32
        assert back.params[name].tobytes() == model.params[name].tobytes()


def test_to_torch_refuses_a_complex_model() -> None:
    model = _model()
    complex_model = model.with_params({k: v + 0j for k, v in model.params.items()})
    with pytest.raises(TypeError, match="float64 or float32 model, got dtype complex128"):
        to_torch(complex_model)


def test_to_torch_refuses_what_is_not_a_model() -> None:
    with pytest.raises(TypeError, match="model must be a RecurrentModel, got dict"):
        to_torch({"U": np.zeros((H, V))})  # type: ignore[arg-type]


# ---------------------------------------------------------------------- from_torch


def test_from_torch_then_to_torch_restores_the_state_dicts() -> None:
    recurrent, linear = _modules()
    with torch.no_grad():
        recurrent.bias_hh_l0.zero_()
    again, linear_again = to_torch(from_torch(recurrent, linear))
    for before, after in ((recurrent, again), (linear, linear_again)):
        for key, value in before.state_dict().items():
            assert torch.equal(value, after.state_dict()[key]), key


def test_from_torch_keeps_minus_zero_in_b_where_bias_hh_is_zero() -> None:
    recurrent, linear = _modules()
    with torch.no_grad():
        recurrent.bias_ih_l0.fill_(-0.0)
        recurrent.bias_hh_l0.zero_()
    b = from_torch(recurrent, linear).b
    assert np.all(np.signbit(b)), b


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda: _modules(nonlinearity="relu"), ValueError, "nonlinearity must be 'tanh', got"),
        (lambda: _modules(bidirectional=True), ValueError, "bidirectional must be False"),
        (lambda: _modules(batch_first=True), ValueError, "batch_first must be False, got True"),
        (lambda: _modules(bias=False), ValueError, r"must have biases \(bias=True\)"),
        (
            lambda: (_modules()[0], torch.nn.Linear(H, V, bias=False, dtype=torch.float64)),
            ValueError,
            "Linear layer must have a bias",
        ),
        (
            lambda: (_modules()[0], torch.nn.Linear(H + 1, V, dtype=torch.float64)),
            ValueError,
            f"in_features must equal hidden_size={H}, got {H + 1}",
        ),
        (
            lambda: (_modules()[0], torch.nn.Linear(H, V + 1, dtype=torch.float64)),
            ValueError,
            f"out_features must equal input_size={V}",
        ),
        (
            lambda: (_modules()[0].half(), _modules()[1].half()),
            TypeError,
            r"must be float64 \(or all float32\), got \['float16'\]",
        ),
        (
            lambda: (_modules()[0].bfloat16(), _modules()[1].bfloat16()),
            TypeError,
            r"got \['bfloat16'\]",
        ),
        (
            lambda: (_modules()[0], _modules()[1].float()),
            TypeError,
            r"got \['float32', 'float64'\]",
        ),
        (
            lambda: (torch.nn.RNNCell(V, H, dtype=torch.float64), _modules()[1]),
            TypeError,
            "recurrent must be a torch.nn.RNN, LSTM or GRU module, got RNNCell",
        ),
        (
            lambda: (_modules()[0], torch.nn.Bilinear(H, H, V)),
            TypeError,
            "linear must be a torch.nn.Linear, got Bilinear",
        ),
    ],
    ids=[
        "relu",
        "bidirectional",
        "batch-first",
        "no-rnn-bias",
        "no-linear-bias",
        "linear-in-features",
        "linear-out-features",
        "float16",
        "bfloat16",
        "mixed-dtypes",
        "rnn-cell",
        "not-a-linear",
    ],
)
def test_from_torch_refuses_what_the_model_cannot_represent(
    make: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        from_torch(*make())


# -------------------------------------------------------------- torch is optional


def test_a_missing_torch_names_the_pinned_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    with pytest.raises(ImportError, match=r"pip install torch==2\.13\.0"):
        to_torch(_model())
    with pytest.raises(ImportError, match=r"rnn-reference\[torch\]"):
        from_torch(None, None)


def test_import_rnn_never_imports_torch() -> None:
    code = (
        "import sys\n"
        "import rnn, rnn.interop, rnn.training\n"
        "assert 'torch' not in sys.modules, 'importing rnn imported torch'\n"
        "sys.modules['torch'] = None\n"
        "import importlib; importlib.reload(rnn.interop)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_the_pins_agree_and_the_installed_torch_is_that_cpu_build() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert f'torch = ["{TORCH_REQUIREMENT}"]' in pyproject  # the extra
    assert f'TORCH = "{TORCH_REQUIREMENT}"' in (ROOT / "noxfile.py").read_text(encoding="utf-8")
    assert torch.__version__.split("+")[0] == TORCH_REQUIREMENT.removeprefix("torch==")
    assert torch.version.cuda is None, f"a CUDA build was installed: {torch.__version__}"


def test_the_module_docstring_example_runs() -> None:
    """The example in rnn.interop's docstring is a code block (the doctests of the tests
    session run without PyTorch), so it is executed here."""
    doc = rnn.interop.__doc__
    assert doc is not None
    code = textwrap.dedent(doc.split(".. code-block:: python\n", 1)[1])
    assert "from_torch(recurrent, linear)" in code
    exec(compile(code, "rnn.interop example", "exec"), {})
