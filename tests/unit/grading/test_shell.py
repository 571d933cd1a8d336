"""The recording shell gives the outputs a Jupyter kernel would give nbgrader, capped."""

from __future__ import annotations

import sys
import threading

import pytest
from IPython.core.history import HistorySavingThread
from IPython.core.interactiveshell import InteractiveShell

from coursehub.grading.shell import OutputRecorder, RecordingShell, make_shell


@pytest.fixture
def new_shell():
    """``make_shell`` with a given output limit, to call in the test itself (pytest puts
    its own sys.stdout back between a fixture's setup and the test). sys.stdout/stderr and
    IPython's singleton are restored afterwards, so pytest and other tests are unaffected."""
    saved = (sys.stdout, sys.stderr, sys.displayhook, sys.excepthook)

    def clear() -> None:
        RecordingShell.clear_instance()
        InteractiveShell.clear_instance()

    def make(max_output_bytes: int = 10_000) -> RecordingShell:
        clear()
        return make_shell(max_output_bytes)

    try:
        yield make
    finally:
        sys.stdout, sys.stderr, sys.displayhook, sys.excepthook = saved
        clear()


def test_it_is_the_singleton_display_finds(new_shell):
    shell = new_shell()
    assert InteractiveShell.instance() is shell
    assert sys.stdout.name == "stdout" and sys.stderr.name == "stderr"


def test_consecutive_writes_to_a_stream_are_one_output(new_shell):
    shell = new_shell()
    reply = shell.run("print('a')\nprint('b', end='')\nprint('c')")
    assert reply == {
        "status": "ok",
        "execution_count": 1,
        "outputs": [{"output_type": "stream", "name": "stdout", "text": "a\nbc\n"}],
    }


def test_interleaved_streams_stay_in_order(new_shell):
    shell = new_shell()
    reply = shell.run("import sys\nprint('a')\nprint('oops', file=sys.stderr)\nprint('b')")
    assert reply["outputs"] == [
        {"output_type": "stream", "name": "stdout", "text": "a\n"},
        {"output_type": "stream", "name": "stderr", "text": "oops\n"},
        {"output_type": "stream", "name": "stdout", "text": "b\n"},
    ]


def test_a_cells_last_expression_is_an_execute_result_with_its_count(new_shell):
    shell = new_shell()
    assert shell.run("x = 20")["outputs"] == []
    assert shell.run("print('no value')")["execution_count"] == 2
    reply = shell.run("x * 2 + 2")
    assert reply == {
        "status": "ok",
        "execution_count": 3,
        "outputs": [
            {
                "output_type": "execute_result",
                "data": {"text/plain": "42"},
                "metadata": {},
                "execution_count": 3,
            }
        ],
    }
    assert shell.run("x;")["outputs"] == []  # a trailing semicolon hides it, as in Jupyter


def test_display_of_html_is_display_data(new_shell):
    shell = new_shell()
    reply = shell.run(
        "from IPython.display import HTML, display\ndisplay(HTML('<b>hi</b>'))\nprint('after')"
    )
    assert reply["status"] == "ok"
    display, printed = reply["outputs"]
    assert display["output_type"] == "display_data"
    assert display["data"]["text/html"] == "<b>hi</b>"
    assert display["data"]["text/plain"] == "<IPython.core.display.HTML object>"
    assert display["metadata"] == {}
    assert "execution_count" not in display
    assert printed == {"output_type": "stream", "name": "stdout", "text": "after\n"}


def test_rich_last_expression_keeps_all_its_formats(new_shell):
    shell = new_shell()
    reply = shell.run("from IPython.display import HTML\nHTML('<i>x</i>')")
    (result,) = reply["outputs"]
    assert result["output_type"] == "execute_result"
    assert result["execution_count"] == 1
    assert result["data"]["text/html"] == "<i>x</i>"


def test_an_exception_is_an_error_output_without_colour(new_shell):
    shell = new_shell()
    reply = shell.run("print('before')\n1 / 0")
    assert reply["status"] == "error"
    assert reply["execution_count"] == 1
    printed, error = reply["outputs"]
    assert printed["text"] == "before\n"
    assert error["output_type"] == "error"
    assert error["ename"] == "ZeroDivisionError"
    assert error["evalue"] == "division by zero"
    assert isinstance(error["traceback"], list)
    assert all(isinstance(line, str) for line in error["traceback"])
    assert "1 / 0" in "\n".join(error["traceback"])
    assert "\x1b[" not in "".join(error["traceback"])


def test_a_failed_assertion_keeps_its_message(new_shell):
    shell = new_shell()
    reply = shell.run("assert 1 == 2, 'expected 2'")
    assert reply["status"] == "error"
    assert [(o["ename"], o["evalue"]) for o in reply["outputs"]] == [
        ("AssertionError", "expected 2")
    ]


