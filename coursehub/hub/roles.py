"""JupyterHub groups and roles from the course catalog: pure functions, no I/O.

Every course gives two groups, ``course-<id>-students`` and ``course-<id>-staff``, and one
role, ``course-<id>-staff``, held by the staff group. The role lets staff see, open, start
and stop the servers of their course's students and nobody else's (their own server they
may use anyway through JupyterHub's default ``user`` role).

The dicts are in the JupyterHub 5+ formats of ``c.JupyterHub.load_groups`` and
``c.JupyterHub.load_roles``. JupyterHub applies them at start and ``load_groups`` only adds
members, so with the coursehub service the hub creates the groups without members and the
service keeps their members in step with the effective catalog
(``coursehub.service.reconcile``, which builds its target with ``build_groups`` too).
"""

from __future__ import annotations

from coursehub.catalog import Catalog
from coursehub.service.rules import grader_service_name


def students_group(course_id: str) -> str:
    return f"course-{course_id}-students"


def staff_group(course_id: str) -> str:
    return f"course-{course_id}-staff"


def staff_role(course_id: str) -> str:
    return f"course-{course_id}-staff"


def build_groups(catalog: Catalog, members: bool = True) -> dict[str, dict]:
    """``load_groups``: two groups per course, users sorted, course named in properties.
    ``members=False`` leaves out ``users`` (the groups are created, members left alone)."""
    groups: dict[str, dict] = {}
    for course_id in sorted(catalog.courses):
        course = catalog.courses[course_id]
        for name, role, users in (
            (students_group(course_id), "student", course.students),
            (staff_group(course_id), "staff", course.staff.all),
        ):
            groups[name] = {"properties": {"course": course_id, "role": role}}
            if members:
                groups[name] = {"users": sorted(users), **groups[name]}
    return groups


def staff_scopes(course_id: str) -> list[str]:
    """Scopes of a course's staff: everything about the course's students' servers, and
    the course's formgrader service."""
    students = f"group={students_group(course_id)}"
    return [
        f"access:services!service={grader_service_name(course_id)}",
        f"access:servers!{students}",
        f"servers!{students}",
        f"read:users!{students}",
        f"list:users!{students}",
        f"read:groups!{students}",
        f"list:groups!{students}",
        "admin-ui",
    ]


def server_access_scopes(catalog: Catalog, username: str) -> list[str]:
    """Extra scopes that grant access to ``username``'s server: one per course in which
    the user is a student, naming that course's students group.

    Needed because the single-user server checks a token's scopes without the hub's
    database, so it cannot tell that ``access:servers!group=course-x-students`` covers
    ``access:servers!user=student1`` (a documented limit of ``jupyterhub.services.auth.
    check_scopes``); listing the group scope among the server's access scopes lets staff
    tokens through, and only staff hold that scope.
    """
    return [
        f"access:servers!group={students_group(course_id)}"
        for course_id in sorted(catalog.courses)
        if username in catalog.courses[course_id].students
    ]


def build_roles(catalog: Catalog) -> list[dict]:
    """``load_roles``: one staff role per course, held by the course's staff group."""
    return [
        {
            "name": staff_role(course_id),
            "description": f"Staff of {course_id}: open, start and stop students' servers",
            "scopes": staff_scopes(course_id),
            "groups": [staff_group(course_id)],
        }
        for course_id in sorted(catalog.courses)
    ]
