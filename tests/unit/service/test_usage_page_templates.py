"""The usage and course pages' templates escape what users control (usernames come from sign-in) and
carry no script; rendered with Tornado's real template loader."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

from coursehub.gpu.reports import (
    HELD_HEADER,
    RIGHT_ALIGNED,
    TABLE_HEADER,
    TOTAL,
    SessionRow,
    build_report,
    held_vs_used_cells,
    idle_holders,
    table_rows,
)
from coursehub.gpu.usage_chart import inline_svg
from coursehub.service.course_overview import job_line, short_time, summarize
from coursehub.service.usage_page import CONTENT_SECURITY_POLICY, TEMPLATES

EVIL = '<script>alert("x")</script>'


def page(**values) -> str:
    at = datetime(2025, 1, 6, 9, tzinfo=UTC)
    session = SessionRow(EVIL, "ai-101", 1, at, at, at.replace(hour=10), "stopped", 0.25)
    report = build_report([session], [], ["ai-101"], at.replace(hour=0), at.replace(day=7), at)
    defaults = {
        "hub_home": "/hub/home",
        "user": EVIL,
        "admin": False,
        "role": "staff of ai-101",
        "choices": ["ai-101"],
        "course": '"><b>',
        "since_value": "2025-01-06",
        "since_text": "2025-01-06 00:00 UTC",
        "until_text": "2025-01-07 00:00 UTC",
        "has_sessions": True,
        "header": TABLE_HEADER,
        "rows": table_rows(report),
        "total": TOTAL,
        "numeric": RIGHT_ALIGNED,
        "held_header": HELD_HEADER,
        "held_rows": [held_vs_used_cells(total) for total in report.totals],
        "idle_rows": [held_vs_used_cells(row) for row in idle_holders(report)],
        "chart": inline_svg(report.daily),
    }
    return TEMPLATES.load("usage.html").generate(**{**defaults, **values}).decode()


def test_usernames_and_arguments_are_escaped_everywhere():
    html = page()
    assert "<script" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in html
    assert '"><b>' not in html and "&quot;&gt;&lt;b&gt;" in html
    assert "<svg" in html and "GPU-hours per day per course" in html
    # An idle holder's name is escaped too.
    holders = page(idle_rows=[("ai-101", EVIL, "1.00", "0.25", "0.75", "25")])
    assert "<script" not in holders and "Biggest idle holders" in holders
    assert holders.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;") == 3


def test_the_refusal_page_escapes_its_message():
    html = (
        TEMPLATES.load("refused.html")
        .generate(
            hub_home="/hub/home",
            service_prefix="/services/coursehub/",
            heading="403 · Not allowed",
            message=f"{EVIL} may not",
        )
        .decode()
    )
    assert "<script" not in html and "&lt;script&gt;" in html


def test_the_pages_allow_no_script_at_all():
    assert "script-src" not in CONTENT_SECURITY_POLICY
    assert CONTENT_SECURITY_POLICY.startswith("default-src 'none'")


def test_the_course_page_escapes_names_and_outcomes():
    status = {
        "assignment": "ps1",
        "due": None,
        "released_at": None,
        "students": [],
        "autograde": None,
    }
    html = (
        TEMPLATES.load("course.html")
        .generate(
            hub_home="/hub/home",
            service_prefix="/services/coursehub/",
            user=EVIL,
            course=SimpleNamespace(id="ai-101", title=EVIL),
            summaries=[summarize(EVIL, status, [])],
            charts={},
            extensions=[
                {
                    "id": 1,
                    "student": EVIL,
                    "assignment": None,
                    "until": None,
                    "minutes": 30,
                    "granted_by": EVIL,
                    "granted_at": "2026-12-01T00:00:00+00:00",
                    "reason": EVIL,
                }
            ],
            job_line=job_line,
            short_time=short_time,
            outcome=f"error:{EVIL}",
            outcome_failed=True,
            refresh=0,
            xsrf_form_html=lambda: '<input type="hidden" name="_xsrf" value="t">',
        )
        .decode()
    )
    assert "<script" not in html and "&lt;script&gt;" in html
    assert html.count('name="_xsrf"') == 5  # every button's form carries the token
    assert "every assignment" in html and "+30 min" in html
    assert 'http-equiv="refresh"' not in html  # no grading job: no reloading
