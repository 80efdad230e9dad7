"""Count the saved mutation verdicts of one mode, by function and in all.

Usage: ``python tests/mutation/summary.py grader [--names STATUS]``; with ``--names`` it
prints the names of the mutants with that status (killed, survived, no tests, timeout, not
checked) instead.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

STATUS = {1: "killed", 3: "killed", 0: "survived", 5: "no tests", 33: "no tests"}
STATUS |= {36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout"}
STATUS |= {None: "not checked", -11: "segfault", -9: "segfault", 37: "type check"}
ORDER = ("killed", "timeout", "survived", "no tests", "not checked")


def verdicts(mode: str) -> dict[str, str]:
    """Each mutant's status, from the .meta files saved for ``mode``."""
    folder = Path(__file__).resolve().parent / mode
    found: dict[str, str] = {}
    for meta in sorted(folder.rglob("*.meta")):
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        found |= {name: STATUS.get(code, f"exit {code}") for name, code in codes.items()}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode")
    parser.add_argument("--names", metavar="STATUS")
    args = parser.parse_args()
    found = verdicts(args.mode)
    if args.names:
        print("\n".join(name for name, status in found.items() if status == args.names))
        return
    by_function: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for name, status in found.items():
        by_function[name.rsplit("__mutmut_", 1)[0]][status] += 1
    extra = sorted({s for c in by_function.values() for s in c} - set(ORDER))
    columns = [*ORDER, *extra]
    print(f"{'function':60}" + "".join(f"{c:>12}" for c in columns))
    for function, counts in sorted(by_function.items()):
        print(f"{function:60}" + "".join(f"{counts[c]:>12}" for c in columns))
    total = collections.Counter(found.values())
    label = f"all {len(found)} mutants"
    print(f"{label:60}" + "".join(f"{total[c]:>12}" for c in columns))


if __name__ == "__main__":
    main()
