"""Course membership as JupyterHub groups and roles."""

from __future__ import annotations

import re

from jupyterhub import scopes
from jupyterhub.scopes import _check_scopes_exist

from coursehub.catalog.groups import build_groups
from coursehub.hub.roles import build_roles, server_access_scopes
from coursehub.hub.token_scopes import CUSTOM_SCOPES


def test_three_groups_per_course_and_the_admins(catalog):
    assert build_groups(catalog, admins={"root", "student2"}) == {
        "course-ai-101-students": {
            "users": ["student1", "student2"],
            "properties": {"course": "ai-101", "role": "student"},
        },
        "course-ai-101-staff": {
            "users": ["instructor1", "ta1"],
            "properties": {"course": "ai-101", "role": "staff"},
        },
        # student2 is an admin: out of ai-101's staff's reach
        "course-ai-101-reachable": {
            "users": ["student1"],
            "properties": {"course": "ai-101", "role": "reachable"},
        },
        "course-ml-201-students": {
            "users": ["instructor1", "student3"],
            "properties": {"course": "ml-201", "role": "student"},
        },
        "course-ml-201-staff": {
            "users": ["instructor2"],
            "properties": {"course": "ml-201", "role": "staff"},
        },
        # instructor1 teaches ai-101: out of ml-201's staff's reach
        "course-ml-201-reachable": {
            "users": ["student3"],
            "properties": {"course": "ml-201", "role": "reachable"},
        },
        "coursehub-admins": {"users": ["root", "student2"], "properties": {"role": "admin"}},
    }


def test_staff_role_reaches_only_the_course_students_within_reach(catalog):
    roles = {role["name"]: role for role in build_roles(catalog)}
    assert set(roles) == {"course-ai-101-staff", "course-ml-201-staff", "coursehub-admins"}
    ai = roles["course-ai-101-staff"]
    assert ai["groups"] == ["course-ai-101-staff"]
    assert ai["scopes"] == [
        "custom:coursehub:staff",
        "access:services!service=grader-ai-101",
        "access:servers!group=course-ai-101-reachable",
        "servers!group=course-ai-101-reachable",
        "read:users!group=course-ai-101-students",
        "list:users!group=course-ai-101-students",
        "read:groups!group=course-ai-101-students",
        "list:groups!group=course-ai-101-students",
        "admin-ui",
    ]
    # servers only of the reachable group; the rest unfiltered, the students or the grader
    for scope in ai["scopes"]:
        if scope.startswith(("access:servers", "servers")):
            assert scope.endswith("!group=course-ai-101-reachable")
        else:
            assert (
                "!" not in scope
                or scope.endswith("!group=course-ai-101-students")
                or scope == "access:services!service=grader-ai-101"
            )
    admins = roles["coursehub-admins"]
    assert admins["scopes"] == ["custom:coursehub:staff"]
    assert admins["groups"] == ["coursehub-admins"]


def test_roles_are_valid_for_jupyterhub(catalog):
    # JupyterHub refuses unknown scopes at start and role names outside this pattern; the
    # staff scope is defined by configure (c.JupyterHub.custom_scopes).
    scopes.define_custom_scopes(CUSTOM_SCOPES)
    for role in build_roles(catalog):
        assert re.fullmatch(r"[a-z][a-z0-9\-_~\.]{1,253}[a-z0-9]", role["name"])
        _check_scopes_exist(role["scopes"], who_for=role["name"])


def test_student_servers_accept_only_their_course_staff(catalog):
    assert server_access_scopes(catalog, "student1", False) == [
        "access:servers!group=course-ai-101-reachable"
    ]
    # instructor1 studies ml-201 but teaches ai-101: ml-201's staff may not reach them
    assert server_access_scopes(catalog, "instructor1", False) == []
    assert server_access_scopes(catalog, "instructor2", False) == []
    # nor an admin who studies a course
    assert server_access_scopes(catalog, "student1", True) == []
