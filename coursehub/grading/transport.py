"""How a grading pod gets its batch and hands back its results without a shared volume (pure).

The service keeps each batch in its own data folder (``<batch>/in`` and ``<batch>/out``, as
``protocol`` describes them). A pod reaches the service over HTTP, with a **batch token**:

- random (256 bits), made when the batch is handed to a pod; the service keeps only its
  SHA-256 (:class:`BatchTicket`), and the pod gets it from a Secret, in an environment
  variable the runner reads and removes before any student code runs;
- good for that one batch, until the pod's active deadline (plus a little slack), and
  never again once the batch has ended (:meth:`BatchTickets.close`);
- checked in constant time (``hmac.compare_digest``).

What a token allows (``coursehub.service.api.grading_batches`` serves it):

- ``GET  …/grading/batches/<id>/inputs``: the gzip'd tar of the batch's ``in/`` folder;
- ``POST …/grading/batches/<id>/results/<i>``: submission *i*'s result, once;
- ``POST …/grading/batches/<id>/progress/<i>``: one finished cell of submission *i*;
- ``POST …/grading/batches/<id>/refused``: the runner could not confine student code.

Uploads are bounded (:func:`upload_limit`) and must be one JSON object each; the service
writes them into the batch's ``out/`` folder, where ``dispatch`` checks every field by type
(``protocol.parse_result``) as before. Everything else answers 401 (no token) or 403.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

TOKEN_HEADER = "Authorization"
TOKEN_SCHEME = "Bearer"
TOKEN_ENV = "COURSEHUB_GRADING_TOKEN"  # from the batch's Secret
URL_ENV = "COURSEHUB_GRADING_BATCH_URL"  # the batch's address at the service
SECRET_KEY = "token"
DEADLINE_SLACK_SECONDS = 60  # the pod may still post what it finished at its deadline
BATCH_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# A result holds outputs of every cell of every notebook, each capped at max_output; the
# runner caps what it sends the same way (runner.Child._receive).
RESULT_OVERHEAD = 1024 * 1024
MAX_PROGRESS_LINE = 4 * 1024 * 1024
MAX_REFUSAL = 64 * 1024


class TransportRefusal(Exception):
    """A request the grading endpoints refuse: ``status`` and a sentence naming what."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def batch_id(job_id: str, number: int) -> str:
    """A batch's name: its job's and its number, usable in a URL and as a Kubernetes name."""
    return f"{job_id[:12].lower()}-{number}"


def upload_limit(kind: str, max_output: int, cells: int) -> int:
    """The most bytes one upload of ``kind`` may have."""
    if kind == "results":
        return cells * 2 * (2 * max_output + 4096) + RESULT_OVERHEAD
    if kind == "progress":
        return min(2 * max_output + 4096 + 64 * 1024, MAX_PROGRESS_LINE)
    return MAX_REFUSAL


@dataclass
class BatchTicket:
    """What the service keeps of one batch handed to a pod (never the token itself)."""

    batch_id: str
    digest: str
    expires: float  # time.time()
    folder: Path  # <batch>/ with in/ and out/
    submissions: int
    cells: int  # code cells of a submission at most, all notebooks together
    max_output: int
    posted: set[int] = field(default_factory=set)  # results are write-once

    def check_index(self, raw: str) -> int:
        if not raw.isdigit() or int(raw) >= self.submissions:
            raise TransportRefusal(
                404,
                f"grading batch {self.batch_id} has submissions 0 to {self.submissions - 1}; "
                f"there is no submission {raw[:20]!r}",
            )
        return int(raw)


class BatchTickets:
    """The batches pods may reach now, by id; the service's one instance lives in its
    context, and ``dispatch`` opens and closes its batches there."""

    def __init__(self, clock: Callable[[], float] = time.time):
        self.clock = clock
        self._open: dict[str, BatchTicket] = {}

    def open(
        self,
        batch: str,
        folder: Path,
        *,
        submissions: int,
        cells: int,
        max_output: int,
        lifetime_seconds: float,
    ) -> str:
        """Register a batch and return its token, which nobody can get again."""
        if not BATCH_ID_PATTERN.match(batch):
            raise ValueError(f"grading batch id {batch!r} must match {BATCH_ID_PATTERN.pattern}")
        token = new_token()
        self._open[batch] = BatchTicket(
            batch_id=batch,
            digest=token_digest(token),
            expires=self.clock() + lifetime_seconds + DEADLINE_SLACK_SECONDS,
            folder=folder,
            submissions=submissions,
            cells=cells,
            max_output=max_output,
        )
        return token

    def restart_clock(self, batch: str, lifetime_seconds: float) -> None:
        """The pod started: its token lasts as long as its deadline from now."""
        ticket = self._open.get(batch)
        if ticket is not None:
            ticket.expires = self.clock() + lifetime_seconds + DEADLINE_SLACK_SECONDS

    def close(self, batch: str) -> None:
        """The batch has ended: its token is good for nothing from now on."""
        self._open.pop(batch, None)

    def __contains__(self, batch: str) -> bool:
        return batch in self._open

    def authorize(self, batch: str, authorization: str | None) -> BatchTicket:
        """The open batch ``batch`` if ``authorization`` carries its token, else a refusal:
        401 without a token, 403 for any other token, or for a batch that is not open
        (unknown, ended or expired; the answer does not say which, so a guess learns
        nothing)."""
        token = bearer_token(authorization)
        ticket = self._open.get(batch)
        presented = token_digest(token)
        # Compared even when the batch is unknown, so the time taken says nothing either.
        expected = ticket.digest if ticket else token_digest(new_token())
        matches = hmac.compare_digest(presented, expected)
        if ticket is not None and self.clock() > ticket.expires:
            self.close(batch)
            ticket = None
        if ticket is None or not matches:
            raise TransportRefusal(
                403,
                f"this token is not good for grading batch {batch[:70]!r}: it is not that "
                "batch's token, or the batch has ended",
            )
        return ticket


def bearer_token(authorization: str | None) -> str:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme != TOKEN_SCHEME or not token.strip():
        raise TransportRefusal(
            401, f"no grading batch token: send '{TOKEN_HEADER}: {TOKEN_SCHEME} <token>'"
        )
    return token.strip()


def parse_upload(kind: str, body: bytes, limit: int) -> dict:
    """One upload's JSON object, or a 413/400 refusal naming what is wrong with it."""
    if len(body) > limit:
        raise TransportRefusal(413, f"the {kind} upload has {len(body)} bytes; at most {limit}")
    try:
        value = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise TransportRefusal(400, f"the {kind} upload is not JSON: {error}") from None
    if not isinstance(value, dict):
        raise TransportRefusal(400, f"the {kind} upload must be a JSON object")
    return value
