"""Feedback without the hidden tests.

nbgrader's autograde puts the hidden tests back into each test cell, and ``generate_feedback``
renders that notebook as it is: a student would read every hidden test in the feedback, in
a failed test's traceback, and in anything their code made of the tests once they had run
in its process (a print of ``In``, an image, a base64 string). ``HideHiddenTests`` runs in
the ``GenerateFeedback`` pipeline (after ``GetGrades``, which puts each cell's score in its
metadata) and decides by what the cells are, not by what the outputs look like:

- Outputs come from the **feedback run** of the notebook, which coursehub's grading pods
  make in a process of its own with every hidden region replaced by ``pass``: a process
  that never held a hidden test cannot show one, whatever it encodes. The scoring run's
  outputs (with the hidden tests) stay in the autograded notebook for staff.
  ``nbgrader_steps.record`` keeps the feedback run's outputs in each cell's metadata
  (``coursehub.feedback_outputs``) and marks the notebook (``coursehub.feedback_run``).
- A notebook with hidden tests but no feedback run (graded before coursehub made one, or
  by ``nbgrader autograde`` itself) shows no output from its first hidden test cell on: each
  of those cells says why.
- Each cell that held hidden tests says its score, hidden tests included (what GetGrades
  already shows), and each hidden region becomes one ``# hidden tests are not shown`` line
  (the delimiters of nbgrader's ``ClearHiddenTests``, so a course that changed them there
  keeps working).
- As a last guard, every line of any output that contains a hidden line of 8 or more
  non-blank characters is removed.

The course's ``nbgrader_config.py`` gets ``nbgrader_config_lines()``.
"""

from __future__ import annotations

import html
import json
import re

from nbformat.notebooknode import NotebookNode, from_dict
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from traitlets import Unicode, default

from coursehub.grading.hidden import hide_hidden_tests, secret_lines

REDACTED = "[hidden test line removed]"
# Where nbgrader_steps.record keeps the feedback run's outputs (cell and notebook metadata).
METADATA_KEY = "coursehub"
FEEDBACK_OUTPUTS = "feedback_outputs"
FEEDBACK_RUN = "feedback_run"
NO_FEEDBACK_RUN = (
    "Output not shown: this notebook was graded without a separate feedback run, and "
    "outputs after its first hidden test could contain them. Ask your instructor to "
    "regrade it to see them.\n"
)
BINARY_TYPES = {"image/png", "image/jpeg", "image/gif", "application/pdf"}  # base64
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_defaults = ClearHiddenTests.class_traits()
BEGIN_HIDDEN = _defaults["begin_test_delimeter"].default_value  # "BEGIN HIDDEN TESTS"
END_HIDDEN = _defaults["end_test_delimeter"].default_value


# ----- pure helpers ---------------------------------------------------------------------


def _forms(secret: str) -> set[str]:
    """How a line can show up in output: as is, HTML-escaped, inside a repr or JSON."""
    return {
        secret,
        html.escape(secret),
        html.escape(secret, quote=False),
        repr(secret)[1:-1],
        json.dumps(secret)[1:-1],
    }


def redact_text(text: str, secrets: set[str]) -> str:
    """``text`` with each line that contains one of ``secrets`` replaced by ``REDACTED``
    (colour codes are ignored when matching, as tracebacks colour the quoted line)."""
    if not secrets or not text:
        return text
    forms = {form for secret in secrets for form in _forms(secret)}
    lines = text.split("\n")
    for number, line in enumerate(lines):
        plain = ANSI.sub("", line)
        if any(form in plain for form in forms):
            lines[number] = REDACTED
    return "\n".join(lines)


def redact_output(output: dict, secrets: set[str]) -> dict:
    """One nbformat output with the hidden lines removed from its text (in place)."""
    kind = output.get("output_type")
    if kind == "stream":
        output["text"] = _redact_value(output.get("text", ""), secrets)
    elif kind == "error":
        output["evalue"] = redact_text(str(output.get("evalue", "")), secrets)
        output["traceback"] = [
            redact_text(str(line), secrets) for line in output.get("traceback", [])
        ]
    elif kind in {"display_data", "execute_result", "update_display_data"}:
        data = output.get("data") or {}
        for mime in list(data):
            if mime not in BINARY_TYPES:
                data[mime] = _redact_value(data[mime], secrets)
    return output


