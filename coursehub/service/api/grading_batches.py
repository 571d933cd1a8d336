"""``api/grading/batches/<id>/…``: what grading pods fetch and post, with their batch token.

These are the only endpoints a grading pod can reach (its NetworkPolicy allows egress to the
service's port alone), and the only ones that take a batch token instead of a hub token
(``coursehub.grading.transport``): a request names one batch, and its token must be that
batch's, while the batch runs. Nothing else answers it: every other endpoint wants a hub
token, so student code in a grading pod, which has no token at all, gets 401 or 403
everywhere.

- ``GET inputs``: the batch's ``in/`` folder as a gzip'd tar;
- ``POST results/<i>``: submission *i*'s result (write-once: 409 after the first);
- ``POST progress/<i>``: one finished cell of submission *i* (appended);
- ``POST refused``: the runner's refusal to run student code.

An upload over its bound is 413, one that is not a JSON object 400; ``dispatch`` then checks
every field of what was stored by type, as it did for a shared folder.
"""

from __future__ import annotations

import asyncio
import json

from tornado.web import HTTPError

from coursehub.exchange.archive import pack_directory
from coursehub.grading.protocol import write_json_atomically
from coursehub.grading.transport import (
    TOKEN_HEADER,
    BatchTicket,
    TransportRefusal,
    parse_upload,
    upload_limit,
)
from coursehub.service.api.base import ARCHIVE_TYPE, SEGMENT, BaseHandler

BATCH = rf"api/grading/batches/{SEGMENT}"


class GradingBatchHandler(BaseHandler):
    """Authenticates by the batch token named in the path, never by a hub token."""

    ticket: BatchTicket

    async def prepare(self):
        try:
            self.ticket = self.context.grading_batches.authorize(
                self.path_args[0], self.request.headers.get(TOKEN_HEADER)
            )
        except TransportRefusal as refusal:
            raise HTTPError(refusal.status, "%s", str(refusal)) from None

    def upload_value(self, kind: str) -> dict:
        ticket = self.ticket
        limit = upload_limit(kind, ticket.max_output, ticket.cells)
        try:
            return parse_upload(kind, self.request.body, limit)
        except TransportRefusal as refusal:
            raise HTTPError(refusal.status, "%s", str(refusal)) from None

    def index(self, raw: str) -> int:
        try:
            return self.ticket.check_index(raw)
        except TransportRefusal as refusal:
            raise HTTPError(refusal.status, "%s", str(refusal)) from None


class InputsHandler(GradingBatchHandler):
    async def get(self, batch: str):
        data = await asyncio.to_thread(pack_directory, self.ticket.folder / "in")
        self.set_header("Content-Type", ARCHIVE_TYPE)
        self.finish(data)


class ResultHandler(GradingBatchHandler):
    async def post(self, batch: str, raw_index: str):
        index = self.index(raw_index)
        value = self.upload_value("results")
        if index in self.ticket.posted:
            raise HTTPError(
                409, "submission %d of grading batch %s has its result already", index, batch
            )
        self.ticket.posted.add(index)
        path = self.ticket.folder / "out" / f"{index}.json"
        await asyncio.to_thread(write_json_atomically, path, value)
        self.write_json({"stored": index}, status=201)


class ProgressHandler(GradingBatchHandler):
    async def post(self, batch: str, raw_index: str):
        index = self.index(raw_index)
        value = self.upload_value("progress")
        if index in self.ticket.posted:
            raise HTTPError(409, "submission %d of grading batch %s is finished", index, batch)
        out = self.ticket.folder / "out"
        out.mkdir(parents=True, exist_ok=True)
        # Its existence says "started" to dispatch; each line is one finished cell.
        with open(out / f"{index}.progress", "a") as progress:
            progress.write(json.dumps(value) + "\n")
        self.write_json({"stored": index}, status=201)


class RefusedHandler(GradingBatchHandler):
    async def post(self, batch: str):
        value = self.upload_value("refused")
        write_json_atomically(self.ticket.folder / "out" / "refused.json", value)
        self.write_json({"stored": "refused"}, status=201)


default_handlers = [
    (rf"{BATCH}/inputs", InputsHandler),
    (rf"{BATCH}/results/{SEGMENT}", ResultHandler),
    (rf"{BATCH}/progress/{SEGMENT}", ProgressHandler),
    (rf"{BATCH}/refused", RefusedHandler),
]