def test_a_syntax_error_is_an_error_output_and_counting_goes_on(new_shell):
    shell = new_shell()
    reply = shell.run("def f(:\n    pass")
    assert reply["status"] == "error"
    (error,) = reply["outputs"]
    assert error["ename"] == "SyntaxError"
    assert error["traceback"]
    after = shell.run("1")
    assert after["status"] == "ok"
    assert after["execution_count"] == reply["execution_count"] + 1


def test_clear_output_drops_what_came_before(new_shell):
    shell = new_shell()
    reply = shell.run(
        "from IPython.display import clear_output, display, HTML\n"
        "print('a')\ndisplay(HTML('<p>old</p>'))\nclear_output()\nprint('b')"
    )
    assert reply["outputs"] == [{"output_type": "stream", "name": "stdout", "text": "b\n"}]


def test_each_cell_starts_with_no_outputs_but_keeps_the_namespace(new_shell):
    shell = new_shell()
    shell.run("print('first'); y = 5")
    reply = shell.run("print(y)")
    assert reply["outputs"] == [{"output_type": "stream", "name": "stdout", "text": "5\n"}]


def test_output_past_the_limit_is_cut_with_one_line_saying_so(new_shell):
    shell = new_shell(1000)
    reply = shell.run("print('y' * 600)\nprint('z' * 600)\nprint('late')")
    assert reply["status"] == "ok"
    text = "".join(o["text"] for o in reply["outputs"] if o["output_type"] == "stream")
    kept, note = text.rstrip("\n").rsplit("\n", 1)
    assert kept == "y" * 600 + "\n" + "z" * 399  # exactly the limit's 1000 bytes
    assert note.startswith("[output truncated")
    assert text.count("[output truncated") == 1
    assert "late" not in text
    # The next cell has its own budget.
    assert shell.run("print('ok')")["outputs"][0]["text"] == "ok\n"


def test_rich_outputs_past_the_limit_are_dropped_too(new_shell):
    shell = new_shell(1000)
    reply = shell.run(
        "from IPython.display import HTML, display\n"
        "print('x' * 900)\ndisplay(HTML('<p>' + 'h' * 5000 + '</p>'))\nprint('late')"
    )
    assert [o["output_type"] for o in reply["outputs"]] == ["stream"]
    text = reply["outputs"][0]["text"]
    assert text.startswith("x" * 900 + "\n")
    assert text.count("[output truncated") == 1
    assert "h" * 100 not in str(reply) and "late" not in text


def test_cutting_never_splits_a_character(new_shell):
    shell = new_shell(1001)
    reply = shell.run("print('é' * 1000)")
    text = reply["outputs"][0]["text"]
    kept = text.split("\n")[0]
    assert kept == "é" * 500  # 1000 of the 1001 bytes; half a character is dropped
    text.encode()  # valid text


def test_memory_stays_bounded_under_a_flood(new_shell):
    shell = new_shell(10_000)
    reply = shell.run("for _ in range(20_000):\n    print('y' * 1000)")
    assert reply["status"] == "ok"
    assert shell.recorder.used <= 10_000
    assert sum(len(o.get("text", "")) for o in reply["outputs"]) < 10_000 + 200


def test_an_error_after_the_limit_is_still_reported(new_shell):
    shell = new_shell(1000)
    reply = shell.run("print('y' * 5000)\nraise ValueError('the test failed')")
    assert reply["status"] == "error"
    assert reply["outputs"][-1]["ename"] == "ValueError"
    assert reply["outputs"][-1]["evalue"] == "the test failed"


def test_a_huge_error_message_is_shortened_but_names_the_error():
    recorder = OutputRecorder(1000)
    recorder.add_error("ValueError", "v" * 10_000, [f"line {n}" for n in range(100)])
    (error,) = recorder.outputs
    assert error["ename"] == "ValueError"
    assert len(error["evalue"]) == 2000
    assert error["traceback"] == ["line 97", "line 98", "line 99"]


def test_streams_take_text_only(new_shell):
    shell = new_shell()
    reply = shell.run("import sys\nsys.stdout.write(b'bytes')")
    assert reply["status"] == "error"
    assert reply["outputs"][-1]["ename"] == "TypeError"


def test_shell_commands_print_through_stdout(new_shell):
    shell = new_shell()
    reply = shell.run("!echo from-the-shell")
    assert reply["status"] == "ok"
    (output,) = reply["outputs"]
    assert output["name"] == "stdout"
    assert output["text"] in {"from-the-shell\n", "from-the-shell\r\n"}  # a pty, as in Jupyter


def test_history_stays_in_memory_without_a_thread(new_shell):
    # A saving thread would need a free process slot after every fork: after a fork bomb
    # (RLIMIT_NPROC reached) every later cell would fail with "can't start new thread".
    shell = new_shell()
    shell.run("x = 1")
    assert str(shell.history_manager.hist_file) == ":memory:"
    assert not [t for t in threading.enumerate() if isinstance(t, HistorySavingThread)]
    assert shell.run("_i1")["outputs"][0]["data"]["text/plain"] == "'x = 1'"
