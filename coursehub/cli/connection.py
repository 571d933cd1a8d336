"""What every staff command shares: where the deployment is, the service's API through it,
and one way to say that something went wrong.

Where to connect: ``--hub-url`` (or ``COURSEHUB_HUB_URL``) and the token in
``COURSEHUB_TOKEN``. With neither, a ``coursehub dev`` state folder (``--state-dir``, default
``.coursehub-dev``) supplies both: its ``hub-url`` and ``admin-token`` files. Requests go
through the proxy to ``<hub url>/services/coursehub/api/…``; the service decides what the
token's owner may do, so the CLI holds no rights of its own.

Errors: ``coursehub: `` and one line on stderr (the service's own sentence with its HTTP
status, or a sentence about the connection), then any further lines the service gave (a
roster's invalid rows). Exit codes: 1 the service refused (or ``CLIError``'s code, 1 unless
it says otherwise), 2 cannot connect or not configured.

Light to import: the HTTP client (``requests``) is imported when a command first calls the
service, and nbgrader never.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from coursehub.exchange.client import ServiceError

SERVICE_PREFIX = "/services/coursehub"
DEFAULT_STATE_DIR = Path(".coursehub-dev")


class CLIError(Exception):
    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


def add_connection_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--hub-url",
        default=None,
        help="the hub's public URL (default: $COURSEHUB_HUB_URL, else coursehub dev's); "
        "your hub API token goes in $COURSEHUB_TOKEN",
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=DEFAULT_STATE_DIR,
        help="coursehub dev's state folder, for its hub URL and admin token",
    )


@dataclass(frozen=True)
class Connection:
    hub_url: str
    token: str = field(repr=False)

    @classmethod
    def resolve(cls, hub_url: str | None, state_dir: Path, environ=os.environ) -> Connection:
        hub_url = hub_url or environ.get("COURSEHUB_HUB_URL") or _read(state_dir / "hub-url")
        if not hub_url:
            raise CLIError(
                "no hub URL: pass --hub-url https://hub.example.edu (or set COURSEHUB_HUB_URL); "
                f"for coursehub dev, start it first ({state_dir / 'hub-url'} is missing)",
                2,
            )
        token = environ.get("COURSEHUB_TOKEN") or _read(state_dir / "admin-token")
        if not token:
            raise CLIError(
                "no token: set COURSEHUB_TOKEN to your JupyterHub API token "
                "(create one on the hub's Token page)",
                2,
            )
        return cls(hub_url.rstrip("/"), token)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Connection:
        return cls.resolve(args.hub_url, args.state_dir)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


class ServiceAPI:
    """The coursehub service's API through the proxy, with the caller's token; a refusal
    raises ``ServiceError`` (``coursehub.exchange.client``)."""

    def __init__(self, connection: Connection, timeout: float = 600):
        # Here, not at the top: only commands that call the service pay for requests.
        from coursehub.exchange.client import ServiceClient

        base_url = f"{connection.hub_url}{SERVICE_PREFIX}"
        self.client = ServiceClient(base_url, connection.token, timeout)

    def request(self, method: str, path: str, **kwargs):
        return self.client.request(method, path, **kwargs)

    def json(self, method: str, path: str, **kwargs) -> dict:
        return self.client.json(method, path, **kwargs)

    # The staff workflow endpoints (``coursehub assignment`` and ``grades``).

    def action(self, course: str, assignment: str, action: str, **params) -> dict:
        path = f"courses/{course}/assignments/{assignment}/actions/{action}"
        return self.json("POST", path, params=params)

    def job(self, job_id: str) -> dict:
        return self.json("GET", f"jobs/{job_id}")

    def status(self, course: str, assignment: str) -> dict:
        return self.json("GET", f"courses/{course}/assignments/{assignment}/status")

    def grades_csv(self, course: str, assignment: str | None) -> str:
        params = {"assignment": assignment} if assignment else {}
        return self.request("GET", f"courses/{course}/grades.csv", params=params).text


def run_command(args: argparse.Namespace, command: Callable[[argparse.Namespace], int]) -> int:
    """``command(args)``'s exit code; a ``CLIError`` or a ``ServiceError`` it raises is printed
    on stderr the one way (see the module docstring)."""
    from coursehub.exchange.client import ServiceError

    try:
        return command(args)
    except CLIError as error:
        print(f"coursehub: {error}", file=sys.stderr)
        return error.code
    except ServiceError as error:
        return report(error, args.hub_url)


def report(error: ServiceError, hub_url: str | None, err: TextIO | None = None) -> int:
    """Print ``error`` (``coursehub: `` + ``one_line``, then the service's further lines) and
    return the exit code: 1 the service refused, 2 it could not be reached (status 0)."""
    err = err or sys.stderr
    print(f"coursehub: {one_line(error, hub_url)}", file=err)
    for line in further_lines(error):
        print(line, file=err)
    return 1 if error.status else 2


def one_line(error: ServiceError, hub_url: str | None) -> str:
    """The first line of the service's own message with its HTTP status; or, when something
    else answered or nothing did, a sentence about the connection (never a page of HTML or a
    traceback)."""
    where = hub_url or "the hub"
    if error.status == 0:
        cause = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", error.message)
        reason = cause.group(1).strip() if cause else "no answer"
        return (
            f"cannot reach the coursehub service through {where} ({reason}); is the hub "
            "running and --hub-url its address?"
        )
    if _not_the_service(error):
        return (
            f"{where} answered HTTP {error.status} instead of the coursehub service; is "
            "--hub-url the hub's address, and does the hub run the coursehub service?"
        )
    first = error.message.strip().splitlines()[0]
    return f"{' '.join(first.split())} (HTTP {error.status})"


def further_lines(error: ServiceError) -> list[str]:
    """The lines of the service's message after the first (e.g. one per invalid roster row)."""
    if error.status == 0 or _not_the_service(error):
        return []
    return [line.rstrip() for line in error.message.strip().splitlines()[1:]]


def _not_the_service(error: ServiceError) -> bool:
    message = error.message.strip()
    return not message or message.startswith("<")
