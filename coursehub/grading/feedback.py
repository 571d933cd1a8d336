"""Feedback without the hidden tests.

nbgrader's autograde puts the hidden tests back into each test cell, and ``generate_feedback``
renders that notebook as it is: a student would read every hidden test in the feedback, and
in a failed test's traceback. ``HideHiddenTests`` runs in the ``GenerateFeedback``
pipeline (after ``GetGrades``, which needs nothing of the source) and

- replaces each hidden region (the delimiters of nbgrader's ``ClearHiddenTests``, so a
  course that changed them there keeps working) with one ``# hidden tests are not shown``
  line, in every cell;
- removes from every output (streams, errors, text data) each line that contains a hidden
  test's line of 8 or more non-blank characters: tracebacks quote the failing line, and
  student code can print ``In`` or the notebook file.

The course's ``nbgrader_config.py`` gets ``nbgrader_config_lines()``.
"""

from __future__ import annotations

import html
import json
import re

from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests, NbGraderPreprocessor
from traitlets import Unicode, default

HIDDEN_NOTICE = "# hidden tests are not shown"
REDACTED = "[hidden test line removed]"
MIN_SECRET_CHARS = 8  # shorter lines ("pass", "x = 1") are too common to hide
BINARY_TYPES = {"image/png", "image/jpeg", "image/gif", "application/pdf"}  # base64
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
_defaults = ClearHiddenTests.class_traits()
BEGIN_HIDDEN = _defaults["begin_test_delimeter"].default_value  # "BEGIN HIDDEN TESTS"
END_HIDDEN = _defaults["end_test_delimeter"].default_value


# ----- pure helpers ---------------------------------------------------------------------


def hide_hidden_tests(
    source: str, begin: str = BEGIN_HIDDEN, end: str = END_HIDDEN
) -> tuple[str, list[str]]:
    """``source`` with each hidden region, its delimiter lines included, replaced by one
    ``HIDDEN_NOTICE`` line (indented as the region's first line), and the hidden lines.

    Delimiters match as in ``ClearHiddenTests``: a line that contains them. A region with
    no end runs to the end of the source (nbgrader would refuse it; feedback hides it)."""
    kept: list[str] = []
    hidden: list[str] = []
    in_region = False
    for line in source.split("\n"):
        if not in_region and begin in line:
            in_region = True
            indent = line[: len(line) - len(line.lstrip())]
            kept.append(indent + HIDDEN_NOTICE)
        elif in_region and end in line:
            in_region = False
        elif in_region:
            hidden.append(line)
        else:
            kept.append(line)
    return "\n".join(kept), hidden


def secret_lines(hidden: list[str]) -> set[str]:
    """The hidden lines worth looking for in outputs, stripped."""
    return {line.strip() for line in hidden if len("".join(line.split())) >= MIN_SECRET_CHARS}


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
    """The whole notebook (in place): hidden regions out of every cell's source, then the
    hidden lines out of every output, a cell's output may quote another cell's tests."""
    hidden: list[str] = []
    for cell in nb.get("cells", []):
        source = cell.get("source", "")
        if isinstance(source, list):
            source = "".join(source)
        cell["source"], lines = hide_hidden_tests(source, begin, end)
        hidden.extend(lines)
    secrets = secret_lines(hidden)
    if secrets:
        for cell in nb.get("cells", []):
            for output in cell.get("outputs", []):
                redact_output(output, secrets)
    return nb


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
