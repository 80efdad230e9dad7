"""Write the checkpoint fixtures of tests/test_checkpoint_versions.py with this numpy.

Run it once with the oldest supported numpy and once with the newest, from the project root:

    .nox/lowest/bin/python tests/data/write_checkpoints.py
    python tests/data/write_checkpoints.py

The files named ``release-0.1.0`` were written by version 0.1.0 of this package (the commit
before checkpoints stopped using ``np.savez``), with numpy 2.4, by
``PYTHONPATH=<that checkout> python tests/data/write_checkpoints.py release-0.1.0``.

Each run trains every cell for two epochs on the seed's text with the same seed and writes
``tests/data/checkpoint-CELL-numpy-VERSION.npz``. The two files of a cell come from the same
deterministic run, computed by two numpy releases.
"""

from __future__ import annotations

import contextlib
import io
import pathlib
import sys

import numpy as np

from rnn.__main__ import main as run

HERE = pathlib.Path(__file__).parent


def main() -> None:
    """Write one fixture per cell, named after the writer (the first argument, if any)."""
    writer = sys.argv[1] if len(sys.argv) > 1 else f"numpy-{np.__version__}"
    for cell in ("rnn", "lstm", "gru"):
        path = HERE / f"checkpoint-{cell}-{writer}.npz"
        options = ["--cell", cell, "--hidden-size", "6", "--epochs", "2", "--seed", "3"]
        argv = ["train", *options, "--sample-length", "5", "--checkpoint", str(path)]
        with contextlib.redirect_stdout(io.StringIO()):
            code = run(argv)
        if code != 0:
            raise SystemExit(f"training {cell} failed with exit code {code}")
        print(path.name, path.stat().st_size, "bytes")


if __name__ == "__main__":  # pytest --doctest-modules imports this file: write nothing then
    main()
