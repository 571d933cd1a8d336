"""The grading pod's side of ``transport``: fetch the batch's inputs from the service and post
each result back, with the batch token (I/O; the standard library only, as it runs in the
course image).

:func:`take_credentials` reads the batch's address and token from the runner's environment
and removes them from it, before the runner starts the zygote or reads any submission: no
process of student code is ever started with them, and the processes run as other users,
who cannot read the runner's memory or ``/proc/<runner>/environ``.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import MutableMapping
from dataclasses import dataclass
from pathlib import Path

from coursehub.exchange.archive import ArchiveError, extract_stored_archive
from coursehub.grading.transport import TOKEN_ENV, TOKEN_HEADER, TOKEN_SCHEME, URL_ENV

TIMEOUT_SECONDS = 60
ATTEMPTS = 4


class RemoteError(Exception):
    """The service could not be reached, or refused the batch token."""


@dataclass(frozen=True)
class BatchRemote:
    url: str  # …/api/grading/batches/<id>
    token: str

    def _request(self, method: str, path: str, body: bytes | None = None) -> bytes:
        request = urllib.request.Request(
            f"{self.url}/{path}",
            data=body,
            method=method,
            headers={
                TOKEN_HEADER: f"{TOKEN_SCHEME} {self.token}",
                "Content-Type": "application/json",
            },
        )
        last = ""
        for attempt in range(ATTEMPTS):
            try:
                with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                    return response.read()
            except urllib.error.HTTPError as error:
                detail = error.read()[:500].decode(errors="replace")
                if error.code < 500:  # refused: trying again changes nothing
                    raise RemoteError(f"{method} {path}: {error.code} {detail}") from None
                last = f"{error.code} {detail}"
            except OSError as error:
                last = str(error)
            time.sleep(0.5 * 2**attempt)
        raise RemoteError(f"{method} {path}: the service did not answer ({last})")

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
