"""Pushing an assignment's grades to the LMS the course is launched from (``coursehub grades
push``, ``POST …/grades/push``, the course page's button, and optionally feedback).

``plan`` (pure) sorts the gradebook's rows into what to send and what to skip: a student
without an LMS identity (never launched from that LMS), or whose score was sent unchanged
before. ``push`` then asks for the service token, finds or creates the line item and posts
each score, remembering what was sent; a refusal or a dead LMS is reported per student in
plain words. The report: ``sent``, ``skipped`` and ``failed``, each with the student and
(for the last two) the reason.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from coursehub.catalog.model import Course
from coursehub.service import lms_links
from coursehub.service.ags import AGSClient, LMSError, Platform, score_body
from coursehub.service.context import ServiceContext
from coursehub.service.models import LMSScore
from coursehub.service.rules import Caller, Refusal

log = logging.getLogger("coursehub.service")
NO_IDENTITY = "no LMS identity: they have never launched the course from the LMS"


@dataclass(frozen=True)
class Planned:
    student: str
    user_id: str
    score: float
    max_score: float


def plan(
    grades: list[dict],
    user_ids: dict[str, str],
    sent: dict[str, LMSScore],
) -> tuple[list[Planned], list[dict]]:
    """``(to send, skipped)`` from the gradebook's rows of one assignment."""
    to_send, skipped = [], []
    for row in sorted(grades, key=lambda item: item["student"]):
        student = row["student"]
        score, max_score = float(row["score"]), float(row["max_score"])
        if student not in user_ids:
            skipped.append({"student": student, "reason": NO_IDENTITY})
            continue
        before = sent.get(student)
        if before is not None and (before.score, before.max_score) == (score, max_score):
            skipped.append(
                {
                    "student": student,
                    "reason": f"unchanged: {score:g}/{max_score:g} was sent at "
                    f"{before.sent_at.isoformat()}",
                }
            )
            continue
        to_send.append(Planned(student, user_ids[student], score, max_score))
    return to_send, skipped


async def push(context: ServiceContext, course: Course, assignment: str, caller: Caller) -> dict:
    settings = context.lms
    if not settings.enabled:
        raise Refusal(
            409,
            "grade passback is not set up on this hub: its admins set COURSEHUB_LMS_TOOL_KEY "
            "and COURSEHUB_LMS_TOKEN_URL (docs/lms.md)",
        )
    link = await context.db.run(lambda session: lms_links.link_of(session, course.id))
    if link is None:
        raise Refusal(
            409,
            f"{course.id} has no LMS line items to send grades to: it has not been launched "
            "from an LMS with grade services (LTI Advantage AGS) yet; launch it once from "
            "the LMS course",
        )
    workspace = await asyncio.to_thread(context.workspace, course)
    try:
        grades = await asyncio.to_thread(workspace.grades, assignment)
    except Exception as error:  # nbgrader's MissingEntry for an unknown assignment
        if type(error).__name__ == "MissingEntry":
            raise Refusal(404, f"{assignment} has no grades in {course.id}'s gradebook") from None
        raise

    def known(session):
        students = [row["student"] for row in grades]
        return (
            lms_links.subjects(session, link.issuer, students),
            lms_links.sent_scores(session, course.id, assignment),
        )

    user_ids, sent_before = await context.db.run(known)
    to_send, skipped = plan(grades, user_ids, sent_before)
    report = {
        "course": course.id,
        "assignment": assignment,
        "lineitem": None,
        "sent": [],
        "skipped": skipped,
        "failed": [],
    }
    if not to_send:
        return report
    client = AGSClient(
        Platform(link.client_id, link.lineitems_url, settings.token_url),
        settings.tool_key,
        settings.retry_seconds,
    )
    try:
        lineitem = await client.lineitem(
            assignment, context.title(course, assignment) or assignment, to_send[0].max_score
        )
    except LMSError as error:
        report["failed"] = [{"student": item.student, "reason": str(error)} for item in to_send]
        log.warning("Grade push of %s/%s failed: %s", course.id, assignment, error)
        return report
    report["lineitem"] = lineitem
    for item in to_send:
        now = context.now()
        try:
            await client.post_score(
                lineitem, score_body(item.user_id, item.score, item.max_score, now), item.student
            )
        except LMSError as error:
            report["failed"].append({"student": item.student, "reason": str(error)})
            continue

        def remember(session, item=item, now=now):
            lms_links.remember_sent(
                session,
                course.id,
                assignment,
                item.student,
                lineitem,
                item.score,
                item.max_score,
                caller.name,
                now,
            )

        await context.db.run(remember)
        report["sent"].append(
            {"student": item.student, "score": item.score, "max_score": item.max_score}
        )
    log.info(
        "%s pushed %s/%s to the LMS: %d sent, %d skipped, %d failed",
        caller,
        course.id,
        assignment,
        len(report["sent"]),
        len(report["skipped"]),
        len(report["failed"]),
    )
    return report


def summary(report: dict) -> str:
    """The report in one sentence (the course page, the CLI's last line)."""
    sentence = (
        f"Pushed {report['assignment']} to the LMS: {len(report['sent'])} sent, "
        f"{len(report['skipped'])} skipped, {len(report['failed'])} failed."
    )
    for failure in report["failed"]:
        sentence += f" {failure['student']}: {failure['reason']}."
    return sentence
