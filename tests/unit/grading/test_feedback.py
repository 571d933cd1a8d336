"""Feedback hides nbgrader's hidden tests: in sources, and in outputs that quote them."""

from __future__ import annotations

import base64
import copy
import json

import nbformat
import pytest
from nbconvert.exporters import HTMLExporter
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbformat.v4 import (
    new_code_cell,
    new_markdown_cell,
    new_notebook,
    new_output,
)
from nbgrader.converters import GenerateFeedback
from nbgrader.preprocessors import GetGrades, NbGraderPreprocessor
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from coursehub.grading.feedback import (
    REDACTED,
    HideHiddenTests,
    hide_in_notebook,
    nbgrader_config_lines,
    redact_output,
    redact_text,
)
from coursehub.grading.hidden import HIDDEN_NOTICE, hide_hidden_tests, secret_lines

TEST_SOURCE = (
    "assert square(2) == 4\n"
    "### BEGIN HIDDEN TESTS\n"
    "assert square(3) == 9, 'three squared'\n"
    "assert square(-1) == 1\n"
    "### END HIDDEN TESTS"
)
HIDDEN = ["assert square(3) == 9, 'three squared'", "assert square(-1) == 1"]


# ----- hiding regions in sources --------------------------------------------------------


def test_a_hidden_region_becomes_one_comment_line():
    source, hidden = hide_hidden_tests(TEST_SOURCE)
    assert source == "assert square(2) == 4\n# hidden tests are not shown"
    assert hidden == HIDDEN


def test_a_source_without_hidden_tests_is_unchanged():
    assert hide_hidden_tests("x = 1\nprint(x)") == ("x = 1\nprint(x)", [])
    assert hide_hidden_tests("") == ("", [])


def test_every_region_is_hidden_and_indentation_kept():
    source = (
        "def check():\n"
        "    ### BEGIN HIDDEN TESTS\n"
        "    assert secret_one()\n"
        "    ### END HIDDEN TESTS\n"
        "    return True\n"
        "### BEGIN HIDDEN TESTS\n"
        "assert secret_two()\n"
        "### END HIDDEN TESTS\n"
        "check()"
    )
    hidden_source, hidden = hide_hidden_tests(source)
    assert hidden_source == (
        f"def check():\n    {HIDDEN_NOTICE}\n    return True\n{HIDDEN_NOTICE}\ncheck()"
    )
    assert hidden == ["    assert secret_one()", "assert secret_two()"]
    compile(hidden_source, "cell", "exec")  # still Python


def test_a_region_without_its_end_is_hidden_to_the_end():
    source, hidden = hide_hidden_tests("a = 1\n### BEGIN HIDDEN TESTS\nassert secret()")
    assert source == f"a = 1\n{HIDDEN_NOTICE}"
    assert hidden == ["assert secret()"]


def test_other_delimiters_can_be_given():
    source, hidden = hide_hidden_tests("x\n# SECRET {\ny = 2\n# } SECRET", "SECRET {", "} SECRET")
    assert (source, hidden) == (f"x\n{HIDDEN_NOTICE}", ["y = 2"])


# ----- redacting outputs ----------------------------------------------------------------


def test_only_lines_of_eight_or_more_non_blank_characters_are_looked_for():
    lines = ["pass", "x = 1", "    ab cd ef gh  ", "abc defg", "", "assert f(1) == 2"]
    assert secret_lines(lines) == {"ab cd ef gh", "assert f(1) == 2"}


def test_a_line_quoting_a_hidden_line_is_removed_whole():
    secrets = secret_lines(HIDDEN)
    text = "before\n>>> assert square(-1) == 1  # quoted\nafter\n"
    assert redact_text(text, secrets) == f"before\n{REDACTED}\nafter\n"
    assert redact_text("nothing hidden here", secrets) == "nothing hidden here"
    assert redact_text("x = 1", set()) == "x = 1"


