"""JupyterHub groups and roles from the course catalog: pure functions, no I/O.

Every course gives three groups and one role, ``course-<id>-staff``, held by the staff
group:

- ``course-<id>-students``: its students; staff may see and list them;
- ``course-<id>-staff``: its instructors and TAs;
- ``course-<id>-reachable``: the students whose servers its staff may open, start and stop:
  every student who is neither staff of any course nor a hub admin. Such a student's
  server may hold their own tokens (a TA's Token-page token, an admin's), and opening it
  would let another course's staff act as them; so their servers are out of reach.

Staff hold ``STAFF_SCOPE`` (the coursehub service's staff actions); so does the group
``coursehub-admins`` (the hub's admins, through the role of the same name): JupyterHub's
built-in admin role cannot be extended, and the service needs the scope on admins' tokens
too. Tokens of notebook servers never carry it (``coursehub.hub.token_scopes``).

The dicts are in the JupyterHub 5+ formats of ``c.JupyterHub.load_groups`` and
``c.JupyterHub.load_roles``. JupyterHub applies them at start and ``load_groups`` only adds
members, so with the coursehub service the hub creates the groups without members and the
service keeps their members in step with the effective catalog and the hub's admins
(``coursehub.service.reconcile``, which builds its target with ``build_groups`` too).
"""

from __future__ import annotations

from collections.abc import Collection

from coursehub.catalog import Catalog
from coursehub.catalog.model import Course
from coursehub.names import (
    ADMINS_GROUP,
    ADMINS_ROLE,
    STAFF_SCOPE,
    grader_service_name,
    reachable_group,
    staff_group,
    staff_role,
    students_group,
)


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


def staff_scopes(course_id: str) -> list[str]:
    """Scopes of a course's staff: the service's staff actions, the course's formgrader,
    seeing its students, and the servers of the students within reach."""
    students = f"group={students_group(course_id)}"
    reachable = f"group={reachable_group(course_id)}"
    return [
        STAFF_SCOPE,
        f"access:services!service={grader_service_name(course_id)}",
        f"access:servers!{reachable}",
        f"servers!{reachable}",
        f"read:users!{students}",
        f"list:users!{students}",
        f"read:groups!{students}",
        f"list:groups!{students}",
        "admin-ui",
    ]


def server_access_scopes(catalog: Catalog, username: str, is_admin: bool) -> list[str]:
    """Extra scopes that grant access to ``username``'s server: one per course in which
    the user is a student within its staff's reach, naming that course's reachable group
    (none for staff of any course and for admins).

    Needed because the single-user server checks a token's scopes without the hub's
    database, so it cannot tell that ``access:servers!group=course-x-reachable`` covers
    ``access:servers!user=student1`` (a documented limit of ``jupyterhub.services.auth.
    check_scopes``); listing the group scope among the server's access scopes lets staff
    API tokens through, and only staff hold that scope. Fixed when the server starts: a
    student who becomes staff elsewhere or an admin is out of reach of API tokens from the
    server's next start (of browsers at once: the hub checks the group at every sign-in).
    """
    if is_admin or username in staff_anywhere(catalog):
        return []
    return [
        f"access:servers!group={reachable_group(course_id)}"
        for course_id in sorted(catalog.courses)
        if username in catalog.courses[course_id].students
    ]


def build_roles(catalog: Catalog) -> list[dict]:
    """``load_roles``: one staff role per course, held by the course's staff group, and
    the admins' role, held by the admins' group."""
    roles = [
        {
            "name": staff_role(course_id),
            "description": f"Staff of {course_id}: open, start and stop students' servers",
            "scopes": staff_scopes(course_id),
            "groups": [staff_group(course_id)],
        }
        for course_id in sorted(catalog.courses)
    ]
    roles.append(
        {
            "name": ADMINS_ROLE,
            "description": "Hub admins: admin actions in the coursehub service",
            "scopes": [STAFF_SCOPE],
            "groups": [ADMINS_GROUP],
        }
    )
    return roles
