"""The BPTT assignment's grader: hand this file out with the assignment.

Students run ``pytest test_bptt_assignment.py`` next to their ``min_char_rnn.py``; a
course grades every submission the same way, with ``STUDENT=path/to/file.py pytest ...``.
The report (which check failed, and the mistake it shows) is the assertion message.
"""

import os
from pathlib import Path

from verification import grade

STUDENT = Path(os.environ.get("STUDENT", Path(__file__).with_name("min_char_rnn.py")))


def test_the_backward_pass_is_the_exact_gradient():
    report = grade(STUDENT, layout="min-char-rnn", examples=5, seed=2026)
    assert report.passed, f"\n{report}"
