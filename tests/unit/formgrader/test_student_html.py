"""Student markdown and HTML as the formgrader renders them: nbconvert's HTMLExporter with
nbgrader's own "formgrade" template, configured as the formgrader is
(``coursehub.formgrader.config`` on top of what nbgrader's formgrader extension sets)."""

from __future__ import annotations

from html.parser import HTMLParser

import nbformat
import pytest
from nbconvert.exporters import HTMLExporter
from nbgrader.server_extensions.formgrader import handlers as formgrader_handlers
from traitlets.config import Config

from coursehub.formgrader.config import server_config
from coursehub.formgrader.student_html import clean_html

RAN = "window.__xss=1"


class Scripts(HTMLParser):
    """Every <script> body, on* attribute and javascript:/data: link in a page."""

    def __init__(self, html: str):
        super().__init__()
        self.found: list[str] = []
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        for name, value in attrs:
            if name.startswith("on") or (
                name in ("href", "src")
                and (value or "").strip().lower().startswith(("javascript:", "data:text"))
            ):
                self.found.append(f"<{tag} {name}={value}>")

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.found.append(data)


def payloads(html: str) -> list[str]:
    return [found for found in Scripts(html).found if "__xss" in found]


def hostile_notebook() -> nbformat.NotebookNode:
    markdown = nbformat.v4.new_markdown_cell(
        "# My answer\n\nSTUDENT-MARKDOWN with *emphasis* and $x^2$.\n\n"
        f'<img src="x" onerror="{RAN}">\n\n<script>{RAN}</script>\n\n'
        f'[link](javascript:{RAN}) <a href="data:text/html,<script>{RAN}</script>">d</a>\n\n'
        f'<svg onload="{RAN}"></svg><iframe src="javascript:{RAN}"></iframe>'
    )
    code = nbformat.v4.new_code_cell("display(things)")
    code.outputs = [
        nbformat.v4.new_output(
            "display_data",
            data={
                "text/html": f"<b>STUDENT-HTML</b><script>{RAN}</script>"
                f'<table class="dataframe"><tr><th>a</th><td>1</td></tr></table>',
                "text/plain": "<HTML>",
            },
        ),
        nbformat.v4.new_output("display_data", data={"application/javascript": RAN}),
        nbformat.v4.new_output(
            "display_data", data={"text/markdown": f'<img src=x onerror="{RAN}">STUDENT-MD-OUT'}
        ),
        nbformat.v4.new_output(
            "display_data",
            data={"image/svg+xml": f'<svg xmlns="http://www.w3.org/2000/svg" onload="{RAN}"/>'},
        ),
    ]
    raw = nbformat.v4.new_raw_cell(f"<script>{RAN}</script>")
    raw.metadata["raw_mimetype"] = "text/html"
    return nbformat.v4.new_notebook(cells=[markdown, code, raw])


def formgrade_exporter(extra: dict) -> HTMLExporter:
    """The exporter as nbgrader's formgrader builds it (template and paths from its
    ``build_extra_config``), with ``extra`` config on top."""
    config = Config(extra)
    config.HTMLExporter.template_name = "formgrade"
    config.HTMLExporter.extra_template_basedirs = [formgrader_handlers.template_path]
    return HTMLExporter(config=config)


def render(exporter: HTMLExporter) -> str:
    resources = {
        "assignment_id": "ps1",
        "notebook_id": "ps1",
        "submission_id": "s",
        "index": 0,
        "total": 1,
        "base_url": "/services/grader-ai-101",
        "student": "student1",
        "last_name": None,
        "first_name": None,
        "notebook_path": "autograded/student1/ps1/ps1.ipynb",
    }
    html, _ = exporter.from_notebook_node(hostile_notebook(), resources=resources)
    return html


def test_the_formgrader_config_renders_student_content_without_its_script():
    html = render(formgrade_exporter({"HTMLExporter": server_config()["HTMLExporter"]}))
    assert not payloads(html)
    for shown in ("My answer", "STUDENT-MARKDOWN", "<em>emphasis</em>", "$x^2$", "STUDENT-HTML"):
        assert shown in html
    assert "STUDENT-MD-OUT" in html
    assert '<table class="dataframe">' in html  # ordinary output markup stays markup
    # nbgrader's own page script (the grading form) is still there.
    assert '<script src="/services/grader-ai-101/formgrader/static/js/formgrade.js"' in html


def test_sanitize_html_alone_leaves_nbgraders_markdown_cells_raw():
    """Why the config also replaces the filters: nbgrader's formgrade template renders
    markdown cells without nbconvert's clean_html."""
    html = render(formgrade_exporter({"HTMLExporter": {"sanitize_html": True}}))
    assert any("onerror" in found for found in payloads(html))


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ('<p onclick="x()">a</p>', "<p>a</p>"),
        ("<script>alert(1)</script>b", "alert(1)b"),
        ("<style>body{display:none}</style>c", "body{display:none}c"),
        ('<a href="javascript:alert(1)">d</a>', "<a>d</a>"),
        ('<a href="data:text/html,x">e</a>', "<a>e</a>"),
        ('<img src="data:image/png;base64,AAAA">', '<img src="data:image/png;base64,AAAA">'),
        ('<img src="plot.png" alt="p">', '<img src="plot.png" alt="p">'),
        (
            '<a href="https://example.org" id="base_url">f</a>',
            '<a href="https://example.org">f</a>',
        ),
        ('<div style="position: fixed; color: red">g</div>', '<div style="color: red;">g</div>'),
        ('<iframe src="https://example.org"></iframe>h', "h"),
        ("<h2>T</h2><table><thead><tr><th>a</th></tr></thead></table>", None),
        ('<form action="/x"><input name="score"></form>i', "i"),
    ],
)
def test_clean_html(dirty, clean):
    assert clean_html(dirty) == (dirty if clean is None else clean)