def _redact_value(value, secrets: set[str]):
    if isinstance(value, str):
        return redact_text(value, secrets)
    if isinstance(value, list):  # multiline strings may be stored as lists of lines
        if all(isinstance(item, str) for item in value):
            return redact_text("".join(value), secrets).splitlines(keepends=True)
        return [_redact_value(item, secrets) for item in value]
    if isinstance(value, dict):  # application/json
        return {key: _redact_value(item, secrets) for key, item in value.items()}
    return value


def hide_in_notebook(nb: dict, begin: str = BEGIN_HIDDEN, end: str = END_HIDDEN) -> dict:
    """The whole notebook (in place), as its feedback shows it: outputs from the feedback
    run (or none from the first hidden test on, without one), hidden regions out of every
    cell's source with the score of each such cell, then the hidden lines out of every
    output, as a cell's output may quote another cell's tests."""
    marks = nb.get("metadata", {}).pop(METADATA_KEY, None) or {}
    feedback_run = bool(marks.get(FEEDBACK_RUN))
    hidden: list[str] = []
    tainted = False
    for cell in nb.get("cells", []):
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        cell["source"], lines = hide_hidden_tests(source, begin, end)
        hidden.extend(lines)
        cell_marks = cell.get("metadata", {}).pop(METADATA_KEY, None) or {}
        if cell.get("cell_type") != "code":
            continue
        if feedback_run:
            outputs = cell_marks.get(FEEDBACK_OUTPUTS, [])
            cell["outputs"] = [from_dict(output) for output in outputs if isinstance(output, dict)]
        else:
            tainted = tainted or bool(lines)
            if tainted:
                cell["outputs"] = [_stream(NO_FEEDBACK_RUN)]
        if lines:
            cell["outputs"].append(_stream(_score_line(cell)))
    secrets = secret_lines(hidden)
    if secrets:
        for cell in nb.get("cells", []):
            for output in cell.get("outputs", []):
                redact_output(output, secrets)
    return nb


def _score_line(cell: dict) -> str:
    grading = cell.get("metadata", {}).get("nbgrader", {})
    score, points = grading.get("score"), grading.get("points")
    if score is None or points is None:
        return "Hidden tests ran for this cell; their results count towards your score.\n"
    return f"Score for this cell, hidden tests included: {score:g} of {points:g}.\n"


def _stream(text: str) -> NotebookNode:
    return from_dict({"output_type": "stream", "name": "stdout", "text": text})


# ----- the nbgrader preprocessor -------------------------------------------------------


class HideHiddenTests(NbGraderPreprocessor):
    """Feedback shows neither hidden tests nor output lines that quote them."""

    begin_test_delimeter = Unicode(
        help="Beginning of a hidden test region; by default ClearHiddenTests' own."
    ).tag(config=True)
    end_test_delimeter = Unicode(
        help="End of a hidden test region; by default ClearHiddenTests' own."
    ).tag(config=True)

    @default("begin_test_delimeter")
    def _default_begin(self) -> str:
        return ClearHiddenTests(config=self.config).begin_test_delimeter

    @default("end_test_delimeter")
    def _default_end(self) -> str:
        return ClearHiddenTests(config=self.config).end_test_delimeter

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        hide_in_notebook(nb, self.begin_test_delimeter, self.end_test_delimeter)
        return nb, resources


def nbgrader_config_lines() -> str:
    """For the course's nbgrader_config.py: nbgrader's GenerateFeedback pipeline
    (``GetGrades``, ``CSSHTMLHeaderPreprocessor``) with ``HideHiddenTests`` between."""
    return (
        "# Feedback shows no hidden tests (coursehub.grading.feedback).\n"
        "from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor\n"
        "from nbgrader.preprocessors import GetGrades\n"
        "\n"
        "from coursehub.grading.feedback import HideHiddenTests\n"
        "\n"
        "c.GenerateFeedback.preprocessors = [\n"
        "    GetGrades,\n"
        "    HideHiddenTests,\n"
        "    CSSHTMLHeaderPreprocessor,\n"
        "]\n"
    )
