"""A course's formgrader in tests: a graded submission to look at, and its HTTP API.

- ``grade_hostile_submission(service, tokens, probe)``: instructor1 releases ai-101's ps1
  through the coursehub service, student1 submits a full-marks answer that also carries
  script in a markdown cell, in HTML/JavaScript/markdown outputs and in a submitted
  ``notes.html``, and a cell that writes ``probe`` when it runs with a hub token in its
  environment (in a formgrader, never in a grading pod, whose environment is cleared);
  instructor1 collects and autogrades it with grading pods.
- ``Formgrader(session, platform, course, token)``: ``/services/grader-<course>/…`` through
  the proxy with a user's token; ``request`` returns ``(status, headers, text)``.
- ``scripts_and_handlers(html)``: every ``<script>`` body and ``on*`` attribute in a page.
"""

from __future__ import annotations

import asyncio
import copy
import io
import json
import sys
import tarfile
import time
from html.parser import HTMLParser
from pathlib import Path

import aiohttp
from service_calls import ServiceCalls, archive
from yarl import URL

from coursehub.dev import Platform

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "assignments"))
from answers import full_marks_answers

# Every payload appends its name to this global, so a page can say which ones ran.
XSS_GLOBAL = "__coursehub_xss"


def _ran(name: str) -> str:
    return f"window.{XSS_GLOBAL}=(window.{XSS_GLOBAL}||[]).concat(['{name}'])"


XSS_MARKDOWN_CELL = (
    f'STUDENT-MARKDOWN <img src="x" onerror="{_ran("markdown-cell")}">\n\n'
    f"<script>{_ran('markdown-script')}</script>"
)
HTML_OUTPUT = "<script>" + _ran("html-output") + "</script>"
MARKDOWN_OUTPUT = '<img src="x" onerror="' + _ran("markdown-output") + '">'
# The visible markers are joined at run time, so they appear in the outputs, not the source.
XSS_OUTPUT_CODE = (
    "from IPython.display import HTML, Javascript, Markdown, display\n"
    "html, markdown = 'STUDENT' + '-HTML', 'STUDENT' + '-MARKDOWN-OUTPUT'\n"
    f"display(HTML('<b>' + html + '</b>' + {HTML_OUTPUT!r}))\n"
    f"display(Javascript({_ran('javascript-output')!r}))\n"
    f"display(Markdown(markdown + {MARKDOWN_OUTPUT!r}))\n"
)
XSS_FILE = f"<html><body>STUDENT-FILE<script>{_ran('submitted-file')}</script></body></html>"


def probe_code(probe: Path) -> str:
    """Student code that leaves ``probe`` behind if it runs next to a hub token."""
    return (
        "import os\n"
        "if 'JUPYTERHUB_API_TOKEN' in os.environ:\n"
        f"    open({str(probe)!r}, 'w').write(os.environ.get('JUPYTERHUB_SERVICE_NAME', '?'))\n"
    )


def hostile_answers(released: dict, probe: Path) -> dict:
    """Full marks, plus the payloads: a markdown cell of the student's own, and a code
    cell of theirs that displays HTML, JavaScript and markdown and runs the probe."""
    notebook = copy.deepcopy(full_marks_answers(released))
    notebook["cells"].append(
        {"cell_type": "markdown", "id": "student-md", "metadata": {}, "source": XSS_MARKDOWN_CELL}
    )
    notebook["cells"].append(
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "student-code",
            "metadata": {},
            "outputs": [],
            "source": XSS_OUTPUT_CODE + probe_code(probe),
        }
    )
    return notebook


def _released_notebook(data: bytes, name: str) -> dict:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return json.load(tar.extractfile(name))


async def _ok(service: ServiceCalls, method: str, path: str, token: str, **options):
    status, body = await service.call(method, path, token, **options)
    assert status in (200, 201, 202), (method, path, status, body)
    return body


async def grade_hostile_submission(
    service: ServiceCalls, tokens: dict[str, str], probe: Path, timeout: float = 300
) -> None:
    staff, student = tokens["instructor1"], tokens["student1"]
    base = "courses/ai-101/assignments/ps1"
    await _ok(service, "POST", f"{base}/actions/release", staff)
    released = await _ok(service, "GET", f"{base}/release", student)
    notebook = hostile_answers(_released_notebook(released, "ps1.ipynb"), probe)
    upload = archive({"ps1.ipynb": json.dumps(notebook).encode(), "notes.html": XSS_FILE.encode()})
    await _ok(service, "POST", f"{base}/submissions", student, data=upload)
    await _ok(service, "POST", f"{base}/actions/collect", staff)
    job = (await _ok(service, "POST", f"{base}/actions/autograde", staff))["job"]
    deadline = time.monotonic() + timeout
    while True:
        state = await _ok(service, "GET", f"jobs/{job}", staff)
        if state["state"] in ("done", "failed"):
            break
        assert time.monotonic() < deadline, state
        await asyncio.sleep(1)
    assert state["state"] == "done" and state["failed"] == 0, state


class Formgrader:
    """``<hub>/services/grader-<course>`` through the proxy, as one user."""

    def __init__(self, session: aiohttp.ClientSession, platform: Platform, course: str, token: str):
        self.session = session
        self.base = f"{platform.public_url}/services/grader-{course}"
        self.headers = {"Authorization": f"token {token}"}

    async def request(
        self, method: str, path: str, body: dict | str | None = None, headers: dict | None = None
    ) -> tuple[int, dict, str]:
        """``path`` is sent exactly as written (percent-escapes and dots included)."""
        url = URL(self.base + path, encoded=True)
        data = json.dumps(body) if isinstance(body, dict) else body
        async with self.session.request(
            method,
            url,
            data=data,
            headers={**self.headers, **(headers or {})},
            allow_redirects=False,
        ) as response:
            return response.status, dict(response.headers), await response.text()

    async def json(self, path: str):
        status, _, text = await self.request("GET", path)
        assert status == 200, (path, status, text)
        return json.loads(text)

    async def submission_id(self, assignment: str, notebook: str, student: str) -> str:
        rows = await self.json(f"/formgrader/api/submitted_notebooks/{assignment}/{notebook}")
        (row,) = [row for row in rows if row["student"] == student]
        return row["id"]


class _ScriptFinder(HTMLParser):
    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        self.found += [f"{name}={value}" for name, value in attrs if name.startswith("on")]

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.found.append(data)


def scripts_and_handlers(html: str) -> list[str]:
    finder = _ScriptFinder()
    finder.feed(html)
    return finder.found