@pytest.mark.parametrize(
    "quoted",
    [
        "\x1b[32m----> 3\x1b[39m assert square(3) == 9, 'three squared'\x1b[0m",  # coloured
        "<pre>assert square(3) == 9, &#x27;three squared&#x27;</pre>",  # HTML
        "['x = 1', \"assert square(3) == 9, 'three squared'\"]",  # print(In)
        '{"source": "assert square(3) == 9, \'three squared\'"}',  # the notebook's JSON
        "['assert square(2) == 4\\nassert square(-1) == 1\\n']",  # a repr of the cell
    ],
)
def test_quoted_forms_of_a_hidden_line_are_found(quoted):
    assert redact_text(f"ok\n{quoted}\nok", secret_lines(HIDDEN)) == f"ok\n{REDACTED}\nok"


def test_every_kind_of_output_is_redacted():
    secrets = secret_lines(HIDDEN)
    line = "assert square(-1) == 1"
    stream = redact_output(new_output("stream", name="stdout", text=f"a\n{line}\nb\n"), secrets)
    assert stream["text"] == f"a\n{REDACTED}\nb\n"
    error = redact_output(
        new_output(
            "error",
            ename="AssertionError",
            evalue=f"failed: {line}",
            traceback=["Traceback", f"      1 x = 1\n----> 2 {line}\n", "AssertionError"],
        ),
        secrets,
    )
    assert error["evalue"] == REDACTED
    assert error["traceback"] == ["Traceback", f"      1 x = 1\n{REDACTED}\n", "AssertionError"]
    data = {
        "text/plain": f"'{line}'",
        "text/html": f"<p>{line}</p>",
        "text/markdown": line,
        "application/json": {"cell": [line]},
        "image/png": "iVBORw0KGgo=",
    }
    rich = redact_output(new_output("display_data", data=copy.deepcopy(data)), secrets)
    assert rich["data"] == {
        "text/plain": REDACTED,
        "text/html": REDACTED,
        "text/markdown": REDACTED,
        "application/json": {"cell": [REDACTED]},
        "image/png": "iVBORw0KGgo=",
    }
    result = new_output("execute_result", data={"text/plain": line}, execution_count=3)
    assert redact_output(result, secrets)["data"] == {"text/plain": REDACTED}


# ----- a notebook -----------------------------------------------------------------------


def graded_notebook() -> nbformat.NotebookNode:
    """After autograde: the hidden tests are back in the test cell, a student cell printed
    them (In, the notebook file), and the failing test's traceback quotes its line."""
    hidden_line = "assert square(3) == 9, 'three squared'"
    student = new_code_cell(
        "def square(x):\n    return x + x\nprint(In)\nprint(open('ps1.ipynb').read())",
        execution_count=1,
        outputs=[
            new_output(
                "stream",
                name="stdout",
                text="['', 'def square(x):...']\n"
                + TEST_SOURCE
                + "\n"
                + json.dumps({"source": TEST_SOURCE.splitlines(True)}, indent=1)
                + "\n",
            ),
            new_output(
                "display_data",
                data={"text/html": "<pre>" + TEST_SOURCE.replace("'", "&#x27;") + "</pre>"},
            ),
        ],
    )
    test = new_code_cell(
        TEST_SOURCE,
        execution_count=2,
        metadata={"nbgrader": {"grade": True, "grade_id": "square", "points": 2}},
        outputs=[
            new_output(
                "error",
                ename="AssertionError",
                evalue="three squared",
                traceback=[
                    "\x1b[31mAssertionError\x1b[39m  Traceback (most recent call last)",
                    (
                        "Cell \x1b[32mIn[2]\x1b[39m, line 3\n"
                        "\x1b[32m      1\x1b[39m \x1b[38;5;28;01massert\x1b[39;00m square(2) == 4\n"
                        f"\x1b[32m----> 3\x1b[39m {hidden_line}\n"
                    ),
                    "\x1b[31mAssertionError\x1b[39m: three squared",
                ],
            )
        ],
    )
    return new_notebook(
        cells=[
            new_markdown_cell(
                "# Squares\n### BEGIN HIDDEN TESTS\nnot in markdown either\n### END HIDDEN TESTS"
            ),
            student,
            test,
        ]
    )


