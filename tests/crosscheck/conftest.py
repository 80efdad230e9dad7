"""The tests that need PyTorch, run by ``nox -s crosscheck``, which installs it.

``nox -s tests`` passes ``--ignore=tests/crosscheck``. A plain ``pytest`` run in an
environment without PyTorch does not collect this folder; the header of the run says so
(see ``tests/conftest.py``).
"""

from __future__ import annotations

import importlib.util

HAVE_TORCH = importlib.util.find_spec("torch") is not None

if HAVE_TORCH:
    import torch

    torch.set_num_threads(1)  # tiny tensors on a shared 2-core machine
else:
    collect_ignore_glob = ["test_*.py"]
