"""The grading pod's side of ``transport``: fetch the batch's inputs from the service and post
each result back, with the batch token (I/O; the standard library only, as it runs in the
course image).

:func:`take_credentials` reads the batch's address and token from the runner's environment
and removes them from it, before the runner starts the zygote or reads any submission: no
process of student code is ever started with them, and the processes run as other users,
who cannot read the runner's memory or ``/proc/<runner>/environ``.
"""

from __future__ import annotations

import http.client
import json
import os
import sys
import time
import urllib.parse
from collections.abc import MutableMapping
from pathlib import Path

from coursehub.exchange.archive import ArchiveError, extract_stored_archive
from coursehub.grading.transport import TOKEN_ENV, TOKEN_HEADER, TOKEN_SCHEME, URL_ENV

TIMEOUT_SECONDS = 60
ATTEMPTS = 4


class RemoteError(Exception):
    """The service could not be reached, or refused the batch token."""


class BatchRemote:
    """One kept-alive HTTP connection to the batch's address (a cell's progress is posted as
    it finishes: a new connection each time would cost more than the post)."""

    def __init__(self, url: str, token: str):
        self.url, self.token = url, token
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RemoteError(f"{URL_ENV} must be an http(s) URL, not {url[:200]!r}")
        self._parts = parts
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind = (
                http.client.HTTPSConnection
                if self._parts.scheme == "https"
                else http.client.HTTPConnection
            )
            self._connection = kind(self._parts.hostname, self._parts.port, timeout=TIMEOUT_SECONDS)
        return self._connection

    def _request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        headers = {
            TOKEN_HEADER: f"{TOKEN_SCHEME} {self.token}",
            "Content-Type": "application/json",
        }
        last = ""
        for attempt in range(ATTEMPTS):
            try:
                connection = self._connect()
                connection.request(method, f"{self._parts.path}/{path}", body, headers)
                response = connection.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException) as error:
                self.close()  # a dropped keep-alive connection: a new one next time
                last = str(error) or type(error).__name__
                if attempt == 0:
                    continue  # at once: the service closed an idle connection
                time.sleep(0.5 * 2 ** (attempt - 1))
                continue
            if response.status < 300:
                return data
            detail = data[:500].decode(errors="replace")
            if response.status < 500:  # refused: trying again changes nothing
                raise RemoteError(f"{method} {path}: {response.status} {detail}")
            last = f"{response.status} {detail}"
            time.sleep(0.5 * 2**attempt)
        raise RemoteError(f"{method} {path}: the service did not answer ({last})")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def fetch_inputs(self, folder: Path) -> None:
        """The batch's ``in/`` folder, unpacked into ``folder/in``."""
        data = self._request("GET", "inputs")
        try:
            extract_stored_archive(data, folder / "in")
        except ArchiveError as error:
            raise RemoteError(f"the batch's inputs do not unpack: {error}") from None

    def post(self, kind: str, index: int | None, payload: dict | str) -> None:
        path = kind if index is None else f"{kind}/{index}"
        body = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self._request("POST", path, body)


class Outbox:
    """Where the runner hands each result as it is written: the service, when the pod has a
    batch address; nowhere else (the folder itself is the result, as in the runner's tests).
    A post that fails is reported on stderr; the service then finds that result missing."""

    def __init__(self, remote: BatchRemote | None):
        self.remote = remote

    def send(self, kind: str, index: int | None, payload: dict | str) -> None:
        if self.remote is None:
            return
        try:
            self.remote.post(kind, index, payload)
        except RemoteError as error:
            print(f"could not hand the {kind} to the service: {error}", file=sys.stderr)


def take_credentials(environ: MutableMapping[str, str] = os.environ) -> BatchRemote | None:
    """The batch's address and token, removed from ``environ``; None when the pod has none
    (its batch folder is already in place)."""
    url = environ.pop(URL_ENV, None)
    token = environ.pop(TOKEN_ENV, None)
    if not url:
        return None
    if not token:
        raise RemoteError(f"{URL_ENV} is set but {TOKEN_ENV} is not: the pod has no batch token")
    return BatchRemote(url.rstrip("/"), token)
