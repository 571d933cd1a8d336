"""The coursehub service's HTTP API in tests: real requests with real hub tokens.

``ServiceCalls(session, base_url)``: ``call(method, path, token, ...)`` returns
``(status, parsed JSON | bytes | text)``; ``archive(files)`` builds an upload.
"""

from __future__ import annotations

import io
import json
import tarfile

import aiohttp

from coursehub.exchange.archive import pack_files


def notebook(answer: str) -> bytes:
    """A small valid notebook whose one code cell holds ``answer``."""
    return json.dumps(
        {
            "cells": [
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "id": "answer",
                    "metadata": {},
                    "outputs": [],
                    "source": answer,
                }
            ],
            "metadata": {},
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    ).encode()


def archive(files: dict[str, bytes]) -> bytes:
    return pack_files(files)


def unchecked_archive(files: dict[str, bytes]) -> bytes:
    """An archive with whatever member names a hostile client might send."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


class ServiceCalls:
    def __init__(self, session: aiohttp.ClientSession, base_url: str):
        self.session = session
        self.base = base_url.rstrip("/")

    async def call(
        self,
        method: str,
        path: str,
        token: str | None,
        data: bytes | None = None,
        params: dict | None = None,
        headers: dict | None = None,
        payload: dict | None = None,
    ):
        all_headers = dict(headers or {})
        if token is not None:
            all_headers["Authorization"] = f"token {token}"
        if payload is not None:
            data = json.dumps(payload).encode()
            all_headers["Content-Type"] = "application/json"
        elif data is not None:
            all_headers["Content-Type"] = "application/gzip"
        async with self.session.request(
            method, f"{self.base}/api/{path}", data=data, params=params, headers=all_headers
        ) as response:
            body = await response.read()
            kind = response.headers.get("Content-Type", "")
            if kind.startswith("application/json"):
                return response.status, json.loads(body)
            if kind.startswith("text/"):
                return response.status, body.decode()
            return response.status, body

    async def submit(self, course: str, assignment: str, token: str, data: bytes, **params):
        return await self.call(
            "POST", f"courses/{course}/assignments/{assignment}/submissions", token, data, params
        )

    async def versions(self, course: str, assignment: str, token: str, student: str) -> list[int]:
        status, body = await self.call(
            "GET",
            f"courses/{course}/assignments/{assignment}/submissions",
            token,
            params={"student": student},
        )
        assert status == 200, body
        return [row["version"] for row in body["submissions"]]
