"""The JupyterHub groups the course catalog implies: pure functions, no I/O.

Every course gives three groups:

- ``course-<id>-students``: its students; staff may see and list them;
- ``course-<id>-staff``: its instructors and TAs (they hold the course's staff role,
  ``coursehub.hub.roles``);
- ``course-<id>-reachable``: the students whose servers its staff may open, start and stop:
  every student who is neither staff of any course nor a hub admin. Such a student's
  server may hold their own tokens (a TA's Token-page token, an admin's), and opening it
  would let another course's staff act as them; so their servers are out of reach.

and the admins' group, ``coursehub-admins``, holds the hub's admins.

``build_groups`` is in the JupyterHub 5+ format of ``c.JupyterHub.load_groups``. JupyterHub
applies it at start and ``load_groups`` only adds members, so with the coursehub service the
hub creates the groups without members (``coursehub.hub.config``) and the service keeps
their members in step with the effective catalog and the hub's admins
(``coursehub.service.reconcile``, which builds its target with ``build_groups`` too).
"""

from __future__ import annotations

from collections.abc import Collection

from coursehub.catalog.catalog import Catalog
from coursehub.catalog.model import Course
from coursehub.names import ADMINS_GROUP, reachable_group, staff_group, students_group


def staff_anywhere(catalog: Catalog) -> set[str]:
    """Everyone who is staff of at least one course."""
    return {name for course in catalog.courses.values() for name in course.staff.all}


def reachable_students(course: Course, catalog: Catalog, admins: Collection[str]) -> set[str]:
    """The course's students whose servers its staff may reach: not staff of any course,
    not hub admins."""
    return set(course.students) - staff_anywhere(catalog) - set(admins)


def build_groups(
    catalog: Catalog, members: bool = True, admins: Collection[str] = ()
) -> dict[str, dict]:
    """``load_groups``: three groups per course and the admins' group, users sorted, the
    course named in properties. ``members=False`` leaves out ``users`` (the groups are
    created, members left alone); ``admins``: the hub's admins."""
    groups: dict[str, dict] = {}
    for course_id in sorted(catalog.courses):
        course = catalog.courses[course_id]
        for name, role, users in (
            (students_group(course_id), "student", course.students),
            (staff_group(course_id), "staff", course.staff.all),
            (reachable_group(course_id), "reachable", reachable_students(course, catalog, admins)),
        ):
            groups[name] = {"properties": {"course": course_id, "role": role}}
            if members:
                groups[name] = {"users": sorted(users), **groups[name]}
    groups[ADMINS_GROUP] = {"properties": {"role": "admin"}}
    if members:
        groups[ADMINS_GROUP] = {"users": sorted(admins), **groups[ADMINS_GROUP]}
    return groups