def test_without_a_feedback_run_no_output_after_the_first_hidden_test_is_shown():
    """A notebook graded without a separate feedback run (before coursehub made one, or by
    nbgrader itself): outputs before the first hidden test cell are shown, line-redacted;
    from it on, none is, and each cell says why."""
    nb = graded_notebook()
    HideHiddenTests().preprocess(nb, {})
    markdown, student, test = nb.cells
    assert markdown.source == f"# Squares\n{HIDDEN_NOTICE}"
    assert test.source == f"assert square(2) == 4\n{HIDDEN_NOTICE}"
    assert student.source.startswith("def square(x):")  # student code is not touched
    printed = student.outputs[0].text
    assert "assert square(2) == 4\n" in printed  # public test lines stay
    assert printed.count(REDACTED) >= 4
    assert student.outputs[1].data["text/html"].count(REDACTED) == 2
    note, score = test.outputs
    assert note.text.startswith("Output not shown: this notebook was graded without")
    assert score.text == "Hidden tests ran for this cell; their results count towards your score.\n"
    text = json.dumps(nb)
    for line in [*HIDDEN, "not in markdown either"]:
        assert line not in text
        assert line.replace("'", "&#x27;") not in text
        assert json.dumps(line)[1:-1] not in text
    nbformat.validate(nb)


def with_feedback_run(nb: nbformat.NotebookNode, feedback_outputs: list[list]) -> None:
    """As nbgrader_steps.record leaves an autograded notebook that had a feedback run."""
    nb.metadata["coursehub"] = {"feedback_run": True}
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    for cell, outputs in zip(code, feedback_outputs, strict=True):
        cell.metadata["coursehub"] = {"feedback_outputs": outputs}


def test_with_a_feedback_run_its_outputs_are_shown_and_the_graded_ones_never():
    """The grading run's outputs may carry the hidden tests in any form (an image made of
    them, base64, JSON, HTML): none of them reaches the feedback, whatever it looks like."""
    nb = graded_notebook()
    stolen = base64.b64encode(TEST_SOURCE.encode()).decode()
    nb.cells[1].outputs.append(
        new_output(
            "display_data",
            data={
                "image/png": stolen,
                "application/pdf": stolen,
                "application/json": {"x": stolen[::-1]},
                "text/html": f"<img src='data:image/png;base64,{stolen}'>",
            },
        )
    )
    shown_student = [new_output("stream", name="stdout", text="squares defined\n")]
    shown_test = [
        new_output("error", ename="AssertionError", evalue="", traceback=["square(2) failed"])
    ]
    with_feedback_run(nb, [shown_student, shown_test])
    nb.cells[2].metadata["nbgrader"].update({"score": 0, "points": 2})  # as GetGrades leaves it
    HideHiddenTests().preprocess(nb, {})
    _markdown, student, test = nb.cells
    assert student.outputs == shown_student
    assert test.outputs[0] == shown_test[0]
    assert test.outputs[1].text == "Score for this cell, hidden tests included: 0 of 2.\n"
    text = json.dumps(nb)
    assert stolen not in text and stolen[::-1] not in text
    assert "coursehub" not in nb.metadata and "coursehub" not in nb.cells[1].metadata
    nbformat.validate(nb)


def test_the_rendered_feedback_has_no_hidden_test():
    exporter = HTMLExporter()
    exporter.register_preprocessor(HideHiddenTests, enabled=True)
    body, _ = exporter.from_notebook_node(graded_notebook())
    assert "hidden tests are not shown" in body
    for fragment in ["square(3)", "square(-1)", "three squared&#x27;", "not in markdown"]:
        assert fragment not in body


