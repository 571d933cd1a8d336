"""JupyterHub roles from the course catalog: pure functions, no I/O.

Every course gives one role, ``course-<id>-staff``, held by its staff group (the groups
themselves: ``coursehub.catalog.groups``). Its staff may see and list the course's
students and open, start and stop the servers of its ``reachable`` group.

Staff hold ``STAFF_SCOPE`` (the coursehub service's staff actions); so does the group
``coursehub-admins`` (the hub's admins, through the role of the same name): JupyterHub's
built-in admin role cannot be extended, and the service needs the scope on admins' tokens
too. Tokens of notebook servers never carry it (``coursehub.hub.token_scopes``).

The dicts are in the JupyterHub 5+ format of ``c.JupyterHub.load_roles``.
"""

from __future__ import annotations

from coursehub.catalog import Catalog
from coursehub.catalog.groups import staff_anywhere
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
