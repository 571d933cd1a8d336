"""A course's roster (see ``docs/rosters.md`` for the contract), for its staff and admins:

- ``GET|PUT|DELETE api/courses/<id>/roster``: show, import (CSV body) or clear a course's
  imported roster. An import refuses rows naming staff of any course or hub admins (asked
  from the hub at each import).
- ``DELETE api/courses/<id>/members/<username>``: take someone out of the course now.

Each write is one transaction; the handler then reloads the service's effective catalog
(``CatalogSync.refresh_overlay``) before answering, so the exchange refuses a dropped
student from the next request on and group reconciliation starts at once.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from coursehub.catalog.model import Course
from coursehub.catalog.overlay import (
    ImportedRoster,
    Overlay,
    RosterEntry,
    effective_course,
    membership_changes,
)
from coursehub.catalog.roster import (
    RosterIssue,
    RosterRejected,
    check_import,
    privileged_users,
)
from coursehub.service import memberships
from coursehub.service.api.base import COURSE, SEGMENT, BaseHandler, check_username
from coursehub.service.rules import Refusal, require_staff

MAX_ROSTER_BYTES = 5 * 1024 * 1024


def _flag(handler: BaseHandler, name: str) -> bool:
    return handler.get_query_argument(name, "0").lower() in ("1", "true", "yes")


def _issue_json(issue: RosterIssue) -> dict:
    return {"line": issue.line, "field": issue.field, "message": issue.message}


class RosterHandler(BaseHandler):
    async def get(self, course_id: str):
        course = self.course(course_id)
        require_staff(course, self.caller)
        file_course = self.context.catalog_sync.file_catalog().courses.get(course.id, course)
        overlay = self.context.catalog_sync.overlay
        roster = overlay.roster(course.id)
        filename = await self.context.db.run(
            lambda session: memberships.roster_filename(session, course.id)
        )
        self.write_json(roster_json(course, file_course, overlay, roster, filename))

    async def put(self, course_id: str):
        course = self.course(course_id)
        require_staff(course, self.caller)
        skip_invalid = _flag(self, "skip_invalid")
        dry_run = _flag(self, "dry_run")
        filename = self.get_query_argument("filename", "")[:255]
        data = self.request.body
        if len(data) > MAX_ROSTER_BYTES:
            raise Refusal(
                413, f"the roster is {len(data)} bytes; at most {MAX_ROSTER_BYTES} are accepted"
            )
        privileged = privileged_users(self.context.catalog, await self.context.hub_admins())
        try:
            rows, issues = check_import(course, data, skip_invalid, privileged)
        except RosterRejected as rejected:
            problems = [_issue_json(issue) for issue in rejected.issues]
            raise Refusal(400, rejected.message, {"problems": problems}) from None

        now = self.context.now()
        before = self.context.catalog
        file_course = self.context.catalog_sync.file_catalog().courses[course.id]
        if dry_run:
            imported = ImportedRoster(
                course.id,
                tuple(RosterEntry(row.username, row.email, row.name) for row in rows),
                str(self.caller),
                now.isoformat(timespec="seconds"),
            )
            overlay = self.context.catalog_sync.overlay
            others = tuple(r for r in overlay.rosters if r.course != course.id)
            after_course = effective_course(
                file_course, replace(overlay, rosters=(*others, imported))
            )
            after = {course.id: after_course}
        else:
            await self.context.db.run(
                lambda session: memberships.replace_roster(
                    session, course.id, rows, str(self.caller), now, filename
                )
            )
            await self.context.catalog_sync.refresh_overlay()
            after = self.context.catalog.courses
        self.write_json(
            {
                "course": course.id,
                "applied": not dry_run,
                "dry_run": dry_run,
                "imported_by": str(self.caller),
                "imported_at": now.isoformat(timespec="seconds"),
                "rows": len(rows),
                "students": len(after[course.id].students) if course.id in after else 0,
                **membership_changes(before.courses, after, course.id),
                "skipped": [_issue_json(issue) for issue in issues],
            }
        )

    async def delete(self, course_id: str):
        course = self.course(course_id)
        require_staff(course, self.caller)
        before = self.context.catalog
        cleared = await self.context.db.run(
            lambda session: memberships.clear_roster(session, course.id)
        )
        if not cleared:
            raise Refusal(
                404, f"{course.id} has no imported roster: its students come from its course file"
            )
        await self.context.catalog_sync.refresh_overlay()
        after = self.context.catalog
        now_course = after.courses.get(course.id)
        self.write_json(
            {
                "course": course.id,
                "cleared": True,
                "students": len(now_course.students) if now_course else 0,
                **membership_changes(before.courses, after.courses, course.id),
            }
        )


class MemberHandler(BaseHandler):
    """``DELETE api/courses/<id>/members/<username>``: take someone out of the course now:
    out of its imported roster and without their sign-in memberships of it (staff and
    admins). Their next sign-in may record a membership again if the identity provider or
    LMS still says so; a membership from the course files stays (edit the files)."""

    async def delete(self, course_id: str, username: str):
        course = self.course(course_id)
        require_staff(course, self.caller)
        username = check_username(username)
        removed = await self.context.db.run(
            lambda session: memberships.remove_member(session, course.id, username)
        )
        if removed:
            await self.context.catalog_sync.refresh_overlay()
        now_course = self.context.catalog.courses.get(course.id)
        role = now_course.role_of(username) if now_course else None
        if not removed and role is None:
            raise Refusal(404, f"{username} is not a member of {course.id}")
        body = {"course": course.id, "username": username, "removed_from": removed, "role": role}
        if role is not None:
            body["message"] = (
                f"{username} is still {'staff' if role == 'staff' else 'a student'} of "
                f"{course.id} through its course file; edit the course file to remove them"
            )
        self.write_json(body)


def roster_json(
    course: Course,
    file_course: Course,
    overlay: Overlay,
    roster: ImportedRoster | None,
    filename: str | None,
) -> dict[str, Any]:
    """Who is in the course and where each membership comes from."""
    details = {entry.username: entry for entry in roster.entries} if roster else {}
    idp = {}
    for membership in overlay.memberships:
        if membership.course == course.id:
            idp.setdefault((membership.username, membership.role), []).append(membership.source)
    base = set(roster.usernames if roster else file_course.students)
    students = []
    for username in course.students:
        entry = details.get(username)
        if username in base:
            origin = ["import" if roster else "file"]
        else:
            origin = sorted(idp.get((username, "student"), []))
        students.append(
            {
                "username": username,
                "email": entry.email if entry else "",
                "name": entry.name if entry else "",
                "from": origin,
            }
        )
    staff = []
    for username in course.staff.all:
        if username in file_course.staff.all:
            origin = ["file"]
            role = "instructor" if username in file_course.staff.instructors else "ta"
        else:
            origin, role = sorted(idp.get((username, "staff"), [])), "ta"
        staff.append({"username": username, "role": role, "from": origin})
    return {
        "course": course.id,
        "source": "import" if roster else "file",
        "imported_by": roster.imported_by if roster else None,
        "imported_at": roster.imported_at if roster else None,
        "filename": filename or None,
        "students": students,
        "staff": staff,
    }


default_handlers = [
    (rf"{COURSE}/roster", RosterHandler),
    (rf"{COURSE}/members/{SEGMENT}", MemberHandler),
]
