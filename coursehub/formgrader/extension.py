"""coursehub's Jupyter server extension in a course's formgrader.

At load it checks that the formgrader's config took effect (only the allowed extensions, no
terminals, coursehub's kernel and contents managers) and stops the server otherwise
(``ServerApp.reraise_server_extension_failures``). Then it adds, ahead of nbgrader's:

- ``…/formgrader/api/submission/<a>/<s>/autograde``: refused in nbgrader's own result format
  (``{"success": false, "log": …}``), so the formgrader's dialog shows how to autograde;
- any path with a ``..`` or ``.`` segment, or an escaped ``/``, ``\\`` or NUL, in any
  spelling: 400. nbgrader's API decodes ``%2F`` inside an assignment or student id and joins
  it into folder paths, which would reach other courses' folders;
- ``…/api/sessions``: no sessions to list, and 403 for a new one (it would need a kernel);
- ``…/nbconvert/…``: 403; it would render students' notebooks outside the sanitized view;

and gives responses for students' submitted files (``…/formgrader/submissions/<id>/<file>``)
a Content-Security-Policy with ``sandbox``, so HTML a student submitted cannot run script on
the hub's origin.

Jupyter Server loads extensions in alphabetical order, and Tornado tries handlers in the
order they were added, so this extension's handlers (``coursehub…``) come before
nbgrader's (``nbgrader…``) and the notebook's (``notebook``).
"""

from __future__ import annotations

import json
import os
import re

from jupyter_server.base.handlers import APIHandler, JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.web import OutputTransform

from coursehub.formgrader import config
from coursehub.formgrader.contents import CourseFolderContents
from coursehub.formgrader.execution import refusal
from coursehub.formgrader.kernels import NO_CODE, NoKernels

# A dot segment (. or .., escaped or not), or an escaped slash, backslash or NUL anywhere.
CLIMBING = r"(?:(?:.*/)?(?:\.|%2[eE]){1,2}(?:/.*)?|.*(?:%2[fF]|%5[cC]|%00|\\).*)"
# Below the server's base URL: a file in a submission's folder, not the grading view
# (``<id>/``), its navigation (``<id>/next``, …) or nbgrader's own static files.
SUBMITTED_FILE = (
    r"formgrader/submissions/(?!components/)[^/]+/"
    r"(?!(?:next_incorrect|prev_incorrect|next|prev)/?$)[^/].*"
)
SANDBOX_POLICY = (
    "sandbox; default-src 'none'; img-src 'self' data:; media-src 'self'; "
    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'"
)


def _jupyter_server_extension_points():
    return [{"module": __name__}]


class FormgraderMisconfigured(RuntimeError):
    pass


def check(serverapp) -> None:
    """Refuse to serve unless the formgrader's config is what ``config`` says."""
    enabled = {
        name for name, package in serverapp.extension_manager.extensions.items() if package.enabled
    }
    unexpected = sorted(enabled - set(config.ALLOWED_EXTENSIONS))
    problems = []
    if unexpected:
        problems.append(f"unexpected server extensions {unexpected}")
    if serverapp.terminals_enabled:
        problems.append("terminals are enabled")
    if not isinstance(serverapp.kernel_manager, NoKernels):
        problems.append(f"the kernel manager is {type(serverapp.kernel_manager).__name__}")
    if not isinstance(serverapp.contents_manager, CourseFolderContents):
        problems.append(f"the contents manager is {type(serverapp.contents_manager).__name__}")
    if problems:
        raise FormgraderMisconfigured(
            "The formgrader will not start: "
            + "; ".join(problems)
            + f". Start it with coursehub's config ({config.SERVER_CONFIG_FILE})."
        )


class Refused(JupyterHandler):
    def initialize(self, status: int, message: str) -> None:
        self.status, self.message = status, message

    def prepare(self):
        raise web.HTTPError(self.status, self.message)


class AutogradeRefused(JupyterHandler):
    """nbgrader's Autograde button, answered the way nbgrader answers a failed autograde."""

    @web.authenticated
    def post(self, assignment: str, student: str) -> None:
        course = os.environ.get(config.COURSE_VARIABLE, "COURSE")
        # As nbgrader's own log output: its dialog shows "log" under "Log Output".
        result = {"success": False, "log": refusal(course, assignment, student)}
        # text/plain as nbgrader's handlers: the formgrader's script parses the text itself.
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish(json.dumps(result))


class NoSessions(APIHandler):
    """The sessions API, which would start a kernel per notebook: none exist, none start
    (without this, the refused kernel start comes back from it as a 500)."""

    @web.authenticated
    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish("[]")

    @web.authenticated
    def post(self) -> None:
        raise web.HTTPError(403, NO_CODE)


def sandbox_submitted_files(base_url: str) -> type[OutputTransform]:
    """The response transform that gives students' files the sandboxing policy (Tornado
    builds one per request from the request alone, hence the class per base URL)."""
    submitted_file = re.compile(re.escape(url_path_join(base_url, "/")) + SUBMITTED_FILE)

    class SandboxSubmittedFiles(OutputTransform):
        def __init__(self, request) -> None:
            self.sandbox = submitted_file.fullmatch(request.path) is not None

        def transform_first_chunk(self, status_code, headers, chunk, finishing):
            if self.sandbox:
                headers["Content-Security-Policy"] = SANDBOX_POLICY
            return status_code, headers, chunk

    return SandboxSubmittedFiles


def _load_jupyter_server_extension(serverapp) -> None:
    check(serverapp)
    web_app = serverapp.web_app
    base = web_app.settings["base_url"]
    climbing = {"status": 400, "message": "This path climbs out of its folder."}
    nbconvert = {"status": 403, "message": NO_CODE}
    web_app.add_handlers(
        ".*$",
        [
            (re.escape(base) + CLIMBING, Refused, climbing),
            (
                url_path_join(base, r"formgrader/api/submission/([^/]+)/([^/]+)/autograde"),
                AutogradeRefused,
            ),
            (url_path_join(base, r"api/sessions/?"), NoSessions),
            (url_path_join(base, r"nbconvert/.*"), Refused, nbconvert),
        ],
    )
    web_app.add_transform(sandbox_submitted_files(base))
    serverapp.log.info("coursehub formgrader: no kernels, no terminals, Autograde refused")
