"""Every staff command prints a service error the one way (``coursehub.cli.connection``):
``coursehub: `` and one line with the HTTP status, then the service's further lines (a
roster's invalid rows), exit code 1; a sentence about the connection and exit code 2 when
the service could not be reached; never a page of HTML."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from coursehub.cli.connection import CLIError, report, run_command
from coursehub.exchange.client import ServiceError

ROWS_REFUSED = ServiceError(
    400,
    "ai-101: 2 invalid row(s); nothing was applied\n"
    "  line 3: username: username 'Student9' is not valid: write 'student9'\n"
    "  line 4: email: email 'not-an-email' is not an email address\n",
)


def reported(error: ServiceError, hub_url: str | None = "http://h") -> tuple[int, list[str]]:
    err = io.StringIO()
    code = report(error, hub_url, err)
    return code, err.getvalue().splitlines()


def test_a_refusal_is_its_first_line_with_the_status_then_the_further_lines():
    code, lines = reported(ROWS_REFUSED)
    assert code == 1
    assert lines == [
        "coursehub: ai-101: 2 invalid row(s); nothing was applied (HTTP 400)",
        "  line 3: username: username 'Student9' is not valid: write 'student9'",
        "  line 4: email: email 'not-an-email' is not an email address",
    ]


def test_a_one_line_refusal_stays_one_line():
    code, lines = reported(ServiceError(403, "alice is not staff of ai-101"))
    assert (code, lines) == (1, ["coursehub: alice is not staff of ai-101 (HTTP 403)"])


def test_no_answer_is_a_sentence_about_the_connection_and_exit_code_2():
    down = ServiceError(
        0,
        "cannot reach the assignment exchange at http://h/x: HTTPConnectionPool(host='h', "
        'port=1): Max retries exceeded (Caused by NewConnectionError("...: '
        '[Errno 111] Connection refused"))',
    )
    code, lines = reported(down, None)
    assert code == 2
    assert lines == [
        (
            "coursehub: cannot reach the coursehub service through the hub (Connection "
            "refused); is the hub running and --hub-url its address?"
        )
    ]


def test_a_page_from_something_else_is_one_sentence_without_its_html():
    page = ServiceError(502, "<html>\n<body>\nBad Gateway\n</body>\n</html>")
    code, lines = reported(page)
    assert code == 1
    assert lines == [
        (
            "coursehub: http://h answered HTTP 502 instead of the coursehub service; is "
            "--hub-url the hub's address, and does the hub run the coursehub service?"
        )
    ]


def test_run_command_prints_either_error_and_returns_its_code(capsys):
    args = argparse.Namespace(hub_url="http://h", state_dir=Path("nowhere"))

    def refused(_args):
        raise ROWS_REFUSED

    def misconfigured(_args):
        raise CLIError("no token: set COURSEHUB_TOKEN", 2)

    assert run_command(args, refused) == 1
    assert capsys.readouterr().err.splitlines()[0] == (
        "coursehub: ai-101: 2 invalid row(s); nothing was applied (HTTP 400)"
    )
    assert run_command(args, misconfigured) == 2
    assert capsys.readouterr().err == "coursehub: no token: set COURSEHUB_TOKEN\n"
    assert run_command(args, lambda _args: 0) == 0