def test_the_course_notebook_keeps_no_hidden_line(repo_root):
    path = repo_root / "courses" / "ai-101" / "source" / "ps1" / "ps1.ipynb"
    nb = nbformat.read(path, as_version=4)
    hidden = [
        line
        for cell in nb.cells
        for line in hide_hidden_tests(cell.source)[1]
        if len("".join(line.split())) >= 8
    ]
    regions = sum(cell.source.count("BEGIN HIDDEN TESTS") for cell in nb.cells)
    assert hidden and regions
    hide_in_notebook(nb)
    sources = "\n".join(cell.source for cell in nb.cells)
    assert not [line for line in hidden if line.strip() in sources]
    assert sources.count(HIDDEN_NOTICE) == regions
    assert "HIDDEN TESTS" not in sources


def test_a_real_kernels_traceback_of_a_hidden_test_is_redacted():
    """What a real kernel prints for a failing hidden test, ANSI colours and all: the line
    redaction (the last guard on every output) removes the hidden line and keeps the rest."""
    from nbclient import NotebookClient

    nb = new_notebook(
        cells=[
            new_code_cell("def square(x):\n    return x + x"),
            new_code_cell(TEST_SOURCE.replace("square(2) == 4", "square(2) == 4  # public")),
            new_code_cell("print(In[2])"),
        ]
    )
    NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=True).execute()
    before = json.dumps(nb.cells[1].outputs)
    assert "square" in before and "three squared" in before  # the kernel quoted it
    secrets = secret_lines(hide_hidden_tests(nb.cells[1].source)[1])
    error = redact_output(nb.cells[1].outputs[0], secrets)
    traceback = "\n".join(error["traceback"])
    assert REDACTED in traceback
    assert "public" in traceback
    assert "square(3)" not in json.dumps(error)
    printed = redact_output(nb.cells[2].outputs[0], secrets)["text"]
    assert printed.count(REDACTED) == 2
    assert "square(3)" not in printed and "square(-1)" not in printed


# ----- configuration --------------------------------------------------------------------


def test_it_is_an_nbgrader_preprocessor_with_clearhiddentests_delimiters():
    assert issubclass(HideHiddenTests, NbGraderPreprocessor)
    preprocessor = HideHiddenTests()
    assert preprocessor.begin_test_delimeter == "BEGIN HIDDEN TESTS"
    assert preprocessor.end_test_delimeter == "END HIDDEN TESTS"
    config = Config()
    config.ClearHiddenTests.begin_test_delimeter = "BEGIN SECRET"
    config.ClearHiddenTests.end_test_delimeter = "END SECRET"
    custom = HideHiddenTests(config=config)
    assert (custom.begin_test_delimeter, custom.end_test_delimeter) == (
        "BEGIN SECRET",
        "END SECRET",
    )
    nb = new_notebook(cells=[new_code_cell("ok()\n# BEGIN SECRET\nhidden_call(1)\n# END SECRET")])
    custom.preprocess(nb, {})
    assert nb.cells[0].source == f"ok()\n{HIDDEN_NOTICE}"
    config.HideHiddenTests.begin_test_delimeter = "OWN BEGIN"
    assert HideHiddenTests(config=config).begin_test_delimeter == "OWN BEGIN"


def test_the_config_lines_put_it_into_nbgraders_feedback_pipeline(tmp_path):
    # Appended to a course's nbgrader_config.py, read as nbgrader reads it.
    (tmp_path / "nbgrader_config.py").write_text(
        "c = get_config()\nc.CourseDirectory.course_id = 'ai-101'\n" + nbgrader_config_lines()
    )
    config = PyFileConfigLoader("nbgrader_config.py", path=str(tmp_path)).load_config()
    configured = config.GenerateFeedback.preprocessors
    assert GenerateFeedback().preprocessors == [GetGrades, CSSHTMLHeaderPreprocessor]  # 0.9.6
    assert configured == [GetGrades, HideHiddenTests, CSSHTMLHeaderPreprocessor]
    assert GenerateFeedback(config=config).preprocessors == configured
