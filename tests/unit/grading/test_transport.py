"""Batch tokens and uploads (``coursehub.grading.transport``), without a server: who may
fetch and post for a batch, until when, and what an upload may be."""

from __future__ import annotations

from pathlib import Path

import pytest

from coursehub.grading.remote import RemoteError, take_credentials
from coursehub.grading.transport import (
    DEADLINE_SLACK_SECONDS,
    TOKEN_ENV,
    URL_ENV,
    BatchTickets,
    TransportRefusal,
    batch_id,
    parse_upload,
    token_digest,
    upload_limit,
)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def open_batch(tickets: BatchTickets, name: str = "abc-0", lifetime: float = 100) -> str:
    return tickets.open(
        name, Path("/nowhere"), submissions=3, cells=5, max_output=1024, lifetime_seconds=lifetime
    )


def refusal(call) -> TransportRefusal:
    with pytest.raises(TransportRefusal) as refused:
        call()
    return refused.value


def test_a_batch_token_opens_its_own_batch():
    tickets = BatchTickets()
    token = open_batch(tickets)
    ticket = tickets.authorize("abc-0", f"Bearer {token}")
    assert ticket.batch_id == "abc-0" and ticket.submissions == 3


def test_only_the_tokens_hash_is_kept():
    tickets = BatchTickets()
    token = open_batch(tickets)
    ticket = tickets.authorize("abc-0", f"Bearer {token}")
    assert ticket.digest == token_digest(token) != token
    assert token not in repr(vars(ticket))
    assert len(token) >= 43  # 256 bits, URL-safe base64


@pytest.mark.parametrize("header", [None, "", "Bearer ", "token abc", "Basic dXNlcjpwdw=="])
def test_no_token_is_401(header):
    tickets = BatchTickets()
    open_batch(tickets)
    refused = refusal(lambda: tickets.authorize("abc-0", header))
    assert refused.status == 401 and "Authorization: Bearer" in str(refused)


def test_another_batchs_token_or_a_guess_is_403():
    tickets = BatchTickets()
    mine = open_batch(tickets, "abc-0")
    theirs = open_batch(tickets, "abc-1")
    assert refusal(lambda: tickets.authorize("abc-1", f"Bearer {mine}")).status == 403
    assert refusal(lambda: tickets.authorize("abc-0", f"Bearer {theirs}")).status == 403
    assert refusal(lambda: tickets.authorize("abc-0", "Bearer " + "A" * 43)).status == 403
    # An unknown batch answers the same as a wrong token: a guess learns nothing.
    unknown = refusal(lambda: tickets.authorize("zzz-9", f"Bearer {mine}"))
    wrong = refusal(lambda: tickets.authorize("abc-1", f"Bearer {mine}"))
    assert unknown.status == wrong.status == 403
    assert str(unknown).replace("zzz-9", "X") == str(wrong).replace("abc-1", "X")


def test_a_token_replayed_after_its_batch_ended_is_403():
    tickets = BatchTickets()
    token = open_batch(tickets)
    tickets.close("abc-0")
    refused = refusal(lambda: tickets.authorize("abc-0", f"Bearer {token}"))
    assert refused.status == 403 and "ended" in str(refused)
    # A new batch of the same name has a new token; the old one stays useless.
    open_batch(tickets)
    assert refusal(lambda: tickets.authorize("abc-0", f"Bearer {token}")).status == 403


def test_a_token_expires_with_its_pods_deadline_counted_from_when_the_pod_runs():
    clock = Clock()
    tickets = BatchTickets(clock)
    token = open_batch(tickets, lifetime=100)
    clock.now += 150  # pending for a while: the pod's deadline counts from its start
    tickets.restart_clock("abc-0", 100)
    clock.now += 100 + DEADLINE_SLACK_SECONDS
    assert tickets.authorize("abc-0", f"Bearer {token}")
    clock.now += 1
    assert refusal(lambda: tickets.authorize("abc-0", f"Bearer {token}")).status == 403
    assert "abc-0" not in tickets  # and it is forgotten


def test_submission_indexes_outside_the_batch_are_404():
    tickets = BatchTickets()
    ticket = tickets.authorize("abc-0", f"Bearer {open_batch(tickets)}")
    assert ticket.check_index("2") == 2
    for raw in ("3", "-1", "1.0", "x", "01x", ""):
        assert refusal(lambda raw=raw: ticket.check_index(raw)).status == 404


def test_batch_ids_are_url_and_kubernetes_names():
    assert batch_id("0123456789ABCDEF0123", 7) == "0123456789ab-7"
    with pytest.raises(ValueError, match="must match"):
        open_batch(BatchTickets(), "../etc")


def test_uploads_are_bounded_and_one_json_object():
    limit = upload_limit("results", max_output=1024, cells=5)
    assert parse_upload("results", b'{"key": "x"}', limit) == {"key": "x"}
    too_big = refusal(lambda: parse_upload("results", b" " * (limit + 1), limit))
    assert too_big.status == 413 and f"at most {limit}" in str(too_big)
    for garbled in (b"{not json", b"\xff\xfe", b"[1, 2]", b'"text"', b"null"):
        refused = refusal(lambda garbled=garbled: parse_upload("results", garbled, limit))
        assert refused.status == 400 and "results upload" in str(refused)


def test_upload_bounds_grow_with_the_output_limit_and_cells():
    assert upload_limit("results", 2048, 5) > upload_limit("results", 1024, 5)
    assert upload_limit("results", 1024, 10) > upload_limit("results", 1024, 5)
    assert upload_limit("progress", 10 * 1024**3, 5) == 4 * 1024**2  # one cell, capped
    assert upload_limit("refused", 1024, 5) == 64 * 1024


def test_the_runner_takes_its_credentials_out_of_its_environment():
    environ = {URL_ENV: "http://10.0.0.5:8090/x/api/grading/batches/a-0/", TOKEN_ENV: "t0k"}
    remote = take_credentials(environ)
    assert remote.url == "http://10.0.0.5:8090/x/api/grading/batches/a-0" and remote.token == "t0k"
    assert environ == {}  # nothing left for a process started after this
    assert take_credentials({}) is None
    with pytest.raises(RemoteError, match=TOKEN_ENV):
        take_credentials({URL_ENV: "http://x/"})
