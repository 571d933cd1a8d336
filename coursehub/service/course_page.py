"""An instructor's course page, ``<hub>/services/coursehub/courses/<course>``.

Signed in through the hub as the usage page is (``usage_page.PageHandler``: hub OAuth, the
login cookie, a CSP without scripts, errors as pages). Only the course's staff (and admins)
see it: the same ``rules.require_staff`` as the API, on the token the hub issued at sign-in,
which carries the staff scope only for staff; anyone else gets the 403 page.

The page lists the course's assignments with how many students fetched, submitted, were
collected, graded and given feedback, the late submissions, the newest grading job (the page
reloads itself every few seconds while one runs), a histogram of the scores, and the
course's extensions (who, what, granted by whom, when, why). "Push grades to the LMS" runs
``lms_grades.push``, as ``coursehub grades push`` does. Its buttons
are forms that POST to ``courses/<course>/assignments/<name>/<action>`` and run the very
``workflow`` functions the API's actions (and so ``coursehub assignment …``) run; export is a
download of ``workflow.grades_csv``, as ``coursehub grades export``.

The page is cookie-authenticated, so a POST must carry the ``_xsrf`` token the page put in
its forms: without it JupyterHub's ``HubOAuth`` does not accept the cookie (no user) and the
handler refuses before anything runs (``check_xsrf_cookie``). After an action the browser is
redirected back (303) and the outcome is shown once, from a signed cookie.
"""

from __future__ import annotations

import asyncio
import logging

from tornado.web import authenticated

from coursehub.catalog.model import Course
from coursehub.exchange.archive import ArchiveError, check_name
from coursehub.service import exchange_db, extensions, lms_grades, workflow
from coursehub.service.context import ServiceContext
from coursehub.service.course_overview import (
    AssignmentSummary,
    job_line,
    short_time,
    summarize,
)
from coursehub.service.rules import Caller, Refusal, find_course, require_staff
from coursehub.service.score_chart import inline_svg
from coursehub.service.usage_page import PageHandler

log = logging.getLogger("coursehub.service")
ACTIONS = ("release", "collect", "autograde", "feedback", "push")
OUTCOME_COOKIE = "coursehub-course-outcome"
REFRESH_SECONDS = 3  # while a grading job runs


def course_url(context: ServiceContext, course: Course) -> str:
    return f"{context.settings.prefix}courses/{course.id}"


async def assignment_names(context: ServiceContext, course: Course) -> list[str]:
    """The catalog's assignments, then any released only from the formgrader."""
    released = await context.db.run(
        lambda session: {row.assignment for row in exchange_db.current_releases(session, course.id)}
    )
    names = [spec.name for spec in course.assignments]
    return names + sorted(released - set(names))


async def course_summaries(context: ServiceContext, course: Course) -> list[AssignmentSummary]:
    names = await assignment_names(context, course)
    workspace = await asyncio.to_thread(context.workspace, course)
    grades = await asyncio.to_thread(workspace.grades, None)
    summaries = []
    for name in names:
        status = await workflow.status(context, course, name)
        summaries.append(summarize(context.title(course, name) or name, status, grades))
    return summaries


async def run_action(
    context: ServiceContext, course: Course, assignment: str, action: str, caller: Caller
) -> str:
    """Run one of the page's buttons through the API's own workflow functions; the outcome
    in a sentence."""
    if action == "release":
        body, status = await workflow.generate_and_release(context, course, assignment, caller)
        if status == 200 and not body.get("replaced"):
            return f"{assignment} was already released with the same files; nothing changed."
        return f"Released {assignment} ({body['files']} file(s))."
    if action == "collect":
        result = await workflow.collect(context, course, assignment, caller)
        sentence = f"Collected {len(result['collected'])} submission(s) of {assignment}."
        for failure in result["failed"]:
            sentence += f" Not collected: {failure['student']}: {failure['reason']}."
        return sentence
    if action == "autograde":
        job = await workflow.start_autograde(context, course, assignment, caller, None)
        return f"Autograding {assignment} started (job {job}); progress shows below."
    if action == "feedback":
        result = await workflow.generate_and_release_feedback(context, course, assignment, caller)
        sentence = f"Released feedback on {assignment} to {len(result['released'])} student(s)."
        if result["without_feedback"]:
            missing = ", ".join(result["without_feedback"])
            sentence += f" No feedback was generated for {missing} (not autograded yet?)."
        return sentence
    if action == "push":  # the same code as `coursehub grades push`
        return lms_grades.summary(await lms_grades.push(context, course, assignment, caller))
    raise Refusal(404, f"unknown action {action!r}: {', '.join(ACTIONS)}")


