"""What staff reach through a formgrader's contents API and ``/files/``.

The server is rooted in the course's nbgrader folder, which also holds what is not theirs to
read or change: the service's ``nbgrader_config.py`` (Python that nbgrader executes, and with
PostgreSQL the service's database URL), the gradebook file, and the students' submissions
(whose HTML would open on the hub's origin). So the reach is narrower than the folder:

- ``source/``: read and write below it (assignment authoring);
- ``release/``: read;
- the folder itself: listed, showing those two only;
- anything else, ``..`` and ``.`` segments included: 403 with ``refused(path)``.

Grading goes through the formgrader's own pages, which read the course folder themselves.
"""

from __future__ import annotations

import os
import posixpath

from jupyter_server.base.handlers import AuthenticatedFileHandler
from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from tornado import web
from traitlets import default

WRITABLE = ("source",)
READABLE = ("source", "release")


def reach(path: str) -> str | None:
    """``"list"``, ``"read"``, ``"write"`` or None for an API path in the course folder."""
    parts = [part for part in path.replace("\\", "/").strip("/").split("/") if part]
    if not parts:
        return "list"
    if any(part in (".", "..") for part in parts):
        return None
    if parts[0] in WRITABLE and len(parts) > 1:
        return "write"
    if parts[0] in READABLE:
        return "read"
    return None


def refused(path: str) -> str:
    return (
        f"{path!r} is not reachable in the formgrader: staff see the course's "
        f"{', '.join(f'{name}/' for name in READABLE)} folders and write "
        f"{', '.join(f'{name}/' for name in WRITABLE)}; grading happens in the formgrader's pages."
    )


def _require(path: str, *allowed: str) -> None:
    if reach(path) not in allowed:
        raise web.HTTPError(403, refused(path))


class CourseFolderFiles(AuthenticatedFileHandler):
    """``/files/<path>`` with the same reach as the contents API."""

    def validate_absolute_path(self, root: str, absolute_path: str) -> str:
        relative = os.path.relpath(absolute_path, root).replace(os.sep, "/")
        _require(relative, "read", "write")
        return super().validate_absolute_path(root, absolute_path)


class CourseFolderContents(AsyncLargeFileManager):
    @default("files_handler_class")
    def _files_handler_class_default(self):
        return CourseFolderFiles

    async def get(self, path, content=True, type=None, format=None, require_hash=False):
        _require(path, "list", "read", "write")
        if reach(path) != "list":
            return await super().get(
                path, content=content, type=type, format=format, require_hash=require_hash
            )
        # The course folder itself: its reachable folders only (Jupyter's own listing would
        # ask for every entry, and the others are refused).
        model = await super().get(path, content=False, type=type)
        if content:
            listing = []
            for name in READABLE:
                if await super().dir_exists(name):
                    listing.append(await super().get(name, content=False))
            model["content"], model["format"] = listing, "json"
        return model

    async def save(self, model, path=""):
        _require(path, "write")
        return await super().save(model, path)

    async def delete_file(self, path):
        _require(path, "write")
        return await super().delete_file(path)

    async def rename_file(self, old_path, new_path):
        _require(old_path, "write")
        _require(new_path, "write")
        return await super().rename_file(old_path, new_path)

    async def copy(self, from_path, to_path=None):
        # Folders are copied with shutil, not through save(): check the destination here.
        _require(from_path, "read", "write")
        folder = to_path if to_path is not None else posixpath.dirname(from_path.strip("/"))
        _require(posixpath.join(folder, "copy"), "write")
        return await super().copy(from_path, to_path)

    async def file_exists(self, path=""):
        return reach(path) in ("read", "write") and await super().file_exists(path)

    async def dir_exists(self, path):
        return reach(path) is not None and await super().dir_exists(path)

    def exists(self, path):  # synchronous in Jupyter Server's file managers
        return reach(path) is not None and super().exists(path)

    async def create_checkpoint(self, path):
        _require(path, "write")
        return await super().create_checkpoint(path)

    async def restore_checkpoint(self, checkpoint_id, path):
        _require(path, "write")
        return await super().restore_checkpoint(checkpoint_id, path)

    async def delete_checkpoint(self, checkpoint_id, path):
        _require(path, "write")
        return await super().delete_checkpoint(checkpoint_id, path)

    async def list_checkpoints(self, path):
        _require(path, "read", "write")
        return await super().list_checkpoints(path)

    async def trust_notebook(self, path):
        _require(path, "write")
        return await super().trust_notebook(path)
