"""Hidden test regions of nbgrader cells (pure; the pod's runner needs no nbgrader).

A region runs from a line containing the begin delimiter to a line containing the end
delimiter (nbgrader's ``ClearHiddenTests`` matches them the same way); a region without
its end runs to the end of the source.
"""

from __future__ import annotations

BEGIN_HIDDEN = "BEGIN HIDDEN TESTS"  # nbgrader's ClearHiddenTests defaults
END_HIDDEN = "END HIDDEN TESTS"
HIDDEN_NOTICE = "# hidden tests are not shown"
# What the feedback run executes instead of a hidden region: a statement (a comment alone
# would leave an indented block empty).
NOT_RUN = "pass  # hidden tests are not run for feedback"


def hide_hidden_tests(
    source: str, begin: str = BEGIN_HIDDEN, end: str = END_HIDDEN, notice: str = HIDDEN_NOTICE
) -> tuple[str, list[str]]:
    """``source`` with each hidden region, its delimiter lines included, replaced by one
    ``notice`` line (indented as the region's first line), and the hidden lines."""
    kept: list[str] = []
    hidden: list[str] = []
    in_region = False
    for line in source.split("\n"):
        if not in_region and begin in line:
            in_region = True
            indent = line[: len(line) - len(line.lstrip())]
            kept.append(indent + notice)
        elif in_region and end in line:
            in_region = False
        elif in_region:
            hidden.append(line)
        else:
            kept.append(line)
    return "\n".join(kept), hidden


def without_hidden_tests(source: str, begin: str = BEGIN_HIDDEN, end: str = END_HIDDEN):
    """The source a feedback run executes (each hidden region replaced by ``NOT_RUN``), or
    None when the source has no hidden region."""
    if begin not in source:
        return None
    return hide_hidden_tests(source, begin, end, NOT_RUN)[0]


def secret_lines(hidden: list[str], min_chars: int = 8) -> set[str]:
    """The hidden lines worth looking for in outputs, stripped; shorter lines ("pass",
    "x = 1") are too common to hide."""
    return {line.strip() for line in hidden if len("".join(line.split())) >= min_chars}