class CoursePageBase(PageHandler):
    def staff_course(self, course_id: str) -> tuple[Course, Caller]:
        """The course (404 if none) and the signed-in caller, who must be its staff."""
        caller = Caller.from_hub_model(self.current_user)
        course = find_course(self.context.catalog, safe_name(course_id, "course"))
        require_staff(course, caller)
        return course, caller


def safe_name(name: str, what: str) -> str:
    try:
        return check_name(name, what)
    except ArchiveError as error:
        raise Refusal(400, str(error)) from None


class CoursePageHandler(CoursePageBase):
    @authenticated
    async def get(self, course_id: str):
        course, caller = self.staff_course(course_id)
        summaries = await course_summaries(self.context, course)
        charts = {}
        for summary in summaries:
            if summary.percentages:
                charts[summary.name] = await asyncio.to_thread(
                    inline_svg, summary.name, summary.percentages
                )
        granted = await self.context.db.run(
            lambda session: [
                extensions.extension_json(row) for row in extensions.listed(session, course.id)
            ]
        )
        outcome = self.get_signed_cookie(OUTCOME_COOKIE, max_age_days=1)
        if outcome:
            self.clear_cookie(OUTCOME_COOKIE, path=course_url(self.context, course))
        error, _, text = (outcome or b"").decode().partition(":")
        self.page(
            "course.html",
            user=caller.name,
            course=course,
            summaries=summaries,
            charts=charts,
            extensions=granted,
            job_line=job_line,
            short_time=short_time,
            outcome=text,
            outcome_failed=error == "error",
            refresh=REFRESH_SECONDS if any(s.grading_live for s in summaries) else 0,
            xsrf_form_html=self.xsrf_form_html,
        )


class CourseActionHandler(CoursePageBase):
    @authenticated
    async def post(self, course_id: str, assignment: str, action: str):
        # HubOAuth already refused the cookie without a matching _xsrf; say so plainly too.
        self.check_xsrf_cookie()
        course, caller = self.staff_course(course_id)
        assignment = safe_name(assignment, "assignment")
        if action not in ACTIONS:
            raise Refusal(404, f"unknown action {action!r}: {', '.join(ACTIONS)}")
        try:
            outcome = "ok:" + await run_action(self.context, course, assignment, action, caller)
        except Refusal as refusal:  # e.g. nothing collected yet: shown on the page
            outcome = f"error:{action} {assignment}: {refusal.message}"
        log.info("%s pressed %s on %s/%s", caller, action, course.id, assignment)
        url = course_url(self.context, course)
        self.set_signed_cookie(OUTCOME_COOKIE, outcome, expires_days=None, path=url)
        self.redirect(url, status=303)


class GradesDownloadHandler(CoursePageBase):
    @authenticated
    async def get(self, course_id: str):
        course, _caller = self.staff_course(course_id)
        text = await workflow.grades_csv(self.context, course, None)
        self.set_header("Content-Type", "text/csv; charset=utf-8")
        self.set_header("Content-Disposition", f'attachment; filename="{course.id}-grades.csv"')
        self.finish(text)


def course_page_routes(prefix: str, context: ServiceContext, hub_oauth) -> list:
    pages = {"context": context, "hub_oauth": hub_oauth}
    segment = r"([^/]+)"
    return [
        (rf"{prefix}courses/{segment}", CoursePageHandler, pages),
        (rf"{prefix}courses/{segment}/grades\.csv", GradesDownloadHandler, pages),
        (
            rf"{prefix}courses/{segment}/assignments/{segment}/{segment}",
            CourseActionHandler,
            pages,
        ),
    ]
