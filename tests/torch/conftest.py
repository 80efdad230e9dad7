"""The tests that need PyTorch: run by ``nox -s crosscheck``, which installs it.

``nox -s tests`` passes ``--ignore=tests/torch``. When PyTorch is not installed, a plain
``pytest`` run leaves this folder out instead of failing on ``import torch``; with
``-m torch`` and no PyTorch it then collects nothing and pytest exits with status 5.

pytest puts ``tests/`` on ``sys.path``, where this folder is a namespace package named
``torch``; PyTorch, a regular package, wins over it when installed. A spec without an
origin is that folder, not PyTorch.
"""

from __future__ import annotations

import importlib.util

_spec = importlib.util.find_spec("torch")
if _spec is None or _spec.origin is None:
    collect_ignore_glob = ["test_*.py"]
else:
    import torch

    torch.set_num_threads(1)  # tiny tensors on a shared 2-core machine
